"""Meetings API: organizers build, open, close a meeting and issue its slips; a voter
reads what a meeting slip opens (POST /api/v1/meeting-slip) and then votes each form
through the ordinary POST /api/v1/ballots with the form's own token."""

from __future__ import annotations

from typing import Any

from flask import Response
from flask_smorest import Blueprint

from server.core.api import BINARY, JsonOnceParser, error_docs
from server.core.auth import api_user, require_api_role, signed_in_api_user
from server.core.db import db
from server.meetings import operations as ops
from server.meetings.codec import meeting_url
from server.meetings.models import Meeting
from server.meetings.schemas import (
    MeetingIn,
    MeetingOut,
    MeetingPage,
    MeetingSlipOut,
    MeetingSlipsIn,
    MeetingSlipsOut,
    MeetingTokenIn,
    MeetingTurnoutOut,
)
from server.rounds.api import NO_COMMITTEE, READERS, STAFF, _committee_id, base_url

blp = Blueprint("meetings", __name__, url_prefix="/api/v1",
                description="Meetings (测评会): several forms on one slip (bearer API key)")
voter_blp = Blueprint("meeting_slip", __name__, url_prefix="/api/v1",
                      description="A meeting slip: its forms and their own tokens (no account)")
voter_blp.ARGUMENTS_PARSER = JsonOnceParser()

ERRORS = (400, 401, 403, 404, 409, 413, 415, 422, 503)
_alt = error_docs(blp, ERRORS)
_voter_errors = error_docs(voter_blp, (400, 404, 409, 413, 415, 422, 429, 503))


def _voter_alt(view: Any) -> Any:
    return _voter_errors(view, secured=False)


def body(meeting: Meeting) -> dict[str, Any]:
    """A meeting as MeetingOut shows it."""
    rounds = meeting.rounds
    categories = [{"name": c.name, "expected": c.expected_count,
                   "issued": max(next(x.issued_count for x in r.categories if x.name == c.name)
                                 for r in rounds)}
                  for c in rounds[0].categories] if rounds else []
    return {"id": meeting.id, "title": meeting.title, "submit_mode": meeting.submit_mode,
            "status": ops.status_of(meeting), "forms": meeting.forms, "categories": categories}


def _meeting(meeting_id: int) -> Meeting:
    return ops.get_meeting(meeting_id, _committee_id())


@blp.route("/meetings", methods=["POST"])
@blp.arguments(MeetingIn)
@blp.response(201, MeetingOut)
@_alt
@require_api_role(*STAFF)
def create(data: dict[str, Any]) -> dict[str, Any]:
    """A meeting of draft rounds with the same voter categories (422 categories_differ),
    none with slips of its own (409 round_has_slips) or in another meeting (409
    round_in_meeting)."""
    user = signed_in_api_user()
    if user.committee_id is None:
        raise NO_COMMITTEE
    return body(ops.create_meeting(user.committee_id, data["title"], data["round_ids"],
                                   data["submit_mode"], user))


@blp.route("/meetings", methods=["GET"])
@blp.response(200, MeetingPage)
@_alt
@require_api_role(*READERS)
def list_meetings() -> dict[str, Any]:
    """The caller's committee's meetings, newest first."""
    q = db.select(Meeting).order_by(Meeting.id.desc())
    cid = _committee_id()
    if cid is not None:
        q = q.where(Meeting.committee_id == cid)
    return {"items": [body(m) for m in db.session.execute(q).scalars()]}


@blp.route("/meetings/<int:meeting_id>", methods=["GET"])
@blp.response(200, MeetingOut)
@_alt
@require_api_role(*READERS)
def read(meeting_id: int) -> dict[str, Any]:
    """One meeting with its forms and voter categories."""
    return body(_meeting(meeting_id))


@blp.route("/meetings/<int:meeting_id>/open", methods=["POST"])
@blp.response(200, MeetingOut)
@_alt
@require_api_role(*STAFF)
def open_(meeting_id: int) -> dict[str, Any]:
    """Open every form of the meeting (idempotent)."""
    return body(ops.open_meeting(_meeting(meeting_id), api_user()))


@blp.route("/meetings/<int:meeting_id>/close", methods=["POST"])
@blp.response(200, MeetingOut)
@_alt
@require_api_role(*STAFF)
def close(meeting_id: int) -> dict[str, Any]:
    """Close and count every form, one by one (idempotent; a form's 409 tally_mismatch
    stops there: close again after `pingyi tally rebuild`)."""
    return body(ops.close_meeting(_meeting(meeting_id), api_user()))


@blp.route("/meetings/<int:meeting_id>/slips", methods=["POST"])
@blp.arguments(MeetingSlipsIn)
@blp.response(201, MeetingSlipsOut)
@blp.alt_response(201, schema=BINARY, content_type="application/pdf", success=True,
                  description="the meeting tokens (JSON), or the printable slips (PDF)")
@_alt
@require_api_role(*STAFF)
def issue(data: dict[str, Any], meeting_id: int) -> Any:
    """Issue meeting slips for one voter category (by name): one slip, one token per
    form, shown this once."""
    meeting, base = _meeting(meeting_id), base_url()
    if data["format"] == "pdf":
        pdf = ops.issue_meeting_slips(meeting, data["category"], data["count"], base,
                                      api_user())
        return Response(pdf, 201, mimetype="application/pdf", headers={
            "Content-Disposition": f'attachment; filename="slips-meeting{meeting.id}.pdf"'})
    tokens = ops.issue_meeting_tokens(meeting, data["category"], data["count"], api_user())
    return {"category": data["category"],
            "tokens": [{"token": t, "url": meeting_url(base, t)} for t in tokens]}


@blp.route("/meetings/<int:meeting_id>/turnout", methods=["GET"])
@blp.response(200, MeetingTurnoutOut)
@_alt
@require_api_role(*READERS)
def read_turnout(meeting_id: int) -> dict[str, Any]:
    """应到/实到 per form, and the meeting's (see the fields)."""
    return ops.turnout(_meeting(meeting_id))


@voter_blp.route("/meeting-slip", methods=["POST"])
@voter_blp.arguments(MeetingTokenIn)
@voter_blp.response(200, MeetingSlipOut)
@_voter_alt
def read_slip(data: dict[str, Any]) -> dict[str, Any]:
    """A meeting slip's forms in order, each with its own token and its ballot form, or
    its state (spent: already submitted; not_open; closed)."""
    return ops.meeting_slip(data["token"])
