"""Issuing tokens: N per voter category, shown once, stored as SHA-256 only."""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import text

from server.core import audit, signals
from server.core.db import db
from server.core.errors import ApiError
from server.roundbase.models import Round, VoterCategory
from server.tokens.codec import new_token, token_hash, vote_url
from server.tokens.slips import render_slips_pdf

MAX_PER_BATCH = 20000
_shuffle = secrets.SystemRandom().shuffle


def _insert_tokens(rnd: Round, category_id: int, count: Any, user: Any | None,
                   given: list[str] | None = None) -> tuple[VoterCategory, list[str], list[str]]:
    """Insert a batch of token hashes without committing; returns (category, tokens, hashes).

    `given`: these tokens (a meeting slip's, derived: server/meetings/codec.py) instead
    of `count` new random ones. The rows go in (and `hashes` come back) in an order
    shuffled on its own, unrelated to the order of `tokens`, in which slips are laid
    out: a row's place in the table (rowid, heap position) says nothing of where its
    slip was printed. Token rows carry no id or time either (tokens/models.py)."""
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
    tokens = given if given is not None else [new_token(rnd.id) for _ in range(count)]
    hashes = [token_hash(t) for t in tokens]
    _shuffle(hashes)
    # A token carries the round's rehearsal mark as the row has it now (rounds/rehearsal.py).
    db.session.execute(
        text("INSERT INTO tokens (token_hash, round_id, category_id, rehearsal) "
             "SELECT :h, :r, :c, rehearsal FROM rounds WHERE id = :r"),
        [{"h": h, "r": rnd.id, "c": category.id} for h in hashes],
    )
    db.session.execute(
        text("UPDATE voter_categories SET issued_count = issued_count + :n WHERE id = :c"),
        {"n": count, "c": category.id},
    )
    audit.record(user, "tokens.issue", f"round:{rnd.id}", f"{category.name}: {count}")
    return category, tokens, hashes


def _commit(rnd: Round, category: VoterCategory, hashes: list[str]) -> None:
    db.session.commit()
    signals.tokens_issued.send(rnd.id, pairs=[(h, category.id) for h in hashes])


def issue_tokens(rnd: Round, category_id: int, count: Any, user: Any | None = None) -> list[str]:
    """Create `count` fresh tokens for one category and return them (the only time)."""
    category, tokens, hashes = _insert_tokens(rnd, category_id, count, user)
    _commit(rnd, category, hashes)
    return tokens


def issue_slips(rnd: Round, category_id: int, count: Any, base_url: str,
                user: Any | None = None) -> tuple[VoterCategory, bytes]:
    """Issue tokens and render their printable slips; nothing is kept if rendering fails."""
    category, tokens, hashes = _insert_tokens(rnd, category_id, count, user)
    _shuffle(tokens)  # laid out in an order of their own, as the rows are stored
    try:
        pdf = render_slips_pdf(rnd.title, category.name,
                               [vote_url(base_url, t) for t in tokens], tokens,
                               rehearsal=rnd.rehearsal)
    except Exception:
        db.session.rollback()
        raise
    _commit(rnd, category, hashes)
    return category, pdf
