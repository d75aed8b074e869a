"""Schemas of the points API."""

from __future__ import annotations

import marshmallow as ma

from server.core.api import UtcDateTime
from server.points.amounts import as_float

Length = ma.validate.Length
Range = ma.validate.Range
OneOf = ma.validate.OneOf

PERIOD_DOC = {"description": "a quarter such as 2026Q1, or a year such as 2026",
              "example": "2026Q1"}


class Tenths(ma.fields.Float):
    """An int of tenths shown as a number of points (125 → 12.5); output only."""

    def __init__(self, **kwargs) -> None:  # noqa: ANN003
        kwargs.setdefault("allow_none", True)  # caps and standard points may be absent
        super().__init__(**kwargs)

    def _serialize(self, value, attr, obj, **kwargs):  # noqa: ANN001, ANN202
        return None if value is None else as_float(value)


class PointsItemOut(ma.Schema):
    key = ma.fields.String()
    label = ma.fields.String()
    kind = ma.fields.String()
    points = Tenths(metadata={"description": "standard points of one entry"})
    max_entry = Tenths()
    cap = Tenths()
    cap_per = ma.fields.String()
    from_round = ma.fields.Boolean()


class PointsCategoryOut(ma.Schema):
    key = ma.fields.String()
    label = ma.fields.String()
    description = ma.fields.String()
    kind = ma.fields.String(metadata={"description": "award | bonus | deduction | veto"})
    cap = Tenths()
    cap_per = ma.fields.String()
    items = ma.fields.List(ma.fields.Nested(PointsItemOut))


class PointsStarOut(ma.Schema):
    min = Tenths()
    stars = ma.fields.Integer()
    label = ma.fields.String()


class PointsSchemeOut(ma.Schema):
    label = ma.fields.String()
    cap_per = ma.fields.String()
    fail_label = ma.fields.String()
    board_shows = ma.fields.List(ma.fields.String(), metadata={
        "description": "what a group-chat board shows of named members: stars, points, "
                       "deductions, fail (the fail label), veto"})
    categories = ma.fields.List(ma.fields.Nested(PointsCategoryOut))
    stars = ma.fields.List(ma.fields.Nested(PointsStarOut))


class PointsRuleSetOut(ma.Schema):
    ref = ma.fields.String(metadata={"description": "key-year, e.g. default-2026"})
    name = ma.fields.String()
    year = ma.fields.Integer()
    objection_days = ma.fields.Integer()
    allow_self_approval = ma.fields.Boolean(metadata={
        "description": "the one who entered an entry may approve it (one-person branches)"})
    member = ma.fields.Nested(PointsSchemeOut)
    group = ma.fields.Nested(PointsSchemeOut)


class PointsYearArgs(ma.Schema):
    year = ma.fields.Integer(validate=Range(2000, 2100))


class PointsEntryIn(ma.Schema):
    member_id = ma.fields.Integer(strict=True, load_default=None, allow_none=True)
    group_id = ma.fields.Integer(strict=True, load_default=None, allow_none=True)
    item = ma.fields.String(required=True, validate=Length(min=1, max=100),
                            metadata={"description": "item key or label"})
    points = ma.fields.Raw(load_default=None, metadata={
        "type": "number", "description": "points of this entry (one decimal); deductions as "
        "the amount deducted; omitted: the item's standard points"})
    period = ma.fields.String(required=True, validate=Length(max=20), metadata=PERIOD_DOC)
    reason = ma.fields.String(required=True, validate=Length(max=400))
    evidence = ma.fields.String(load_default="", validate=Length(max=1000))
    self_report = ma.fields.Boolean(load_default=False, metadata={
        "description": "个人自评: the member's own report, entered on their behalf"})


class PointsEntryOut(ma.Schema):
    id = ma.fields.Integer()
    branch_id = ma.fields.Integer()
    member_id = ma.fields.Integer(allow_none=True)
    group_id = ma.fields.Integer(allow_none=True)
    subject_name = ma.fields.String()
    item_key = ma.fields.String()
    category_key = ma.fields.String()
    kind = ma.fields.String()
    points = Tenths(attribute="points_x10")
    period = ma.fields.Function(lambda e: e.period.code, metadata={"type": "string"})
    reason = ma.fields.String()
    evidence = ma.fields.String()
    source = ma.fields.String(metadata={
        "description": "self_report | secretary | import | round | reversal"})
    status = ma.fields.String(metadata={"description": "pending | approved | rejected"})
    entered_by = ma.fields.Integer(allow_none=True)
    entered_at = UtcDateTime()
    decided_by = ma.fields.Integer(allow_none=True)
    decided_at = UtcDateTime(allow_none=True)
    decision_note = ma.fields.String()
    reverses_id = ma.fields.Integer(allow_none=True)
    round_id = ma.fields.Integer(allow_none=True)
    rule_set = ma.fields.String()


