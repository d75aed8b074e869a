"""Points API (/api/v1/points/...): rules, ledger, boards, periods, rectification.

Reads take a bearer key or a console session; writes a bearer key. Everything
is scoped: a secretary's key reaches only the own branch (other branches: 404).
"""

from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint
from webargs.flaskparser import FlaskParser
from werkzeug.datastructures import CombinedMultiDict

from server.core.api import error_docs
from server.core.auth import api_user, require_api_role
from server.core.db import db
from server.core.errors import ApiError
from server.organization.models import Branch
from server.points import (
    feed,
    importer,
    ledger,
    operations,
    periods,
    rectification,
    standings,
    visibility,
)
from server.points.access import (
    READERS,
    check_branch,
    load_branch,
    load_group,
    load_member,
    require_manager,
    scope_of,
)
from server.points.calendar import Period, china_date
from server.points.models import PointsEntry
from server.points.rulebook import rules_for_committee
from server.points.schemas import (
    PointsAdjustIn,
    PointsBoardArgs,
    PointsBoardOut,
    PointsCloseIn,
    PointsEntryIn,
    PointsEntryListArgs,
    PointsEntryOut,
    PointsEntryPage,
    PointsFeedIn,
    PointsFeedOut,
    PointsImportOut,
    PointsImportUpload,
    PointsMemberPointsOut,
    PointsNoteIn,
    PointsPeriodOut,
    PointsRatingOut,
    PointsReasonIn,
    PointsRectificationArgs,
    PointsRectificationIn,
    PointsRectificationOut,
    PointsReviewOut,
    PointsRuleSetOut,
    PointsVisibilityIn,
    PointsYearArgs,
)


class _MultipartParser(FlaskParser):
    """`files` arguments read the whole multipart body: the uploaded file and the
    form fields beside it, so one schema documents (and checks) the upload."""

    def load_files(self, req: Any, schema: Any) -> Any:
        return self._makeproxy(CombinedMultiDict([req.files, req.form]), schema)


blp = Blueprint("points", __name__, url_prefix="/api/v1/points",
                description="Points ledger, leaderboards and rectification (bearer API key)")
blp.ARGUMENTS_PARSER = _MultipartParser()

ERRORS = (400, 401, 403, 404, 409, 415, 422, 503)
TIE_BREAK = "more points; then fewer deductions; then the lower id"


_doc = error_docs(blp, ERRORS)


def _committee_id() -> int:
    scope = scope_of(api_user())
    if scope.committee_id is None:
        raise ApiError("no_committee", "该账号未关联党委", "account has no committee", 422)
    return scope.committee_id


def _year(args: dict[str, Any]) -> int:
    return args.get("year") or china_date().year


@blp.route("/rules", methods=["GET"])
@blp.arguments(PointsYearArgs, location="query")
@blp.response(200, PointsRuleSetOut)
@_doc
@require_api_role(*READERS)
def read_rules(args: dict[str, Any]) -> Any:
    """The year's rule set of the caller's committee (items, caps, vetoes, star thresholds)."""
    return rules_for_committee(_committee_id(), _year(args))


@blp.route("/entries", methods=["GET"])
@blp.arguments(PointsEntryListArgs, location="query")
@blp.response(200, PointsEntryPage)
@_doc
@require_api_role(*READERS)
def list_entries(args: dict[str, Any]) -> dict[str, Any]:
    """Ledger entries in the caller's scope, newest first."""
    user = api_user()
    scope = scope_of(user)
    q = db.select(PointsEntry).order_by(PointsEntry.id.desc())
    if scope.committee_id is not None:
        q = q.where(PointsEntry.committee_id == scope.committee_id)
    if scope.branch_id is not None:
        q = q.where(PointsEntry.branch_id == scope.branch_id)
    if args.get("branch_id") is not None:
        q = q.where(PointsEntry.branch_id == load_branch(user, args["branch_id"]).id)
    if args.get("member_id") is not None:
        q = q.where(PointsEntry.member_id == load_member(user, args["member_id"]).id)
    if args.get("group_id") is not None:
        q = q.where(PointsEntry.group_id == load_group(user, args["group_id"]).id)
    if args.get("period"):
        per = operations.parse_period_field(args["period"])
        q = q.where(PointsEntry.year == per.year)
        if not per.is_year:
            q = q.where(PointsEntry.quarter == per.quarter)
    if args.get("status"):
        q = q.where(PointsEntry.status == args["status"])
    page = db.paginate(q, page=args["page"], per_page=args["per_page"], error_out=False)
    return {"items": page.items, "total": page.total, "page": args["page"],
            "per_page": args["per_page"]}


