"""Schemas of the organizer API for rounds."""

from __future__ import annotations

import marshmallow as ma

from server.core.api import UtcDateTime
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


class FlagRuleIn(ma.Schema):
    label = ma.fields.String(required=True, validate=Length(min=1, max=60))
    grade = ma.fields.String(validate=Length(min=1, max=60))
    grades = ma.fields.List(ma.fields.String(validate=Length(min=1, max=60)),
                            validate=Length(min=1, max=20))
    criterion = ma.fields.String(validate=Length(min=1, max=60))
    share_above = ma.fields.Float(allow_nan=False, validate=Range(0, 1))
    share_at_least = ma.fields.Float(allow_nan=False, validate=Range(0, 1))
    score_below = ma.fields.Float(allow_nan=False, validate=Range(-1e6, 1e6))


class ResultRulesIn(ma.Schema):
    """Overrides of the form template's [results] rules; anything left out keeps it."""

    k = ma.fields.Integer(strict=True, validate=Range(1, 1000), metadata={
        "description": "smallest voter category shown on its own (not below the site's "
                       "K_ANONYMITY)"})
    trim = ma.fields.Integer(strict=True, validate=Range(0, 50), metadata={
        "description": "scoring: drop this many highest and lowest scores per item"})
    trim_scope = ma.fields.String(allow_none=True, validate=ma.validate.OneOf(
        ["overall", "category"]))
    use_category_weights = ma.fields.Boolean(allow_none=True, metadata={
        "description": "null: weight categories when their weights differ"})
    recommend_threshold = ma.fields.Float(allow_nan=False, validate=Range(0, 1), metadata={
        "description": "a candidate needs strictly more than this share of valid ballots"})
    places = ma.fields.Integer(strict=True, allow_none=True, validate=Range(1, 500))
    min_turnout = ma.fields.Float(allow_nan=False, validate=Range(0, 1), metadata={
        "description": "参评率 (cast / expected) needed to publish"})
    flags = ma.fields.List(ma.fields.Nested(FlagRuleIn), validate=Length(max=20))


class RoundIn(ma.Schema):
    form = ma.fields.String(required=True, validate=Length(min=1, max=60),
                            metadata={"description": "form preset key, see GET /form-presets"})
    title = ma.fields.String(required=True, validate=Length(min=1, max=200))
    subjects = ma.fields.List(ma.fields.Nested(SubjectIn), required=True,
                              validate=Length(min=1, max=500))
    categories = ma.fields.List(ma.fields.Nested(CategoryIn), required=True,
                                validate=Length(min=1, max=20))
    show_live_results = ma.fields.Boolean(load_default=False)
    closes_at = UtcDateTime(load_default=None, allow_none=True, metadata={
        "description": "deadline; without an offset it is taken as UTC"})
    min_choices = ma.fields.Integer(strict=True, load_default=None, allow_none=True,
                                    validate=Range(0, 500))
    max_choices = ma.fields.Integer(strict=True, load_default=None, allow_none=True,
                                    validate=Range(1, 500))
    results = ma.fields.Nested(ResultRulesIn, load_default=None, allow_none=True, metadata={
        "description": "result rules; defaults come from the form template"})


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
    closes_at = UtcDateTime(allow_none=True)
    opened_at = UtcDateTime(allow_none=True)
    closed_at = UtcDateTime(allow_none=True)
    published_at = UtcDateTime(allow_none=True)
    close_problem = ma.fields.String()
    results = ma.fields.Dict(attribute="result_rules",
                             metadata={"description": "the result rules this round uses"})
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
    closes_at = UtcDateTime(allow_none=True)
    categories = ma.fields.List(ma.fields.Nested(TurnoutCategory))


class ResultsOut(ma.Schema):
    """The results engine's output (server/results/engine.py), k-anonymous."""

    round_id = ma.fields.Integer()
    title = ma.fields.String()
    status = ma.fields.String()
    live = ma.fields.Boolean(metadata={"description": "true while the round is still open: a "
                                       "snapshot updated every k ballots, no categories"})
    ballots = ma.fields.Integer(metadata={"description": "valid ballots"})
    kind = ma.fields.String()
    form = ma.fields.String()
    rules = ma.fields.Dict(metadata={"description": "the rules applied (effective values)"})
    rule_text = ma.fields.List(ma.fields.String(), metadata={"description": "the rules in words"})
    validity = ma.fields.Dict(metadata={
        "description": "应到/实到/有效/无效/参评率 in total and per (merged) category; "
                       "publishable and the reason when not"})
    appraisal = ma.fields.Dict(metadata={
        "description": "grade counts and rates per subject and criterion (不了解 outside the "
                       "denominator), composite scores, ranks, flags, per-category rows"})
    recommendation = ma.fields.Dict(metadata={
        "description": "votes, 得票率, ranks, threshold, selected, ties"})
    scoring = ma.fields.Dict(metadata={
        "description": "(trimmed) item means, totals, ranks, flags"})
    notes = ma.fields.List(ma.fields.String())
