"""Staff sign-in from the mini-program: WeChat identity -> bound account -> our session.

Binding (once per person): signed in to the web console, the user asks for a
binding code (8 characters, valid WECHAT_BINDING_CODE_TTL_S, one use, kept in
Redis as a hash only). In the mini-program they type it; the mini-program calls
wx.login and sends {code, binding_code} to POST /api/v1/auth/wechat. The server
exchanges the code for the openid (code2Session) and binds a keyed hash of it
to the account. Later sign-ins send {code} alone.

Sessions: a bearer access token ("ps_...", STAFF_SESSION_TTL_S) and a refresh
token ("pr_...", STAFF_REFRESH_TTL_S), both stored as SHA-256 only. Refreshing
rotates both; presenting a refresh token that was already rotated revokes every
session of that user (it was copied). Logout revokes the session; unbinding
revokes all of them. The WeChat session_key is never kept (see wechat/client.py).
"""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from flask import g
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from server.accounts.models import User
from server.core import audit, ratelimit
from server.core.clock import utcnow
from server.core.db import changed_rows, db
from server.core.errors import ApiError
from server.core.redis import get_redis, sync
from server.miniprogram.crypto import identity_digest, new_code, normalize_code, sha256_hex
from server.miniprogram.models import StaffSession, WechatBinding
from server.wechat import client as wechat
from server.wechat.config import setting

ACCESS_PREFIX = "ps_"
REFRESH_PREFIX = "pr_"
BINDING_LEN = 8

INVALID_SESSION = ("invalid_session", "登录已失效，请重新登录", "Invalid or revoked session token")
SESSION_EXPIRED = ("session_expired", "登录已过期，请刷新登录状态或重新登录",
                   "Session token expired; refresh it (POST /api/v1/auth/refresh)")
BAD_REFRESH = ("invalid_refresh_token", "登录已失效，请重新登录", "Invalid refresh token")
NOT_BOUND = ("wechat_not_bound",
             "该微信尚未绑定评议账号。请在电脑上登录评议控制台，在“微信绑定”页面生成绑定码后再登录",
             "This WeChat user is bound to no account: generate a binding code in the console")
BAD_BINDING = ("binding_code_invalid", "绑定码不正确或已过期，请在控制台重新生成",
               "Unknown, used or expired binding code")


def _binding_key(code: str) -> str:
    return f"{{wxbind}}:{sha256_hex(code)}"


def _attempts_key() -> str:
    return f"{{wxbind}}:fail:{ratelimit.client_id()}"


# -- binding codes ----------------------------------------------------------------------

def new_binding_code(user: User) -> tuple[str, int]:
    """A one-time code binding the next mini-program sign-in to `user`: (code, ttl s)."""
    ttl = int(setting("WECHAT_BINDING_CODE_TTL_S"))
    code = new_code(BINDING_LEN)
    get_redis().set(_binding_key(code), str(user.id), ex=ttl)
    audit.record(user, "wechat.binding_code", f"user:{user.id}")
    db.session.commit()
    return f"{code[:4]}-{code[4:]}", ttl


def _binding_refused() -> ApiError | None:
    limit = int(setting("LOGIN_FAIL_LIMIT"))
    if limit and ratelimit.counts(_attempts_key())[0] >= limit:
        window = int(setting("LOGIN_FAIL_WINDOW_S"))
        return ratelimit.too_many("绑定码错误次数过多，请稍后再试",
                                  "Too many wrong binding codes from this network", window)
    return None


def _consume_binding_code(raw: Any) -> User:
    code = normalize_code(raw, BINDING_LEN)
    user_id = sync(get_redis().getdel(_binding_key(code))) if code else None
    user = db.session.get(User, int(user_id)) if user_id else None
    if user is None or not user.active:
        ratelimit.hit(_attempts_key(), int(setting("LOGIN_FAIL_WINDOW_S")))
        raise ApiError(*BAD_BINDING, 422, "binding_code")
    return user


# -- sign-in --------------------------------------------------------------------------------

def wechat_login(code: str, binding_code: str | None = None) -> dict[str, Any]:
    """code2Session, then the bound account (binding it first with a binding code)."""
    if binding_code:
        refused = _binding_refused()
        if refused is not None:
            raise refused
    openid = wechat.code_to_session(code)
    digest = identity_digest(setting("WECHAT_MINIPROGRAM_APPID"), openid)
    del openid
    if binding_code:
        user = _consume_binding_code(binding_code)
        other = db.session.execute(db.select(WechatBinding).filter_by(
            openid_digest=digest)).scalar_one_or_none()
        if other is not None and other.user_id != user.id:
            db.session.rollback()
            raise ApiError("wechat_already_bound",
                           "该微信已绑定其他评议账号，请先在原账号的控制台“微信绑定”页面解除绑定",
                           "This WeChat user is bound to another account", 409, "binding_code")
        row = db.session.get(WechatBinding, user.id)
        if row is None:
            db.session.add(WechatBinding(user_id=user.id, openid_digest=digest))
        else:
            row.openid_digest = digest
            row.created_at = utcnow()
        audit.record(user, "wechat.bind", f"user:{user.id}")
        try:
            db.session.flush()
        except IntegrityError:
            db.session.rollback()
            raise ApiError("wechat_already_bound", "该微信已绑定其他评议账号",
                           "This WeChat user is bound to another account", 409,
                           "binding_code") from None
    else:
        binding = db.session.execute(db.select(WechatBinding).filter_by(
            openid_digest=digest)).scalar_one_or_none()
        if binding is None:
            raise ApiError(*NOT_BOUND, 401)
        user = binding.user
        if not user.active:
            raise ApiError("account_disabled", "该账号已停用，请联系系统管理员",
                           "This account is disabled", 403)
    audit.record(user, "wechat.login", f"user:{user.id}", f"from {ratelimit.client_address()}")
    return _issue(user)


