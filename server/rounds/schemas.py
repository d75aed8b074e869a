"""Schemas of the organizer API for rounds."""

from __future__ import annotations

import marshmallow as ma

from server.voting.schemas import SubjectOut

Length = ma.validate.Length
Range = ma.validate.Range


class SubjectIn(ma.Schema):
    name = ma.fields.String(required=True, validate=Length(min=1, max=100))
    note = ma.fields.String(load_default="", validate=Length(max=200))


class CategoryIn(ma.Schema):
    name = ma.fields.String(required=True, validate=Length(min=1, max=60))
    expected_count = ma.fields.Integer(required=True, strict=True, validate=Range(0, 100000))
    weight = ma.fields.Float(load_default=1.0, allow_nan=False, validate=Range(0, 100,
                                                                               min_inclusive=False))


class RoundIn(ma.Schema):
    form = ma.fields.String(required=True, validate=Length(min=1, max=60),
                            metadata={"description": "form template key, see GET /forms"})
    title = ma.fields.String(required=True, validate=Length(min=1, max=200))
    subjects = ma.fields.List(ma.fields.Nested(SubjectIn), required=True,
                              validate=Length(min=1, max=500))
    categories = ma.fields.List(ma.fields.Nested(CategoryIn), required=True,
                                validate=Length(min=1, max=20))
    show_live_results = ma.fields.Boolean(load_default=False)
    closes_at = ma.fields.NaiveDateTime(load_default=None, allow_none=True,
                                        metadata={"description": "UTC deadline"})
    min_choices = ma.fields.Integer(strict=True, load_default=None, allow_none=True,
                                    validate=Range(0, 500))
    max_choices = ma.fields.Integer(strict=True, load_default=None, allow_none=True,
                                    validate=Range(1, 500))


class CategoryOut(ma.Schema):
    id = ma.fields.Integer()
    name = ma.fields.String()
    expected_count = ma.fields.Integer()
    weight = ma.fields.Float()
    issued_count = ma.fields.Integer()


class RoundOut(ma.Schema):
    id = ma.fields.Integer()
    title = ma.fields.String()
    kind = ma.fields.String()
    form_key = ma.fields.String()
    status = ma.fields.String()
    show_live_results = ma.fields.Boolean()
    closes_at = ma.fields.NaiveDateTime(allow_none=True)
    opened_at = ma.fields.NaiveDateTime(allow_none=True)
    closed_at = ma.fields.NaiveDateTime(allow_none=True)
    published_at = ma.fields.NaiveDateTime(allow_none=True)
    close_problem = ma.fields.String()
    subjects = ma.fields.List(ma.fields.Nested(SubjectOut))
    categories = ma.fields.List(ma.fields.Nested(CategoryOut))


class RoundListArgs(ma.Schema):
    status = ma.fields.String(validate=ma.validate.OneOf(
        ["draft", "open", "closing", "closed", "published"]))
    page = ma.fields.Integer(load_default=1, validate=Range(1, 100000))
    per_page = ma.fields.Integer(load_default=50, validate=Range(1, 200))


class RoundPage(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(RoundOut))
    total = ma.fields.Integer()
    page = ma.fields.Integer()
    per_page = ma.fields.Integer()


class TokensIn(ma.Schema):
    category_id = ma.fields.Integer(required=True, strict=True, validate=Range(1, 2**31 - 1))
    count = ma.fields.Integer(required=True, strict=True, validate=Range(1, 20000))
    format = ma.fields.String(load_default="json", validate=ma.validate.OneOf(["json", "pdf"]),
                              metadata={"description": "json: the tokens and URLs; "
                                        "pdf: printable slips (A4)"})


class IssuedToken(ma.Schema):
    token = ma.fields.String()
    url = ma.fields.String()


class TokensOut(ma.Schema):
    category_id = ma.fields.Integer()
    tokens = ma.fields.List(ma.fields.Nested(IssuedToken))


class QrIn(ma.Schema):
    token = ma.fields.String(required=True, validate=Length(max=64))
    format = ma.fields.String(load_default="png", validate=ma.validate.OneOf(["png", "svg"]))


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
    closes_at = ma.fields.NaiveDateTime(allow_none=True)
    categories = ma.fields.List(ma.fields.Nested(TurnoutCategory))


class ResultsOut(ma.Schema):
    round_id = ma.fields.Integer()
    status = ma.fields.String()
    live = ma.fields.Boolean(metadata={"description": "true while the round is still open"})
    ballots = ma.fields.Integer()
    subjects = ma.fields.List(ma.fields.Dict())


class FormOut(ma.Schema):
    key = ma.fields.String()
    kind = ma.fields.String()
    name = ma.fields.String()
    description = ma.fields.String()
