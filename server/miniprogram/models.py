"""Tables of the mini-program backend. What each one keeps, and what it never keeps:

wechat_bindings   staff user <-> a keyed hash of their mini-program openid (HMAC
                  with a key derived from SECRET_KEY): enough to recognise the
                  openid at login, not to recover it. One openid per user.
staff_sessions    the mini-program's bearer sessions of staff users: SHA-256 of
                  the access and refresh tokens, expiry, revocation. The WeChat
                  session_key is not stored anywhere.
slip_codes        mini-program slips: SHA-256 of the slip id (the code's scene)
                  and, until the slip is resolved, its token sealed under a key
                  derived from the slip id and SECRET_KEY (so the row alone, or
                  the slip id alone, gives nothing). Resolving once clears the
                  sealed token and sets `claimed`; no time is kept. Rows of a
                  round lose their sealed tokens when it closes.
session_claims    (round, keyed hash of appid + openid + round): that this WeChat
                  identity claimed a blind signature in the round. Never which
                  token (the server never sees it), no category, no time. The
                  round's signing keys are in blind_keys (server/tokens/blind.py).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.accounts.models import User
from server.core.clock import utcnow
from server.core.db import db


class WechatBinding(db.Model):
    __tablename__ = "wechat_bindings"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    openid_digest: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

    user: Mapped[User] = relationship()


class StaffSession(db.Model):
    __tablename__ = "staff_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    access_hash: Mapped[str] = mapped_column(String(64), unique=True)
    refresh_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime)
    refresh_expires_at: Mapped[dt.datetime] = mapped_column(DateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime)

    user: Mapped[User] = relationship()


class SlipCode(db.Model):
    __tablename__ = "slip_codes"

    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id"), index=True)
    sealed_token: Mapped[str | None] = mapped_column(String(100))
    claimed: Mapped[bool] = mapped_column(default=False)


class SessionClaim(db.Model):
    __tablename__ = "session_claims"

    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id"), primary_key=True)
    claim_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
