"""Importing a quarter's points from Excel, and a blank sheet to fill in."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from flask import Response, render_template, request

from server.core.auth import require_console_role
from server.core.db import db
from server.core.errors import ApiError
from server.core.spreadsheet import workbook, xlsx_bytes
from server.organization.models import Committee, Member, PartyGroup
from server.points import access, importer
from server.points.pages import common
from server.points.pages.common import KEEPERS
from server.points.rulebook import rules_for

MAX_UPLOAD_BYTES = importer.MAX_BYTES + 1024 * 1024


def _page(status: int = 200, **extra: Any) -> tuple[str, int]:
    branch = common.chosen_branch()
    period = common.chosen_period()
    committee = db.session.get(Committee, branch.committee_id) if branch else None
    try:
        self_ok = rules_for(committee.name if committee else "", period.year).allow_self_approval
    except ApiError:
        self_ok = False
    me = common.user().id
    approvers = [u for u in access.branch_approvers(branch) if u.id != me] if branch else []
    return render_template(
        "points/import.html", branch=branch,
        branches=access.branches_in_scope(common.user()), period=period,
        periods=common.period_choices(committee.name if committee else "", period),
        approvers=approvers, self_ok=self_ok, **extra), status


@require_console_role(*KEEPERS)
def import_page() -> tuple[str, int]:
    return _page(dry_run=True)


@require_console_role(*KEEPERS)
def import_upload() -> tuple[str, int]:
    branch = common.chosen_branch()
    upload = request.files.get("sheet")
    dry_run, approve = bool(request.form.get("dry_run")), bool(request.form.get("approve"))
    approver = request.form.get("approver") or None
    opts: dict[str, Any] = {"dry_run": dry_run, "approve": approve, "approver": approver}
    if branch is None:
        raise ApiError("branch_not_found", "找不到该党支部", "no such branch", 404)
    if upload is None or not upload.filename:
        return _page(422, import_error="请选择要导入的积分表（.xlsx 或 .csv）", **opts)
    data = upload.read(importer.MAX_BYTES + 1)
    try:
        report = importer.import_points(common.user(), branch.id, request.form.get("period"),
                                        upload.filename, data, approve=approve,
                                        dry_run=dry_run, approver=approver)
    except ApiError as err:
        db.session.rollback()
        if err.status in (401, 403, 404):
            raise
        return _page(err.status, import_error=err.message,
                     row_errors=getattr(err, "rows", None) or [], filename=upload.filename,
                     **opts)
    return _page(report=report, filename=upload.filename, **opts)


@require_console_role(*KEEPERS)
def import_template() -> Response:
    """A sheet with the columns the importer reads, pre-filled with the branch's people."""
    branch = common.chosen_branch()
    wb = workbook()
    ws = wb.active
    ws.title = "积分导入"
    ws.append(["工号", "姓名", "党小组", "项目", "分值", "事由", "佐证材料"])
    if branch is not None:
        for m in db.session.execute(db.select(Member).filter_by(
                branch_id=branch.id, is_party_member=True).order_by(Member.id)).scalars():
            ws.append([m.member_no, m.name, "", "", "", "", ""])
        for g in db.session.execute(db.select(PartyGroup).filter_by(
                branch_id=branch.id).order_by(PartyGroup.id)).scalars():
            ws.append(["", "", g.name, "", "", "", ""])
    for col, width in zip("ABCDEFG", (12, 10, 14, 28, 8, 30, 24), strict=True):
        ws.column_dimensions[col].width = width
    name = f"积分导入-{branch.name if branch else ''}.xlsx"
    return Response(xlsx_bytes(wb), mimetype="application/vnd.openxmlformats-officedocument."
                    "spreadsheetml.sheet", headers={
                        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}"})
