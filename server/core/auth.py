"""Who is asking: console sessions (Flask-Login) and API bearer keys."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, g, request
from flask_login import LoginManager, current_user

from server.core.errors import ApiError, error_kind

login_manager = LoginManager()
F = TypeVar("F", bound=Callable[..., Any])

NEED_LOGIN = error_kind("unauthorized", "请先登录", "Authentication required", 401)
FORBIDDEN = error_kind("forbidden", "没有权限执行此操作", "Not allowed for this role", 403)


def init_app(app: Flask) -> None:
    login_manager.init_app(app)
    app.before_request(_api_roles_first)
    login_manager.login_view = "console.login"
    login_manager.login_message = "请先登录"


# Bearer credentials: each resolver takes the raw credential and returns its user,
# None when the credential is not of its kind, or raises an ApiError (e.g. an
# expired session). Registered by the features that issue them: the mini-program's
# staff sessions (server/miniprogram/staff.py) and, tried last because any string
# may be one, API keys (server/accounts/keys.py).
BEARER_RESOLVERS: list[Callable[[str], Any]] = []
_LAST_RESOLVERS: list[Callable[[str], Any]] = []


def add_bearer_resolver(resolver: Callable[[str], Any], *, last: bool = False) -> None:
    chain = _LAST_RESOLVERS if last else BEARER_RESOLVERS
    if resolver not in chain:
        chain.append(resolver)


def api_user() -> Any | None:
    """The staff user behind an API request: bearer credential, or session for safe reads."""
    if "api_user" in g:
        return g.api_user
    user = None
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        raw = header[7:].strip()
        for resolve in (*BEARER_RESOLVERS, *_LAST_RESOLVERS):
            user = resolve(raw)
            if user is not None:
                break
        if user is None:
            raise ApiError("invalid_api_key", "API 密钥无效", "Invalid API key", 401)
    elif request.method in ("GET", "HEAD") and current_user.is_authenticated:
        user = current_user._get_current_object()
    g.api_user = user
    return user


def signed_in_api_user() -> Any:
    """api_user() in a view of `require_api_role`, which has already refused a request
    without one (401); typed as never None."""
    user = api_user()
    if user is None:
        raise NEED_LOGIN
    return user


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
        return inner  # type: ignore[return-value]  # wraps keeps the view's signature

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

        return inner  # type: ignore[return-value]  # wraps keeps the view's signature

    return wrap
