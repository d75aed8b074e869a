"""Who may see what in the console, and finding a round the user may see."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask_login import current_user

from server.core.errors import error_kind
from server.roundbase.models import Round
from server.roundbase.reads import get_round

STAFF = ("admin", "organizer")  # may build and run rounds
READERS = ("admin", "organizer", "committee")  # may read rounds and results

STATUS_LABELS = {
    "draft": "草稿",
    "open": "投票中",
    "closing": "计票中",
    "closed": "已结束",
    "published": "已发布",
}

KIND_LABELS = {"appraisal": "民主测评", "recommendation": "民主推荐", "scoring": "述职评议"}

NO_COMMITTEE = error_kind("no_committee", "该账号未关联党委，请联系管理员",
                          "account has no committee", 422)


def user() -> Any:
    return current_user._get_current_object()


def committee_scope() -> int | None:
    """The committee whose rounds the user sees; None means all (an admin without one)."""
    u = user()
    if u.role == "admin" and u.committee_id is None:
        return None
    if u.committee_id is None:
        raise NO_COMMITTEE
    return u.committee_id


def own_committee() -> int:
    """The committee the user works in (to create rounds or import a roster)."""
    cid = user().committee_id
    if cid is None:
        raise NO_COMMITTEE
    return cid


def load_round(round_id: int) -> Round:
    """The round, or 404 when it does not exist or belongs to another committee."""
    return get_round(round_id, committee_scope())


def home_url() -> str:
    """Where the signed-in user lands: a page the role may see (a branch secretary:
    the points ledger of the branch; everyone else: the rounds)."""
    from flask import url_for

    if current_user.role not in READERS:
        return url_for("points_console.entries")
    return url_for("console.rounds")


def can_run_rounds() -> bool:
    return current_user.is_authenticated and current_user.role in STAFF


def safe_next(target: str | None) -> str | None:
    """`target` if it is a path on this site, else None (no open redirects)."""
    if not target or len(target) > 500:
        return None
    if any(ch in target for ch in "\\\r\n\t") or not target.startswith("/"):
        return None
    if target.startswith("//"):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target
