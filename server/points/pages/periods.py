"""Periods: close, publish (异议期), 党委综评 and the annual star-rating record."""

from __future__ import annotations

from collections import Counter
from urllib.parse import quote

from flask import Response, flash, render_template, request
from werkzeug.wrappers import Response as BaseResponse

from server.core import audit
from server.core.auth import require_console_role
from server.core.db import db
from server.core.errors import ApiError
from server.organization.models import Committee
from server.points import access, export, periods
from server.points.models import StarRating
from server.points.operations import parse_period_field
from server.points.pages import common
from server.points.pages.common import MANAGERS, READERS
from server.points.rulebook import rules_for_committee


def _committee() -> Committee:
    scope = access.scope_of(common.user())
    committee_id = scope.committee_id
    if committee_id is None:  # an admin without a committee: the first one
        committee_id = db.session.execute(db.select(Committee.id).order_by(Committee.id)
                                          ).scalar()
    committee = db.session.get(Committee, committee_id) if committee_id else None
    if committee is None:
        raise access.NO_COMMITTEE
    return committee


@require_console_role(*READERS)
def periods_page() -> str:
    committee = _committee()
    year = common.chosen_year()
    rows = periods.overview(committee.id, year)
    ratings = export.star_rows(committee.id, year)
    by_level = Counter(r["level"] for r in ratings)
    unrated = periods.unrated_members(committee.id, year)
    if common.user().role == "secretary":
        own = access.load_branch(common.user(), access.scope_of(common.user()).branch_id)
        ratings = [r for r in ratings if r["branch_id"] == own.id]
        unrated = [m for m in unrated if m.branch_id == own.id]
    rated = {r.member.member_no: r for r in db.session.execute(
        db.select(StarRating).filter_by(committee_id=committee.id, year=year)).scalars()}
    try:
        rules = rules_for_committee(committee.id, year)
    except ApiError:
        rules = None
    return render_template("points/periods.html", committee=committee, year=year, rows=rows,
                           ratings=ratings, by_level=by_level, can_manage=common.can_manage(),
                           years=[year - 1, year, year + 1], unrated=unrated, rated=rated,
                           rules=rules)


def _act(action: str, code: str) -> BaseResponse:
    committee = _committee()
    try:
        per = parse_period_field(code)
        if action == "close":
            periods.close_period(common.user(), committee.id, per)
            flash(f"{per.label}已关闭，不再接受新的积分录入", "success")
        else:
            row = periods.publish_period(common.user(), committee.id, per)
            until = row.objection_until
            flash(f"{per.label}积分已公布，排行榜已冻结；异议期至 {until:%Y-%m-%d %H:%M}（UTC）"
                  if until else f"{per.label}积分已公布", "success")
        year = per.year
    except ApiError as err:
        db.session.rollback()
        common.flash_error(err)
        year = common.chosen_year()
    return common.back("periods", year=year)


@require_console_role(*MANAGERS)
def period_close(period: str) -> BaseResponse:
    return _act("close", period)


@require_console_role(*MANAGERS)
def period_publish(period: str) -> BaseResponse:
    return _act("publish", period)


@require_console_role(*MANAGERS)
def year_review(year: int) -> BaseResponse:
    committee = _committee()
    try:
        n = periods.review_year(common.user(), committee.id, year)
    except ApiError as err:
        db.session.rollback()
        common.flash_error(err)
    else:
        flash(f"党委综评完成：已评定 {n} 名党员的{year}年度星级", "success")
    return common.back("periods", year=year)


@require_console_role(*MANAGERS)
def rating_adjust(year: int, member_id: int) -> BaseResponse:
    """党委综评: adjust one member's rated level, with a reason."""
    committee = _committee()
    try:
        raw = request.form.get("stars", "").strip()
        stars = int(raw) if raw.isdigit() and len(raw) < 3 else -1
        r = periods.adjust_rating(common.user(), committee.id, member_id, year, stars,
                                  request.form.get("reason", ""))
    except ApiError as err:
        db.session.rollback()
        common.flash_error(err)
    else:
        flash(f"已调整{r.member.name}的{year}年度星级为“{r.level}”（已记入操作日志）", "success")
    return common.back("periods", year=year)


@require_console_role(*READERS)
def stars_export(year: int) -> Response:
    committee = _committee()
    year = periods.year_period(year).year
    rows = export.star_rows(committee.id, year)
    if common.user().role == "secretary":
        own = access.load_branch(common.user(), access.scope_of(common.user()).branch_id)
        rows = [r for r in rows if r["branch_id"] == own.id]
    data = export.star_workbook(committee.name, year, rows)
    audit.record(common.user(), "points.export_stars", f"committee:{committee.id}",
                 f"{year}: {len(rows)} rows")
    db.session.commit()
    name = f"{year}年度党员评星定级资料库.xlsx"
    return Response(data, mimetype="application/vnd.openxmlformats-officedocument."
                    "spreadsheetml.sheet",
                    headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}"})
