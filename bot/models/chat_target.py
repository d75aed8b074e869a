"""A chat the bot posts to: a WeCom group robot, a WeCom app chat, or a plain WeChat
group that a secretary forwards to by hand ("manual")."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.core.clock import utcnow
from server.core.db import db
from server.organization.models import Branch

CHANNELS = ("wecom_webhook", "wecom_appchat", "manual")
PURPOSES = ("points", "notices")  # leaderboards | round-closed notices (committee chats)
FORMATS = ("markdown", "text", "image")


class ChatTarget(db.Model):
    __tablename__ = "bot_chat_targets"
    # The same robot or chat once only: two rows would post the same board twice.
    __table_args__ = (UniqueConstraint("channel", "secret_digest"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    committee_id: Mapped[int] = mapped_column(ForeignKey("committees.id"), index=True)
    branch_id: Mapped[int | None] = mapped_column(ForeignKey("branches.id"), index=True)
    channel: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(60))
    secret_enc: Mapped[str | None] = mapped_column(Text)  # Fernet token (bot/vault.py)
    secret_hint: Mapped[str] = mapped_column(String(12), default="")  # e.g. ••••a1b2
    secret_digest: Mapped[str | None] = mapped_column(String(24))
    purposes: Mapped[str] = mapped_column(String(40), default="points")
    formats: Mapped[str] = mapped_column(String(40), default="image,markdown")
    active: Mapped[bool] = mapped_column(default=True)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

    branch: Mapped[Branch | None] = relationship()

    @property
    def purpose_list(self) -> list[str]:
        return [p for p in self.purposes.split(",") if p]

    @property
    def format_list(self) -> list[str]:
        return [f for f in self.formats.split(",") if f]

    @property
    def rate_key(self) -> str:
        """Whose send rate is limited: the robot (or chat), never the row."""
        return self.secret_digest or f"target{self.id}"
