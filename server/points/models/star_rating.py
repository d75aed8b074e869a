"""The annual star-rating record (年度党员评星定级资料库): one row per member and year,
written when the party committee reviews the year (党委综评)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.core.clock import utcnow
from server.core.db import db
from server.organization.models import Member


class StarRating(db.Model):
    __tablename__ = "points_star_ratings"
    __table_args__ = (UniqueConstraint("member_id", "year"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    committee_id: Mapped[int] = mapped_column(ForeignKey("committees.id"), index=True)
    branch_id: Mapped[int] = mapped_column(ForeignKey("branches.id"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    year: Mapped[int] = mapped_column(Integer)
    points_x10: Mapped[int] = mapped_column(Integer)
    deductions_x10: Mapped[int] = mapped_column(Integer, default=0)  # a magnitude
    stars: Mapped[int | None] = mapped_column(Integer)  # None: vetoed or 未评定; 0: 不合格
    level: Mapped[str] = mapped_column(String(20))  # the label, e.g. 三星 / 不合格 / 未评定
    veto_note: Mapped[str] = mapped_column(String(300), default="")
    rule_set: Mapped[str] = mapped_column(String(60))
    reviewed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reviewed_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    # 党委综评 adjusting the level the points gave: the reason, who and when
    adjust_note: Mapped[str] = mapped_column(String(200), default="", server_default="")
    adjusted_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    adjusted_at: Mapped[dt.datetime | None] = mapped_column(DateTime)

    member: Mapped[Member] = relationship()
