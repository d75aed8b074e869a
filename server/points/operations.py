"""Writing the points ledger: enter, approve (支委会审定), reject, reverse.

Every write checks the user's scope and right, the period, the item and its
caps, commits one transaction with an audit entry, and only then moves the live
boards in Redis. Errors name the field (and the item) and change nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError

from server.core import audit
from server.core.clock import utcnow
from server.core.db import db
from server.core.errors import ApiError, error_kind
from server.organization.models import Member, PartyGroup
from server.points import boards, ledger, periods, visibility
from server.points.access import (
    load_group,
    load_member,
    require_approver,
    require_keeper,
    safe_id,
    scope_of,
)
from server.points.amounts import AmountError, fmt, to_tenths
from server.points.calendar import Period, PeriodError, parse_period
from server.points.models import PointsEntry
from server.points.rulebook import rules_for_committee
from server.points.rules import Item, RuleSet, cap_problem, entry_problem

log = logging.getLogger(__name__)

REASON_MAX, EVIDENCE_MAX = 200, 500
SELF_APPROVAL = error_kind(
    "self_approval", "录入人不能审定自己录入的积分，请由支委会其他成员审定"
    "（只有一人的支部可在积分规则中设 allow_self_approval = true）",
    "the person who entered an entry cannot approve it (rule set: allow_self_approval)", 409)


@dataclass(frozen=True)
class Draft:
    """A checked entry, ready to be written (used by forms, the API and imports)."""

    subject: Member | PartyGroup
    subject_kind: str
    item: Item
    rules: RuleSet
    period: Period
    points_x10: int  # signed
    reason: str
    evidence: str

    @property
    def branch_id(self) -> int:
        return self.subject.branch_id

    @property
    def committee_id(self) -> int:
        return self.subject.branch.committee_id


def bad(code: str, zh: str, en: str, field: str | None, status: int = 422) -> ApiError:
    return ApiError(code, zh, en, status, field)


def parse_points(value: Any, item: Item | None = None, field: str = "points") -> int | None:
    """Typed points as a magnitude in tenths; empty means the item's standard points."""
    if value is None or (isinstance(value, str) and not value.strip()):
        if item is not None and (item.points is not None or item.is_veto):
            return item.points or 0
        raise bad("points_required", "请填写分值", "points are required", field)
    try:
        magnitude = to_tenths(value)
    except AmountError:
        raise bad("invalid_points", "分值必须是数字，最多一位小数",
                  "points must be a number with at most one decimal", field) from None
    return abs(magnitude) if item is not None and item.is_deduction else magnitude


def parse_period_field(value: Any, field: str = "period") -> Period:
    try:
        return parse_period(value)
    except PeriodError:
        raise bad("invalid_period", "期间格式不正确，应为如 2026Q1（季度）或 2026（年度）",
                  "period must look like 2026Q1 or 2026", field) from None


def clean_field(value: Any, field: str, label: str, limit: int, required: bool) -> str:
    text = " ".join(str(value or "").split())
    if required and not text:
        raise bad(f"{field}_required", f"请填写{label}", f"{field} is required", field)
    if len(text) > limit:
        raise bad(f"{field}_too_long", f"{label}不能超过 {limit} 个字",
                  f"{field} is longer than {limit} characters", field)
    return text


def draft_entry(user: Any, subject_kind: str, subject_id: Any, item_key: str, points: Any,
                period: Any, reason: Any, evidence: Any = "") -> Draft:
    """Check everything about a new entry except the approved-total caps."""
    require_keeper(user)
    if subject_kind == "member":
        subject: Member | PartyGroup = load_member(user, subject_id, status=422)
        if not subject.is_party_member:
            raise bad("not_party_member", f"{subject.name}不是党员，不参加党员积分",
                      "only party members collect member points", "member_id")
    elif subject_kind == "group":
        subject = load_group(user, subject_id, status=422)
    else:
        raise bad("invalid_subject", "积分对象只能是党员或党小组",
                  "subject must be a member or a group", "subject")
    per = parse_period_field(period)
    committee_id = subject.branch.committee_id
    rules = rules_for_committee(committee_id, per.year)
    scheme = rules.scheme(subject_kind)
    item = scheme.find_item(str(item_key or ""))
    if item is None:
        raise bad("unknown_item", f"没有积分项目“{item_key}”（{per.year}年{scheme.label}规则）",
                  f"no item {item_key!r} in the {per.year} {subject_kind} rules", "item")
    magnitude = parse_points(points, item)
    problem = entry_problem(item, magnitude)  # type: ignore[arg-type]  # None only for no item
    if problem:
        raise bad("points_above_cap", problem, f"points not allowed for item {item.key}",
                  "points")
    return Draft(subject=subject, subject_kind=subject_kind, item=item, rules=rules, period=per,
                 points_x10=0 if item.is_veto else item.signed(magnitude or 0),
                 reason=clean_field(reason, "reason", "事由", REASON_MAX, True),
                 evidence=clean_field(evidence, "evidence", "佐证材料", EVIDENCE_MAX, False))


