"""Issued tokens and spent tokens: only SHA-256 hashes, nothing about a ballot.

`spent_tokens` is the "who voted" record, kept apart from `ballots` ("what was
answered"): no column, id or order ties one to the other (see voting/close).
Its primary key is the authority for "one token, one ballot".
"""

from __future__ import annotations

from sqlalchemy import ForeignKey, String, false
from sqlalchemy.orm import Mapped, mapped_column

from server.core.db import db


class Token(db.Model):
    __tablename__ = "tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id"), index=True)
    category_id: Mapped[int] = mapped_column(ForeignKey("voter_categories.id"))
    rehearsal: Mapped[bool] = mapped_column(default=False, server_default=false())  # 演练 slip


class SpentToken(db.Model):
    __tablename__ = "spent_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id"), index=True)
