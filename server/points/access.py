"""Who may do what with points, and loading only what the user's scope allows.

A secretary works in one branch: everything of another branch is "not found"
(404), so its existence is not revealed. Committee accounts see their whole
committee; an admin without a committee sees everything. Roles without a right
get 403 with a code naming the right.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from server.accounts.models import User
from server.core.db import db
from server.core.errors import ApiError, error_kind
from server.organization.models import Branch, Member, PartyGroup

READERS = ("admin", "organizer", "committee", "secretary")
KEEPERS = ("admin", "committee", "secretary")  # enter, approve (支委会审定), reverse, import
MANAGERS = ("admin", "committee")  # periods, board visibility, 党委综评

NO_BRANCH = error_kind("no_branch", "该书记账号未关联党支部，请联系管理员",
                       "this secretary account has no branch", 403)
NO_COMMITTEE = error_kind("no_committee", "该账号未关联党委，请联系管理员",
                          "account has no committee", 403)


@dataclass(frozen=True)
class Scope:
    committee_id: int | None  # None: every committee (admin)
    branch_id: int | None  # None: every branch of the committee

    def has_branch(self, branch: Branch) -> bool:
        if self.branch_id is not None:
            return branch.id == self.branch_id
        return self.committee_id is None or branch.committee_id == self.committee_id

    def has_committee(self, committee_id: int) -> bool:
        return self.committee_id is None or self.committee_id == committee_id


def scope_of(user: Any) -> Scope:
    if user.role == "secretary":
        if user.branch_id is None:
            raise NO_BRANCH
        branch = db.session.get(Branch, user.branch_id)
        if branch is None:
            raise NO_BRANCH
        return Scope(branch.committee_id, branch.id)
    if user.role == "admin" and user.committee_id is None:
        return Scope(None, None)
    if user.committee_id is None:
        raise NO_COMMITTEE
    return Scope(user.committee_id, None)


def require(user: Any, roles: tuple[str, ...], code: str, zh: str, en: str) -> None:
    if user is None or user.role not in roles:
        raise ApiError(code, zh, en, 403)


def require_keeper(user: Any) -> None:
    require(user, KEEPERS, "points_forbidden", "没有维护积分的权限（须为支部书记或党委账号）",
            "only branch secretaries and the committee may change points")


def require_approver(user: Any) -> None:
    require(user, KEEPERS, "approval_forbidden",
            "没有审定积分的权限（支委会审定须由支部书记或党委账号操作）",
            "only the branch secretary or the committee may approve points")


def may_approve_for(user: Any, branch: Branch) -> bool:
    """Whether `user` may approve (支委会审定) the points of `branch`."""
    if user is None or user.role not in KEEPERS or not getattr(user, "active", True):
        return False
    try:
        return scope_of(user).has_branch(branch)
    except ApiError:  # a secretary or committee account not linked to any
        return False


def branch_approvers(branch: Branch) -> list[User]:
    """The accounts that may approve for `branch`: its secretaries, its committee, admins."""
    users = db.session.execute(db.select(User).where(
        User.role.in_(KEEPERS), User.active.is_(True)).order_by(User.id)).scalars()
    return [u for u in users if may_approve_for(u, branch)]


def load_approver(branch: Branch, value: Any) -> User:
    """The account named by `value` (a username or an id) who approves for `branch`:
    422 invalid_approver when there is none or it may not approve this branch."""
    text = str(value.id if isinstance(value, User) else value).strip()
    found = db.session.get(User, safe_id(text)) if text.isdigit() else None
    if found is None:
        found = db.session.execute(db.select(User).filter_by(username=text)
                                   ).scalar_one_or_none()
    if found is None or not may_approve_for(found, branch):
        raise ApiError("invalid_approver", f"“{text}”不能审定{branch.name}的积分"
                       "（审定人须为该支部的支部书记、支委会成员或党委账号）",
                       "the approver may not approve this branch's points", 422, "approver")
    return found


def require_manager(user: Any) -> None:
    require(user, MANAGERS, "committee_only", "此操作须由党委账号执行",
            "only the party committee may do this")


def _missing(what: str, en: str, status: int, field: str | None) -> ApiError:
    code = {404: f"{en}_not_found", 422: f"unknown_{en}"}.get(status, f"{en}_not_found")
    return ApiError(code, f"找不到该{what}", f"no such {en}", status, field)


def load_branch(user: Any, branch_id: Any, status: int = 404,
                field: str | None = "branch_id") -> Branch:
    return check_branch(user, db.session.get(Branch, safe_id(branch_id)), status, field)


def check_branch(user: Any, branch: Branch | None, status: int = 404,
                 field: str | None = "branch_id") -> Branch:
    """The branch if the user may see it; "not found" if it is missing or out of scope."""
    if branch is None or not scope_of(user).has_branch(branch):
        raise _missing("党支部", "branch", status, field)
    return branch


def load_member(user: Any, member_id: Any, status: int = 404,
                field: str | None = "member_id") -> Member:
    member = db.session.get(Member, safe_id(member_id))
    if member is None or not scope_of(user).has_branch(member.branch):
        raise _missing("党员", "member", status, field)
    return member


def load_group(user: Any, group_id: Any, status: int = 404,
               field: str | None = "group_id") -> PartyGroup:
    group = db.session.get(PartyGroup, safe_id(group_id))
    if group is None or not scope_of(user).has_branch(group.branch):
        raise _missing("党小组", "group", status, field)
    return group


def branches_in_scope(user: Any) -> list[Branch]:
    scope = scope_of(user)
    q = db.select(Branch).order_by(Branch.committee_id, Branch.id)
    if scope.branch_id is not None:
        q = q.where(Branch.id == scope.branch_id)
    elif scope.committee_id is not None:
        q = q.where(Branch.committee_id == scope.committee_id)
    return list(db.session.execute(q).scalars())


def pick_branch(user: Any, requested: Any = None) -> Branch | None:
    """The branch a page is about: the secretary's own, else the requested or the first."""
    if requested not in (None, ""):
        return load_branch(user, requested)
    branches = branches_in_scope(user)
    return branches[0] if branches else None


MAX_ID = 2**31 - 1  # an INTEGER column on PostgreSQL


def safe_id(value: Any) -> int:
    """An id to look up, or -1 (found nowhere) for anything that is not a plausible id,
    so a huge number is a 404 rather than a database overflow."""
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):
        return -1
    return number if 0 < number <= MAX_ID else -1
