"""Staff accounts: creating, checking passwords, deactivating; API keys (keys.py)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from werkzeug.security import check_password_hash, generate_password_hash

from server.accounts import keys
from server.accounts.models import ROLES, User
from server.core import audit
from server.core.db import db
from server.core.errors import ApiError
from server.organization.models import Branch, Committee

# A hash to compare against when the user does not exist, so both paths take
# the same time and a login attempt cannot probe for usernames.
_DUMMY_HASH = generate_password_hash("not-a-password")


def create_user(username: str, password: str, role: str = "organizer",
                committee_id: int | None = None, branch_id: int | None = None,
                display_name: str = "") -> User:
    username = (username or "").strip()
    if not username or len(username) > 60:
        raise ApiError("invalid_username", "用户名不能为空且不超过 60 个字符",
                       "username must be 1-60 characters", 422, "username")
    if role not in ROLES:
        raise ApiError("invalid_role", "角色不正确", f"role must be one of {ROLES}", 422, "role")
    if len(password or "") < 8:
        raise ApiError("weak_password", "密码至少需要 8 个字符",
                       "password must have at least 8 characters", 422, "password")
    if db.session.execute(db.select(User).filter_by(username=username)).first():
        raise ApiError("username_taken", "该用户名已存在", "username already exists", 409,
                       "username")
    if branch_id is not None:
        committee_id = _branch_committee(branch_id, committee_id)
    user = User(username=username, password_hash=generate_password_hash(password), role=role,
                committee_id=committee_id, branch_id=branch_id,
                display_name=display_name or username)
    db.session.add(user)
    db.session.flush()
    audit.record(None, "user.create", f"user:{user.id}", f"{username} ({role})")
    db.session.commit()
    return user


def _branch_committee(branch_id: int, committee_id: int | None) -> int:
    """The committee of a branch-scoped account: the branch's, which must be the one given."""
    branch = db.session.get(Branch, branch_id)
    if branch is None:
        raise ApiError("branch_not_found", "找不到该党支部", "no such branch", 422, "branch")
    if committee_id is not None and branch.committee_id != committee_id:
        raise ApiError("branch_not_in_committee", "该党支部不属于所选党委",
                       "the branch belongs to another committee", 422, "branch")
    return branch.committee_id


def authenticate(username: str, password: str) -> User | None:
    user = db.session.execute(
        db.select(User).filter_by(username=(username or "").strip())
    ).scalar_one_or_none()
    if user is None:
        check_password_hash(_DUMMY_HASH, password or "")
        return None
    if not check_password_hash(user.password_hash, password or "") or not user.active:
        return None
    return user


def new_api_key(user: Any, name: str = "cli", expires_at: dt.datetime | None = None) -> str:
    """Create a bearer key; the raw key is returned once and stored hashed."""
    return keys.create_key(user, name, expires_at)[1]


# -- deactivating and reactivating accounts ----------------------------------------

def _committee_staff(committee_id: int | None) -> list[int]:
    """Ids of the active admins and organizers of a committee (locked on PostgreSQL,
    so two deactivations at once cannot both leave it without one)."""
    where = (User.committee_id.is_(None) if committee_id is None
             else User.committee_id == committee_id)
    return list(db.session.execute(
        db.select(User.id).where(where, User.active.is_(True),
                                 User.role.in_(keys.MANAGERS)).with_for_update()).scalars())


def deactivate_user(user: User, by: Any | None = None) -> User:
    """Stop an account: its console sessions, API keys and mini-program sessions stop on
    their next request (each is checked against `active`). Its keys are kept, revoked
    or not, for a reactivation."""
    if by is not None and by.id == user.id:
        raise ApiError("cannot_deactivate_self", "不能停用自己正在使用的账号",
                       "You cannot deactivate your own account", 409, "user_id")
    if not user.active:
        raise ApiError("user_already_inactive", f"账号“{user.username}”已是停用状态",
                       "This account is already deactivated", 409, "user_id")
    if user.role in keys.MANAGERS and _committee_staff(user.committee_id) == [user.id]:
        raise ApiError("last_organizer",
                       f"“{user.username}”是{_where(user)}最后一个可用的组织者/管理员账号，"
                       "不能停用；请先为其创建或启用另一个组织者账号",
                       "This is the last active organizer or admin of its committee", 409,
                       "user_id")
    user.active = False
    audit.record(by, "user.deactivate", f"user:{user.id}",
                 user.username + ("" if by is not None else " (command line)"))
    db.session.commit()
    return user


def reactivate_user(user: User, by: Any | None = None) -> User:
    if user.active:
        raise ApiError("user_already_active", f"账号“{user.username}”已是启用状态",
                       "This account is already active", 409, "user_id")
    user.active = True
    audit.record(by, "user.reactivate", f"user:{user.id}",
                 user.username + ("" if by is not None else " (command line)"))
    db.session.commit()
    return user


def _where(user: User) -> str:
    committee = db.session.get(Committee, user.committee_id) if user.committee_id else None
    return committee.name if committee is not None else "系统中"
