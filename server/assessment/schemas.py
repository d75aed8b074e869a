"""Request and response shapes of the combined assessment API (typed for OpenAPI)."""

from __future__ import annotations

import marshmallow as ma

from server.core.api import UtcDateTime

Length = ma.validate.Length
Range = ma.validate.Range

WEIGHT_DOC = {"description": "the part's share, exact: \"40%\", \"2/5\", \"0.4\" or 0.4 (or "
                             "every part a bare percentage: 40, 30, 30); the parts' weights "
                             "must add up to exactly 100% (422 weights_sum)",
              "oneOf": [{"type": "number"}, {"type": "string"}]}
LEVELS_DOC = ("its own 考核等次, tried in order: [{level, when: [conditions], quota}]; a "
              "condition is {\"score\": \"综合得分\", at_least|above|at_most|below: number} "
              "on the combined score as shown, or {\"flag\": label} (a flag or 一票否决 a part "
              "round gave the member); quota \"20%\" or a whole number of places, ties at the "
              "last place shown as ties (level_tie)")


class PartIn(ma.Schema):
    label = ma.fields.String(required=True, validate=Length(min=1, max=60),
                             metadata={"description": "e.g. 民主测评, 业绩考核, 党建考核"})
    round_id = ma.fields.Integer(allow_none=True, strict=True, validate=Range(1, 2**31 - 1),
                                 metadata={"description": "a published round (appraisal or "
                                           "scoring) of the committee; null or absent: an "
                                           "imported sheet (POST .../sheet)"})
    section = ma.fields.String(load_default="", validate=Length(max=40), metadata={
        "description": "on a round of several sections: the section key to take"})
    weight = ma.fields.Raw(required=True, metadata=WEIGHT_DOC)


class PartsIn(ma.Schema):
    parts = ma.fields.List(ma.fields.Nested(PartIn), required=True, validate=Length(min=1, max=8))


class AssessmentIn(ma.Schema):
    title = ma.fields.String(required=True, validate=Length(min=1, max=200))
    year = ma.fields.Integer(strict=True, allow_none=True, validate=Range(2000, 2100),
                             metadata={"description": "考核年度 (default: this year)"})
    levels = ma.fields.List(ma.fields.Dict(), load_default=list, validate=Length(max=10),
                            metadata={"description": LEVELS_DOC})
    parts = ma.fields.List(ma.fields.Nested(PartIn), validate=Length(max=8))


class SheetUpload(ma.Schema):
    file = ma.fields.Raw(required=True, metadata={"type": "string", "format": "binary",
                                                  "description": ".xlsx or .csv: 工号, 姓名, 分数"})
    part = ma.fields.String(load_default="", validate=Length(max=60), metadata={
        "description": "the sheet part's label or id (optional when it has only one)"})


class ConditionOut(ma.Schema):
    score = ma.fields.String()
    flag = ma.fields.String()
    at_least = ma.fields.Raw(metadata={"oneOf": [{"type": "number"}, {"type": "string"}]})
    above = ma.fields.Raw(metadata={"oneOf": [{"type": "number"}, {"type": "string"}]})
    at_most = ma.fields.Raw(metadata={"oneOf": [{"type": "number"}, {"type": "string"}]})
    below = ma.fields.Raw(metadata={"oneOf": [{"type": "number"}, {"type": "string"}]})


class LevelOut(ma.Schema):
    level = ma.fields.String()
    when = ma.fields.List(ma.fields.Nested(ConditionOut))
    quota = ma.fields.Raw(metadata={"oneOf": [{"type": "integer"}, {"type": "string"},
                                              {"type": "number"}]})


class SheetInfoOut(ma.Schema):
    filename = ma.fields.String()
    rows = ma.fields.Integer()
    uploaded_at = UtcDateTime()


