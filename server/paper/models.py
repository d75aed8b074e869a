"""A paper ballot as the console's two people entered it (双人录入).

A paper ballot carries no serial: the number here is given at the first entry
(第 N 张, written on the sheet by whoever enters it) so the second person can find
the same sheet. The two entries sit side by side; the ballot counts only once they
agree (`status` counted), and then its answers are stored exactly as an electronic
ballot's (forms/storage.py) for the results engine to read (results/paper_ballots.py).
"""

from __future__ import annotations

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from server.core.db import db

PENDING, MISMATCH, COUNTED = "pending", "mismatch", "counted"
STATUSES = (PENDING, MISMATCH, COUNTED)
# why a paper ballot is 无效票, as both entries must say it
INVALID_REASONS = {
    "over_marked": "多选（超过规定人数或等次多选）",
    "blank": "空白票",
    "unreadable": "无法辨认",
    "other": "其他",
}


class PaperBallot(db.Model):
    __tablename__ = "paper_ballots"
    __table_args__ = (UniqueConstraint("round_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id"), index=True)
    category_id: Mapped[int] = mapped_column(ForeignKey("voter_categories.id"))
    number: Mapped[int] = mapped_column(Integer)  # 第 N 张 within the round
    status: Mapped[str] = mapped_column(String(10), default=PENDING)
    # each entry: who, and either the stored answers or the reason it is invalid
    first_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    first_answers: Mapped[str] = mapped_column(Text, default="")
    first_invalid: Mapped[str] = mapped_column(String(20), default="")
    second_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    second_answers: Mapped[str] = mapped_column(Text, default="")
    second_invalid: Mapped[str] = mapped_column(String(20), default="")

    def slot(self, user_id: int) -> str | None:
        """Which entry (first/second) this user made, or None."""
        if user_id == self.first_by:
            return "first"
        if user_id == self.second_by:
            return "second"
        return None
