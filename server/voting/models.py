"""A ballot: what was answered, in which voter category, and its receipt code.

No token, voter, IP, user agent or timestamp; the id is random.
"""

from __future__ import annotations

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from server.core.db import db


class Ballot(db.Model):
    __tablename__ = "ballots"
    # (round_id, receipt) also serves every lookup by round: no index of its own, one
    # index fewer to write per ballot and per row the close rewrites
    __table_args__ = (UniqueConstraint("round_id", "receipt"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id"))
    category_id: Mapped[int] = mapped_column(ForeignKey("voter_categories.id"))
    receipt: Mapped[str] = mapped_column(String(16))
    answers: Mapped[str] = mapped_column(Text)  # forms/storage.py: compact or canonical JSON