class PartOut(ma.Schema):
    id = ma.fields.Integer()
    position = ma.fields.Integer()
    label = ma.fields.String()
    source = ma.fields.String(metadata={"enum": ["round", "sheet"]})
    round_id = ma.fields.Integer(allow_none=True)
    round_title = ma.fields.String(allow_none=True)
    round_year = ma.fields.Integer(allow_none=True)
    section = ma.fields.String()
    weight = ma.fields.String(metadata={"description": "as written"})
    weight_pct = ma.fields.Float(allow_none=True, metadata={
        "description": "the share in percent (null while the weights do not add up)"})
    weight_text = ma.fields.String(metadata={"description": "the weight as shown"})
    sheet = ma.fields.Nested(SheetInfoOut, allow_none=True,
                             metadata={"description": "the imported file (sheet parts)"})


class PartScoreOut(ma.Schema):
    label = ma.fields.String()
    score = ma.fields.Float(allow_none=True, metadata={"description": "as the part shows it"})
    matched_by = ma.fields.String(allow_none=True, metadata={
        "description": "member: the round's subject is linked to the roster; member_no: "
                       "the sheet's 工号; name: the name, unique in the committee's roster"})


class CombinedSubjectOut(ma.Schema):
    member_id = ma.fields.Integer()
    name = ma.fields.String()
    member_no = ma.fields.String()
    title = ma.fields.String()
    branch = ma.fields.String()
    parts = ma.fields.List(ma.fields.Nested(PartScoreOut))
    score = ma.fields.Float(allow_none=True, metadata={
        "description": "combined score rounded to 2 decimals (computed exactly)"})
    rank = ma.fields.Integer(allow_none=True, metadata={
        "description": "by the shown score; equal shown scores share a rank (并列)"})
    level = ma.fields.String(allow_none=True, metadata={"description": "考核等次"})
    level_tie = ma.fields.String(allow_none=True, metadata={
        "description": "the level a quota tie at its last place kept from the member"})
    flags = ma.fields.List(ma.fields.String())
    missing = ma.fields.List(ma.fields.String(), metadata={
        "description": "parts without a score for the member (then no combined score)"})
    excluded = ma.fields.Boolean(metadata={"description": "vetoed out of a part's ranking"})


class UnmatchedOut(ma.Schema):
    part = ma.fields.String()
    name = ma.fields.String()
    row = ma.fields.Integer(allow_none=True)
    reason = ma.fields.String()


class CombinedResultOut(ma.Schema):
    complete = ma.fields.Boolean(metadata={"description": "every member has every part"})
    weights_ok = ma.fields.Boolean()
    subjects = ma.fields.List(ma.fields.Nested(CombinedSubjectOut),
                              metadata={"description": "by rank, unranked last"})
    unmatched = ma.fields.List(ma.fields.Nested(UnmatchedOut))
    notes = ma.fields.List(ma.fields.String())
    rules_text = ma.fields.List(ma.fields.String())


class AssessmentSummaryOut(ma.Schema):
    id = ma.fields.Integer()
    committee_id = ma.fields.Integer()
    year = ma.fields.Integer()
    title = ma.fields.String()
    created_at = UtcDateTime()
    levels = ma.fields.List(ma.fields.Nested(LevelOut))
    parts = ma.fields.List(ma.fields.Nested(PartOut))


class AssessmentOut(AssessmentSummaryOut):
    result = ma.fields.Nested(CombinedResultOut)


class AssessmentListOut(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(AssessmentSummaryOut))


class PointOut(ma.Schema):
    year = ma.fields.Integer(allow_none=True)
    round_id = ma.fields.Integer()
    title = ma.fields.String()
    score = ma.fields.Float(allow_none=True)
    rank = ma.fields.Integer(allow_none=True)
    of = ma.fields.Integer(metadata={"description": "subjects ranked in that table"})
    level = ma.fields.String(allow_none=True)


class SeriesOut(ma.Schema):
    key = ma.fields.String(metadata={"description": "kind:form:section, the same across years"})
    kind = ma.fields.String(metadata={"enum": ["appraisal", "scoring"]})
    label = ma.fields.String()
    points = ma.fields.List(ma.fields.Nested(PointOut), metadata={"description": "by year"})


class MemberOut(ma.Schema):
    id = ma.fields.Integer()
    name = ma.fields.String()
    member_no = ma.fields.String()
    title = ma.fields.String()
    branch = ma.fields.String()


class HistoryOut(ma.Schema):
    member = ma.fields.Nested(MemberOut)
    series = ma.fields.List(ma.fields.Nested(SeriesOut))
