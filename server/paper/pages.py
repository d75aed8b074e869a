"""Console pages of paper ballots (纸质票): issue slips, print the ballot, and the double
entry (双人录入) at /console/rounds/<id>/paper."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from server.console import access
from server.console.access import STAFF
from server.core.auth import require_console_role
from server.core.db import db
from server.core.errors import ApiError
from server.core.files import attachment
from server.forms.sections import round_form
from server.meetings.operations import get_meeting
from server.paper import operations as ops
from server.paper.api import meeting_pdf
from server.paper.ballot_pdf import paper_ballot_pdf
from server.paper.models import COUNTED, INVALID_REASONS, MISMATCH
from server.paper.sheet import (
    CHOICE_FIELD,
    answers_from_fields,
    grade_field,
    parts,
    score_field,
)
from server.results.report import channels
from server.roundbase.models import Round

bp = Blueprint("paper_console", __name__, url_prefix="/console", template_folder="templates")
STATUS_LABELS = {"pending": "待复核", MISMATCH: "两次录入不一致", COUNTED: "已计入"}


def _int(name: str) -> int | None:
    raw = request.form.get(name, request.args.get(name, "")).strip()
    return int(raw) if raw.isdigit() and len(raw) <= 9 else None


def _page(rnd: Round, template: str, status: int = 200, **extra: Any) -> tuple[str, int]:
    return render_template(
        template, rnd=rnd, paper=ops.overview(rnd), parts=parts(round_form(rnd), rnd.subjects),
        reasons=INVALID_REASONS, labels=STATUS_LABELS, me=access.user().username,
        grade_field=grade_field, score_field=score_field, choice_field=CHOICE_FIELD,
        cat_names={c.id: c.name for c in rnd.categories}, values=request.form,
        **extra), status


def _home(round_id: int) -> BaseResponse:
    return redirect(url_for("paper_console.paper_page", round_id=round_id), 303)


@require_console_role(*STAFF)
def paper_page(round_id: int) -> tuple[str, int]:
    return _page(access.load_round(round_id), "paper/paper.html")


@require_console_role(*STAFF)
def issue(round_id: int) -> BaseResponse:
    rnd = access.load_round(round_id)
    try:
        category = ops.issue_paper(rnd, _int("category_id"), _int("count"),
                                   bool(request.form.get("allow_over")), access.user())
    except ApiError as err:
        db.session.rollback()
        hint = "。如确需多发，请勾选“超出应到人数仍然发放”" if err.code == "over_expected" else ""
        flash(err.message + hint, "error")
        return _home(round_id)
    flash(f"已登记“{category.name}”纸质票 {_int('count')} 张（共 {category.paper_issued} 张）。"
          "请下载纸质选票并按此数量打印。", "success")
    return _home(round_id)


@require_console_role(*STAFF)
def ballot_pdf(round_id: int) -> Response | BaseResponse:
    rnd = access.load_round(round_id)
    try:
        name = ops.category_name(rnd, _int("category_id"))
    except ApiError as err:
        flash(err.message, "error")
        return _home(round_id)
    return Response(paper_ballot_pdf([rnd], name), 200, mimetype="application/pdf", headers={
        "Content-Disposition": attachment(f"paper-ballot-round{rnd.id}.pdf",
                                          f"纸质选票-{rnd.title}-{name or '全部类别'}.pdf")})


def _body(rnd: Round) -> dict[str, Any]:
    reason = request.form.get("invalid", "")
    body: dict[str, Any] = ({"invalid": reason} if reason else
                            {"answers": answers_from_fields(round_form(rnd), rnd.subjects,
                                                            request.form)})
    if (cid := _int("category_id")) is not None:
        body["category_id"] = cid
    return body


@require_console_role(*STAFF)
def enter_first(round_id: int) -> BaseResponse | tuple[str, int]:
    rnd = access.load_round(round_id)
    try:
        sheet = ops.enter_first(rnd, access.user(), _body(rnd))
    except ApiError as err:
        db.session.rollback()
        return _page(rnd, "paper/paper.html", err.status, error=err.message)
    flash(f"已录入第 {sheet.number} 张。请在这张纸质票上写上编号 {sheet.number}，"
          "交另一位工作人员复核录入。", "success")
    return _home(round_id)


def _sheet_or_404(rnd: Round, number: int) -> dict[str, Any]:
    for sheet in ops.overview(rnd)["sheets"]:
        if sheet["number"] == number:
            return sheet
    raise ApiError("unknown_paper_ballot", f"没有第 {number} 张纸质票的录入记录",
                   "no such paper ballot", 404)


@require_console_role(*STAFF)
def sheet_page(round_id: int, number: int) -> tuple[str, int]:
    rnd = access.load_round(round_id)
    return _page(rnd, "paper/sheet.html", sheet=_sheet_or_404(rnd, number))


@require_console_role(*STAFF)
def enter_again(round_id: int, number: int) -> BaseResponse | tuple[str, int]:
    rnd = access.load_round(round_id)
    try:
        sheet = ops.enter_again(rnd, number, access.user(), _body(rnd))
    except ApiError as err:
        db.session.rollback()
        return _page(rnd, "paper/sheet.html", err.status, error=err.message,
                     sheet=_sheet_or_404(rnd, number))
    if sheet.status == COUNTED:
        flash(f"第 {sheet.number} 张两次录入一致，已计入结果。", "success")
        return _home(round_id)
    flash(f"第 {sheet.number} 张两次录入不一致，请核对纸质票后由任一录入人重新录入。", "error")
    return redirect(url_for("paper_console.sheet_page", round_id=round_id,
                            number=number), 303)


@require_console_role(*STAFF)
def meeting_ballot_pdf(meeting_id: int) -> Response | BaseResponse:
    meeting = get_meeting(meeting_id, access.committee_scope())
    try:
        return meeting_pdf(meeting, request.args.get("category"))
    except ApiError as err:
        flash(err.message, "error")
        return redirect(url_for("meetings_console.detail", meeting_id=meeting_id), 303)


RULES: list[tuple[str, str, Any, list[str]]] = [
    ("/rounds/<int:round_id>/paper", "paper_page", paper_page, ["GET"]),
    ("/rounds/<int:round_id>/paper/slips", "issue", issue, ["POST"]),
    ("/rounds/<int:round_id>/paper/ballot.pdf", "ballot_pdf", ballot_pdf, ["GET"]),
    ("/rounds/<int:round_id>/paper/entries", "enter_first", enter_first, ["POST"]),
    ("/rounds/<int:round_id>/paper/<int:number>", "sheet_page", sheet_page, ["GET"]),
    ("/rounds/<int:round_id>/paper/<int:number>", "enter_again", enter_again, ["POST"]),
    ("/meetings/<int:meeting_id>/paper/ballot.pdf", "meeting_ballot_pdf", meeting_ballot_pdf,
     ["GET"]),
]
for _rule, _endpoint, _view, _methods in RULES:
    bp.add_url_rule(_rule, _endpoint, _view, methods=_methods)
# the results page's validity table: electronic and paper (实到, 有效, 无效) of a row
bp.add_app_template_global(channels, "validity_channels")
