"""API keys: create (shown once, kept as SHA-256), list, revoke; who may manage whose.

A key works while it is neither revoked nor past its expiry and its user is
active. `resolve_bearer` (core.auth's resolver for keys) checks all three in SQL on
every request (no cache), so a revocation or an expiry holds on the next request on
every host.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from typing import Any

from sqlalchemy.orm import joinedload

from server.accounts.models import ApiKey, User
from server.core import audit
from server.core.clock import (
    CHINA,  # expiry dates are typed in China time
    utcnow,
)
from server.core.db import db
from server.core.errors import ApiError
from server.core.text import display_text

MANAGERS = ("admin", "organizer")  # may manage the accounts of their committee
STATE_LABELS = {"active": "有效", "expired": "已过期", "revoked": "已吊销"}

KEY_NOT_FOUND = ("api_key_not_found", "找不到该 API 密钥", "No such API key")
USER_NOT_FOUND = ("user_not_found", "找不到该用户", "No such user")
KEY_REFUSED = {
    "revoked": ("api_key_revoked", "该 API 密钥已吊销", "This API key has been revoked"),
    "expired": ("api_key_expired", "该 API 密钥已过期，请在控制台“API 密钥”页面创建新密钥",
                "This API key has expired"),
}


def key_digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def resolve_bearer(raw: str) -> User | None:
    """core.auth's resolver for API keys: the user of a key that still works, or None."""
    key = db.session.execute(  # the user in the same query (no lazy load)
        db.select(ApiKey).filter_by(key_hash=key_digest(raw)).options(joinedload(ApiKey.user))
    ).scalar_one_or_none()
    if key is None:
        return None
    state = key.state()
    if state in KEY_REFUSED:
        raise ApiError(*KEY_REFUSED[state], 401)
    if not key.user.active:
        raise ApiError("account_disabled", "该账号已停用，请联系系统管理员",
                       "This account is deactivated", 401)
    return key.user


def load_user(user_id: str) -> User | None:
    """Flask-Login's loader, read from SQL on every request: a deactivated account's
    sessions end at once."""
    try:
        user = db.session.get(User, int(user_id))
    except (ValueError, OverflowError):
        return None
    return user if user is not None and user.active else None


def may_manage(actor: Any | None, user: User) -> bool:
    """Whether `actor` may see and take back `user`'s access (None: the CLI, anyone).

    Everyone manages their own keys; an admin or organizer also the accounts of
    their committee (an admin without a committee: every account), an organizer
    never an admin's.
    """
    if actor is None or actor.id == user.id:
        return True
    if actor.role not in MANAGERS:
        return False
    if actor.role == "admin" and actor.committee_id is None:
        return True
    if user.committee_id != actor.committee_id:
        return False
    return not (actor.role == "organizer" and user.role == "admin")


def managed_user(actor: Any | None, user_id: int) -> User:
    """The user `actor` may manage, or 404 (another committee's user is not revealed)."""
    user = db.session.get(User, user_id)
    if user is None or not may_manage(actor, user):
        raise ApiError(*USER_NOT_FOUND, 404, "user_id")
    return user


def parse_expiry(raw: str | None) -> dt.datetime | None:
    """A date ("2027-01-01": the key stops at 00:00 that day, China time) or a date and
    time (China time unless it carries an offset) → naive UTC; empty → None."""
    text = (raw or "").strip()
    if not text:
        return None
    try:
        when = dt.datetime.fromisoformat(text[:40])
        if when.tzinfo is None:
            when = when.replace(tzinfo=CHINA)
        return when.astimezone(dt.UTC).replace(tzinfo=None)
    except (ValueError, OverflowError):
        raise ApiError("invalid_expiry", "到期时间格式不正确，应为 2027-01-01 这样的日期",
                       "expires_at must be a date (YYYY-MM-DD) or date and time", 422,
                       "expires_at") from None


def _check_name(name: str) -> str:
    name = display_text(name or "")
    if not name or len(name) > 60:
        raise ApiError("invalid_key_name", "请为密钥命名（不超过 60 个字符），如“数据大屏”",
                       "name must be 1-60 characters", 422, "name")
    return name


def create_key(user: User, name: str, expires_at: dt.datetime | None = None,
               by: Any | None = None) -> tuple[ApiKey, str]:
    """A new key for `user` (by `by`, default the user): (row, raw key shown once)."""
    name = _check_name(name)
    if expires_at is not None and expires_at <= utcnow():
        raise ApiError("expiry_in_past", "到期时间须晚于当前时间",
                       "expires_at must be in the future", 422, "expires_at")
    raw = "pk_" + secrets.token_urlsafe(32)
    key = ApiKey(user_id=user.id, key_hash=key_digest(raw), name=name, expires_at=expires_at)
    db.session.add(key)
    db.session.flush()
    until = f", expires {expires_at:%Y-%m-%d %H:%M} UTC" if expires_at else ""
    audit.record(by if by is not None else user, "apikey.create", f"user:{user.id}",
                 f"key {key.id} “{name}” of {user.username}{until}")
    db.session.commit()
    return key, raw


def list_keys(user: User) -> list[ApiKey]:
    """Every key of `user`, newest first (revoked and expired ones too)."""
    return list(db.session.execute(db.select(ApiKey).filter_by(user_id=user.id)
                                   .order_by(ApiKey.id.desc())).scalars())


def revoke_key(key_id: int, by: Any | None) -> ApiKey:
    """Revoke a key `by` may manage; 404 for an unknown key, 409 if already revoked."""
    key = db.session.get(ApiKey, key_id) if 0 < key_id < 2**31 else None
    if key is None or not may_manage(by, key.user):
        raise ApiError(*KEY_NOT_FOUND, 404, "key_id")
    if key.revoked_at is not None:
        raise ApiError("api_key_already_revoked", "该 API 密钥已吊销，无需再次吊销",
                       "This API key is already revoked", 409, "key_id")
    key.revoked_at = utcnow()
    audit.record(by, "apikey.revoke", f"user:{key.user_id}",
                 f"key {key.id} “{key.name}” of {key.user.username}"
                 + ("" if by is not None else " (command line)"))
    db.session.commit()
    return key
