"""Paper ballot API (纸质票): issue paper slips, print the ballot, enter sheets twice."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import Response
from flask_smorest import Blueprint

from server.core.api import BINARY, error_docs
from server.core.auth import api_user, require_api_role
from server.core.files import attachment
from server.meetings.operations import get_meeting
from server.paper import operations as ops
from server.paper.ballot_pdf import paper_ballot_pdf
from server.paper.schemas import PaperEntryIn, PaperOverviewOut, PaperSlipsIn, SheetOut
from server.roundbase.models import Round
from server.roundbase.reads import get_round

blp = Blueprint("paper", __name__, url_prefix="/api/v1",
                description="Paper ballots (纸质票): slips against 应到, the printed ballot, "
                            "double entry (双人录入)")

STAFF = ("admin", "organizer")
ERRORS = (400, 401, 403, 404, 409, 413, 415, 422, 503)
_doc = error_docs(blp, ERRORS)
PAPER = "/rounds/<int:round_id>/paper"


def _round(round_id: int) -> Round:
    user = api_user()
    return get_round(round_id, None if user is None or user.role == "admin"
                     else user.committee_id)


class BallotArgs(ma.Schema):
    category_id = ma.fields.Integer(strict=False, validate=ma.validate.Range(1, 2**31 - 1),
                                    metadata={"description": "print this category's name on "
                                              "the sheet (else its categories, to tick)"})


@blp.route(PAPER, methods=["GET"])
@blp.response(200, PaperOverviewOut)
@_doc
@require_api_role(*STAFF)
def overview(round_id: int) -> dict[str, Any]:
    """Paper slips and sheets per category, and every sheet entered (a mismatched one
    with the fields its two entries differ on)."""
    return ops.overview(_round(round_id))


@blp.route(f"{PAPER}/slips", methods=["POST"])
@blp.arguments(PaperSlipsIn)
@blp.response(201, PaperOverviewOut)
@_doc
@require_api_role(*STAFF)
def issue(body: dict[str, Any], round_id: int) -> dict[str, Any]:
    """Record paper slips handed out in a category, counted against 应到 with the
    electronic ones (409 over_expected unless allow_over); draft or open rounds only."""
    rnd = _round(round_id)
    ops.issue_paper(rnd, body["category_id"], body["count"], body["allow_over"], api_user())
    return ops.overview(rnd)


@blp.route(f"{PAPER}/ballot.pdf", methods=["GET"])
@blp.arguments(BallotArgs, location="query")
@blp.response(200, BINARY, content_type="application/pdf",
              description="the printable paper ballot (A4): no serial or any mark of a person")
@_doc
@require_api_role(*STAFF)
def ballot(args: dict[str, Any], round_id: int) -> Response:
    """The round's paper ballot to print, one sheet per voter."""
    rnd = _round(round_id)
    name = ops.category_name(rnd, args.get("category_id"))
    pdf = paper_ballot_pdf([rnd], name)
    return Response(pdf, 200, mimetype="application/pdf", headers={
        "Content-Disposition": attachment(f"paper-ballot-round{rnd.id}.pdf",
                                          f"纸质选票-{rnd.title}.pdf")})


class MeetingBallotArgs(ma.Schema):
    category = ma.fields.String(validate=ma.validate.Length(max=60), metadata={
        "description": "print this category's name on the sheets (else the categories, to "
                       "tick)"})


@blp.route("/meetings/<int:meeting_id>/paper/ballot.pdf", methods=["GET"])
@blp.arguments(MeetingBallotArgs, location="query")
@blp.response(200, BINARY, content_type="application/pdf",
              description="the meeting's paper ballot (A4): its forms one after another")
@_doc
@require_api_role(*STAFF)
def meeting_ballot(args: dict[str, Any], meeting_id: int) -> Response:
    """A meeting's paper ballot: every form of it, in the meeting's order, each from a
    new page; its sheets are entered form by form on each round's paper page."""
    user = api_user()
    meeting = get_meeting(meeting_id, None if user is None or user.role == "admin"
                          else user.committee_id)
    return meeting_pdf(meeting, args.get("category"))


def meeting_pdf(meeting: Any, category: str | None) -> Response:
    rounds = meeting.rounds
    name = ops.meeting_category(rounds, category)
    pdf = paper_ballot_pdf(rounds, name, f"{meeting.title} 纸质选票")
    return Response(pdf, 200, mimetype="application/pdf", headers={
        "Content-Disposition": attachment(f"paper-ballot-meeting{meeting.id}.pdf",
                                          f"纸质选票-{meeting.title}.pdf")})


@blp.route(f"{PAPER}/ballots", methods=["POST"])
@blp.arguments(PaperEntryIn)
@blp.response(201, SheetOut)
@_doc
@require_api_role(*STAFF)
def enter_first(body: dict[str, Any], round_id: int) -> dict[str, Any]:
    """First entry of a sheet after the vote closed: it gets the next number (第 N 张, to
    write on the sheet). 409 paper_beyond_issued past the category's paper slips; 422
    paper_ballot_misfit when the answers do not fit the form (enter it as invalid)."""
    rnd = _round(round_id)
    return ops.view(rnd, ops.enter_first(rnd, api_user(), body))


@blp.route(f"{PAPER}/ballots/<int:number>", methods=["POST"])
@blp.arguments(PaperEntryIn)
@blp.response(200, SheetOut)
@_doc
@require_api_role(*STAFF)
def enter_again(body: dict[str, Any], round_id: int, number: int) -> dict[str, Any]:
    """Second entry of sheet `number` by another person (409 same_person_entry for the
    first one), or a re-entry after a mismatch by either of the two; the sheet counts
    when both agree (status counted)."""
    rnd = _round(round_id)
    return ops.view(rnd, ops.enter_again(rnd, number, api_user(), body))