def cap_check(draft: Draft | PointsEntry, item: Item, rules: RuleSet, extra_item: int = 0,
              extra_category: int = 0) -> None:
    """Refuse when approving would break the item's or its category's cap.

    The extras are what the same import adds before this row (not yet in SQL).
    """
    if item.is_veto:
        return
    kind = draft.subject_kind
    sid = draft.subject.id if isinstance(draft, Draft) else draft.subject_id
    period = draft.period
    category = rules.scheme(kind).category(item.category)
    in_item = ledger.approved_total(kind, sid, period.year, _window(item.cap_per, period),
                                    item_key=item.key)
    in_cat = ledger.approved_total(kind, sid, period.year, _window(category.cap_per, period),
                                   category_key=category.key)
    used = "已审定及本表前面各行共" if extra_item or extra_category else "已审定"
    problem = cap_problem(item, category, in_item + extra_item, in_cat + extra_category,
                          draft.points_x10, used)
    if problem:
        raise bad("cap_exceeded", problem, f"cap of item {item.key} or its category exceeded",
                  "points")


def _window(cap_per: str, period: Period) -> int | None:
    return period.quarter if cap_per == "quarter" else None


def new_entry(draft: Draft, user: Any, source: str, status: str = "pending",
              approver: Any = None, **extra: Any) -> PointsEntry:
    """An entry entered by `user`; an approved one is decided by `approver` (default: `user`)."""
    entry = PointsEntry(
        committee_id=draft.committee_id, branch_id=draft.branch_id,
        member_id=draft.subject.id if draft.subject_kind == "member" else None,
        group_id=draft.subject.id if draft.subject_kind == "group" else None,
        rule_set=draft.rules.ref, category_key=draft.item.category, item_key=draft.item.key,
        kind=draft.item.kind, points_x10=draft.points_x10, year=draft.period.year,
        quarter=draft.period.quarter, reason=draft.reason, evidence=draft.evidence,
        source=source, status=status, entered_by=getattr(user, "id", None),
        entered_at=utcnow(), **extra)
    if status == "approved":
        entry.decided_by = getattr(approver or user, "id", None)
        entry.decided_at = entry.entered_at
    db.session.add(entry)
    return entry


def create_entry(user: Any, subject_kind: str, subject_id: Any, item_key: str, points: Any,
                 period: Any, reason: Any, evidence: Any = "",
                 self_report: bool = False) -> PointsEntry:
    """A pending entry (个人自评 when `self_report`: typed in by the secretary for the member)."""
    draft = draft_entry(user, subject_kind, subject_id, item_key, points, period, reason,
                        evidence)
    periods.ensure_open(draft.committee_id, draft.period)
    cap_check(draft, draft.item, draft.rules)  # early warning; approval checks again
    entry = new_entry(draft, user, "self_report" if self_report else "secretary")
    db.session.flush()
    audit.record(user, "points.enter", f"points_entry:{entry.id}",
                 f"{draft.subject.name} {draft.item.label} {fmt(entry.points_x10, True)} "
                 f"{draft.period.code}")
    db.session.commit()
    log.info("points entry %s entered by user %s", entry.id, getattr(user, "id", None))
    return entry


def load_entry(user: Any, entry_id: Any) -> PointsEntry:
    entry = db.session.get(PointsEntry, safe_id(entry_id))
    scope = scope_of(user)
    if entry is None or not (scope.has_committee(entry.committee_id) and
                             (scope.branch_id is None or scope.branch_id == entry.branch_id)):
        raise ApiError("entry_not_found", "找不到该积分记录", "no such points entry", 404)
    return entry


def _lock_subject(entry: PointsEntry) -> None:
    """Serialise approvals of one subject (PostgreSQL), so two cannot both pass a cap."""
    if db.engine.dialect.name != "postgresql":
        return  # SQLite has a single writer
    model = Member if entry.member_id is not None else PartyGroup
    db.session.execute(db.select(model.id).where(model.id == entry.subject_id).with_for_update())


