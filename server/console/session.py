"""Signing in and out of the console."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user, logout_user
from werkzeug.wrappers import Response

from server.accounts import audit
from server.accounts.operations import authenticate
from server.console.access import safe_next
from server.core.db import db

BAD_LOGIN = "用户名或密码不正确"


def login() -> str | Response | tuple[str, int]:
    next_url = safe_next(request.values.get("next"))
    if request.method == "GET":
        if current_user.is_authenticated:
            return redirect(next_url or url_for("console.rounds"))
        return render_template("console/login.html", next_url=next_url, username="")
    username = request.form.get("username", "")[:60]
    user = authenticate(username, request.form.get("password", ""))
    if user is None:
        # One message for every failure: no hint whether the username exists.
        return render_template("console/login.html", next_url=next_url, username=username,
                               error=BAD_LOGIN), 401
    session.clear()  # a fresh session on sign-in (no fixation)
    login_user(user)
    audit.record(user, "console.login", f"user:{user.id}")
    db.session.commit()
    return redirect(next_url or url_for("console.rounds"))


def logout() -> Response:
    logout_user()
    session.clear()
    flash("您已安全退出", "info")
    return redirect(url_for("console.login"))
