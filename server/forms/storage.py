"""How a checked ballot's answers are stored in `ballots.answers`, and read back.

Canonical JSON (sorted keys, compact) for every form, except appraisal ballots: a
7-subject, 6-criterion appraisal is ~1 KB of JSON that repeats every criterion and
grade name on every ballot. Those are stored compact instead:

    A:<sid>=<code>,<sid>=<code>,...     e.g. A:10=301223,11=012301,8=...

subjects in the order JSON's sort_keys gives them (ids as text), and each code one
character per criterion, in the form's criterion order, naming the grade by its
place in the form's grades (0-9 then a-z); on a form of several sections, the
criteria and grades of the subject's section (forms/sections.py). ~60 bytes:
less to write per ballot, to rewrite at close, to read and to split when
counting (voting/digest.py). A round keeps its own copy of the form from the
moment it is made (`rounds.form_json`, never edited), so a code always reads
back to the same answers. Rows stored as JSON before this format existed are
read as they always were.
"""

from __future__ import annotations

import json
from typing import Any

from server.forms.sections import SUBJECT_SECTIONS, row_form

APPRAISAL = "A:"
DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"


def canonical_json(answers: Any) -> str:
    return json.dumps(answers, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def encode_answers(form: dict[str, Any], answers: dict[str, Any]) -> str:
    """The stored text of answers that `forms.answers.check_answers` returned (a form of
    several sections bound to the round's subjects: each row by its subject's section)."""
    if form["kind"] == "appraisal" and form.get(SUBJECT_SECTIONS):
        return APPRAISAL + ",".join(
            f"{sid}=" + _row_code(row_form(form, sid), row) for sid, row in sorted(answers.items()))
    if form["kind"] == "appraisal" and len(form["grades"]) <= len(DIGITS):
        place = {g["key"]: DIGITS[i] for i, g in enumerate(form["grades"])}
        keys = [c["key"] for c in form["criteria"]]
        return APPRAISAL + ",".join(
            f"{sid}=" + "".join(place[row[k]] for k in keys)
            for sid, row in sorted(answers.items()))
    return canonical_json(answers)


def _row_code(form: dict[str, Any], row: dict[str, str]) -> str:
    place = {g["key"]: DIGITS[i] for i, g in enumerate(form["grades"])}
    return "".join(place[row[c["key"]]] for c in form["criteria"])


def decode_row(form: dict[str, Any], code: str) -> dict[str, str]:
    """One appraisal row's code as {criterion: grade}; ValueError if it names none."""
    keys = [c["key"] for c in form["criteria"]]
    grades = form["grades"]
    if len(code) != len(keys):
        raise ValueError(f"row code {code!r} does not fit {len(keys)} criteria")
    row: dict[str, str] = {}
    for key, char in zip(keys, code, strict=True):
        i = DIGITS.find(char)
        if not 0 <= i < len(grades):
            raise ValueError(f"row code {code!r}: no grade {char!r}")
        row[key] = grades[i]["key"]
    return row


def decode_answers(form: dict[str, Any], stored: str) -> Any:
    """The answers a stored text holds (ValueError when it holds none)."""
    if not stored.startswith(APPRAISAL):
        return json.loads(stored)
    if form["kind"] != "appraisal":
        raise ValueError("an appraisal code stored for another form")
    out: dict[str, Any] = {}
    for part in stored[len(APPRAISAL):].split(","):
        sid, sep, code = part.partition("=")
        if not sep or not sid or sid in out:
            raise ValueError(f"malformed stored appraisal {stored[:40]!r}")
        out[sid] = decode_row(row_form(form, sid), code)
    return out
