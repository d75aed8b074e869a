"""Typed output schemas of the results (server/resultsengine/engine.py) and the projector board
(server/results/view.py), so the OpenAPI document describes every structure
docs/results.md names.

Every key the engine writes is declared: marshmallow drops undeclared keys when it
dumps, and tests/test_tidy_exports.py compares the dumped answer with the engine's
dict. A value that is one of several types (a threshold as written, "2/3" or 0.5)
is a `Raw` field with its `oneOf`.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma

from server.resultsengine.fields import SHARE_DOC

F = ma.fields
NUMBER_OR_TEXT = {"oneOf": [{"type": "number"}, {"type": "string"}]}
CONDITION_JSON: dict[str, Any] = {
    "type": "object",
    "description": "one of rate (a rate's label or key), grades, score, flag; with one of "
                   "at_least (达到), above (超过), at_most (不超过), below (低于) unless a flag",
    "properties": {"rate": {"type": "string"}, "grades": {"type": "array",
                                                          "items": {"type": "string"}},
                   "score": {"type": "string"}, "flag": {"type": "string"},
                   **{op: NUMBER_OR_TEXT for op in ("at_least", "above", "at_most", "below")}}}
LEVEL_JSON: dict[str, Any] = {
    "type": "object", "required": ["level", "when"],
    "properties": {"level": {"type": "string"},
                   "when": {"type": "array", "items": CONDITION_JSON},
                   "quota": {"oneOf": [{"type": "number"}, {"type": "string"}],
                             "description": "a share of the subjects (\"20%\") or a whole "
                                            "number of places"}}}
ABSTAIN = {"type": "string", "enum": ["exclude", "include"]}


def _nullable(field: type[ma.fields.Field], **kwargs: Any) -> ma.fields.Field:
    return field(allow_none=True, **kwargs)


def _list(schema: type[ma.Schema] | ma.fields.Field, **kwargs: Any) -> ma.fields.List:
    inner = F.Nested(schema) if isinstance(schema, type) else schema
    return F.List(inner, **kwargs)


# --------------------------------------------------------------------------- rules


class RuleConditionOut(ma.Schema):
    rate = F.String()
    grades = F.List(F.String())
    score = F.String()
    flag = F.String()
    at_least = F.Raw(metadata=NUMBER_OR_TEXT)
    above = F.Raw(metadata=NUMBER_OR_TEXT)
    at_most = F.Raw(metadata=NUMBER_OR_TEXT)
    below = F.Raw(metadata=NUMBER_OR_TEXT)


class FlagRuleOut(ma.Schema):
    label = F.String()
    grades = F.List(F.String())
    criterion = F.String()
    share_above = F.Raw(metadata=SHARE_DOC)
    share_at_least = F.Raw(metadata=SHARE_DOC)
    score_below = F.Float()


class VetoRuleOut(ma.Schema):
    label = F.String()
    when = _list(RuleConditionOut)
    level = F.String()
    rank = F.Boolean(metadata={"description": "true: the vetoed subject keeps its rank"})


class RulesOut(ma.Schema):
    """The rules applied (effective values; server/resultsengine/config.py ResultRules)."""

    k = F.Integer()
    trim = F.Integer()
    trim_scope = _nullable(F.String, metadata={"enum": ["overall", "category", None]})
    trim_by = F.String(metadata={"enum": ["total", "item"]})
    use_category_weights = _nullable(F.Boolean)
    recommend_threshold = F.Raw(metadata=SHARE_DOC)
    places = _nullable(F.Integer)
    min_turnout = F.Raw(metadata=SHARE_DOC)
    abstain_in_rates = F.Raw(metadata={
        "description": "exclude or include 不了解 in the rates, or a table by section key",
        "oneOf": [ABSTAIN, {"type": "object", "additionalProperties": ABSTAIN}]})
    flags = _list(FlagRuleOut)
    levels = F.Raw(metadata={
        "description": "考核等次 in order, for every section they fit, or a table of such "
                       "lists by section key",
        "oneOf": [{"type": "array", "items": LEVEL_JSON},
                  {"type": "object", "additionalProperties": {"type": "array",
                                                              "items": LEVEL_JSON}}]})
    vetoes = _list(VetoRuleOut)


# --------------------------------------------------------------------------- validity


class ChannelOut(ma.Schema):
    cast = F.Integer(metadata={"description": "实到"})
    valid = F.Integer(metadata={"description": "有效票"})
    invalid = F.Integer(metadata={"description": "无效票 (paper ballots entered as 无效)"})


class ValidityRowOut(ma.Schema):
    expected = F.Integer(metadata={"description": "应到"})
    cast = F.Integer(metadata={"description": "实到"})
    valid = F.Integer(metadata={"description": "有效票"})
    invalid = F.Integer(metadata={"description": "无效票"})
    turnout_pct = _nullable(F.Float, metadata={"description": "参评率 in percent, 2 decimals"})
    electronic = F.Nested(ChannelOut, metadata={"description": "of them, electronic ballots"})
    paper = F.Nested(ChannelOut, metadata={"description": "of them, paper ballots (纸质票)"})


class GroupFields(ma.Schema):
    """A category group: one category, or small ones pooled (merged) as 其他."""

    name = F.String()
    categories = F.List(F.String())
    merged = F.Boolean()


class ValidityGroupOut(GroupFields, ValidityRowOut):
    pass


class ValidityOut(ma.Schema):
    total = F.Nested(ValidityRowOut)
    by_category = _list(ValidityGroupOut, metadata={
        "description": "per category group; a category below k only pooled as 其他"})
    publishable = F.Boolean()
    reason = _nullable(F.String, metadata={"description": "why it cannot be published"})


# --------------------------------------------------------------------------- appraisal


class GradeCountOut(ma.Schema):
    key = F.String()
    count = _nullable(F.Integer, metadata={"description": "null: withheld (counts_hidden)"})
    rate_pct = _nullable(F.Float, metadata={
        "description": "share of the answered in percent; null for 不了解 or withheld"})


class CriterionRowOut(ma.Schema):
    key = F.String()
    answered = _nullable(F.Integer, metadata={"description": "graded answers (不了解 out)"})
    abstained = _nullable(F.Integer)
    grades = _list(GradeCountOut)


class RateOut(ma.Schema):
    key = F.String(metadata={"description": "a grade key, or <grade>+ for 以上率"})
    label = F.String(metadata={"description": "优秀率, 称职以上率…"})
    pct = _nullable(F.Float, metadata={"description": "percent, 2 decimals"})


class RateDefOut(ma.Schema):
    key = F.String()
    label = F.String()
    grades = F.List(F.String())


class DecisionFields(ma.Schema):
    rank = _nullable(F.Integer, metadata={
        "description": "by the shown value, ties share a rank; null: vetoed or no score"})
    level = _nullable(F.String, metadata={"description": "考核等次"})
    level_tie = _nullable(F.String, metadata={
        "description": "the level a quota tie at its last place kept from the subject"})
    vetoes = F.List(F.String(), metadata={"description": "一票否决 labels that hold"})
    flags = F.List(F.String())


class SubjectFields(ma.Schema):
    id = F.Integer()
    name = F.String()
    note = F.String()


class AppraisalSubjectOut(SubjectFields, DecisionFields):
    score = _nullable(F.Float, metadata={"description": "composite score, 2 decimals"})
    score_answers = _nullable(F.Integer)
    rates = _list(RateOut)
    criteria = _list(CriterionRowOut)


class AppraisalGroupSubjectOut(ma.Schema):
    id = F.Integer()
    score = _nullable(F.Float)
    criteria = _list(CriterionRowOut)


class AppraisalGroupOut(GroupFields):
    ballots = F.Integer()
    subjects = _list(AppraisalGroupSubjectOut)


class CriterionOut(ma.Schema):
    key = F.String()
    label = F.String()
    overall = F.Boolean()


class ScaleGradeOut(ma.Schema):
    key = F.String()
    label = F.String()
    abstain = F.Boolean()
    points = _nullable(F.Float)


class AppraisalPartFields(ma.Schema):
    valid_ballots = F.Integer()
    weighted = F.Boolean()
    score_criteria = F.List(F.String())
    criteria = _list(CriterionOut)
    grades = _list(ScaleGradeOut)
    rate_defs = _list(RateDefOut)
    abstain_in_rates = F.String(metadata={"enum": ["exclude", "include"]})
    counts_hidden = F.Boolean(metadata={
        "description": "counts and rates withheld (k-anonymity), only scores and 等次"})
    levels = F.List(F.String(), metadata={"description": "the 等次 names in order"})
    subjects = _list(AppraisalSubjectOut)
    order = F.List(F.Integer(), metadata={"description": "subject ids by rank"})
    by_category = _list(AppraisalGroupOut)


class AppraisalSectionOut(AppraisalPartFields):
    key = F.String()
    label = F.String()


class AppraisalOut(AppraisalPartFields):
    sections = _list(AppraisalSectionOut, metadata={
        "description": "on a form of several sections: each section's result (then the "
                       "other fields but valid_ballots and weighted are absent)"})


# --------------------------------------------------------------------------- recommendation


class CandidateOut(SubjectFields):
    votes = F.Integer()
    vote_pct = _nullable(F.Float, metadata={"description": "得票率 in percent"})
    rank = _nullable(F.Integer)
    passes_threshold = F.Boolean()
    status = F.String(metadata={"enum": ["selected", "tie", "not_selected",
                                         "below_threshold"]})


class RecommendTieOut(ma.Schema):
    votes = F.Integer()
    vote_pct = _nullable(F.Float)
    rank = F.Integer()
    candidates = F.List(F.Integer())
    places_left = F.Integer()


class GroupVotesOut(ma.Schema):
    id = F.Integer()
    votes = F.Integer()


class RecommendGroupOut(GroupFields):
    ballots = F.Integer()
    candidates = _list(GroupVotesOut)


class RecommendationOut(ma.Schema):
    valid_ballots = F.Integer()
    places = F.Integer()
    threshold_pct = F.Float()
    candidates = _list(CandidateOut)
    order = F.List(F.Integer())
    selected = F.List(F.Integer())
    ties = _list(RecommendTieOut)
    at_threshold = F.List(F.Integer(), metadata={
        "description": "ids exactly at the threshold (that do not pass 超过)"})
    by_category = _list(RecommendGroupOut)


# --------------------------------------------------------------------------- scoring


class ScoringItemOut(ma.Schema):
    key = F.String()
    label = F.String()
    max = F.Float()
    weight = F.Float()


class ItemMeanOut(ma.Schema):
    key = F.String()
    mean = _nullable(F.Float)
    trimmed = F.Boolean()


class ScoringSubjectOut(SubjectFields, DecisionFields):
    total = _nullable(F.Float)
    total_trimmed = F.Boolean(metadata={"description": "the total trims each scorer's total"})
    items = _list(ItemMeanOut)


class GroupItemMeanOut(ma.Schema):
    key = F.String()
    mean = _nullable(F.Float)


class ScoringGroupSubjectOut(ma.Schema):
    id = F.Integer()
    total = _nullable(F.Float)
    items = _list(GroupItemMeanOut)


class ScoringGroupOut(GroupFields):
    ballots = F.Integer()
    subjects = _list(ScoringGroupSubjectOut)


class ScoringOut(ma.Schema):
    valid_ballots = F.Integer()
    weighted = F.Boolean()
    trim = F.Integer()
    trim_by = F.String(metadata={"enum": ["total", "item"]})
    trim_scope = _nullable(F.String)
    items = _list(ScoringItemOut)
    levels = F.List(F.String())
    subjects = _list(ScoringSubjectOut)
    order = F.List(F.Integer())
    by_category = _list(ScoringGroupOut)


# --------------------------------------------------------------------------- the projector


class BarOut(ma.Schema):
    key = F.String()
    label = F.String()
    count = _nullable(F.Integer)
    pct = _nullable(F.Float)


class BoardSubjectOut(SubjectFields):
    score = _nullable(F.Float)
    rank = _nullable(F.Integer)
    level = _nullable(F.String)
    vetoes = F.List(F.String())
    flags = F.List(F.String())
    answered = _nullable(F.Integer)
    abstained = _nullable(F.Integer)
    bars = _list(BarOut)


class BoardGradeOut(ma.Schema):
    key = F.String()
    label = F.String()


class BoardPartFields(ma.Schema):
    caption = F.String()
    abstain_label = _nullable(F.String)
    grades = _list(BoardGradeOut)
    subjects = _list(BoardSubjectOut)


class BoardSectionOut(BoardPartFields):
    key = F.String()
    label = F.String()


class BoardRowOut(SubjectFields):
    """A ranking row: votes, pct and status (recommendation) or total, level, vetoes,
    flags (scoring)."""

    rank = _nullable(F.Integer)
    votes = F.Integer()
    pct = _nullable(F.Float)
    status = F.String()
    total = _nullable(F.Float)
    level = _nullable(F.String)
    vetoes = F.List(F.String())
    flags = F.List(F.String())


class BoardOut(BoardPartFields):
    """What the big screen draws; by `kind`: appraisal bars per subject (`sections` on a
    form of several), recommendation or scoring `rows`."""

    kind = F.String(metadata={"enum": ["appraisal", "recommendation", "scoring"]})
    sections = _list(BoardSectionOut)
    threshold_pct = F.Float()
    places = F.Integer()
    valid_ballots = F.Integer()
    max_total = F.Float()
    trim = F.Integer()
    rows = _list(BoardRowOut)
    live = F.Boolean()
    ballots = F.Integer()
    notes = F.List(F.String())
