"""The ledger screen: enter points, approve or reject (支委会审定), reverse."""

from __future__ import annotations

from typing import Any

from flask import flash, render_template, request
from werkzeug.wrappers import Response

from server.core.auth import require_console_role
from server.core.db import db
from server.core.errors import ApiError
from server.organization.models import Branch, Committee, Member, PartyGroup
from server.points import access, ledger, operations
from server.points.amounts import fmt
from server.points.calendar import Period
from server.points.models import PointsEntry
from server.points.pages import common
from server.points.pages.common import KEEPERS, READERS
from server.points.rulebook import rules_for
from server.points.rules import RuleSet

PAGE_SIZE = 200


def _subjects(branch: Branch) -> dict[str, list[tuple[str, str]]]:
    members = db.session.execute(db.select(Member).filter_by(
        branch_id=branch.id, is_party_member=True).order_by(Member.id)).scalars()
    groups = db.session.execute(db.select(PartyGroup).filter_by(
        branch_id=branch.id).order_by(PartyGroup.id)).scalars()
    return {"党员": [(f"member:{m.id}", f"{m.name}（{m.member_no}）") for m in members],
            "党小组": [(f"group:{g.id}", g.name) for g in groups]}


def _items(rules: RuleSet | None) -> list[tuple[str, list[tuple[str, str]]]]:
    if rules is None:
        return []
    out = []
    for scheme in (rules.member, rules.group):
        for cat in scheme.categories:
            options = []
            for item in cat.items:
                hint = ("否决" if item.is_veto else
                        f"{'扣' if item.is_deduction else ''}"
                        f"{fmt(item.points) + '分/次' if item.points else ''}"
                        f"{'，上限' + fmt(item.cap) if item.cap else ''}")
                options.append((f"{scheme.subject}:{item.key}",
                                f"{item.label}" + (f"（{hint}）" if hint else "")))
            out.append((f"{scheme.label} · {cat.label}", options))
    return out


def _entries(branch: Branch, period: Period, status: str) -> list[PointsEntry]:
    q = (db.select(PointsEntry).filter_by(branch_id=branch.id, year=period.year)
         .order_by(PointsEntry.id.desc()))
    if not period.is_year:
        q = q.where(PointsEntry.quarter == period.quarter)
    if status:
        q = q.where(PointsEntry.status == status)
    return list(db.session.execute(q.limit(PAGE_SIZE)).scalars())


def _page(status_code: int = 200, **extra: Any) -> tuple[str, int]:
    branch = common.chosen_branch()
    period = common.chosen_period()
    status = request.args.get("status", "")
    if status not in ("", "approved", "rejected", "pending"):
        status = ""
    if branch is None:
        return render_template("points/entries.html", branch=None), status_code
    committee = db.session.get(Committee, branch.committee_id)
    name = committee.name if committee else ""
    try:
        rules = rules_for(name, period.year)
    except ApiError:
        rules = None
    pending = _entries(branch, Period(period.year), "pending") if common.can_keep() else []
    listed = _entries(branch, period, status)
    reversed_ids = set(db.session.execute(
        db.select(PointsEntry.reverses_id).where(
            PointsEntry.reverses_id.in_([e.id for e in listed]))).scalars())
    form = extra.pop("form", None) or {"subject": request.args.get("subject", ""),
                                       "period": period.code, "self_report": False}
    return render_template(
        "points/entries.html", branch=branch,
        branches=access.branches_in_scope(common.user()), period=period, status=status,
        periods=common.period_choices(name, period), subjects=_subjects(branch),
        items=_items(rules), rules=rules, pending=pending, entries=listed,
        reversed_ids=reversed_ids, form=form, can_keep=common.can_keep(),
        source_labels=common.SOURCE_LABELS, status_labels=common.STATUS_LABELS,
        pending_total=ledger.pending_count(branch_id=branch.id), **extra), status_code


@require_console_role(*READERS)
def entries_page() -> tuple[str, int]:
    return _page()


@require_console_role(*KEEPERS)
def entry_create() -> Response | tuple[str, int]:
    f = request.form
    form: dict[str, Any] = {"subject": f.get("subject", ""), "item": f.get("item", ""),
            "points": f.get("points", ""), "period": f.get("period", ""),
            "reason": f.get("reason", ""), "evidence": f.get("evidence", ""),
            "self_report": bool(f.get("self_report"))}
    branch = common.chosen_branch()
    try:
        kind, _, subject_id = form["subject"].partition(":")
        item_kind, _, item_key = form["item"].partition(":")
        if kind not in ("member", "group"):
            raise ApiError("invalid_subject", "请选择积分对象（党员或党小组）",
                           "choose a member or a group", 422, "subject")
        if item_kind != kind:
            raise ApiError("item_mismatch",
                           "所选项目与对象不符：党员选“党员小积分”项目，党小组选“党小组动态考评”项目",
                           "the item is not for this kind of subject", 422, "item")
        entry = operations.create_entry(common.user(), kind, subject_id, item_key,
                                        form["points"], form["period"], form["reason"],
                                        form["evidence"], self_report=form["self_report"])
    except ApiError as err:
        db.session.rollback()
        if err.status in (401, 403, 404):
            raise
        return _page(err.status, form=form, error=err)
    flash(f"已录入：{entry.subject_name} {entry.points} 分，待支委会审定", "success")
    return common.back("entries", branch=branch.id if branch else None, period=form["period"])


def _decide(entry_id: int, action: Any, done: str) -> Response:
    branch = common.chosen_branch()
    try:
        entry = action()
    except ApiError as err:
        db.session.rollback()
        common.flash_error(err)
    else:
        flash(done.format(name=entry.subject_name, points=entry.points, id=entry_id), "success")
    return common.back("entries", branch=branch.id if branch else None,
                       period=request.form.get("period"), status=request.form.get("status"))


@require_console_role(*KEEPERS)
def entry_approve(entry_id: int) -> Response:
    return _decide(entry_id, lambda: operations.approve_entry(
        common.user(), entry_id, request.form.get("note", "")), "已审定：{name} {points} 分")


@require_console_role(*KEEPERS)
def entry_reject(entry_id: int) -> Response:
    return _decide(entry_id, lambda: operations.reject_entry(
        common.user(), entry_id, request.form.get("reason", "")), "已退回第{id}号记录（{name}）")


@require_console_role(*KEEPERS)
def entry_reverse(entry_id: int) -> Response:
    return _decide(entry_id, lambda: operations.reverse_entry(
        common.user(), entry_id, request.form.get("reason", "")),
        "已冲销第{id}号记录：{name} {points} 分")
