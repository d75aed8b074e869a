"""Who is asking: console sessions (Flask-Login) and API bearer keys."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, g, request
from flask_login import LoginManager, current_user
from sqlalchemy.orm import joinedload

from server.core.db import db
from server.core.errors import ApiError, error_kind

login_manager = LoginManager()
F = TypeVar("F", bound=Callable[..., Any])

NEED_LOGIN = error_kind("unauthorized", "请先登录", "Authentication required", 401)
FORBIDDEN = error_kind("forbidden", "没有权限执行此操作", "Not allowed for this role", 403)


def key_digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def init_app(app: Flask) -> None:
    from server.accounts.models import User

    login_manager.init_app(app)
    app.before_request(_api_roles_first)
    login_manager.login_view = "console.login"
    login_manager.login_message = "请先登录"

    @login_manager.user_loader
    def _load(user_id: str) -> User | None:
        # Read from SQL on every request: a deactivated account's sessions end at once.
        try:
            user = db.session.get(User, int(user_id))
        except (ValueError, OverflowError):
            return None
        return user if user is not None and user.active else None


# Other kinds of bearer credential, tried before API keys: each takes the raw
# credential and returns its user, None when the credential is not of its kind,
# or raises an ApiError (e.g. an expired session). The mini-program's staff
# sessions register one (server/miniprogram/staff.py).
BEARER_RESOLVERS: list[Callable[[str], Any]] = []


def add_bearer_resolver(resolver: Callable[[str], Any]) -> None:
    if resolver not in BEARER_RESOLVERS:
        BEARER_RESOLVERS.append(resolver)


def api_user() -> Any | None:
    """The staff user behind an API request: bearer key, or session for safe reads."""
    if "api_user" in g:
        return g.api_user
    from server.accounts.models import ApiKey

    user = None
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        raw = header[7:].strip()
        for resolve in BEARER_RESOLVERS:
            user = resolve(raw)
            if user is not None:
                break
        if user is None:
            key = db.session.execute(  # the user in the same query (no lazy load)
                db.select(ApiKey).filter_by(key_hash=key_digest(raw))
                .options(joinedload(ApiKey.user))
            ).scalar_one_or_none()
            user = _key_user(key)
        if user is None:
            raise ApiError("invalid_api_key", "API 密钥无效", "Invalid API key", 401)
    elif request.method in ("GET", "HEAD") and current_user.is_authenticated:
        user = current_user._get_current_object()
    g.api_user = user
    return user


KEY_REFUSED = {
    "revoked": ("api_key_revoked", "该 API 密钥已吊销", "This API key has been revoked"),
    "expired": ("api_key_expired", "该 API 密钥已过期，请在控制台“API 密钥”页面创建新密钥",
                "This API key has expired"),
}


def _key_user(key: Any) -> Any | None:
    """The user of an API key that still works, read from SQL on every request (no
    cache: revocation, expiry and deactivation hold on the next request on every host)."""
    if key is None:
        return None
    state = key.state()
    if state in KEY_REFUSED:
        raise ApiError(*KEY_REFUSED[state], 401)
    if not key.user.active:
        raise ApiError("account_disabled", "该账号已停用，请联系系统管理员",
                       "This account is deactivated", 401)
    return key.user


def require_api_role(*roles: str) -> Callable[[F], F]:
    """Decorate an API view: a bearer key (or a session, for reads) of one of `roles`."""

    def wrap(view: F) -> F:
        @functools.wraps(view)
        def inner(*args: Any, **kwargs: Any) -> Any:
            user = api_user()
            if user is None:
                raise NEED_LOGIN
            if user.role not in roles:
                raise FORBIDDEN
            return view(*args, **kwargs)

        # Read by `_api_roles_first` through the outer decorators (functools.wraps
        # copies __dict__), so who may call is settled before the body is parsed.
        inner.api_roles = roles  # type: ignore[attr-defined]
        return inner  # type: ignore[return-value]

    return wrap


def _api_roles_first() -> None:
    """Before any argument parsing: 401/403 for an API view of `require_api_role`.

    flask-smorest parses and validates the body in decorators outside the role
    check, so without this a caller with no key would first learn what the body
    should look like (422) and only then be told to sign in.
    """
    from flask import current_app

    view = current_app.view_functions.get(request.endpoint or "")
    roles = getattr(view, "api_roles", None)
    if roles is None:
        return
    user = api_user()
    if user is None:
        raise NEED_LOGIN
    if user.role not in roles:
        raise FORBIDDEN


def require_console_role(*roles: str) -> Callable[[F], F]:
    def wrap(view: F) -> F:
        @functools.wraps(view)
        def inner(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            if current_user.role not in roles:
                raise FORBIDDEN
            return view(*args, **kwargs)

        return inner  # type: ignore[return-value]

    return wrap
