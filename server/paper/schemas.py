"""Schemas of the paper ballot API (纸质票)."""

from __future__ import annotations

import marshmallow as ma

from server.paper.models import INVALID_REASONS, STATUSES

F = ma.fields
Range = ma.validate.Range
ID = Range(1, 2**31 - 1)


class PaperSlipsIn(ma.Schema):
    category_id = F.Integer(required=True, strict=True, validate=ID)
    count = F.Integer(required=True, strict=True, metadata={
        "description": "paper slips handed out in this category, 1..5000 (422 invalid_count)"})
    allow_over = F.Boolean(load_default=False, metadata={
        "description": "issue them even beyond 应到 (electronic and paper slips together); "
                       "otherwise 409 over_expected"})


class PaperEntryIn(ma.Schema):
    category_id = F.Integer(strict=True, validate=ID, metadata={
        "description": "the voter category printed on the sheet (required on a first entry)"})
    answers = F.Raw(allow_none=True, metadata={
        "description": "the sheet's answers in the ballot API's shape (appraisal: {subject "
                       "id: {criterion: grade}}; recommendation: {choices: [candidate ids]}; "
                       "scoring: {subject id: {item: number}}); 422 paper_ballot_misfit when "
                       "they do not fit the form", "type": "object"})
    invalid = F.String(allow_none=True, validate=ma.validate.Length(max=20), metadata={
        "description": "instead of answers: why the sheet is 无效票, one of "
                       + ", ".join(f"{k} ({v})" for k, v in INVALID_REASONS.items())})


class CategoryPaperOut(ma.Schema):
    id = F.Integer()
    name = F.String()
    expected = F.Integer(metadata={"description": "应到"})
    issued = F.Integer(metadata={"description": "electronic slips issued"})
    paper_issued = F.Integer(metadata={"description": "paper slips issued"})
    entered = F.Integer(metadata={"description": "sheets entered at least once"})
    counted_valid = F.Integer(metadata={"description": "sheets counted as valid"})
    counted_invalid = F.Integer(metadata={"description": "sheets counted as 无效票"})
    waiting = F.Integer(metadata={"description": "sheets entered once or in disagreement"})


class DifferenceOut(ma.Schema):
    field = F.String(metadata={"description": "the field as the sheet names it"})
    first = F.String(metadata={"description": "the first entry's reading"})
    second = F.String(metadata={"description": "the second entry's reading"})


class SheetOut(ma.Schema):
    number = F.Integer(metadata={"description": "第 N 张, given at the first entry"})
    category_id = F.Integer()
    status = F.String(metadata={"description": "pending (entered once), mismatch (the two "
                                "entries differ), counted", "enum": list(STATUSES)})
    first_by = F.String(metadata={"description": "who made the first entry"})
    second_by = F.String(allow_none=True)
    invalid = F.String(allow_none=True, metadata={
        "description": "a counted sheet's 无效 reason (null: valid, or not yet counted)"})
    differences = F.List(F.Nested(DifferenceOut), metadata={
        "description": "a mismatched sheet's differing fields; the entries' answers are "
                       "never shown otherwise"})


class PaperOverviewOut(ma.Schema):
    round_id = F.Integer()
    status = F.String()
    categories = F.List(F.Nested(CategoryPaperOut))
    unresolved = F.Integer(metadata={"description": "sheets not yet counted: publishing "
                                     "waits for them (409 paper_entry_unresolved)"})
    sheets = F.List(F.Nested(SheetOut))
