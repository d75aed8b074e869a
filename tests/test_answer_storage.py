"""forms/storage.py: how answers are stored, and that they read back exactly."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.forms.answers import check_answers
from server.forms.storage import canonical_json, decode_answers, decode_row, encode_answers
from server.forms.templates import load_forms
from server.voting.digest import digest

FORMS = load_forms(Path(__file__).resolve().parents[1] / "config" / "forms")
APPRAISAL = FORMS["appraisal"]
GRADES = [g["key"] for g in APPRAISAL["grades"]]
CRITERIA = [c["key"] for c in APPRAISAL["criteria"]]


@st.composite
def appraisal(draw: st.DrawFn) -> tuple[list[int], dict[str, Any]]:
    ids = draw(st.lists(st.integers(1, 100_000), min_size=1, max_size=9, unique=True))
    raw = {str(i): {c: draw(st.sampled_from(GRADES)) for c in CRITERIA} for i in ids}
    return ids, check_answers(APPRAISAL, ids, raw)


@settings(max_examples=200, deadline=None)
@given(appraisal())
def test_appraisal_answers_read_back_exactly(drawn: tuple[list[int], dict[str, Any]]) -> None:
    ids, answers = drawn
    stored = encode_answers(APPRAISAL, answers)
    assert stored.startswith("A:") and decode_answers(APPRAISAL, stored) == answers
    assert len(stored) < len(canonical_json(answers)) / 3


def test_the_compact_form_is_small_and_readable() -> None:
    answers = check_answers(APPRAISAL, [8, 10], {
        "8": {c: GRADES[0] for c in CRITERIA}, "10": {c: GRADES[-1] for c in CRITERIA}})
    last = "0123456789"[len(GRADES) - 1]
    # subjects in JSON's key order ("10" < "8"), one character per criterion
    assert encode_answers(APPRAISAL, answers) == (
        f"A:10={last * len(CRITERIA)},8={'0' * len(CRITERIA)}")


@pytest.mark.parametrize("form", ["recommendation", "review"])
def test_other_forms_stay_canonical_json(form: str) -> None:
    answers = {"choices": [3, 1]} if form == "recommendation" else {"3": {"x": 1.5}}
    assert encode_answers(FORMS[form], answers) == canonical_json(answers)
    assert decode_answers(FORMS[form], canonical_json(answers)) == answers


@pytest.mark.parametrize("stored", ["A:", "A:8", "A:8=", "A:8=0,8=0", "A:8=" + "z" * 6,
                                    "A:=000000", "A:8=0000000000000"])
def test_broken_compact_text_is_refused(stored: str) -> None:
    with pytest.raises(ValueError):
        decode_answers(APPRAISAL, stored)


def test_a_compact_code_for_another_form_is_refused() -> None:
    with pytest.raises(ValueError):
        decode_answers(FORMS["review"], "A:8=000000")
    with pytest.raises(ValueError):
        decode_row(APPRAISAL, "0" * (len(CRITERIA) + 1))


@settings(max_examples=60, deadline=None)
@given(appraisal(), st.lists(st.integers(0, 2), min_size=1, max_size=30))
def test_counting_compact_and_json_ballots_gives_the_same(
        drawn: tuple[list[int], dict[str, Any]], picks: list[int]) -> None:
    """A round holding both formats (an upgrade while it is open) counts the same as
    one holding either."""
    ids, first = drawn
    ballots = [first, {s: {c: GRADES[-1] for c in row} for s, row in first.items()},
               {s: {c: GRADES[0] for c in row} for s, row in first.items()}]
    ballots = [check_answers(APPRAISAL, ids, b) for b in ballots]
    as_json = [(1, canonical_json(ballots[i])) for i in picks]
    compact = [(1, encode_answers(APPRAISAL, ballots[i])) for i in picks]
    mixed = [pair if n % 2 else (1, canonical_json(ballots[i]))
             for n, (i, pair) in enumerate(zip(picks, compact, strict=True))]
    results = []
    for stored in (as_json, compact, mixed):
        d = digest(APPRAISAL, ids, stored)
        counted, invalid = d.counted()
        results.append((d.recount(), {c: (b.ballots, dict(b.cells))
                                      for c, b in counted.items()}, invalid))
        assert not d.whole, "every ballot was split into rows"
    assert results[0] == results[1] == results[2]
    assert results[0][0]["turnout"] == {1: len(picks)}
