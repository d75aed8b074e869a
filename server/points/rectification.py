"""The rectification ledger (问题台账): problems with an owner and a deadline,
closed one by one (销号) with a note of what was done; overdue ones stand out."""

from __future__ import annotations

import datetime as dt
from typing import Any

from server.core import audit
from server.core.clock import utcnow
from server.core.db import db
from server.core.errors import ApiError
from server.points.access import load_branch, require_keeper, safe_id, scope_of
from server.points.calendar import china_date
from server.points.models import RectificationItem
from server.points.operations import bad, clean_field


def _deadline(value: Any) -> dt.date:
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value or "").strip())
    except ValueError:
        raise bad("invalid_deadline", "整改期限格式不正确，应为如 2026-06-30",
                  "deadline must be a date such as 2026-06-30", "deadline") from None


def add_item(user: Any, branch_id: Any, problem: Any, source: Any, owner: Any, deadline: Any,
             measure: Any = "") -> RectificationItem:
    require_keeper(user)
    scope = scope_of(user)
    if branch_id in (None, "") and scope.branch_id is None and scope.committee_id is not None:
        branch, committee_id = None, scope.committee_id  # a committee-level problem
    else:
        branch = load_branch(user, branch_id if branch_id not in (None, "") else scope.branch_id,
                             status=422)
        committee_id = branch.committee_id
    item = RectificationItem(
        committee_id=committee_id, branch_id=branch.id if branch else None,
        problem=clean_field(problem, "problem", "问题描述", 300, True),
        source=clean_field(source, "source", "问题来源", 200, True),
        owner=clean_field(owner, "owner", "责任人", 60, True), deadline=_deadline(deadline),
        measure=clean_field(measure, "measure", "整改措施", 500, False),
        created_by=user.id, created_at=utcnow())
    db.session.add(item)
    db.session.flush()
    audit.record(user, "rectification.add", f"rectification:{item.id}", item.problem)
    db.session.commit()
    return item


def load_item(user: Any, item_id: Any) -> RectificationItem:
    scope = scope_of(user)
    item = db.session.get(RectificationItem, safe_id(item_id))
    if item is None or not scope.has_committee(item.committee_id) or (
            scope.branch_id is not None and item.branch_id != scope.branch_id):
        raise ApiError("rectification_not_found", "找不到该整改事项", "no such item", 404)
    return item


def close_item(user: Any, item_id: Any, note: Any) -> RectificationItem:
    """销号: the item is done; the note says how."""
    require_keeper(user)
    item = load_item(user, item_id)
    if item.status == "closed":
        raise ApiError("already_closed", "该整改事项已销号", "item is already closed", 409)
    item.close_note = clean_field(note, "note", "销号说明", 500, True)
    item.status, item.closed_by, item.closed_at = "closed", user.id, utcnow()
    audit.record(user, "rectification.close", f"rectification:{item.id}", item.close_note)
    db.session.commit()
    return item


def list_items(user: Any, branch_id: Any = None, status: str | None = None,
               overdue: bool = False, now: dt.datetime | None = None) -> list[RectificationItem]:
    scope = scope_of(user)
    q = db.select(RectificationItem).order_by(RectificationItem.status.desc(),
                                              RectificationItem.deadline, RectificationItem.id)
    if scope.committee_id is not None:
        q = q.where(RectificationItem.committee_id == scope.committee_id)
    if scope.branch_id is not None:
        q = q.where(RectificationItem.branch_id == scope.branch_id)
    if branch_id not in (None, ""):
        q = q.where(RectificationItem.branch_id == load_branch(user, branch_id).id)
    if status in ("open", "closed"):
        q = q.where(RectificationItem.status == status)
    if overdue:
        q = q.where(RectificationItem.status == "open",
                    RectificationItem.deadline < china_date(now))
    return list(db.session.execute(q.limit(1000)).scalars())
