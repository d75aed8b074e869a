"""The organizer audit log (who opened, closed, published, exported what): its table
and the one way to append to it, below every feature so each records its own acts."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import DateTime, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from server.core.clock import utcnow
from server.core.db import db


class AuditEntry(db.Model):
    """Who did what to which round, and when (never anything about ballots)."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    action: Mapped[str] = mapped_column(String(40))
    target: Mapped[str] = mapped_column(String(80), default="")
    detail: Mapped[str] = mapped_column(String(500), default="")


def record(user: Any | None, action: str, target: str, detail: str = "") -> None:
    """Add an audit entry to the current session (committed with the change)."""
    db.session.add(AuditEntry(user_id=getattr(user, "id", None), action=action,
                              target=target[:80], detail=detail[:500]))
