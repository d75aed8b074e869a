"""forms/codec.py: the one-pass appraisal codec gives what the general path gives.

For any JSON-shaped answers: when the general checks accept them, the codec returns
the same stored text; when they refuse them, None (so the caller runs the checks,
which raise the error). And the live tally's settle script, given ballots' stored
codes and the form's legend, counts exactly the fields `tally_fields` names
(real Redis).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from hypothesis import event, given, settings
from hypothesis import strategies as st

from server.core.errors import ApiError
from server.core.redis import get_redis
from server.forms.answers import check_answers, pack_fields, tally_fields
from server.forms.codec import answer_codec
from server.forms.storage import encode_answers
from server.forms.templates import load_forms
from server.voting import livetally

FORMS = load_forms(Path(__file__).resolve().parents[1] / "config" / "forms")
APPRAISAL = FORMS["appraisal"]
GRADES = [g["key"] for g in APPRAISAL["grades"]]
CRITERIA = [c["key"] for c in APPRAISAL["criteria"]]

JUNK = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.text(max_size=4),
                 st.sampled_from(["", "1", GRADES[0].upper()]), st.lists(st.integers(), max_size=2),
                 st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))


def general(ids: list[int], raw: Any) -> str | None:
    try:
        return encode_answers(APPRAISAL, check_answers(APPRAISAL, ids, raw))
    except ApiError:
        return None


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
    assert codec.encode(raw) == expected


def test_a_valid_ballot_is_encoded() -> None:
    codec = answer_codec(APPRAISAL, [10, 8])
    assert codec is not None
    raw = {"8": dict.fromkeys(CRITERIA, GRADES[0]), "10": dict.fromkeys(CRITERIA, GRADES[1])}
    assert codec.encode(raw) == f"A:10={'1' * len(CRITERIA)},8={'0' * len(CRITERIA)}"
    assert codec.legend == (";".join(CRITERIA), ";".join(GRADES))


def test_settle_counts_stored_codes_as_their_tally_fields(app) -> None:
    """One batch: ballots given as stored codes (two categories, repeated rows) and
    one as packed fields; the tally hashes hold exactly the sums of tally_fields."""
    ids = [3, 11, 7]
    codec = answer_codec(APPRAISAL, ids)
    assert codec is not None
    ballots = [{str(i): {c: GRADES[(n * 7 + i + k) % len(GRADES)]
                         for k, c in enumerate(CRITERIA)} for i in ids} for n in range(12)]
    ballots += ballots[:5]  # the same rows again
    rid = 990001
    with app.app_context():
        r = get_redis()
        k = livetally.keys(rid)
        hashes = [f"h{n}" for n in range(len(ballots))]
        r.hset(k.state, mapping={"status": "open", "closes_at": ""})
        r.hset(k.tok, mapping=dict.fromkeys(hashes, "1"))
        items, expected = [], {1: Counter(), 2: Counter()}
        for n, (h, raw) in enumerate(zip(hashes, ballots, strict=True)):
            cat = 1 + n % 2
            answers = check_answers(APPRAISAL, ids, raw)
            expected[cat].update(tally_fields(APPRAISAL, answers))
            tally = (pack_fields(tally_fields(APPRAISAL, answers)) if n == 0
                     else codec.encode(raw))
            items.append(livetally.Settle(h, "c", cat, tally))
        livetally.settle_many(rid, items, legend=codec.legend)
        for cat in (1, 2):
            got = {f: int(v) for f, v in r.hgetall(k.tally(cat)).items()}
            assert got == dict(expected[cat])
        assert sum(int(v) for v in r.hgetall(k.turnout).values()) == len(ballots)
        r.delete(k.state, k.tok, k.spent, k.turnout, k.tally(1), k.tally(2))


def test_other_forms_have_no_codec() -> None:
    assert answer_codec(FORMS["recommendation"], [1, 2]) is None
    assert answer_codec(FORMS["review"], [1, 2]) is None