@blp.route("/entries", methods=["POST"])
@blp.arguments(PointsEntryIn)
@blp.response(201, PointsEntryOut)
@_doc
@require_api_role(*READERS)
def create_entry(body: dict[str, Any]) -> PointsEntry:
    """Enter points for a member (member_id) or a party group (group_id); pending until
    approved. self_report marks a member's own report (个人自评) entered on their behalf."""
    if (body["member_id"] is None) == (body["group_id"] is None):
        raise ApiError("invalid_subject", "请指定一个党员（member_id）或一个党小组（group_id）",
                       "give exactly one of member_id and group_id", 422, "member_id")
    kind = "member" if body["member_id"] is not None else "group"
    return operations.create_entry(
        api_user(), kind, body["member_id"] or body["group_id"], body["item"], body["points"],
        body["period"], body["reason"], body["evidence"], self_report=body["self_report"])


@blp.route("/entries/<int:entry_id>", methods=["GET"])
@blp.response(200, PointsEntryOut)
@_doc
@require_api_role(*READERS)
def read_entry(entry_id: int) -> PointsEntry:
    """One ledger entry."""
    return operations.load_entry(api_user(), entry_id)


@blp.route("/entries/<int:entry_id>/approve", methods=["POST"])
@blp.arguments(PointsNoteIn)
@blp.response(200, PointsEntryOut)
@_doc
@require_api_role(*READERS)
def approve(body: dict[str, Any], entry_id: int) -> PointsEntry:
    """支委会审定: approve a pending entry (caps are enforced here: 422 cap_exceeded)."""
    return operations.approve_entry(api_user(), entry_id, body["note"])


@blp.route("/entries/<int:entry_id>/reject", methods=["POST"])
@blp.arguments(PointsReasonIn)
@blp.response(200, PointsEntryOut)
@_doc
@require_api_role(*READERS)
def reject(body: dict[str, Any], entry_id: int) -> PointsEntry:
    """支委会审定: send a pending entry back, with the reason."""
    return operations.reject_entry(api_user(), entry_id, body["reason"])


@blp.route("/entries/<int:entry_id>/reverse", methods=["POST"])
@blp.arguments(PointsReasonIn)
@blp.response(201, PointsEntryOut)
@_doc
@require_api_role(*READERS)
def reverse(body: dict[str, Any], entry_id: int) -> PointsEntry:
    """Correct an approved entry: a new entry with the opposite points (returned)."""
    return operations.reverse_entry(api_user(), entry_id, body["reason"])


@blp.route("/imports", methods=["POST"])
@blp.arguments(PointsImportUpload, location="files")
@blp.response(201, PointsImportOut)
@_doc
@require_api_role(*READERS)
def import_sheet(form: dict[str, Any]) -> Any:
    """Import a quarter's points from .xlsx/.csv (multipart: file plus the fields): all
    rows or none (422 import_invalid lists every bad row)."""
    upload = form["file"]
    data = upload.read(importer.MAX_BYTES + 1)
    return importer.import_points(api_user(), form["branch_id"], form["period"],
                                  upload.filename or "upload.xlsx", data,
                                  approve=form["approve"], dry_run=form["dry_run"],
                                  approver=form["approver"])


def _board_scope(board: str, scope_id: int) -> None:
    visibility.check_board_scope(api_user(), board, scope_id)


