"""Meetings: group rounds, open and close them together, issue meeting slips, turnout,
and what a meeting slip opens for its holder."""

from __future__ import annotations

import secrets
from typing import Any

from server.core import audit, ratelimit
from server.core.db import db
from server.core.errors import ApiError
from server.core.text import display_text
from server.meetings.codec import form_token, meeting_url, new_meeting_token, parse_meeting_token
from server.meetings.models import SUBMIT_MODES, Meeting, MeetingForm
from server.roundbase.models import Round
from server.roundbase.reads import get_round
from server.rounds import live
from server.rounds.operations import close_round, open_round
from server.tokens import operations as token_ops
from server.tokens.slips import render_slips_pdf
from server.voting import livetally
from server.voting.ballots import ballot_form
from server.voting.roundinfo import UNKNOWN_TOKEN

MAX_FORMS = 10
MAX_SLIPS = 5000  # a meeting's slips at once: each is one token per form


def _bad(code: str, zh: str, en: str, field: str | None = None, status: int = 422) -> ApiError:
    return ApiError(code, zh, en, status, field)


def _category_plan(rnd: Round) -> list[tuple[str, int]]:
    return [(c.name, c.expected_count) for c in rnd.categories]


def check_categories(rounds: list[Round]) -> None:
    """Every form of a meeting has the same voter categories, with the same 应到."""
    first = _category_plan(rounds[0])
    for rnd in rounds[1:]:
        if _category_plan(rnd) != first:
            raise _bad("categories_differ",
                       f"“{rnd.title}”的参评人员类别或应到人数与“{rounds[0].title}”不同："
                       "同一测评会的各测评表须有相同的类别和应到人数",
                       f"round {rnd.id} has other voter categories than round {rounds[0].id}",
                       "round_ids")


def create_meeting(committee_id: int, title: Any, round_ids: Any, submit_mode: Any = "each",
                   user: Any | None = None) -> Meeting:
    """A meeting of draft rounds (no slips issued yet) of the committee, in this order."""
    title = display_text(title) if isinstance(title, str) else ""
    if not title:
        raise _bad("missing_field", "请填写测评会名称", "title is required", "title")
    if len(title) > 200:
        raise _bad("too_long", "测评会名称不能超过 200 个字", "title too long", "title")
    if submit_mode not in SUBMIT_MODES:
        raise _bad("invalid_submit_mode", "提交方式应为逐份提交（each）或全部填写后一并提交（end）",
                   f"submit_mode must be one of {SUBMIT_MODES}", "submit_mode")
    if (not isinstance(round_ids, list) or not 1 <= len(round_ids) <= MAX_FORMS
            or any(isinstance(r, bool) or not isinstance(r, int) for r in round_ids)):
        raise _bad("invalid_rounds", f"请选择 1～{MAX_FORMS} 个测评（测评表）",
                   f"round_ids: 1 to {MAX_FORMS} round ids", "round_ids")
    if len(set(round_ids)) != len(round_ids):
        raise _bad("duplicate_round", "同一测评不能在测评会中出现两次", "a round is listed twice",
                   "round_ids")
    rounds = []
    for rid in round_ids:
        try:
            rnd = get_round(rid, committee_id)
        except ApiError:
            raise _bad("unknown_round", f"找不到测评 {rid}", f"no round {rid} in the committee",
                       "round_ids") from None
        if rnd.status != "draft" or rnd.rehearsal:
            raise _bad("round_not_draft", f"“{rnd.title}”已开始或已结束，只能将草稿测评组成测评会",
                       f"round {rid} is not a draft", "round_ids", 409)
        if any(c.issued_count for c in rnd.categories):
            raise _bad("round_has_slips", f"“{rnd.title}”已单独发放选票，不能再组成测评会",
                       f"round {rid} already has slips of its own", "round_ids", 409)
        if db.session.query(MeetingForm).filter_by(round_id=rid).first() is not None:
            raise _bad("round_in_meeting", f"“{rnd.title}”已属于另一个测评会",
                       f"round {rid} is in another meeting", "round_ids", 409)
        rounds.append(rnd)
    check_categories(rounds)
    meeting = Meeting(committee_id=committee_id, title=title, submit_mode=submit_mode,
                      created_by=getattr(user, "id", None),
                      forms=[MeetingForm(round_id=r.id, position=i) for i, r in enumerate(rounds)])
    db.session.add(meeting)
    db.session.flush()
    audit.record(user, "meeting.create", f"meeting:{meeting.id}", title)
    db.session.commit()
    return meeting


def get_meeting(meeting_id: int, committee_id: int | None = None) -> Meeting:
    meeting = db.session.get(Meeting, meeting_id)
    if meeting is None or (committee_id is not None and meeting.committee_id != committee_id):
        raise ApiError("meeting_not_found", "找不到该测评会", "Meeting not found", 404,
                       "meeting_id")
    return meeting


def meeting_of_round(round_id: int) -> Meeting | None:
    form = db.session.query(MeetingForm).filter_by(round_id=round_id).first()
    return form.meeting if form else None


def status_of(meeting: Meeting) -> str:
    """draft (none open), open (any open or closing), closed (all closed or published)."""
    states = {r.status for r in meeting.rounds}
    if states <= {"closed", "published"}:
        return "closed"
    if states == {"draft"}:
        return "draft"
    return "open"


def open_meeting(meeting: Meeting, user: Any | None = None) -> Meeting:
    """Open every form (idempotent); their categories must still agree."""
    check_categories(meeting.rounds)
    for rnd in meeting.rounds:
        open_round(rnd, user)
    return meeting


