"""Schemas of the organizer API for rounds."""

from __future__ import annotations

from typing import Any

import marshmallow as ma

from server.core.api import UtcDateTime
from server.core.db import db
from server.forms.models import FormVersion
from server.results import schemas as results_schemas
from server.results.official import categories_of
from server.results.rules import round_warnings
from server.resultsengine.fields import LEVELS_DOC, VETOES_DOC, Share, rule_list
from server.voting.schemas import SubjectOut

Length = ma.validate.Length
Range = ma.validate.Range


class SubjectIn(ma.Schema):
    name = ma.fields.String(required=True, validate=Length(min=1, max=100))
    note = ma.fields.String(load_default="", validate=Length(max=200))
    section = ma.fields.String(validate=Length(max=40), metadata={
        "description": "appraisal: the key of the form section the subject is rated in "
                       "(required when the form has several sections)"})
    member_id = ma.fields.Integer(allow_none=True, strict=True, validate=Range(1, 2**31 - 1),
                                  metadata={"description": "the roster member this subject is "
                                            "(of the round's committee; 422 unknown_member "
                                            "otherwise): 党员互评 / 群众测评 results feed that "
                                            "member's points"})


class CategoryIn(ma.Schema):
    id = ma.fields.Integer(strict=True, validate=Range(1, 2**31 - 1), metadata={
        "description": "PATCH: the existing category this entry keeps"})
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
    share_above = Share()
    share_at_least = Share()
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
    recommend_threshold = Share(metadata={
        "description": "a candidate needs more than (超过) this share of valid ballots"})
    places = ma.fields.Integer(strict=True, allow_none=True, validate=Range(1, 500))
    min_turnout = Share(metadata={
        "description": "参评率 (cast / expected) to reach (达到) to publish"})
    flags = ma.fields.List(ma.fields.Nested(FlagRuleIn), validate=Length(max=20))
    trim_by = ma.fields.String(validate=ma.validate.OneOf(["total", "item"]), metadata={
        "description": "scoring: trim each scorer's total (default) or each item's scores"})
    abstain_in_rates = ma.fields.Raw(metadata={
        "description": "exclude (default) or include 不了解 in the rates, or a table by section"})
    levels = ma.fields.Raw(metadata={"description": LEVELS_DOC})
    vetoes = rule_list(VETOES_DOC)


class RoundPatchIn(ma.Schema):
    """The fields of a draft round; PATCH changes those it gives."""

    form = ma.fields.String(validate=Length(min=1, max=60), metadata={
        "description": "form preset key, see GET /form-presets (or form_id, not both)"})
    form_id = ma.fields.Integer(strict=True, validate=Range(1, 2**31 - 1), metadata={
        "description": "a designed form (GET /forms), or form, not both"})
    form_version = ma.fields.Integer(strict=True, validate=Range(1, 2**31 - 1), metadata={
        "description": "the designed form's version number (default: the latest)"})
    title = ma.fields.String(validate=Length(min=1, max=200))
    subjects = ma.fields.List(ma.fields.Nested(SubjectIn), validate=Length(min=1, max=500),
                              metadata={"description": "PATCH replaces the whole list"})
    categories = ma.fields.List(ma.fields.Nested(CategoryIn), validate=Length(min=1, max=20),
                                metadata={"description": "PATCH replaces the whole list; a "
                                          "category keeps its id (matched by id if given, "
                                          "else by position)"})
    show_live_results = ma.fields.Boolean()
    announce_on_close = ma.fields.Boolean(metadata={
        "description": "当场公布: the projector shows results at close, before publishing"})
    per_subject = ma.fields.Boolean(allow_none=True, metadata={
        "description": "scoring rounds only: scored as each report ends (逐人评分) — a panel "
                       "member sends each subject's scores on its own (POST /subject-scores), "
                       "final when sent; 422 per_subject_not_scoring on other forms"})
    closes_at = UtcDateTime(allow_none=True, metadata={
        "description": "deadline; without an offset it is taken as UTC"})
    min_choices = ma.fields.Integer(strict=True, allow_none=True, validate=Range(0, 500))
    max_choices = ma.fields.Integer(strict=True, allow_none=True, validate=Range(1, 500))
    results = ma.fields.Nested(ResultRulesIn, allow_none=True, metadata={
        "description": "result rules; defaults come from the form (PATCH: from the "
                       "round's current rules)"})
    year = ma.fields.Integer(strict=True, allow_none=True, validate=Range(2000, 2100),
                             metadata={"description": "考核年度 (default: this year)"})
    branch_id = ma.fields.Integer(strict=True, allow_none=True, validate=Range(1, 2**31 - 1),
                                  metadata={"description": "the branch the round is for"})


