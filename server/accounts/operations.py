"""Creating staff accounts, checking passwords, issuing API keys."""

from __future__ import annotations

import secrets
from typing import Any

from werkzeug.security import check_password_hash, generate_password_hash

from server.accounts import audit
from server.accounts.models import ROLES, ApiKey, User
from server.core.auth import key_digest
from server.core.db import db
from server.core.errors import ApiError
from server.organization.models import Branch

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


def new_api_key(user: Any, name: str = "") -> str:
    """Create a bearer key; the raw key is returned once and stored hashed."""
    raw = "pk_" + secrets.token_urlsafe(32)
    db.session.add(ApiKey(user_id=user.id, key_hash=key_digest(raw), name=name[:60]))
    audit.record(user, "apikey.create", f"user:{user.id}", name)
    db.session.commit()
    return raw
