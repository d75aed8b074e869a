"""Hypothesis on the ballot schema (server/forms/answers.py), a pure function.

For every form template and arbitrary JSON: check_answers either returns the
canonical answers or raises ApiError (422, with a code, both messages and a
field under "answers"); never anything else. What it accepts is canonical: it
survives a JSON round trip, checking it again gives it back unchanged, and its
tally fields are integers the live tally can add.
"""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from server.core.config import CONFIG_DIR
from server.core.errors import ApiError
from server.forms.answers import check_answers, tally_fields
from server.forms.templates import load_forms

FORMS = load_forms(CONFIG_DIR / "forms")
SUBJECTS = [7, 8, 12]
CANDIDATES = [3, 4, 5, 6, 9, 10]

# Any JSON value: what json.loads can hand the API (NaN/Infinity included: Python's
# json accepts them).
scalars = (st.none() | st.booleans() | st.integers(-(2**70), 2**70)
           | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=12))
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=5),
    max_leaves=30,
)


def _near(keys: list[str], values: st.SearchStrategy) -> st.SearchStrategy:
    """Objects that mostly use the right keys: enough to get past the first checks."""
    key = st.sampled_from(keys) | st.text(max_size=6)
    return st.dictionaries(key, values, max_size=len(keys) + 2)


def structured(form: dict) -> st.SearchStrategy:
    kind = form["kind"]
    if kind == "appraisal":
        grades = st.sampled_from([g["key"] for g in form["grades"]]) | scalars
        row = _near([c["key"] for c in form["criteria"]], grades)
        return _near([str(s) for s in SUBJECTS], row | json_values)
    if kind == "recommendation":
        choice = st.sampled_from(CANDIDATES) | st.integers(-3, 20) | scalars
        return st.fixed_dictionaries({"choices": st.lists(choice, max_size=8)}) | _near(
            ["choices"], st.lists(choice, max_size=8) | json_values)
    item_keys = [i["key"] for i in form["items"]]
    score = (st.integers(-5, 40) | st.floats(-5, 40) | st.decimals(0, 30, places=2).map(float)
             | scalars)
    return _near([str(s) for s in SUBJECTS], _near(item_keys, score) | json_values)


def ids_for(form: dict) -> list[int]:
    return CANDIDATES if form["kind"] == "recommendation" else SUBJECTS


def _check(form: dict, raw: object) -> dict | None:
    try:
        out = check_answers(form, ids_for(form), raw)
    except ApiError as err:
        assert err.status == 422
        assert err.code and err.message and err.message_en
        assert err.field is None or err.field.startswith("answers")
        assert len(err.field or "") <= 80
        return None
    assert isinstance(out, dict)
    return out


def _canonical(form: dict, out: dict) -> None:
    again = json.loads(json.dumps(out, sort_keys=True, ensure_ascii=False, allow_nan=False))
    assert again == out
    assert check_answers(form, ids_for(form), again) == out
    fields = tally_fields(form, out)
    assert fields and all(isinstance(v, int) and not isinstance(v, bool)
                          for v in fields.values())
    if form["kind"] == "recommendation":
        lo, hi = form["min_choices"], form["max_choices"]
        assert lo <= len(out["choices"]) <= hi
        assert out["choices"] == sorted(set(out["choices"]))
    else:
        assert sorted(out) == sorted(str(s) for s in SUBJECTS)
        for row in out.values():
            for value in row.values():
                assert not isinstance(value, float) or math.isfinite(value)


PROPS = settings(max_examples=300, deadline=None,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


@pytest.mark.parametrize("key", sorted(FORMS))
@PROPS
@given(data=st.data())
def test_arbitrary_json_is_accepted_canonically_or_refused_with_api_error(key, data):
    form = FORMS[key]
    raw = data.draw(json_values | structured(form))
    out = _check(form, raw)
    if out is not None:
        _canonical(form, out)


@pytest.mark.parametrize("key", sorted(FORMS))
@PROPS
@given(data=st.data())
def test_valid_ballots_are_accepted_and_round_trip(key, data):
    """Ballots built to be valid are all accepted (the checker refuses nothing good)."""
    form = FORMS[key]
    if form["kind"] == "appraisal":
        grades = [g["key"] for g in form["grades"]]
        raw = {str(s): {c["key"]: data.draw(st.sampled_from(grades)) for c in form["criteria"]}
               for s in SUBJECTS}
    elif form["kind"] == "recommendation":
        n = data.draw(st.integers(form["min_choices"], form["max_choices"]))
        raw = {"choices": data.draw(st.permutations(CANDIDATES))[:n]}
    else:
        scale = 10 ** form["decimals"]
        raw = {str(s): {i["key"]: data.draw(st.integers(0, int(i["max"] * scale))) / scale
                        for i in form["items"]} for s in SUBJECTS}
    out = _check(form, raw)
    assert out is not None, raw
    _canonical(form, out)
