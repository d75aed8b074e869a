"""Signing in and out of the console."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user, logout_user
from werkzeug.wrappers import Response

from server.accounts.models import User
from server.accounts.operations import authenticate
from server.console.access import home_url, safe_next
from server.core import audit, ratelimit
from server.core.db import db

BAD_LOGIN = "用户名或密码不正确"


def login() -> str | Response | tuple[str, int, dict[str, str]]:
    next_url = safe_next(request.values.get("next"))
    if request.method == "GET":
        if current_user.is_authenticated:
            return redirect(next_url or home_url())
        return render_template("console/login.html", next_url=next_url, username="")
    username = request.form.get("username", "")[:60]
    # Refused before the password is even hashed: per user name and address, and per
    # address (core/ratelimit.py), never per user name alone (no one can lock another
    # out). Same answer and same work whether or not the user name exists.
    blocked = ratelimit.login_blocked(username)
    if blocked is not None:
        audit.record(None, "console.login_refused", _target(username),
                     f"rate limited; from {ratelimit.client_address()}")
        db.session.commit()
        return _login_page(next_url, username, blocked.message, 429,
                           {"Retry-After": str(ratelimit.retry_after(blocked))})
    user = authenticate(username, request.form.get("password", ""))
    if user is None:
        ratelimit.login_failed(username)
        audit.record(None, "console.login_failed", _target(username),
                     f"from {ratelimit.client_address()}")
        db.session.commit()
        # One message for every failure: no hint whether the username exists.
        return _login_page(next_url, username, BAD_LOGIN, 401)
    session.clear()  # a fresh session on sign-in (no fixation)
    login_user(user)
    audit.record(user, "console.login", f"user:{user.id}", f"from {ratelimit.client_address()}")
    db.session.commit()
    return redirect(next_url or home_url())


def _target(username: str) -> str:
    """The account a failed sign-in was for. A name matching no account is not kept:
    it may be a password typed into the wrong box."""
    user = db.session.execute(
        db.select(User).filter_by(username=username.strip())).scalar_one_or_none()
    return f"user:{user.id}" if user is not None else "user:(unknown)"


def _login_page(next_url: str | None, username: str, error: str, status: int,
                headers: dict[str, str] | None = None) -> tuple[str, int, dict[str, str]]:
    page = render_template("console/login.html", next_url=next_url, username=username,
                           error=error)
    return page, status, headers or {}


def logout() -> Response:
    if current_user.is_authenticated:
        audit.record(current_user._get_current_object(), "console.logout",
                     f"user:{current_user.id}")
        db.session.commit()
    logout_user()
    session.clear()
    flash("您已安全退出", "info")
    return redirect(url_for("console.login"))