def close_meeting(meeting: Meeting, user: Any | None = None) -> Meeting:
    """Close every form, one by one (each its own recount, shuffle and commit)."""
    for rnd in meeting.rounds:
        close_round(rnd, user, f"meeting:{meeting.id}")
    return meeting


def issue_meeting_tokens(meeting: Meeting, category: Any, count: Any,
                         user: Any | None = None) -> list[str]:
    """`count` meeting tokens for the voter category named `category`: each form's
    derived tokens are stored (hashes only) per round, each round's rows in an order
    shuffled on its own; the meeting tokens themselves are stored nowhere."""
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_SLIPS:
        raise _bad("invalid_count", f"发放数量应为 1～{MAX_SLIPS} 的整数",
                   f"count must be an integer in [1, {MAX_SLIPS}]", "count")
    rounds = meeting.rounds
    check_categories(rounds)
    names = [c.name for c in rounds[0].categories]
    if category not in names:
        raise _bad("unknown_category", "参评人员类别不存在", "Unknown voter category", "category")
    slips = [new_meeting_token(meeting.id) for _ in range(count)]
    shuffle = secrets.SystemRandom().shuffle
    issued = []
    for rnd in rounds:
        cat = next(c for c in rnd.categories if c.name == category)
        given = [form_token(m, rnd.id) for m in slips]
        shuffle(given)
        _, _, hashes = token_ops._insert_tokens(rnd, cat.id, count, user, given)
        issued.append((rnd.id, cat.id, hashes))
    audit.record(user, "meeting.slips", f"meeting:{meeting.id}", f"{category}: {count}")
    db.session.commit()
    for round_id, cat_id, hashes in issued:
        livetally.add_tokens(round_id, ((h, cat_id) for h in hashes))
    return slips


def issue_meeting_slips(meeting: Meeting, category: Any, count: Any, base_url: str,
                        user: Any | None = None) -> bytes:
    """Issue meeting tokens and render their printable slips (one QR opens every form)."""
    slips = issue_meeting_tokens(meeting, category, count, user)
    title = f"{meeting.title}（共 {len(meeting.forms)} 份测评表）"
    return render_slips_pdf(title, category, [meeting_url(base_url, m) for m in slips], slips)


def turnout(meeting: Meeting) -> dict[str, Any]:
    """应到/实到 per form, and the meeting's: storage cannot tell which slips submitted
    which forms (by design), so a category's 实到 in the meeting is that of the form
    where it has the most ballots (slips that submitted at least one form: at least
    this many), the meeting's `actual` their sum, and `complete_at_most` the sum of
    each category's fewest (slips that submitted every form: at most this many)."""
    forms = [{**live.turnout(r), "rehearsal": r.rehearsal, "results_shown": results_shown(r)}
             for r in meeting.rounds]
    categories = []
    complete = 0
    for i, c in enumerate(forms[0]["categories"] if forms else []):
        counts = [f["categories"][i]["actual"] for f in forms]
        categories.append({"name": c["name"], "expected": c["expected"], "actual": max(counts)})
        complete += min(counts)
    expected = sum(c["expected"] for c in categories)
    actual = sum(c["actual"] for c in categories)
    return {"meeting_id": meeting.id, "title": meeting.title, "status": status_of(meeting),
            "submit_mode": meeting.submit_mode, "expected": expected, "actual": actual,
            "complete_at_most": complete,
            "rate": round(actual / expected, 4) if expected else 0.0,
            "rehearsal": any(f["rehearsal"] for f in forms), "categories": categories,
            "forms": forms}


def results_shown(rnd: Round) -> bool:
    """Whether the hall may see the form's results (its own projector shows them): once
    published, or at close when the round says 当场公布 (as the round's projector)."""
    return rnd.status == "published" or (rnd.status == "closed" and rnd.announce_on_close)


def meeting_slip(raw_token: Any) -> dict[str, Any]:
    """What a meeting slip opens: each form with its own token and ballot form, or the
    reason it cannot be voted (already submitted, not open, closed). The server derives
    the per-form tokens from the slip's token and keeps neither."""
    try:
        meeting_id, token = parse_meeting_token(raw_token)
    except ApiError:
        ratelimit.note_bad_token()
        raise
    meeting = db.session.get(Meeting, meeting_id)
    if meeting is None or not meeting.forms:
        ratelimit.note_bad_token()
        raise UNKNOWN_TOKEN
    mode, title = meeting.submit_mode, meeting.title
    forms_out = []
    for i, form in enumerate(list(meeting.forms)):
        t = form_token(token, form.round_id)
        entry: dict[str, Any] = {"position": i + 1, "round_id": form.round_id,
                                 "title": form.round.title, "token": t,
                                 "state": "open", "ballot": None, "error": None}
        try:
            entry["ballot"] = ballot_form(t)
        except ApiError as exc:
            if exc.code == "token_unknown" and i == 0:
                raise  # not a slip of this meeting: nothing about its forms
            if exc.status in (429, 503):
                raise
            entry["state"] = {"token_spent": "spent", "round_not_open": "not_open",
                              "round_closed": "closed"}.get(exc.code, "unavailable")
            entry["error"] = {"code": exc.code, "message": exc.message}
        forms_out.append(entry)
    return {"meeting": {"id": meeting_id, "title": title, "submit_mode": mode,
                        "forms": len(forms_out)},
            "forms": forms_out}
