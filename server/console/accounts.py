"""Console pages for access: one's own API keys, and (admins, organizers) the
accounts of the committee: their keys, deactivate and reactivate.

/console/keys                          my keys; create one (shown once)
/console/keys/<id>/revoke              revoke a key I may manage
/console/users                         the accounts I may manage, with their keys
/console/users/<id>/deactivate|reactivate
"""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from server.accounts import keys
from server.accounts.models import User
from server.accounts.operations import deactivate_user, reactivate_user
from server.console import access
from server.console.access import STAFF
from server.core.auth import require_console_role
from server.core.db import db
from server.core.errors import ApiError

ALL = ("admin", "organizer", "secretary", "committee")
ROLE_LABELS = {"admin": "管理员", "organizer": "组织者", "secretary": "支部书记",
               "committee": "党委"}


def _keys_page(status: int = 200, **extra: Any) -> tuple[str, int]:
    me = access.user()
    return render_template("console/keys.html", keys=keys.list_keys(me),
                           state_labels=keys.STATE_LABELS, **extra), status


@require_console_role(*ALL)
def keys_page() -> tuple[str, int]:
    return _keys_page()


@require_console_role(*ALL)
def key_create() -> tuple[str, int]:
    name, expires = request.form.get("name", ""), request.form.get("expires", "")
    try:
        key, raw = keys.create_key(access.user(), name, keys.parse_expiry(expires))
    except ApiError as err:
        db.session.rollback()
        return _keys_page(err.status, error=err, name=name[:60], expires=expires[:40])
    return _keys_page(created=key, raw=raw)


@require_console_role(*ALL)
def key_revoke(key_id: int) -> Response | tuple[str, int]:
    back = "users" if request.form.get("back") == "users" else "keys"
    try:
        key = keys.revoke_key(key_id, access.user())
    except ApiError as err:
        db.session.rollback()
        if back == "users" and access.user().role in STAFF:
            return _users_page(err.status, error=err)
        return _keys_page(err.status, error=err)
    flash(f"已吊销 API 密钥“{key.name}”，使用它的请求将立即被拒绝。", "success")
    return redirect(url_for(f"console.{back}"), 303)


def _manageable() -> list[User]:
    me = access.user()
    q = db.select(User).order_by(User.committee_id, User.role, User.username)
    if not (me.role == "admin" and me.committee_id is None):
        q = q.where(User.committee_id == access.own_committee())
    return [u for u in db.session.execute(q).scalars() if keys.may_manage(me, u)]


def _users_page(status: int = 200, **extra: Any) -> tuple[str, int]:
    users = _manageable()
    return render_template("console/users.html", users=users,
                           keys_of={u.id: keys.list_keys(u) for u in users},
                           state_labels=keys.STATE_LABELS, role_labels=ROLE_LABELS,
                           **extra), status


@require_console_role(*STAFF)
def users_page() -> tuple[str, int]:
    return _users_page()


def _set_active(user_id: int, active: bool) -> Response | tuple[str, int]:
    me = access.user()
    try:
        user = keys.managed_user(me, user_id)
        (reactivate_user if active else deactivate_user)(user, me)
    except ApiError as err:
        db.session.rollback()
        return _users_page(err.status, error=err)
    if active:
        flash(f"已启用账号“{user.username}”。", "success")
    else:
        flash(f"已停用账号“{user.username}”：其控制台登录、API 密钥和小程序登录立即失效。",
              "success")
    return redirect(url_for("console.users"), 303)


@require_console_role(*STAFF)
def user_deactivate(user_id: int) -> Response | tuple[str, int]:
    return _set_active(user_id, False)


@require_console_role(*STAFF)
def user_reactivate(user_id: int) -> Response | tuple[str, int]:
    return _set_active(user_id, True)
