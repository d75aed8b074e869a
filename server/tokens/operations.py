"""Issuing tokens: N per voter category, shown once, stored as SHA-256 only."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from server.accounts import audit
from server.core.db import db
from server.core.errors import ApiError
from server.rounds.models import Round, VoterCategory
from server.tokens.codec import new_token, token_hash
from server.voting import livetally

MAX_PER_BATCH = 20000


def issue_tokens(rnd: Round, category_id: int, count: Any, user: Any | None = None) -> list[str]:
    """Create `count` fresh tokens for one category and return them (the only time)."""
    if rnd.status not in ("draft", "open"):
        raise ApiError("round_already_closed", "该测评已结束，不能再发放选票",
                       "Cannot issue tokens for a closed round", 409)
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_PER_BATCH:
        raise ApiError("invalid_count", f"发放数量应为 1～{MAX_PER_BATCH} 的整数",
                       f"count must be an integer in [1, {MAX_PER_BATCH}]", 422, "count")
    category = db.session.get(VoterCategory, category_id)
    if category is None or category.round_id != rnd.id:
        raise ApiError("unknown_category", "参评人员类别不存在", "Unknown voter category", 422,
                       "category_id")
    tokens = [new_token(rnd.id) for _ in range(count)]
    rows = [{"h": token_hash(t), "r": rnd.id, "c": category.id} for t in tokens]
    db.session.execute(
        text("INSERT INTO tokens (token_hash, round_id, category_id) VALUES (:h, :r, :c)"), rows
    )
    db.session.execute(
        text("UPDATE voter_categories SET issued_count = issued_count + :n WHERE id = :c"),
        {"n": count, "c": category.id},
    )
    audit.record(user, "tokens.issue", f"round:{rnd.id}", f"{category.name}: {count}")
    db.session.commit()
    livetally.add_tokens(rnd.id, ((r["h"], category.id) for r in rows))
    return tokens