class RoundIn(RoundPatchIn):
    """A new draft round: from a preset (form) or a designed form (form_id)."""

    title = ma.fields.String(required=True, validate=Length(min=1, max=200))
    subjects = ma.fields.List(ma.fields.Nested(SubjectIn), required=True,
                              validate=Length(min=1, max=500))
    categories = ma.fields.List(ma.fields.Nested(CategoryIn), required=True,
                                validate=Length(min=1, max=20))


class CloneIn(ma.Schema):
    title = ma.fields.String(validate=Length(min=1, max=200), metadata={
        "description": "default: the source's, + （重新测评） after too low a turnout, or "
                       "with its year replaced"})
    year = ma.fields.Integer(strict=True, validate=Range(2000, 2100))
    form_version = ma.fields.String(load_default="same", validate=ma.validate.OneOf(
        ["same", "latest"]), metadata={"description": "same: the source's form snapshot; "
                                       "latest: its form's latest version, the same rules"})


class BatchIn(RoundPatchIn):
    """One draft per branch, from a template round or from the round fields."""

    template_round_id = ma.fields.Integer(strict=True, validate=Range(1, 2**31 - 1))
    committee_id = ma.fields.Integer(strict=True, validate=Range(1, 2**31 - 1), metadata={
        "description": "admin only (default: the caller's committee)"})
    branches = ma.fields.Raw(required=True, metadata={
        "description": '"all", or a list of branch ids', "oneOf": [
            {"type": "string", "enum": ["all"]},
            {"type": "array", "items": {"type": "integer"}, "minItems": 1}]})
    subjects_from = ma.fields.String(load_default="none", validate=ma.validate.OneOf(
        ["none", "branch_members"]), metadata={
        "description": "branch_members: each branch's roster becomes its subjects"})


class BatchOut(ma.Schema):
    ids = ma.fields.List(ma.fields.Integer())


class CategoryOut(ma.Schema):
    id = ma.fields.Integer()
    name = ma.fields.String()
    expected_count = ma.fields.Integer()
    weight = ma.fields.Float()
    issued_count = ma.fields.Integer()


class RoundSubjectOut(SubjectOut):
    section = ma.fields.String(metadata={"description": "the form section it is rated in"})
    member_id = ma.fields.Integer(allow_none=True, metadata={
        "description": "the roster member it is (null: none)"})


class RoundOut(ma.Schema):
    id = ma.fields.Integer()
    title = ma.fields.String()
    kind = ma.fields.String()
    form_key = ma.fields.String()
    status = ma.fields.String()
    form_version_id = ma.fields.Integer(allow_none=True, metadata={
        "description": "the designed form's version it was built from (null: a preset)"})
    form_version = ma.fields.Method("_form_version", allow_none=True, metadata={
        "description": "{form_id, version} of that version"})
    year = ma.fields.Integer(allow_none=True, metadata={"description": "考核年度"})
    branch_id = ma.fields.Integer(allow_none=True)
    rehearsal = ma.fields.Boolean(metadata={
        "description": "opened as a rehearsal (演练): never published, purged back to draft"})
    show_live_results = ma.fields.Boolean()
    announce_on_close = ma.fields.Boolean(metadata={
        "description": "当场公布: the projector shows results at close, before publishing"})
    per_subject = ma.fields.Boolean(metadata={
        "description": "scored as each report ends (逐人评分): a ballot per subject"})
    closes_at = UtcDateTime(allow_none=True)
    opened_at = UtcDateTime(allow_none=True)
    closed_at = UtcDateTime(allow_none=True)
    published_at = UtcDateTime(allow_none=True)
    close_problem = ma.fields.String()
    warning = ma.fields.String(allow_none=True, metadata={
        "description": "only in the close answer: why the results cannot be published "
                       "(参评率 below min_turnout), or null"})
    results = ma.fields.Dict(attribute="result_rules",
                             metadata={"description": "the result rules this round uses"})
    warnings = ma.fields.Method("_warnings", metadata={
        "type": "array", "items": {"type": "string"},
        "description": "k-anonymity: which voter categories are expected to have fewer "
                       "than k voters and what of the results will be hidden (Chinese)"})
    subjects = ma.fields.List(ma.fields.Nested(RoundSubjectOut))
    categories = ma.fields.List(ma.fields.Nested(CategoryOut))

    def _warnings(self, rnd: Any) -> list[str]:
        return round_warnings(rnd.form, categories_of(rnd))

    def _form_version(self, rnd: Any) -> dict[str, int] | None:
        if rnd.form_version_id is None:
            return None
        version = db.session.get_one(FormVersion, rnd.form_version_id)
        return {"form_id": version.form_id, "version": version.version}


