"""Members' free-text comments (意见和建议) on a ballot, kept apart from the ballot.

A round allows them in its options (form snapshot "options.comment", set while
it is a draft: PUT /api/v1/rounds/<id>/options). A comment travels with the
ballot (POST /ballots, field `comment`) and is stored in the same group-commit
transaction as the ballot, but in its own table: a random id, the round, the
text. No category, no token, no receipt, no time, and no column shared with
the ballot, so a comment that identifies its author does not reveal their
answers. Close rewrites the round's comments in random order, as it does the
ballots (see `shuffle`), so insertion order pairs nothing either.

When the mini-program is configured with content checks (server/wechat), the
text must come with a `content_pass` from POST /api/v1/content-checks (checked
through `signals.comment_checking`, server/miniprogram/content.py): the member's
WeChat identity is used there, for msgSecCheck only, and never reaches the ballot
request.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, ForeignKey, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from server.core import signals
from server.core.db import db
from server.core.errors import ApiError
from server.core.text import display_text
from server.roundbase.shuffle import COMMENTS, rewrite_in_random_order
from server.tokens.codec import new_ballot_id

DEFAULT_LABEL = "意见和建议"
DEFAULT_MAX = 500
MAX_LENGTH = 2000


class BallotComment(db.Model):
    __tablename__ = "ballot_comments"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id"), index=True)
    body: Mapped[str] = mapped_column(Text)


def comment_options(form: dict[str, Any]) -> dict[str, Any]:
    raw = (form.get("options") or {}).get("comment") or {}
    return {"enabled": bool(raw.get("enabled")), "label": raw.get("label") or DEFAULT_LABEL,
            "max_length": int(raw.get("max_length") or DEFAULT_MAX)}


def normalize(raw: str) -> str:
    """Lines kept, each line's spacing collapsed, invisible characters dropped."""
    lines = [display_text(line) for line in raw.replace("\r\n", "\n").split("\n")]
    out: list[str] = []
    for line in lines:
        if line or (out and out[-1]):
            out.append(line)
    return "\n".join(out).strip()


def clean_comment(form: dict[str, Any], raw: Any, content_pass: Any) -> str | None:
    """The comment to store with a ballot, or None; raises (422) before anything changes."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    if not isinstance(raw, str):
        raise ApiError("invalid_comment", "意见建议应为文字", "comment must be a string", 422,
                       "comment")
    opts = comment_options(form)
    if not opts["enabled"]:
        raise ApiError("comments_disabled", "本次测评不收集意见建议",
                       "This round takes no comments", 422, "comment")
    body = normalize(raw)
    if not body:
        return None
    if len(body) > opts["max_length"]:
        raise ApiError("comment_too_long", f"{opts['label']}不能超过 {opts['max_length']} 个字",
                       f"comment longer than {opts['max_length']} characters", 422, "comment")
    signals.comment_checking.send(body, content_pass=content_pass)
    return body


def insert_comments(conn: Connection, round_id: int, bodies: list[str]) -> None:
    """Called by the group committer inside the transaction of the accepted ballots."""
    if bodies:
        conn.execute(text("INSERT INTO ballot_comments (id, round_id, body) VALUES (:i, :r, :b)"),
                     [{"i": new_ballot_id(), "r": round_id, "b": b} for b in bodies])


def shuffle(round_id: int) -> None:
    """At close, inside its transaction: rewrite the round's comments in random order."""
    table, columns = COMMENTS
    rewrite_in_random_order(db.session.connection(), table, columns, round_id)
