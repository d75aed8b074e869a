"""The state of one points period (a quarter, or the year) of a committee.

open → closed (no new entries) → published (standings out, 异议期 until
objection_until; only corrections) → final (nothing changes). `final` is
reached by time: a published period is final once its objection window has
passed. A row exists only once a period has left `open`.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from server.core.clock import utcnow
from server.core.db import db
from server.points.calendar import Period

STATUSES = ("open", "closed", "published", "final")


class PointsPeriod(db.Model):
    __tablename__ = "points_periods"
    __table_args__ = (UniqueConstraint("committee_id", "year", "quarter"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    committee_id: Mapped[int] = mapped_column(ForeignKey("committees.id"))
    year: Mapped[int] = mapped_column(Integer)
    quarter: Mapped[int] = mapped_column(Integer)  # 0: the whole year
    status: Mapped[str] = mapped_column(String(10), default="open")
    closed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    closed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    published_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    objection_until: Mapped[dt.datetime | None] = mapped_column(DateTime)
    reviewed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)  # 党委综评 (year only)
    reviewed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    @property
    def period(self) -> Period:
        return Period(self.year, self.quarter)

    def state(self, now: dt.datetime | None = None) -> str:
        """The status, with a published period turning final when its window has passed."""
        if self.status == "published" and self.objection_until is not None:
            if (now or utcnow()) >= self.objection_until:
                return "final"
        return self.status