class PointsEntryListArgs(ma.Schema):
    branch_id = ma.fields.Integer()
    member_id = ma.fields.Integer()
    group_id = ma.fields.Integer()
    period = ma.fields.String(validate=Length(max=20), metadata=PERIOD_DOC)
    status = ma.fields.String(validate=OneOf(["pending", "approved", "rejected"]))
    page = ma.fields.Integer(load_default=1, validate=Range(1, 100000))
    per_page = ma.fields.Integer(load_default=50, validate=Range(1, 200))


class PointsEntryPage(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(PointsEntryOut))
    total = ma.fields.Integer()
    page = ma.fields.Integer()
    per_page = ma.fields.Integer()


class PointsNoteIn(ma.Schema):
    note = ma.fields.String(load_default="", validate=Length(max=400))


class PointsReasonIn(ma.Schema):
    reason = ma.fields.String(required=True, validate=Length(max=400))


class PointsBoardArgs(ma.Schema):
    period = ma.fields.String(required=True, validate=Length(max=20), metadata=PERIOD_DOC)
    offset = ma.fields.Integer(load_default=0, validate=Range(0, 1000000))
    limit = ma.fields.Integer(load_default=50, validate=Range(0, 500),
                              metadata={"description": "0: the whole board"})
    live = ma.fields.Boolean(load_default=False, metadata={
        "description": "staff: the live standings of a frozen board"})


class PointsBoardRowOut(ma.Schema):
    rank = ma.fields.Integer()
    id = ma.fields.Integer()
    name = ma.fields.String()
    points = Tenths(metadata={"description": "branches: per party member"})
    deductions = Tenths()
    total = Tenths(metadata={"description": "branches: all points"})
    members = ma.fields.Integer(metadata={"description": "branches: party members"})
    stars = ma.fields.Integer(allow_none=True)
    level = ma.fields.String()
    vetoed = ma.fields.Boolean()


class PointsBoardOut(ma.Schema):
    board = ma.fields.String()
    label = ma.fields.String()
    scope_id = ma.fields.Integer()
    period = ma.fields.String()
    period_label = ma.fields.String()
    visibility = ma.fields.String(metadata={"description": "live | hidden | frozen"})
    showing = ma.fields.String(metadata={"description": "live | frozen"})
    frozen_at = UtcDateTime(allow_none=True)
    total = ma.fields.Integer()
    offset = ma.fields.Integer()
    rows = ma.fields.List(ma.fields.Nested(PointsBoardRowOut))
    tie_break = ma.fields.String()


class PointsVisibilityIn(ma.Schema):
    period = ma.fields.String(required=True, validate=Length(max=20), metadata=PERIOD_DOC)
    visibility = ma.fields.String(required=True, validate=OneOf(["live", "hidden", "frozen"]))


class PointsCategoryTotalOut(ma.Schema):
    key = ma.fields.String()
    label = ma.fields.String()
    kind = ma.fields.String()
    cap = Tenths()
    total = Tenths()


class PointsQuarterTotalOut(ma.Schema):
    quarter = ma.fields.Integer()
    total = Tenths()


class PointsMemberPointsOut(ma.Schema):
    member_id = ma.fields.Integer()
    name = ma.fields.String()
    branch_id = ma.fields.Integer()
    year = ma.fields.Integer()
    total = Tenths()
    deductions = Tenths()
    stars = ma.fields.Integer(allow_none=True)
    level = ma.fields.String()
    vetoed = ma.fields.Boolean()
    rank = ma.fields.Integer(allow_none=True)
    categories = ma.fields.List(ma.fields.Nested(PointsCategoryTotalOut))
    quarters = ma.fields.List(ma.fields.Nested(PointsQuarterTotalOut))
    entries = ma.fields.List(ma.fields.Nested(PointsEntryOut))


