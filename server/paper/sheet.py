"""A round's form as a paper sheet: the parts the printed ballot and the console's
entry form both draw, how the entry form's fields become answers, and which fields
two entries of the same sheet disagree on.

Pure functions over the round's bound form (forms/sections.round_form) and its
subjects; the printed ballot (paper/ballot_pdf.py) and the entry page
(templates/paper/entry.html) are two drawings of the same parts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from server.forms.sections import SUBJECT_SECTIONS, sections_of
from server.forms.storage import decode_answers


@dataclass(frozen=True)
class Who:
    id: int
    name: str
    note: str


@dataclass(frozen=True)
class Grid:
    """An appraisal section: each subject × criterion takes one grade."""

    label: str
    criteria: list[tuple[str, str]]  # (key, label)
    grades: list[tuple[str, str]]
    subjects: list[Who]
    kind: str = "grid"


@dataclass(frozen=True)
class Choices:
    """A recommendation: tick at least `low`, at most `high` of the candidates."""

    candidates: list[Who]
    low: int
    high: int
    kind: str = "choices"


@dataclass(frozen=True)
class Scores:
    """A scoring form: a score per subject and item, within the item's range."""

    items: list[tuple[str, str, float, float]]  # (key, label, min, max)
    decimals: int
    subjects: list[Who]
    kind: str = "scores"


Part = Grid | Choices | Scores


def _who(subjects: Sequence[Any]) -> list[Who]:
    return [Who(s.id, s.name, s.note or "") for s in subjects]


def parts(form: Mapping[str, Any], subjects: Sequence[Any]) -> list[Part]:
    """The sheet's parts: a grid per appraisal section that has subjects, the
    candidates of a recommendation, or the score table of a scoring form."""
    kind = form["kind"]
    if kind == "recommendation":
        return [Choices(_who(subjects), int(form["min_choices"]), int(form["max_choices"]))]
    if kind == "scoring":
        return [Scores([(i["key"], i["label"], i["min"], i["max"]) for i in form["items"]],
                       int(form["decimals"]), _who(subjects))]
    bound = form.get(SUBJECT_SECTIONS) or {}
    out: list[Part] = []
    for section in sections_of(dict(form)):
        mine = [s for s in subjects
                if not bound or bound.get(str(s.id)) == section["key"]]
        if mine:
            out.append(Grid(section.get("label") or "",
                            [(c["key"], c["label"]) for c in section["criteria"]],
                            [(g["key"], g["label"]) for g in section["grades"]], _who(mine)))
    return out


def grade_field(sid: int, criterion: str) -> str:
    return f"a-{sid}-{criterion}"


def score_field(sid: int, item: str) -> str:
    return f"s-{sid}-{item}"


CHOICE_FIELD = "choice"


def _number(raw: str) -> Any:
    """A typed score as a number; anything else stays text, for the form check to refuse."""
    text = raw.strip().replace("，", ".").replace("。", ".")
    try:
        value = float(text)
    except ValueError:
        return text
    return int(value) if value.is_integer() and "." not in text else value


def answers_from_fields(form: Mapping[str, Any], subjects: Sequence[Any],
                        fields: Any) -> dict[str, Any]:
    """The entry form's fields (a MultiDict) as ballot answers; what is left empty is
    left out, so the form check names it (missing_criterion, missing_score, ...)."""
    kind = form["kind"]
    if kind == "recommendation":
        picked = [v for v in fields.getlist(CHOICE_FIELD) if v.isdigit() and len(v) < 10]
        return {"choices": [int(v) for v in picked]}
    out: dict[str, Any] = {}
    for part in parts(form, subjects):
        if isinstance(part, Grid):
            for s in part.subjects:
                row = {c: fields.get(grade_field(s.id, c)) for c, _ in part.criteria}
                out[str(s.id)] = {c: g for c, g in row.items() if g}
        elif isinstance(part, Scores):
            for s in part.subjects:
                row = {i[0]: fields.get(score_field(s.id, i[0]), "").strip()
                       for i in part.items}
                out[str(s.id)] = {k: _number(v) for k, v in row.items() if v}
    return out


def shown_fields(form: Mapping[str, Any], subjects: Sequence[Any],
                 stored: str) -> list[tuple[str, str]]:
    """A stored (checked) ballot as (field label, value label) in the sheet's order, for
    telling two entries apart in words the people entering read on the sheet."""
    answers = decode_answers(dict(form), stored)
    out: list[tuple[str, str]] = []
    for part in parts(form, subjects):
        if isinstance(part, Choices):
            chosen = set(answers["choices"])
            for c in part.candidates:
                out.append((f"推荐 · {c.name}", "推荐" if c.id in chosen else "未推荐"))
        elif isinstance(part, Grid):
            grades = dict(part.grades)
            for s in part.subjects:
                for key, label in part.criteria:
                    grade = answers[str(s.id)][key]
                    out.append((f"{s.name} · {label}", grades.get(grade, grade)))
        else:
            for s in part.subjects:
                for key, label, _lo, _hi in part.items:
                    out.append((f"{s.name} · {label}", f"{answers[str(s.id)][key]:g}"))
    return out
