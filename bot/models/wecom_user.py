"""Which roster member a WeChat Work account is (for the app's 排名 / 积分 commands)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.core.clock import utcnow
from server.core.db import db
from server.organization.models import Member


class WecomUser(db.Model):
    __tablename__ = "bot_wecom_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    userid: Mapped[str] = mapped_column(String(64), unique=True)  # WeCom UserID, one corp
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

    member: Mapped[Member] = relationship()