class PointsPeriodOut(ma.Schema):
    period = ma.fields.String()
    label = ma.fields.String()
    state = ma.fields.String(metadata={"description": "open | closed | published | final"})
    pending = ma.fields.Integer()
    published_at = UtcDateTime(allow_none=True)
    objection_until = UtcDateTime(allow_none=True)
    reviewed_at = UtcDateTime(allow_none=True)


class PointsUnratedOut(ma.Schema):
    id = ma.fields.Integer()
    name = ma.fields.String()
    member_no = ma.fields.String()
    branch_id = ma.fields.Integer()
    branch = ma.fields.String()


class PointsReviewOut(ma.Schema):
    year = ma.fields.Integer()
    rated = ma.fields.Integer(metadata={"description": "members rated (0 before the review)"})
    unrated = ma.fields.List(ma.fields.Nested(PointsUnratedOut), metadata={
        "description": "party members without approved entries for the year: rated 未评定"})


class PointsAdjustIn(ma.Schema):
    stars = ma.fields.Integer(required=True, strict=True, metadata={
        "description": "the level: a star count of the rule set, or 0 for its fail label"})
    reason = ma.fields.String(load_default="", validate=Length(max=400), metadata={
        "description": "required (422 reason_required when empty); recorded in the audit log"})


class PointsRatingOut(ma.Schema):
    member_id = ma.fields.Integer()
    year = ma.fields.Integer()
    points = Tenths()
    stars = ma.fields.Integer(allow_none=True)
    level = ma.fields.String()
    adjust_note = ma.fields.String()
    adjusted_at = ma.fields.DateTime(allow_none=True)


class PointsFeedIn(ma.Schema):
    item = ma.fields.String(required=True, validate=Length(min=1, max=100))
    period = ma.fields.String(required=True, validate=Length(max=20), metadata=PERIOD_DOC)


class PointsSkippedOut(ma.Schema):
    subject_id = ma.fields.Integer()
    name = ma.fields.String()
    why = ma.fields.String()


class PointsFeedOut(ma.Schema):
    created = ma.fields.List(ma.fields.Integer())
    skipped = ma.fields.List(ma.fields.Nested(PointsSkippedOut))


class PointsImportUpload(ma.Schema):
    file = ma.fields.Raw(required=True, metadata={"type": "string", "format": "binary"})
    branch_id = ma.fields.Integer(required=True)
    period = ma.fields.String(required=True, validate=Length(max=20), metadata=PERIOD_DOC)
    approve = ma.fields.Boolean(load_default=False)
    approver = ma.fields.String(load_default=None, validate=Length(max=60), metadata={
        "description": "with approve: who approved the sheet (支委会审定), a username or user "
                       "id other than the uploader's (unless the rule set allows self-approval)"})
    dry_run = ma.fields.Boolean(load_default=False)


class PointsImportOut(ma.Schema):
    filename = ma.fields.String()
    period = ma.fields.String()
    rows = ma.fields.Integer()
    members = ma.fields.Integer()
    groups = ma.fields.Integer()
    total = Tenths(attribute="total_x10")
    approved = ma.fields.Boolean()
    approved_by = ma.fields.String(allow_none=True)
    dry_run = ma.fields.Boolean()
    entry_ids = ma.fields.List(ma.fields.Integer())


class PointsRectificationIn(ma.Schema):
    branch_id = ma.fields.Integer(load_default=None, allow_none=True)
    problem = ma.fields.String(required=True, validate=Length(max=600))
    source = ma.fields.String(required=True, validate=Length(max=400))
    owner = ma.fields.String(required=True, validate=Length(max=120))
    deadline = ma.fields.Date(required=True)
    measure = ma.fields.String(load_default="", validate=Length(max=1000))


class PointsRectificationArgs(ma.Schema):
    branch_id = ma.fields.Integer()
    status = ma.fields.String(validate=OneOf(["open", "closed"]))
    overdue = ma.fields.Boolean(load_default=False)


class PointsRectificationOut(ma.Schema):
    id = ma.fields.Integer()
    branch_id = ma.fields.Integer(allow_none=True)
    problem = ma.fields.String()
    source = ma.fields.String()
    owner = ma.fields.String()
    deadline = ma.fields.Date()
    measure = ma.fields.String()
    status = ma.fields.String(metadata={"description": "open | closed (销号)"})
    overdue = ma.fields.Boolean()
    created_at = UtcDateTime()
    closed_at = UtcDateTime(allow_none=True)
    close_note = ma.fields.String()


class PointsCloseIn(ma.Schema):
    note = ma.fields.String(required=True, validate=Length(max=1000))
