"""Sections of an appraisal form, and which section each subject of a round is in.

A checked appraisal form has `sections`, each with its own criteria and grade scale
(docs/forms.md); its top-level `criteria`/`grades` are the first section's. A round
binds its subjects to sections (`subjects.section`); `round_form` gives the round's
form with that map under SUBJECT_SECTIONS, which the pure ballot functions
(forms/answers.py, forms/storage.py, voting/digest.py) read to find a subject's
criteria and grades. A form with one section is never bound: it is used exactly as
before, one scale for every subject.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

MAIN = "main"  # the one section of a form written with top-level criteria and grades
SUBJECT_SECTIONS = "subject_sections"  # in a bound form: {"<subject id>": "<section key>"}


def sections_of(form: dict[str, Any]) -> list[dict[str, Any]]:
    """The form's sections (a form stored before sections existed: one, `main`)."""
    sections = form.get("sections")
    if sections:
        return sections
    return [{"key": MAIN, "label": "", "description": "",
             "criteria": form.get("criteria") or [], "grades": form.get("grades") or []}]


def is_multi(form: dict[str, Any]) -> bool:
    """Whether subjects of this (appraisal) form may differ in criteria and grades."""
    return form.get("kind") == "appraisal" and len(form.get("sections") or ()) > 1


def section_of(form: dict[str, Any], section_key: str | None) -> dict[str, Any]:
    """The section with this key; an empty key is the first section. KeyError if none."""
    sections = sections_of(form)
    if not section_key:
        return sections[0]
    for section in sections:
        if section["key"] == section_key:
            return section
    raise KeyError(section_key)


def subject_sections(form: dict[str, Any],
                     subjects: Iterable[tuple[int | str, str | None]]) -> dict[str, str]:
    """{"<subject id>": section key} for (id, stored section) pairs; an empty or
    unknown stored section is the first section."""
    keys = {s["key"] for s in sections_of(form)}
    first = sections_of(form)[0]["key"]
    return {str(sid): key if key is not None and key in keys else first
            for sid, key in subjects}


def bind_subjects(form: dict[str, Any],
                  subjects: Iterable[tuple[int | str, str | None]]) -> dict[str, Any]:
    """The form as a round with these (id, section) subjects uses it: a form with
    several sections gets the subject -> section map (a new dict); any other is
    returned unchanged."""
    if not is_multi(form):
        return form
    return {**form, SUBJECT_SECTIONS: subject_sections(form, subjects)}


def round_form(rnd: Any) -> dict[str, Any]:
    """A round's form bound to its subjects' sections (see bind_subjects)."""
    return bind_subjects(rnd.form, ((s.id, s.section) for s in rnd.subjects))


def section_view(form: dict[str, Any], section_key: str | None) -> dict[str, Any]:
    """The form as if it had only this section: top-level criteria and grades are the
    section's, so code written for one scale reads it unchanged."""
    section = section_of(form, section_key)
    view = {**form, "criteria": section["criteria"], "grades": section["grades"],
            "sections": [section]}
    view.pop(SUBJECT_SECTIONS, None)
    return view


def subject_section_key(form: dict[str, Any], sid: str) -> str:
    """The section key of subject `sid` (text) in a bound form ('' when unbound)."""
    bound = form.get(SUBJECT_SECTIONS)
    return bound.get(sid, "") if bound else ""


def row_form(form: dict[str, Any], sid: str) -> dict[str, Any]:
    """The form a subject's row is checked and stored by: its section's view in a bound
    form, the form itself otherwise."""
    if not form.get(SUBJECT_SECTIONS):
        return form
    return section_view(form, subject_section_key(form, sid))


def all_grades(form: dict[str, Any]) -> list[dict[str, Any]]:
    """Every section's grades, a key listed once (the first section that has it)."""
    seen: set[str] = set()
    out: list[dict[str, Any]] = []
    for section in sections_of(form):
        for g in section["grades"]:
            if g["key"] not in seen:
                seen.add(g["key"])
                out.append(g)
    return out


def all_criteria(form: dict[str, Any]) -> list[dict[str, Any]]:
    """Every section's criteria, a key listed once (the first section that has it)."""
    seen: set[str] = set()
    out: list[dict[str, Any]] = []
    for section in sections_of(form):
        for c in section["criteria"]:
            if c["key"] not in seen:
                seen.add(c["key"])
                out.append(c)
    return out
