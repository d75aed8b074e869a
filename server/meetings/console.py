"""Console pages of meetings (/console/meetings): build one from draft rounds, open and
close it, print its slips per voter category, and follow turnout per form."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from server.console import access
from server.console.access import READERS, STAFF
from server.console.screens import POLL_MS
from server.core.auth import require_console_role
from server.core.db import db
from server.core.errors import ApiError
from server.meetings import operations as ops
from server.meetings.models import Meeting, MeetingForm
from server.roundbase.models import Round
from server.rounds.api import base_url

bp = Blueprint("meetings_console", __name__, url_prefix="/console",
               template_folder="templates")


def _staff() -> bool:
    return access.user().role in STAFF


def _scoped(q: Any, column: Any) -> Any:
    cid = access.committee_scope()
    return q if cid is None else q.where(column == cid)


@require_console_role(*READERS)
def meetings(status: int = 200, **extra: Any) -> tuple[str, int]:
    items = db.session.execute(_scoped(db.select(Meeting).order_by(Meeting.id.desc()),
                                       Meeting.committee_id)).scalars().all()
    grouped = db.select(MeetingForm.round_id)
    drafts = db.session.execute(_scoped(
        db.select(Round).where(Round.status == "draft", Round.rehearsal.is_(False),
                               Round.id.not_in(grouped)).order_by(Round.id.desc()),
        Round.committee_id)).scalars().all()
    return render_template("meetings/list.html", items=items, drafts=drafts, staff=_staff(),
                           status_of=ops.status_of, **extra), status


@require_console_role(*STAFF)
def create() -> BaseResponse | tuple[str, int]:
    ids = [int(x) for x in request.form.getlist("round_ids") if x.isdigit()]
    try:
        meeting = ops.create_meeting(access.own_committee(), request.form.get("title", ""), ids,
                                     request.form.get("submit_mode", "each"), access.user())
    except ApiError as err:
        db.session.rollback()
        return meetings(err.status, error=err.message)
    flash("已创建测评会，请打印选票", "success")
    return redirect(url_for("meetings_console.detail", meeting_id=meeting.id))


def _meeting(meeting_id: int) -> Meeting:
    return ops.get_meeting(meeting_id, access.committee_scope())


@require_console_role(*READERS)
def detail(meeting_id: int, status: int = 200, **extra: Any) -> tuple[str, int]:
    meeting = _meeting(meeting_id)
    return render_template("meetings/detail.html", meeting=meeting, staff=_staff(),
                           turnout=ops.turnout(meeting), **extra), status


@require_console_role(*READERS)
def projector(meeting_id: int) -> str:
    """The hall's screen: turnout per form and per category, polled like a round's
    projector; each form's results on its own projector once they may be shown."""
    meeting = _meeting(meeting_id)
    return render_template("meetings/projector.html", meeting=meeting, turnout=ops.turnout(meeting),
                           poll_ms=POLL_MS,
                           feed_url=url_for("meetings.read_turnout", meeting_id=meeting.id))


@require_console_role(*STAFF)
def action(meeting_id: int, verb: str) -> BaseResponse | tuple[str, int]:
    meeting = _meeting(meeting_id)
    try:
        if verb == "open":
            ops.open_meeting(meeting, access.user())
            flash("测评会已开始，各测评表均可投票", "success")
        else:
            ops.close_meeting(meeting, access.user())
            flash("测评会已结束，各测评表已计票", "success")
    except ApiError as err:
        db.session.rollback()
        return detail(meeting_id, err.status, error=err.message)
    return redirect(url_for("meetings_console.detail", meeting_id=meeting_id))


@require_console_role(*STAFF)
def slips(meeting_id: int) -> Response | tuple[str, int]:
    meeting = _meeting(meeting_id)
    count = request.form.get("count", "")
    try:
        pdf = ops.issue_meeting_slips(meeting, request.form.get("category", ""),
                                      int(count) if count.isdigit() else None, base_url(),
                                      access.user())
    except ApiError as err:
        db.session.rollback()
        return detail(meeting_id, err.status, error=err.message)
    return Response(pdf, mimetype="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="slips-meeting{meeting.id}.pdf"'})


RULES: list[tuple[str, str, Any, list[str]]] = [
    ("/meetings", "meetings", meetings, ["GET"]),
    ("/meetings", "create", create, ["POST"]),
    ("/meetings/<int:meeting_id>", "detail", detail, ["GET"]),
    ("/meetings/<int:meeting_id>/projector", "projector", projector, ["GET"]),
    ("/meetings/<int:meeting_id>/<any(open, close):verb>", "action", action, ["POST"]),
    ("/meetings/<int:meeting_id>/slips", "slips", slips, ["POST"]),
]
for _rule, _endpoint, _view, _methods in RULES:
    bp.add_url_rule(_rule, _endpoint, _view, methods=_methods)
