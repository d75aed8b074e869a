"""Console pages of combined assessments (/console/assessments) and a member's history."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from server.assessment import operations as ops
from server.assessment.api import history_of, load_member
from server.assessment.chart import line_chart
from server.assessment.history import result_parts
from server.console import access
from server.console.access import READERS, STAFF
from server.core.auth import require_console_role
from server.core.db import db
from server.core.errors import ApiError
from server.roundbase.models import Round

bp = Blueprint("assessment_console", __name__, url_prefix="/console",
               template_folder="templates")

FORM_ROWS = 5
LEVEL_ROWS = 4
SHEET = "sheet"
DEFAULT_LEVELS = [("优秀", "90", "20%"), ("称职", "70", ""), ("基本称职", "60", ""),
                  ("不称职", "", "")]


def _staff() -> bool:
    return access.user().role in STAFF


@require_console_role(*READERS)
def assessments_page(status: int = 200, **extra: Any) -> tuple[str, int]:
    items = ops.list_assessments(access.committee_scope())
    return render_template("assessment/list.html", items=items, staff=_staff(),
                           default_levels=DEFAULT_LEVELS, **extra), status


def _levels_from_form() -> list[dict[str, Any]]:
    out = []
    for i in range(LEVEL_ROWS):
        name = request.form.get(f"level-{i}-name", "").strip()
        low = request.form.get(f"level-{i}-min", "").strip()
        quota = request.form.get(f"level-{i}-quota", "").strip()
        if not name:
            continue
        rule: dict[str, Any] = {"level": name,
                                "when": [{"score": "综合得分", "at_least": low}] if low else []}
        if quota:
            rule["quota"] = int(quota) if quota.isdigit() else quota
        out.append(rule)
    return out


@require_console_role(*STAFF)
def create() -> Response | tuple[str, int]:
    year = request.form.get("year", "").strip()
    try:
        a = ops.create_assessment(access.own_committee(), access.user(),
                                  request.form.get("title", ""),
                                  int(year) if year.isdigit() else None, _levels_from_form())
    except ApiError as err:
        db.session.rollback()
        return assessments_page(err.status, error=err.message)
    flash("已创建综合考核，请设置组成部分和权重", "success")
    return redirect(url_for("assessment_console.detail", assessment_id=a.id))


def _sources(committee_id: int) -> list[tuple[str, str]]:
    """(value, label) of what a part can be: a published round (or one of its sections),
    or an imported sheet."""
    out = [(SHEET, "导入成绩表（如年度业绩考核）")]
    rounds = db.session.execute(
        db.select(Round).where(Round.committee_id == committee_id,
                               Round.status == "published", Round.rehearsal.is_(False),
                               Round.kind.in_(("appraisal", "scoring")))
        .order_by(Round.year.desc(), Round.id.desc())).scalars()
    for rnd in rounds:
        tables = result_parts(rnd)
        if len(tables) > 1:
            out += [(f"round:{rnd.id}:{t['key']}", f"{rnd.title} · {t['label']}")
                    for t in tables]
        else:
            out.append((f"round:{rnd.id}", rnd.title))
    return out


def _part_value(p: Any) -> str:
    if p.round_id is None:
        return SHEET
    return f"round:{p.round_id}" + (f":{p.section}" if p.section else "")


def _charts(a: Any, res: dict[str, Any]) -> tuple[list[tuple[str, list[int]]], dict[int, Any]]:
    ids = [s["member_id"] for s in res["subjects"]]
    columns, series = ops.year_over_year(a, ids)
    years = sorted({y for _, ys in columns for y in ys})
    charts = {}
    for mid in ids:
        lines = [(label, {y: p.score for y, p in s.by_year().items() if y <= a.year})
                 for label, s in series[mid].items()]
        charts[mid] = {"svg": line_chart(lines, years, width=360, height=190),
                       "series": series[mid]}
    return columns, charts


@require_console_role(*READERS)
def detail(assessment_id: int, status: int = 200, **extra: Any) -> tuple[str, int]:
    a = ops.get_assessment(assessment_id, access.committee_scope())
    res = ops.result_of(a)
    columns, charts = _charts(a, res)
    parts = ops.to_dict(a)["parts"]
    rows = [{"label": p.label, "source": _part_value(p), "weight": p.weight} for p in a.parts]
    rows += [{"label": "", "source": "", "weight": ""}] * (FORM_ROWS - len(rows))
    return render_template(
        "assessment/detail.html", a=a, res=res, parts=parts, columns=columns, charts=charts,
        staff=_staff(), sources=_sources(a.committee_id) if _staff() else [],
        form_rows=extra.pop("form_rows", rows), **extra), status


@require_console_role(*STAFF)
def set_parts(assessment_id: int) -> Response | tuple[str, int]:
    a = ops.get_assessment(assessment_id, access.committee_scope())
    parts, rows = [], []
    for i in range(FORM_ROWS):
        label = request.form.get(f"part-{i}-label", "").strip()
        source = request.form.get(f"part-{i}-source", "")
        weight = request.form.get(f"part-{i}-weight", "").strip()
        rows.append({"label": label, "source": source, "weight": weight})
        if not (label or weight or source):
            continue
        part: dict[str, Any] = {"label": label, "weight": weight}
        bits = source.split(":")
        if bits[0] == "round" and len(bits) in (2, 3) and bits[1].isdigit():
            part["round_id"] = int(bits[1])
            part["section"] = bits[2] if len(bits) == 3 else ""
        parts.append(part)
    try:
        ops.set_parts(a, parts, access.user())
    except ApiError as err:
        db.session.rollback()
        return detail(assessment_id, err.status, parts_error=err.message, form_rows=rows)
    flash("组成部分和权重已保存", "success")
    return redirect(url_for("assessment_console.detail", assessment_id=a.id))


@require_console_role(*STAFF)
def upload_sheet(assessment_id: int) -> Response | tuple[str, int]:
    a = ops.get_assessment(assessment_id, access.committee_scope())
    upload = request.files.get("sheet")
    if upload is None or not upload.filename:
        return detail(assessment_id, 422, sheet_error="请选择要导入的成绩表（.xlsx 或 .csv）")
    try:
        part = ops.import_sheet(a, request.form.get("part", ""), upload.filename,
                                upload.read(ops.sheets.MAX_BYTES + 1), access.user())
    except ApiError as err:
        db.session.rollback()
        return detail(assessment_id, err.status, sheet_error=err.message,
                      row_errors=getattr(err, "rows", None) or [])
    flash(f"已导入“{part.label}”成绩 {len(part.scores)} 行", "success")
    return redirect(url_for("assessment_console.detail", assessment_id=a.id))


@require_console_role(*READERS)
def member_history(member_id: int) -> str:
    scope = access.committee_scope()
    hist = history_of(load_member(member_id, scope))
    lines = [(s["label"], {p["year"]: p["score"] for p in s["points"] if p["year"] is not None})
             for s in hist["series"]]
    return render_template("assessment/member.html", hist=hist,
                           chart=line_chart(lines, width=640, height=280))


RULES: list[tuple[str, str, Any, list[str]]] = [
    ("/assessments", "assessments", assessments_page, ["GET"]),
    ("/assessments", "create", create, ["POST"]),
    ("/assessments/<int:assessment_id>", "detail", detail, ["GET"]),
    ("/assessments/<int:assessment_id>/parts", "set_parts", set_parts, ["POST"]),
    ("/assessments/<int:assessment_id>/sheet", "upload_sheet", upload_sheet, ["POST"]),
    ("/members/<int:member_id>/history", "member_history", member_history, ["GET"]),
]
for _rule, _endpoint, _view, _methods in RULES:
    bp.add_url_rule(_rule, _endpoint, _view, methods=_methods)
