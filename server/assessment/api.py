"""Combined assessment API (综合考核) and a member's year-over-year history.

Organizers and admins write; the party committee reads; secretaries do not see it.
"""

from __future__ import annotations

from typing import Any

from flask import Response
from flask_smorest import Blueprint
from flask_smorest.arguments import FlaskParser
from werkzeug.datastructures import CombinedMultiDict

from server.assessment import operations as ops
from server.assessment.export import assessment_xlsx
from server.assessment.history import histories
from server.assessment.models import Assessment
from server.assessment.schemas import (
    AssessmentIn,
    AssessmentListOut,
    AssessmentOut,
    HistoryOut,
    PartsIn,
    SheetUpload,
)
from server.core.api import BINARY, error_docs
from server.core.auth import api_user, require_api_role, signed_in_api_user
from server.core.db import db
from server.core.errors import ApiError
from server.core.files import attachment
from server.organization.models import Branch, Member

STAFF = ("admin", "organizer")
READERS = ("admin", "organizer", "committee")
ERRORS = (400, 401, 403, 404, 409, 413, 415, 422, 503)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class _MultipartParser(FlaskParser):
    """`files` arguments read the uploaded file and the form fields beside it."""

    def load_files(self, req: Any, schema: Any) -> Any:
        return self._makeproxy(CombinedMultiDict([req.files, req.form]), schema)


blp = Blueprint("assessment", __name__, url_prefix="/api/v1",
                description="Combined assessments (综合考核) and year-over-year history")
blp.ARGUMENTS_PARSER = _MultipartParser()


_doc = error_docs(blp, ERRORS)


def _scope() -> int | None:
    user = api_user()
    return None if user is None or user.role == "admin" else user.committee_id


def _load(assessment_id: int) -> Assessment:
    return ops.get_assessment(assessment_id, _scope())


def _full(a: Assessment) -> dict[str, Any]:
    return {**ops.to_dict(a), "result": ops.result_of(a)}


@blp.route("/assessments", methods=["GET"])
@blp.response(200, AssessmentListOut)
@_doc
@require_api_role(*READERS)
def list_assessments() -> dict[str, Any]:
    """The committee's combined assessments, newest year first (without results)."""
    return {"items": [ops.to_dict(a) for a in ops.list_assessments(_scope())]}


@blp.route("/assessments", methods=["POST"])
@blp.arguments(AssessmentIn)
@blp.response(201, AssessmentOut)
@_doc
@require_api_role(*STAFF)
def create(body: dict[str, Any]) -> dict[str, Any]:
    """Define a combined assessment for a year: title, its 考核等次 rules and (optionally)
    its parts at once (as POST .../parts)."""
    user = signed_in_api_user()
    if user.committee_id is None:
        raise ApiError("no_committee", "该账号未关联党委", "account has no committee", 422)
    a = ops.create_assessment(user.committee_id, user, body["title"], body.get("year"),
                              body.get("levels"), body.get("parts"))
    return _full(a)


@blp.route("/assessments/<int:assessment_id>", methods=["GET"])
@blp.response(200, AssessmentOut)
@_doc
@require_api_role(*READERS)
def read(assessment_id: int) -> dict[str, Any]:
    """The assessment and its combined result: per member the parts' scores (as each
    part shows them), the combined score (exact, shown to 2 decimals), rank by the
    shown score (ties share a rank), 考核等次; subjects that could not be matched to the
    roster; notes and the rules in words."""
    return _full(_load(assessment_id))


@blp.route("/assessments/<int:assessment_id>/parts", methods=["POST"])
@blp.arguments(PartsIn)
@blp.response(200, AssessmentOut)
@_doc
@require_api_role(*STAFF)
def set_parts(body: dict[str, Any], assessment_id: int) -> dict[str, Any]:
    """Replace the parts: each a published round (appraisal or scoring; on a form of
    several sections, `section`) or an imported sheet; weights exactly 100% (422
    weights_sum). A sheet part keeps its imported rows when it keeps its label."""
    a = ops.set_parts(_load(assessment_id), body["parts"], api_user())
    return _full(a)


@blp.route("/assessments/<int:assessment_id>/sheet", methods=["POST"])
@blp.arguments(SheetUpload, location="files")
@blp.response(200, AssessmentOut)
@_doc
@require_api_role(*STAFF)
def upload_sheet(form: dict[str, Any], assessment_id: int) -> dict[str, Any]:
    """Import a sheet part's scores (multipart: `file`, `part`): .xlsx or .csv with 工号,
    姓名 and 分数; every row is matched to the roster by 工号 (or a name unique in the
    committee). All rows or none: 422 sheet_invalid lists every bad row by row number."""
    a = _load(assessment_id)
    upload = form["file"]
    data = upload.read(ops.sheets.MAX_BYTES + 1)
    ops.import_sheet(a, form.get("part"), upload.filename or "upload.xlsx", data, api_user())
    return _full(a)


@blp.route("/assessments/<int:assessment_id>/export.xlsx", methods=["GET"])
@blp.response(200, BINARY, content_type=XLSX, description="综合考核, 历年对比, 说明")
@_doc
@require_api_role(*READERS)
def export_xlsx(assessment_id: int) -> Response:
    """The combined result as an Excel workbook: 综合考核 (rank, parts, combined score,
    等次), 历年对比 (a column per part and year), 说明 (rules, notes, unmatched)."""
    a = _load(assessment_id)
    resp = Response(assessment_xlsx(a), mimetype=XLSX)
    resp.headers["Content-Disposition"] = attachment(f"assessment{a.id}.xlsx",
                                                     f"{a.year}年度{a.title}.xlsx")
    return resp


@blp.route("/members/<int:member_id>/history", methods=["GET"])
@blp.response(200, HistoryOut)
@_doc
@require_api_role(*READERS)
def member_history(member_id: int) -> dict[str, Any]:
    """A roster member's results in published rounds by year, one series per kind of
    result (the same form and section): this year against earlier years. Only rounds
    whose subject is linked to the member count."""
    return history_of(load_member(member_id, _scope()))


def load_member(member_id: int, committee_id: int | None) -> Member:
    m = db.session.get(Member, member_id)
    if m is None or (committee_id is not None and m.committee_id != committee_id):
        raise ApiError("member_not_found", "找不到该人员", "member not found", 404, "member_id")
    return m


def history_of(m: Member) -> dict[str, Any]:
    branch = db.session.get(Branch, m.branch_id)
    series = histories(m.committee_id, [m.id]).get(m.id, [])
    return {"member": {"id": m.id, "name": m.name, "member_no": m.member_no,
                       "title": m.title, "branch": branch.name if branch else ""},
            "series": [s.to_dict() for s in series]}
