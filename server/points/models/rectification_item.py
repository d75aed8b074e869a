"""A problem on the rectification ledger (问题台账), closed one by one (销号)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Date, DateTime, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.core.clock import utcnow
from server.core.db import db
from server.organization.models import Branch

STATUSES = ("open", "closed")


class RectificationItem(db.Model):
    __tablename__ = "rectification_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    committee_id: Mapped[int] = mapped_column(ForeignKey("committees.id"), index=True)
    branch_id: Mapped[int | None] = mapped_column(ForeignKey("branches.id"), index=True)
    problem: Mapped[str] = mapped_column(String(300))
    source: Mapped[str] = mapped_column(String(200))  # e.g. 2026年上半年支部领导力测评
    owner: Mapped[str] = mapped_column(String(60))  # 责任人
    deadline: Mapped[dt.date] = mapped_column(Date)
    measure: Mapped[str] = mapped_column(String(500), default="")  # 整改措施
    status: Mapped[str] = mapped_column(String(10), default="open")
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    closed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    closed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    close_note: Mapped[str] = mapped_column(String(500), default="")

    branch: Mapped[Branch | None] = relationship()

    def is_overdue(self, today: dt.date) -> bool:
        return self.status == "open" and self.deadline < today