def _pending(entry: PointsEntry) -> None:
    if entry.status != "pending":
        done = {"approved": "已审定", "rejected": "已退回"}[entry.status]
        raise ApiError("entry_not_pending", f"该积分记录{done}，不能重复审定",
                       f"entry is already {entry.status}", 409, "status")


def approve_entry(user: Any, entry_id: Any, note: Any = "") -> PointsEntry:
    """支委会审定: pending → approved, within the caps; then the boards move."""
    require_approver(user)
    entry = load_entry(user, entry_id)
    _lock_subject(entry)
    db.session.refresh(entry)
    _pending(entry)
    periods.ensure_decidable(entry.committee_id, entry.period)
    rules = rules_for_committee(entry.committee_id, entry.year)
    item = rules.scheme(entry.subject_kind).items.get(entry.item_key)
    if item is None:
        raise bad("unknown_item", f"{entry.year}年积分规则中已没有该项目（{entry.item_key}），"
                  "请退回后重新录入", f"item {entry.item_key} is no longer in the rules", "item")
    if entry.entered_by == user.id and not rules.allow_self_approval:
        db.session.rollback()
        raise SELF_APPROVAL
    cap_check(entry, item, rules)
    entry.status, entry.decided_by, entry.decided_at = "approved", user.id, utcnow()
    entry.decision_note = clean_field(note, "note", "审定意见", 200, False)
    audit.record(user, "points.approve", f"points_entry:{entry.id}", entry.decision_note)
    db.session.commit()
    log.info("points entry %s approved by user %s", entry.id, user.id)
    boards.apply([entry])
    return entry


def reject_entry(user: Any, entry_id: Any, reason: Any) -> PointsEntry:
    """支委会审定: pending → rejected, with the reason the member is told."""
    require_approver(user)
    entry = load_entry(user, entry_id)
    _pending(entry)
    periods.ensure_decidable(entry.committee_id, entry.period)
    note = clean_field(reason, "reason", "退回理由", 200, True)
    entry.status, entry.decided_by, entry.decided_at = "rejected", user.id, utcnow()
    entry.decision_note = note
    audit.record(user, "points.reject", f"points_entry:{entry.id}", note)
    db.session.commit()
    return entry


def reverse_entry(user: Any, entry_id: Any, reason: Any) -> PointsEntry:
    """A correction: a new approved entry with the opposite points (the old one stays)."""
    require_approver(user)
    entry = load_entry(user, entry_id)
    if entry.status != "approved":
        raise ApiError("entry_not_approved", "只有已审定的积分记录需要冲销；待审定的请直接退回",
                       "only approved entries can be reversed", 409, "status")
    if entry.is_reversal:
        raise ApiError("reversal_of_reversal", "冲销记录不能再冲销，请重新录入正确的积分",
                       "a reversal cannot be reversed", 409)
    if ledger.is_reversed(entry):
        raise ApiError("already_reversed", "该积分记录已冲销过", "entry is already reversed", 409)
    periods.ensure_correctable(entry.committee_id, entry.period)
    note = clean_field(reason, "reason", "冲销理由", REASON_MAX, True)
    now = utcnow()
    reversal = PointsEntry(
        committee_id=entry.committee_id, branch_id=entry.branch_id, member_id=entry.member_id,
        group_id=entry.group_id, rule_set=entry.rule_set, category_key=entry.category_key,
        item_key=entry.item_key, kind=entry.kind, points_x10=-entry.points_x10,
        year=entry.year, quarter=entry.quarter, reason=f"冲销第{entry.id}号记录：{note}"[:200],
        evidence="", source="reversal", status="approved", entered_by=user.id, entered_at=now,
        decided_by=user.id, decided_at=now, reverses_id=entry.id)
    db.session.add(reversal)
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise ApiError("already_reversed", "该积分记录已冲销过", "entry is already reversed",
                       409) from None
    audit.record(user, "points.reverse", f"points_entry:{entry.id}", note)
    db.session.commit()
    log.info("points entry %s reversed by entry %s", entry.id, reversal.id)
    boards.apply([reversal])
    published = {p for p in {reversal.period, reversal.period.year_period}
                 if periods.state_of(reversal.committee_id, p) == "published"}
    visibility.refreeze_after_correction(reversal, user, published)
    return reversal
