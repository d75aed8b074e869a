"""Request and response schemas of the voter-facing API."""

from __future__ import annotations

import marshmallow as ma

from server.core.api import UtcDateTime


class TokenIn(ma.Schema):
    token = ma.fields.String(required=True, validate=ma.validate.Length(max=64),
                             metadata={"description": "the token from the slip's URL fragment"})
    signature = ma.fields.String(
        load_default=None, allow_none=True, validate=ma.validate.Length(max=1400),
        metadata={"description": "a session-QR token's blind signature, unblinded: base64 of "
                  "the 32-byte message prefix followed by the RSA-PSS signature "
                  "(RFC 9474 RSABSSA-SHA384-PSS-Randomized); omitted for printed slips"})


class BallotIn(TokenIn):
    answers = ma.fields.Raw(
        required=True,
        metadata={"description": "appraisal: {subject id: {criterion: grade}}; "
                  "recommendation: {choices: [candidate ids]}; "
                  "scoring: {subject id: {item: number}}",
                  "type": "object"},
    )
    comment = ma.fields.String(
        load_default=None, allow_none=True, validate=ma.validate.Length(max=5000),
        metadata={"description": "optional free text when the round takes comments (see the "
                  "ballot form's `comment`); stored apart from the ballot"})
    content_pass = ma.fields.String(
        load_default=None, allow_none=True, validate=ma.validate.Length(max=100),
        metadata={"description": "from POST /content-checks for this comment, when the ballot "
                  "form says comment.check_required"})


class SubjectScoresIn(TokenIn):
    subject_id = ma.fields.Integer(required=True, strict=True,
                                   validate=ma.validate.Range(min=1, max=2**31 - 1),
                                   metadata={"description": "the subject whose report ended"})
    scores = ma.fields.Raw(required=True, metadata={
        "description": "{item key: number}: every item of the form, in range",
        "type": "object"})


class ReceiptOut(ma.Schema):
    receipt = ma.fields.String(required=True, metadata={"example": "K7QF-3MZA-P2XW"})
    round_id = ma.fields.Integer(required=True)
    message = ma.fields.String(required=True)


class ReceiptCheckIn(ma.Schema):
    round_id = ma.fields.Integer(required=True, strict=True,
                                 validate=ma.validate.Range(min=1, max=2**31 - 1))
    receipt = ma.fields.String(required=True, validate=ma.validate.Length(max=32))


class ReceiptCheckOut(ma.Schema):
    found = ma.fields.Boolean(required=True)
    round_status = ma.fields.String(required=True)
    counted = ma.fields.Boolean(required=True,
                                metadata={"description": "true once the round is closed and "
                                          "the ballot is in the frozen count"})
    message = ma.fields.String(required=True)


class LabelledKey(ma.Schema):
    key = ma.fields.String(required=True)
    label = ma.fields.String(required=True)


class ItemOut(LabelledKey):
    min = ma.fields.Float(required=True)
    max = ma.fields.Float(required=True)
    weight = ma.fields.Float(required=True)


class GradeOut(LabelledKey):
    abstain = ma.fields.Boolean(required=True, metadata={
        "description": "not counted in rates and scores (e.g. 不了解)"})


class SectionOut(LabelledKey):
    description = ma.fields.String(required=True)
    criteria = ma.fields.List(ma.fields.Nested(LabelledKey), required=True)
    grades = ma.fields.List(ma.fields.Nested(GradeOut), required=True)


class PublicFormOut(ma.Schema):
    key = ma.fields.String(required=True)
    kind = ma.fields.String(required=True)
    name = ma.fields.String(required=True)
    description = ma.fields.String(required=True)
    criteria = ma.fields.List(ma.fields.Nested(LabelledKey))
    grades = ma.fields.List(ma.fields.Nested(GradeOut))
    sections = ma.fields.List(ma.fields.Nested(SectionOut), metadata={
        "description": "appraisal: each section's criteria and grade scale (criteria and "
                       "grades above are the first section's); a subject's `section` names its"})
    min_choices = ma.fields.Integer()
    max_choices = ma.fields.Integer()
    decimals = ma.fields.Integer()
    # "items" would collide with dict.items when marshmallow reads a dict
    items = ma.fields.List(ma.fields.Nested(ItemOut), attribute="score_items", data_key="items")


class SubjectOut(ma.Schema):
    id = ma.fields.Integer(required=True)
    name = ma.fields.String(required=True)
    note = ma.fields.String(required=True)
    section = ma.fields.String(metadata={
        "description": "appraisal: the key of the form section the subject is rated in"})


class BallotRoundOut(ma.Schema):
    id = ma.fields.Integer(required=True)
    title = ma.fields.String(required=True)
    kind = ma.fields.String(required=True)
    closes_at = ma.fields.Integer(allow_none=True, metadata={"description": "epoch seconds"})


class BallotCommentOut(ma.Schema):
    enabled = ma.fields.Boolean(required=True, metadata={
        "description": "the ballot may carry a comment"})
    label = ma.fields.String(required=True, metadata={"example": "意见和建议"})
    max_length = ma.fields.Integer(required=True)
    check_required = ma.fields.Boolean(required=True, metadata={
        "description": "a comment needs a content_pass from POST /content-checks"})


class BallotFormOut(ma.Schema):
    round = ma.fields.Nested(BallotRoundOut, required=True)
    form = ma.fields.Nested(PublicFormOut, required=True)
    subjects = ma.fields.List(ma.fields.Nested(SubjectOut), required=True)
    category = ma.fields.String(required=True)
    comment = ma.fields.Nested(BallotCommentOut)
    rehearsal = ma.fields.Boolean(metadata={
        "description": "the round is a rehearsal (演练): its ballots never count"})
    per_subject = ma.fields.Boolean(metadata={
        "description": "scored as each report ends (逐人评分): send each subject's scores "
                       "on its own to POST /subject-scores"})
    scored = ma.fields.List(ma.fields.Integer(), metadata={
        "description": "per_subject: the subjects this slip has already sent"})
    pad = ma.fields.String(metadata={
        "description": "spaces making every voter's answer in the round the same size "
                       "(the category would otherwise show in logged byte counts); ignore"})


class TurnoutCategory(ma.Schema):
    id = ma.fields.Integer()
    name = ma.fields.String()
    expected = ma.fields.Integer()
    actual = ma.fields.Integer()
    issued = ma.fields.Integer()


class TurnoutOut(ma.Schema):
    round_id = ma.fields.Integer()
    status = ma.fields.String()
    title = ma.fields.String()
    expected = ma.fields.Integer()
    actual = ma.fields.Integer()
    rate = ma.fields.Float()
    closes_at = UtcDateTime(allow_none=True)
    categories = ma.fields.List(ma.fields.Nested(TurnoutCategory))