def _issue(user: User) -> dict[str, Any]:
    """A new session for `user`, committed; the raw tokens are returned only here."""
    now = utcnow()
    access = ACCESS_PREFIX + secrets.token_urlsafe(32)
    refresh = REFRESH_PREFIX + secrets.token_urlsafe(32)
    ttl = int(setting("STAFF_SESSION_TTL_S"))
    row = StaffSession(user_id=user.id, access_hash=sha256_hex(access),
                       refresh_hash=sha256_hex(refresh), created_at=now,
                       expires_at=now + dt.timedelta(seconds=ttl),
                       refresh_expires_at=now + dt.timedelta(
                           seconds=int(setting("STAFF_REFRESH_TTL_S"))))
    db.session.add(row)
    # Sessions whose refresh token expired a day ago are of no use to anyone.
    db.session.execute(db.delete(StaffSession).where(
        StaffSession.user_id == user.id,
        StaffSession.refresh_expires_at < now - dt.timedelta(days=1)))
    db.session.commit()
    return {"access_token": access, "token_type": "Bearer", "expires_in": ttl,
            "expires_at": row.expires_at, "refresh_token": refresh,
            "refresh_expires_at": row.refresh_expires_at, "user": user}


def refresh(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, str) or not raw.startswith(REFRESH_PREFIX):
        raise ApiError(*BAD_REFRESH, 401, "refresh_token")
    row = db.session.execute(db.select(StaffSession).filter_by(
        refresh_hash=sha256_hex(raw))).scalar_one_or_none()
    if row is None:
        raise ApiError(*BAD_REFRESH, 401, "refresh_token")
    now = utcnow()
    if row.revoked_at is not None:
        # A rotated refresh token came back: someone holds a copy. End them all.
        revoke_all(row.user_id, "refresh token reused")
        db.session.commit()
        raise ApiError(*BAD_REFRESH, 401, "refresh_token")
    if row.refresh_expires_at <= now or not row.user.active:
        raise ApiError(*BAD_REFRESH, 401, "refresh_token")
    if not changed_rows(update(StaffSession).where(
            StaffSession.id == row.id, StaffSession.revoked_at.is_(None)).values(
            revoked_at=now)):
        db.session.rollback()
        raise ApiError(*BAD_REFRESH, 401, "refresh_token")
    return _issue(row.user)


def resolve_bearer(raw: str) -> User | None:
    """core.auth's resolver for session tokens: the user, or None if not ours."""
    if not raw.startswith(ACCESS_PREFIX):
        return None
    row = db.session.execute(db.select(StaffSession).filter_by(
        access_hash=sha256_hex(raw))).scalar_one_or_none()
    if row is None or row.revoked_at is not None or not row.user.active:
        raise ApiError(*INVALID_SESSION, 401)
    if row.expires_at <= utcnow():
        raise ApiError(*SESSION_EXPIRED, 401)
    g.staff_session = row
    return row.user


def current_session() -> StaffSession | None:
    return g.get("staff_session")


def logout() -> None:
    row = current_session()
    if row is None:
        raise ApiError("not_a_session", "只有小程序登录会话可以退出（API 密钥请在控制台管理）",
                       "Only a mini-program session can be logged out", 400)
    row.revoked_at = utcnow()
    audit.record(row.user, "wechat.logout", f"user:{row.user_id}")
    db.session.commit()


def revoke_all(user_id: int, why: str = "") -> int:
    n = changed_rows(update(StaffSession).where(
        StaffSession.user_id == user_id, StaffSession.revoked_at.is_(None)).values(
        revoked_at=utcnow()))
    audit.record(None, "wechat.sessions_revoked", f"user:{user_id}", why)
    return n


def unbind(user: User) -> bool:
    row = db.session.get(WechatBinding, user.id)
    if row is not None:
        db.session.delete(row)
        audit.record(user, "wechat.unbind", f"user:{user.id}")
    revoke_all(user.id, "unbound")
    db.session.commit()
    return row is not None


def binding_of(user: User) -> WechatBinding | None:
    return db.session.get(WechatBinding, user.id)


def active_sessions(user: User) -> int:
    return len(db.session.execute(db.select(StaffSession.id).where(
        StaffSession.user_id == user.id, StaffSession.revoked_at.is_(None),
        StaffSession.refresh_expires_at > utcnow())).all())