@blp.route("/boards/<board>/<int:scope_id>", methods=["GET"])
@blp.arguments(PointsBoardArgs, location="query")
@blp.response(200, PointsBoardOut)
@_doc
@require_api_role(*READERS)
def read_board(args: dict[str, Any], board: str, scope_id: int) -> dict[str, Any]:
    """A leaderboard: members or groups (scope: branch id), branches (scope: committee id).
    Order: more points, then fewer deductions, then the lower id."""
    if board not in standings.BOARD_LABELS:
        raise ApiError("unknown_board", "没有这个排行榜", f"no board {board!r}", 404, "board")
    try:
        per = operations.parse_period_field(args["period"])
    except ApiError:
        _board_scope(board, scope_id)  # an unknown scope is reported first, as always
        raise
    user = api_user()
    if board == "branches" or not args["limit"]:
        _board_scope(board, scope_id)
        check = None
    else:  # a page of a branch's board: the scope is checked in the page's one query
        def check(branch: Branch | None) -> None:
            check_branch(user, branch, field="scope_id")
    out = standings.view(board, scope_id, per, staff=True, live=args["live"],
                         offset=args["offset"], limit=args["limit"], check=check)
    return {**out, "tie_break": TIE_BREAK}


@blp.route("/boards/<board>/<int:scope_id>/visibility", methods=["POST"])
@blp.arguments(PointsVisibilityIn)
@blp.response(200, PointsBoardOut)
@_doc
@require_api_role(*READERS)
def set_board_visibility(body: dict[str, Any], board: str, scope_id: int) -> dict[str, Any]:
    """Hide, freeze (standings kept as they are now) or make a board live again."""
    per = operations.parse_period_field(body["period"])
    visibility.set_visibility(api_user(), board, scope_id, per, body["visibility"])
    return {**standings.view(board, scope_id, per, staff=True), "tie_break": TIE_BREAK}


@blp.route("/members/<int:member_id>", methods=["GET"])
@blp.arguments(PointsYearArgs, location="query")
@blp.response(200, PointsMemberPointsOut)
@_doc
@require_api_role(*READERS)
def read_member(args: dict[str, Any], member_id: int) -> dict[str, Any]:
    """A member's year: totals per category and quarter, star level, veto, entries."""
    member = load_member(api_user(), member_id)
    year = _year(args)
    summary = ledger.year_summary("member", member.id, year,
                                  rules_for_committee(member.committee_id, year))
    level = summary["level"]
    return {"member_id": member.id, "name": member.name, "branch_id": member.branch_id,
            "year": year, "total": summary["total"], "deductions": summary["deductions"],
            "stars": level.stars, "level": level.label, "vetoed": level.vetoed,
            "rank": standings.member_rank(member, Period(year)),
            "categories": summary["categories"], "quarters": summary["quarters"],
            "entries": summary["entries"]}


def _period_out(item: dict[str, Any]) -> dict[str, Any]:
    row = item["row"]
    return {"period": item["period"].code, "label": item["period"].label,
            "state": item["state"], "pending": item["pending"],
            "published_at": row.published_at if row else None,
            "objection_until": row.objection_until if row else None,
            "reviewed_at": row.reviewed_at if row else None}


@blp.route("/periods", methods=["GET"])
@blp.arguments(PointsYearArgs, location="query")
@blp.response(200, PointsPeriodOut(many=True))
@_doc
@require_api_role(*READERS)
def list_periods(args: dict[str, Any]) -> list[dict[str, Any]]:
    """The quarters and the year with their state (open, closed, published, final)."""
    return [_period_out(p) for p in periods.overview(_committee_id(), _year(args))]


def _one_period(code: str) -> dict[str, Any]:
    per = operations.parse_period_field(code)
    return _period_out(next(p for p in periods.overview(_committee_id(), per.year)
                            if p["period"] == per))


@blp.route("/periods/<period>/close", methods=["POST"])
@blp.response(200, PointsPeriodOut)
@_doc
@require_api_role(*READERS)
def close_period(period: str) -> dict[str, Any]:
    """Close a period (committee): no new entries; refused while entries are pending."""
    periods.close_period(api_user(), _committee_id(), operations.parse_period_field(period))
    return _one_period(period)


@blp.route("/periods/<period>/publish", methods=["POST"])
@blp.response(200, PointsPeriodOut)
@_doc
@require_api_role(*READERS)
def publish_period(period: str) -> dict[str, Any]:
    """Publish a closed period after it has ended (committee): its boards are frozen as
    published and the objection window starts; after it the period is final."""
    periods.publish_period(api_user(), _committee_id(), operations.parse_period_field(period))
    return _one_period(period)


