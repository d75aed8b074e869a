"""forms/codec.py: the one-pass appraisal codec gives what the general path gives.

For any JSON-shaped answers: when the general checks accept them, the codec returns
the same stored text and the same tally fields (packed in another order: the settle
script adds them up, so order is not part of the format); when they refuse them, the
codec returns None (so the caller runs the checks, which raise the error).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import event, given, settings
from hypothesis import strategies as st

from server.core.errors import ApiError
from server.forms.answers import check_answers, pack_fields, tally_fields
from server.forms.codec import ROW_CACHE_MAX, AppraisalCodec, answer_codec
from server.forms.storage import encode_answers
from server.forms.templates import load_forms

FORMS = load_forms(Path(__file__).resolve().parents[1] / "config" / "forms")
APPRAISAL = FORMS["appraisal"]
GRADES = [g["key"] for g in APPRAISAL["grades"]]
CRITERIA = [c["key"] for c in APPRAISAL["criteria"]]

JUNK = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.text(max_size=4),
                 st.sampled_from(["", "1", GRADES[0].upper()]), st.lists(st.integers(), max_size=2),
                 st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))


def general(ids: list[int], raw: Any) -> tuple[str, list[str]] | None:
    try:
        answers = check_answers(APPRAISAL, ids, raw)
    except ApiError:
        return None
    return (encode_answers(APPRAISAL, answers),
            sorted(pack_fields(tally_fields(APPRAISAL, answers)).split(";")))


def compiled(codec: AppraisalCodec, raw: Any) -> tuple[str, list[str]] | None:
    out = codec.encode(raw)
    return None if out is None else (out[0], sorted(out[1].split(";")))


@st.composite
def ballots(draw: st.DrawFn) -> tuple[list[int], Any]:
    """A valid ballot, then (most of the time) one or two JSON-shaped damages."""
    ids = draw(st.lists(st.integers(1, 100_000), min_size=1, max_size=9, unique=True))
    raw: dict[str, Any] = {str(i): {c: draw(st.sampled_from(GRADES)) for c in CRITERIA}
                           for i in ids}
    for _ in range(draw(st.integers(0, 2))):
        sid = draw(st.sampled_from(sorted(raw)))
        damage = draw(st.sampled_from(["grade", "drop_criterion", "extra_criterion",
                                       "drop_subject", "extra_subject", "row", "whole"]))
        if damage in ("grade", "drop_criterion", "extra_criterion") and not isinstance(
                raw[sid], dict):
            continue  # that row is junk already
        if damage == "grade":
            raw[sid] = {**raw[sid], draw(st.sampled_from(CRITERIA)): draw(JUNK)}
        elif damage == "drop_criterion":
            raw[sid] = {k: v for k, v in raw[sid].items() if k != draw(st.sampled_from(CRITERIA))}
        elif damage == "extra_criterion":
            raw[sid] = {**raw[sid], draw(st.text(min_size=1, max_size=5)): GRADES[0]}
        elif damage == "drop_subject":
            raw.pop(sid)
        elif damage == "extra_subject":
            raw[draw(st.sampled_from(["0", "x", "01", sid + "0"]))] = raw[sid]
        elif damage == "row":
            raw[sid] = draw(JUNK)
        else:
            return ids, draw(JUNK)
        if not raw:
            break
    return ids, raw


@settings(max_examples=600, deadline=None)
@given(ballots())
def test_codec_agrees_with_the_general_checks(drawn: tuple[list[int], Any]) -> None:
    ids, raw = drawn
    codec = answer_codec(APPRAISAL, ids)
    assert codec is not None
    expected = general(ids, raw)
    event("accepted" if expected else "refused")
    assert compiled(codec, raw) == expected
    assert compiled(codec, raw) == expected  # again, now from the row cache


def test_a_valid_ballot_is_encoded_and_counted() -> None:
    codec = answer_codec(APPRAISAL, [10, 8])
    assert codec is not None
    raw = {"8": dict.fromkeys(CRITERIA, GRADES[0]), "10": dict.fromkeys(CRITERIA, GRADES[1])}
    stored, packed = codec.encode(raw)  # type: ignore[misc]
    assert stored == f"A:10={'1' * len(CRITERIA)},8={'0' * len(CRITERIA)}"
    assert sorted(packed.split(";")) == sorted(
        [f"10:{c}:{GRADES[1]}=1" for c in CRITERIA] + [f"8:{c}:{GRADES[0]}=1" for c in CRITERIA])


def test_row_cache_is_bounded_and_a_full_cache_still_answers() -> None:
    ids = list(range(1, 40))
    codec = answer_codec(APPRAISAL, ids)
    assert codec is not None
    seen = 0
    for n in range(ROW_CACHE_MAX // len(ids) + 50):
        grades = [GRADES[(n // len(GRADES) ** k) % len(GRADES)] for k in range(len(CRITERIA))]
        raw = {str(i): dict(zip(CRITERIA, grades, strict=True)) for i in ids}
        assert compiled(codec, raw) == general(ids, raw)
        seen += 1
    assert len(codec._rows) == ROW_CACHE_MAX  # noqa: SLF001 - the bound itself is the subject
    assert seen * len(ids) > ROW_CACHE_MAX


def test_other_forms_have_no_codec() -> None:
    assert answer_codec(FORMS["recommendation"], [1, 2]) is None
    assert answer_codec(FORMS["review"], [1, 2]) is None
