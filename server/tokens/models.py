"""Issued tokens and spent tokens: only SHA-256 hashes, nothing about a ballot.

`spent_tokens` is the "who voted" record, kept apart from `ballots` ("what was
answered"): no column, id or order ties one to the other (see voting/close).
Its primary key is the authority for "one token, one ballot".

`blind_keys` (session-QR rounds, server/tokens/blind.py): a round's RSA key per
category, whose blind signatures are tokens no one was handed by the server.
"""

from __future__ import annotations

from sqlalchemy import ForeignKey, Integer, LargeBinary, String, Text, false
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


class BlindKey(db.Model):
    """A session-QR round's signing key for one category: the public key (DER SPKI),
    the private key sealed under SECRET_KEY until the round closes (then NULL), and
    how many blind signatures the organizer allows (the category's "pool")."""

    __tablename__ = "blind_keys"

    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id"), primary_key=True)
    category_id: Mapped[int] = mapped_column(ForeignKey("voter_categories.id"), primary_key=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    sealed_private_key: Mapped[str | None] = mapped_column(Text)
    allowance: Mapped[int] = mapped_column(Integer, default=0)