def _unrated(year: int) -> list[dict[str, Any]]:
    return [periods.member_brief(m) for m in periods.unrated_members(_committee_id(), year)]


@blp.route("/periods/<int:year>/review", methods=["GET"])
@blp.response(200, PointsReviewOut)
@_doc
@require_api_role(*READERS)
def review_preview(year: int) -> dict[str, Any]:
    """Before 党委综评 (committee): the party members without approved entries (they will
    be 未评定)."""
    require_manager(api_user())
    periods.year_period(year)
    return {"year": year, "rated": 0, "unrated": _unrated(year)}


@blp.route("/periods/<int:year>/review", methods=["POST"])
@blp.response(200, PointsReviewOut)
@_doc
@require_api_role(*READERS)
def review_year(year: int) -> dict[str, Any]:
    """党委综评 (committee): write every party member's star rating for the closed year;
    `unrated` lists those without approved entries (rated 未评定, not the fail level)."""
    rated = periods.review_year(api_user(), _committee_id(), year)
    return {"year": year, "rated": rated, "unrated": _unrated(year)}


@blp.route("/ratings/<int:year>/<int:member_id>/adjust", methods=["POST"])
@blp.arguments(PointsAdjustIn)
@blp.response(200, PointsRatingOut)
@_doc
@require_api_role(*READERS)
def adjust_rating(body: dict[str, Any], year: int, member_id: int) -> Any:
    """党委综评 (committee): set a member's rated level, with a reason (audited)."""
    r = periods.adjust_rating(api_user(), _committee_id(), member_id, year, body["stars"],
                              body["reason"])
    return {"member_id": r.member_id, "year": r.year, "points": r.points_x10,
            "stars": r.stars, "level": r.level, "adjust_note": r.adjust_note,
            "adjusted_at": r.adjusted_at}


@blp.route("/rounds/<int:round_id>/feed", methods=["POST"])
@blp.arguments(PointsFeedIn)
@blp.response(201, PointsFeedOut)
@_doc
@require_api_role(*READERS)
def feed_round(body: dict[str, Any], round_id: int) -> Any:
    """Turn a closed round's scores into pending entries of a 互评/群众测评 item."""
    return feed.feed_round(api_user(), round_id, body["item"], body["period"])


def _rect_out(item: Any) -> dict[str, Any]:
    out = {c: getattr(item, c) for c in ("id", "branch_id", "problem", "source", "owner",
                                         "deadline", "measure", "status", "created_at",
                                         "closed_at", "close_note")}
    out["overdue"] = item.is_overdue(china_date())
    return out


@blp.route("/rectifications", methods=["GET"])
@blp.arguments(PointsRectificationArgs, location="query")
@blp.response(200, PointsRectificationOut(many=True))
@_doc
@require_api_role(*READERS)
def list_rectifications(args: dict[str, Any]) -> list[dict[str, Any]]:
    """The rectification ledger (问题台账); overdue=true for open items past their deadline."""
    items = rectification.list_items(api_user(), args.get("branch_id"), args.get("status"),
                                     args["overdue"])
    return [_rect_out(i) for i in items]


@blp.route("/rectifications", methods=["POST"])
@blp.arguments(PointsRectificationIn)
@blp.response(201, PointsRectificationOut)
@_doc
@require_api_role(*READERS)
def add_rectification(body: dict[str, Any]) -> dict[str, Any]:
    """Add a problem with its source, owner and deadline."""
    return _rect_out(rectification.add_item(api_user(), body["branch_id"], body["problem"],
                                            body["source"], body["owner"], body["deadline"],
                                            body["measure"]))


@blp.route("/rectifications/<int:item_id>/close", methods=["POST"])
@blp.arguments(PointsCloseIn)
@blp.response(200, PointsRectificationOut)
@_doc
@require_api_role(*READERS)
def close_rectification(body: dict[str, Any], item_id: int) -> dict[str, Any]:
    """销号: close the item with a note of what was done."""
    return _rect_out(rectification.close_item(api_user(), item_id, body["note"]))
