"""The outbox: one row per message set to deliver to one chat, sent at most once.

A post is identified by (target, subject, edition): subject names what is posted
("members:12:2026Q3", "round:42"), edition which version ("final" for the
published standings, "interim-2026-08-15" for a standing posted before
publication, "final-2" for a deliberate re-post after a correction, "closed" for
a round notice). The unique constraint makes a second enqueue of the same post
a no-op, whoever does it.

The rendered messages (`parts_json`) are frozen at enqueue, so a retry sends
exactly what was previewed. Delivery state (see bot/outbox.py):

  pending ─claim→ sending ─all parts ok→ sent
     ↑  (definitely not delivered: connect error, WeCom errcode, rate limit)
     └──────────── back to pending, later (backoff)
  sending ─read timeout / crash mid-request→ uncertain   (never resent by itself)
  pending ─too many attempts or a permanent error→ failed
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bot.models.chat_target import ChatTarget
from server.core.clock import utcnow
from server.core.db import db

STATUSES = ("pending", "sending", "sent", "uncertain", "failed", "cancelled")


class BotPost(db.Model):
    __tablename__ = "bot_posts"
    __table_args__ = (
        UniqueConstraint("target_id", "subject", "edition"),
        Index("ix_bot_posts_status_next", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    target_id: Mapped[int] = mapped_column(ForeignKey("bot_chat_targets.id"), index=True)
    committee_id: Mapped[int] = mapped_column(ForeignKey("committees.id"), index=True)
    branch_id: Mapped[int | None] = mapped_column(ForeignKey("branches.id"), index=True)
    kind: Mapped[str] = mapped_column(String(12))  # board | notice
    subject: Mapped[str] = mapped_column(String(60))
    edition: Mapped[str] = mapped_column(String(40))
    title: Mapped[str] = mapped_column(String(200))
    parts_json: Mapped[str] = mapped_column(Text)
    parts_total: Mapped[int] = mapped_column(Integer)
    parts_sent: Mapped[int] = mapped_column(Integer, default=0)
    inflight_part: Mapped[int | None] = mapped_column(Integer)  # set before each request
    status: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    lease_owner: Mapped[str | None] = mapped_column(String(32))
    lease_until: Mapped[dt.datetime | None] = mapped_column(DateTime)
    last_errcode: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str] = mapped_column(String(500), default="")
    source: Mapped[str] = mapped_column(String(10), default="console")  # console|cli|schedule|close
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    resolved_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))  # uncertain → …

    target: Mapped[ChatTarget] = relationship()

    @property
    def parts(self) -> list[dict[str, Any]]:
        return json.loads(self.parts_json)
