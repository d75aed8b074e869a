"""Schemas of the forms API: a definition fully typed (docs/forms.md), versions, files."""

from __future__ import annotations

import marshmallow as ma

from server.core.api import UtcDateTime
from server.resultsengine.fields import LEVELS_DOC, VETOES_DOC, Share, rule_list

Length = ma.validate.Length

DEFINITION_DOC = {
    "description": "a whole form definition (docs/forms.md; the shape of FormDefinition): "
                   "kind, name, description, sections with criteria and grades (appraisal), "
                   "min_choices/max_choices (recommendation), items and decimals (scoring), "
                   "results. Checked field by field: an error names its path, e.g. "
                   "sections[0].grades[1].points",
    "type": "object",
}


# -- a definition, as read ---------------------------------------------------------------

class FormEntry(ma.Schema):
    key = ma.fields.String(required=True, metadata={"description": "[a-z0-9_]{1,40}"})
    label = ma.fields.String(required=True)
    description = ma.fields.String()


class FormCriterionOut(FormEntry):
    overall = ma.fields.Boolean(metadata={"description": "the overall criterion (总体评价)"})


class FormGradeOut(FormEntry):
    points = ma.fields.Float(allow_none=True)
    abstain = ma.fields.Boolean(metadata={"description": "不了解: left out of rates"})


class FormSectionOut(FormEntry):
    criteria = ma.fields.List(ma.fields.Nested(FormCriterionOut), required=True)
    grades = ma.fields.List(ma.fields.Nested(FormGradeOut), required=True)


class ScoreItemOut(FormEntry):
    max = ma.fields.Float(required=True)
    min = ma.fields.Float()
    weight = ma.fields.Float()


class FormFlagOut(ma.Schema):
    label = ma.fields.String(required=True)
    grade = ma.fields.String()
    grades = ma.fields.List(ma.fields.String())
    criterion = ma.fields.String()
    share_above = Share()
    share_at_least = Share()
    score_below = ma.fields.Float()


class ResultRulesOut(ma.Schema):
    """The form's result rules (server/resultsengine/config.py); a round may override them."""

    k = ma.fields.Integer()
    trim = ma.fields.Integer()
    trim_scope = ma.fields.String(allow_none=True)
    use_category_weights = ma.fields.Boolean(allow_none=True)
    recommend_threshold = Share()
    places = ma.fields.Integer(allow_none=True)
    min_turnout = Share()
    flags = ma.fields.List(ma.fields.Nested(FormFlagOut))
    trim_by = ma.fields.String(validate=ma.validate.OneOf(["total", "item"]), metadata={
        "description": "scoring: trim each scorer's total (default) or each item's scores"})
    abstain_in_rates = ma.fields.Raw(metadata={
        "description": "exclude (default) or include 不了解 in the rates, or a table by section"})
    levels = ma.fields.Raw(metadata={"description": LEVELS_DOC})
    vetoes = rule_list(VETOES_DOC)


class FormDefinition(ma.Schema):
    kind = ma.fields.String(required=True, metadata={
        "enum": ["appraisal", "recommendation", "scoring"]})
    name = ma.fields.String(required=True)
    description = ma.fields.String()
    sections = ma.fields.List(ma.fields.Nested(FormSectionOut), metadata={
        "description": "appraisal: each section with its own criteria and grade scale"})
    criteria = ma.fields.List(ma.fields.Nested(FormCriterionOut), metadata={
        "description": "appraisal: the first section's (for single-section readers)"})
    grades = ma.fields.List(ma.fields.Nested(FormGradeOut), metadata={
        "description": "appraisal: the first section's (for single-section readers)"})
    min_choices = ma.fields.Integer(metadata={"description": "recommendation"})
    max_choices = ma.fields.Integer(metadata={"description": "recommendation"})
    # "items" would collide with dict.items when marshmallow reads a dict
    items = ma.fields.List(ma.fields.Nested(ScoreItemOut), attribute="score_items",
                           data_key="items", metadata={"description": "scoring"})
    decimals = ma.fields.Integer(metadata={"description": "scoring: 0-2"})
    results = ma.fields.Nested(ResultRulesOut)


# -- forms and versions, as read ---------------------------------------------------------

class VersionSummary(ma.Schema):
    version = ma.fields.Integer(required=True)
    note = ma.fields.String(required=True)
    created_at = UtcDateTime(required=True)
    in_use = ma.fields.Boolean(required=True, metadata={
        "description": "a round past draft uses it: it never changes (add a new version)"})


class FormSummary(ma.Schema):
    id = ma.fields.Integer(required=True)
    name = ma.fields.String(required=True)
    kind = ma.fields.String(required=True)
    archived = ma.fields.Boolean(required=True)
    latest_version = ma.fields.Integer(required=True)
    version_count = ma.fields.Integer(required=True)
    created_at = UtcDateTime(required=True)


class FormOut(FormSummary):
    versions = ma.fields.List(ma.fields.Nested(VersionSummary), required=True)
    definition = ma.fields.Nested(FormDefinition, required=True, metadata={
        "description": "the latest version's definition"})


class VersionOut(VersionSummary):
    form_id = ma.fields.Integer(required=True)
    definition = ma.fields.Nested(FormDefinition, required=True)


class DeletedOut(ma.Schema):
    id = ma.fields.Integer(required=True)
    outcome = ma.fields.String(required=True, metadata={
        "enum": ["deleted", "archived"],
        "description": "archived when a round uses one of its versions"})


class PresetOut(ma.Schema):
    key = ma.fields.String(required=True)
    kind = ma.fields.String(required=True)
    name = ma.fields.String(required=True)
    description = ma.fields.String(required=True)
    definition = ma.fields.Nested(FormDefinition, required=True)


class FormFile(ma.Schema):
    pingyi_form = ma.fields.Integer(required=True, metadata={"enum": [1]})
    name = ma.fields.String(required=True)
    version = ma.fields.Integer(required=True)
    definition = ma.fields.Nested(FormDefinition, required=True)


# -- requests ----------------------------------------------------------------------------

class FormListArgs(ma.Schema):
    include_archived = ma.fields.Boolean(load_default=False)


class FormCreateIn(ma.Schema):
    definition = ma.fields.Dict(metadata=DEFINITION_DOC)
    preset = ma.fields.String(validate=Length(min=1, max=60), metadata={
        "description": "copy a preset (GET /form-presets) instead of sending a definition"})
    name = ma.fields.String(validate=Length(min=1, max=200), metadata={
        "description": "with preset: the new form's name"})


class VersionIn(ma.Schema):
    definition = ma.fields.Dict(required=True, metadata=DEFINITION_DOC)
    note = ma.fields.String(load_default="", validate=Length(max=200))


class VersionUpdateIn(ma.Schema):
    definition = ma.fields.Dict(required=True, metadata=DEFINITION_DOC)


class ExportArgs(ma.Schema):
    version = ma.fields.Integer(validate=ma.validate.Range(1, 100000), metadata={
        "description": "the version to export (default: the latest)"})


class ImportIn(ma.Schema):
    pingyi_form = ma.fields.Integer(required=True, metadata={"enum": [1]})
    name = ma.fields.String(validate=Length(max=200))
    version = ma.fields.Integer(validate=ma.validate.Range(1, 100000))
    definition = ma.fields.Dict(required=True, metadata=DEFINITION_DOC)
