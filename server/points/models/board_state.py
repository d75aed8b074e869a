"""Whether a leaderboard is live, hidden or frozen (as CTFd does before publication).

A frozen board shows `frozen_json`, the standings as they were when it was
frozen; a hidden board is shown to nobody but the staff who keep it.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from server.core.clock import utcnow
from server.core.db import db

VISIBILITIES = ("live", "hidden", "frozen")


class BoardState(db.Model):
    __tablename__ = "points_board_states"
    __table_args__ = (UniqueConstraint("board", "scope_id", "year", "quarter"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    board: Mapped[str] = mapped_column(String(10))  # members | groups | branches
    scope_id: Mapped[int] = mapped_column(Integer)  # branch id, or committee id for branches
    year: Mapped[int] = mapped_column(Integer)
    quarter: Mapped[int] = mapped_column(Integer)
    visibility: Mapped[str] = mapped_column(String(8), default="live")
    frozen_json: Mapped[str | None] = mapped_column(Text)
    frozen_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    changed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    changed_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

    @property
    def frozen_rows(self) -> list[dict[str, Any]]:
        return json.loads(self.frozen_json) if self.frozen_json else []
