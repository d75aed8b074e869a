"""Append to the organizer audit log (who opened/closed/published/exported what)."""

from __future__ import annotations

from typing import Any

from server.accounts.models import AuditEntry
from server.core.db import db


def record(user: Any | None, action: str, target: str, detail: str = "") -> None:
    """Add an audit entry to the current session (committed with the change)."""
    db.session.add(AuditEntry(user_id=getattr(user, "id", None), action=action,
                              target=target[:80], detail=detail[:500]))