class RoundListArgs(ma.Schema):
    status = ma.fields.String(validate=ma.validate.OneOf(
        ["draft", "open", "closing", "closed", "published"]))
    year = ma.fields.Integer(validate=Range(2000, 2100))
    branch_id = ma.fields.Integer(validate=Range(1, 2**31 - 1))
    committee_id = ma.fields.Integer(validate=Range(1, 2**31 - 1), metadata={
        "description": "admin: one committee's rounds (others only ever see their own)"})
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


class SubjectProgress(ma.Schema):
    id = ma.fields.Integer(required=True)
    name = ma.fields.String(required=True)
    note = ma.fields.String(required=True)
    scored = ma.fields.Integer(required=True, metadata={
        "description": "panel members who have sent this subject's scores"})


class SubjectProgressOut(ma.Schema):
    """A round scored per subject: counts only, never a score."""

    round_id = ma.fields.Integer(required=True)
    status = ma.fields.String(required=True)
    per_subject = ma.fields.Boolean(required=True)
    expected = ma.fields.Integer(required=True, metadata={"description": "应到 of the panel"})
    subjects = ma.fields.List(ma.fields.Nested(SubjectProgress), required=True)


class ResultsOut(ma.Schema):
    """The results engine's output (server/resultsengine/engine.py), k-anonymous."""

    round_id = ma.fields.Integer()
    title = ma.fields.String()
    status = ma.fields.String()
    live = ma.fields.Boolean(metadata={"description": "true while the round is still open: a "
                                       "snapshot updated every k ballots, no categories"})
    ballots = ma.fields.Integer(metadata={"description": "valid ballots"})
    kind = ma.fields.String(metadata={"enum": ["appraisal", "recommendation", "scoring"]})
    form = ma.fields.String(allow_none=True)
    rules = ma.fields.Nested(results_schemas.RulesOut, metadata={
        "description": "the rules applied (effective values)"})
    rule_text = ma.fields.List(ma.fields.String(), metadata={"description": "the rules in words"})
    validity = ma.fields.Nested(results_schemas.ValidityOut, metadata={
        "description": "应到/实到/有效/无效/参评率 in total and per (merged) category; "
                       "publishable and the reason when not"})
    appraisal = ma.fields.Nested(results_schemas.AppraisalOut, metadata={
        "description": "grade counts and rates per subject and criterion (不了解 outside the "
                       "denominator), rates, composite scores, ranks, 等次, vetoes, flags, "
                       "per-category rows; `sections` on a form of several"})
    recommendation = ma.fields.Nested(results_schemas.RecommendationOut, metadata={
        "description": "votes, 得票率, ranks, threshold, selected, ties"})
    scoring = ma.fields.Nested(results_schemas.ScoringOut, metadata={
        "description": "(trimmed) item means, totals, ranks, 等次, vetoes, flags"})
    notes = ma.fields.List(ma.fields.String())


class CloseIn(ma.Schema):
    check_turnout = ma.fields.Boolean(load_default=False, metadata={
        "description": "refuse (409 below_turnout, with the figures) instead of closing "
                       "when 参评率 is below the round's min_turnout"})
