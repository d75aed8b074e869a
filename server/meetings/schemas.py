"""Schemas of the meetings API (organizers) and of the meeting slip (voters)."""

from __future__ import annotations

import marshmallow as ma

from server.meetings.models import SUBMIT_MODES
from server.voting.schemas import BallotFormOut, TurnoutOut

Length = ma.validate.Length
Range = ma.validate.Range


class MeetingIn(ma.Schema):
    title = ma.fields.String(required=True, validate=Length(min=1, max=200))
    round_ids = ma.fields.List(
        ma.fields.Integer(strict=True, validate=Range(1, 2**31 - 1)), required=True,
        metadata={"description": "draft rounds of the committee (no slips issued yet), in the "
                  "order the voter fills them; all with the same voter categories and 应到"})
    submit_mode = ma.fields.String(load_default="each", validate=ma.validate.OneOf(SUBMIT_MODES),
                                   metadata={"description": "each: the voter sends a form when "
                                             "done or holds it on the phone to send with the "
                                             "others at the end (逐份提交); end: all forms are "
                                             "sent together at the end (全部填写后一并提交)"})


class MeetingFormOut(ma.Schema):
    position = ma.fields.Integer()
    round_id = ma.fields.Integer()
    title = ma.fields.Method("_title")
    status = ma.fields.Method("_status")

    def _title(self, obj: object) -> str:
        return obj.round.title  # type: ignore[attr-defined]  # obj is a MeetingForm row

    def _status(self, obj: object) -> str:
        return obj.round.status  # type: ignore[attr-defined]  # obj is a MeetingForm row


class MeetingCategoryOut(ma.Schema):
    name = ma.fields.String()
    expected = ma.fields.Integer()
    issued = ma.fields.Integer(metadata={"description": "meeting slips issued (with the form's "
                                         "own slips, if any: the form with the most)"})


class MeetingOut(ma.Schema):
    id = ma.fields.Integer()
    title = ma.fields.String()
    submit_mode = ma.fields.String()
    status = ma.fields.String(metadata={"description": "draft | open | closed (of its forms)"})
    forms = ma.fields.List(ma.fields.Nested(MeetingFormOut))
    categories = ma.fields.List(ma.fields.Nested(MeetingCategoryOut))


class MeetingPage(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(MeetingOut))


class MeetingSlipsIn(ma.Schema):
    category = ma.fields.String(required=True, validate=Length(min=1, max=60),
                                metadata={"description": "the voter category's name"})
    count = ma.fields.Integer(required=True, strict=True, validate=Range(1, 5000))
    format = ma.fields.String(load_default="json", validate=ma.validate.OneOf(["json", "pdf"]))


class IssuedMeetingToken(ma.Schema):
    token = ma.fields.String()
    url = ma.fields.String()


class MeetingSlipsOut(ma.Schema):
    category = ma.fields.String()
    tokens = ma.fields.List(ma.fields.Nested(IssuedMeetingToken))


class MeetingFormTurnoutOut(TurnoutOut):
    rehearsal = ma.fields.Boolean(metadata={"description": "the form is open as 演练"})
    results_shown = ma.fields.Boolean(metadata={
        "description": "the hall may see this form's results on its own projector (published, "
                       "or closed with 当场公布)"})


class MeetingCategoryTurnoutOut(ma.Schema):
    name = ma.fields.String()
    expected = ma.fields.Integer()
    actual = ma.fields.Integer(metadata={"description": "the category's 实到 on the form where "
                                         "it is highest (as the meeting's `actual`)"})


class MeetingTurnoutOut(ma.Schema):
    meeting_id = ma.fields.Integer()
    title = ma.fields.String()
    status = ma.fields.String()
    submit_mode = ma.fields.String()
    expected = ma.fields.Integer(metadata={"description": "应到 (the same on every form)"})
    actual = ma.fields.Integer(metadata={
        "description": "实到 of the meeting: per category the form with the most ballots, "
                       "summed, i.e. at least this many slips submitted at least one form "
                       "(which slips submitted which forms is not stored, by design)"})
    complete_at_most = ma.fields.Integer(metadata={
        "description": "per category the form with the fewest ballots, summed: at most this "
                       "many slips submitted every form"})
    rate = ma.fields.Float()
    rehearsal = ma.fields.Boolean(metadata={"description": "any form is open as 演练"})
    categories = ma.fields.List(ma.fields.Nested(MeetingCategoryTurnoutOut))
    forms = ma.fields.List(ma.fields.Nested(MeetingFormTurnoutOut))


class MeetingTokenIn(ma.Schema):
    token = ma.fields.String(required=True, validate=Length(max=200),
                             metadata={"description": "the meeting slip's token M<id>.<26>"})


class SlipMeetingOut(ma.Schema):
    id = ma.fields.Integer()
    title = ma.fields.String()
    submit_mode = ma.fields.String()
    forms = ma.fields.Integer()


class SlipErrorOut(ma.Schema):
    code = ma.fields.String()
    message = ma.fields.String()


class SlipFormOut(ma.Schema):
    position = ma.fields.Integer()
    round_id = ma.fields.Integer()
    title = ma.fields.String()
    token = ma.fields.String(metadata={"description": "this form's own token: submit the "
                                       "form's ballot with it to POST /api/v1/ballots"})
    state = ma.fields.String(metadata={"description": "open | spent | not_open | closed | "
                                       "unavailable"})
    ballot = ma.fields.Nested(BallotFormOut, allow_none=True)
    error = ma.fields.Nested(SlipErrorOut, allow_none=True)


class MeetingSlipOut(ma.Schema):
    meeting = ma.fields.Nested(SlipMeetingOut)
    forms = ma.fields.List(ma.fields.Nested(SlipFormOut))
