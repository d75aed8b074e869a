"""The close counts ballots, not one ballot at a time: same figures as one at a time.

* The results engine works from counts (cells, score histograms); its figures for
  hand-worked rounds are in tests/golden/ (tests/test_results_golden.py).
* The digest (server/voting/digest.py) reads stored ballots once, splits the
  canonical ones into subject rows and parses each distinct row once: for random
  stored ballots, canonical or not, valid or not, even unparseable, its recount
  and its official results equal checking and counting every ballot on its own
  (or both fail).
* What close freezes (recount, results) does not depend on the order the
  ballots are read in, i.e. on their arrival.
* The rewrite at close keeps every row, moves no other round's rows, and refuses
  tables it does not know; when it fails, the close fails and changes nothing.
"""

from __future__ import annotations

import json
import random
import secrets
from collections import Counter
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from server.core.db import db
from server.core.errors import ApiError
from server.forms.answers import check_answers, tally_fields
from server.forms.storage import canonical_json, decode_answers, encode_answers
from server.forms.templates import load_forms
from server.resultsengine.config import ResultRules
from server.resultsengine.engine import _trim, compute_counted_results, compute_results
from server.roundbase.shuffle import BALLOTS, rewrite_in_random_order
from server.voting.digest import digest, row_pattern

FORMS = load_forms(Path(__file__).resolve().parents[1] / "config" / "forms")
KINDS = {"appraisal": FORMS["appraisal"], "recommendation": FORMS["recommendation"],
         "scoring": FORMS["review"]}
PROPERTY = settings(max_examples=80, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# How the ballot path stores answers of every form but appraisals (forms/storage.py)
canonical = canonical_json


# ----------------------------------------------------------------- random rounds


@st.composite
def subject_ids(draw: st.DrawFn) -> list[int]:
    # ids of different lengths, so text order ("10" < "9") differs from number order
    return draw(st.lists(st.sampled_from([3, 9, 10, 11, 95, 100, 1234]), min_size=1,
                         max_size=4, unique=True))


def answers_of(form: dict[str, Any], ids: list[int]) -> st.SearchStrategy[dict[str, Any]]:
    if form["kind"] == "appraisal":
        grades = [g["key"] for g in form["grades"]][:3]  # few grades: rows repeat
        row = st.fixed_dictionaries({c["key"]: st.sampled_from(grades)
                                     for c in form["criteria"]})
    elif form["kind"] == "scoring":
        row = st.fixed_dictionaries({
            i["key"]: st.sampled_from([0, 0.5, i["max"] / 2, i["max"] - 0.1, i["max"]])
            for i in form["items"]})
    else:
        lo, hi = form["min_choices"], min(form["max_choices"], len(ids))
        return st.lists(st.sampled_from(ids), min_size=min(lo, hi), max_size=hi,
                        unique=True).map(lambda c: {"choices": c})
    return st.fixed_dictionaries({str(i): row for i in ids})


@st.composite
def rules_for(draw: st.DrawFn, form: dict[str, Any]) -> ResultRules:
    # Weighted rounds with small categories (official weights, hiding) and trimming by
    # total are left out here (k 1 when weighted, trim by item); tests/test_results_rules.py
    # checks those.
    options: dict[str, Any] = {"k": draw(st.integers(1, 4)),
                               "use_category_weights": draw(st.sampled_from([None, True,
                                                                             False]))}
    if options["use_category_weights"] is not False:
        options["k"] = 1
    if form["kind"] == "scoring":
        options["trim_by"] = "item"
        options["trim"] = draw(st.integers(0, 3))
        options["trim_scope"] = draw(st.sampled_from([None, "category", "overall"]))
        if draw(st.booleans()):
            options["flags"] = ({"score_below": 60, "label": "低"},)
    if form["kind"] == "recommendation":
        options["recommend_threshold"] = draw(st.sampled_from([0.0, 0.25, 0.5]))
    if form["kind"] == "appraisal" and draw(st.booleans()):
        options["flags"] = ({"grade": "incompetent", "share_above": 0.1, "label": "差"},
                            {"score_below": 80, "label": "低"})
    return ResultRules(**options)


@st.composite
def rounds(draw: st.DrawFn, kind: str) -> dict[str, Any]:
    form = dict(KINDS[kind])
    ids = draw(subject_ids())
    if kind == "recommendation":
        form["min_choices"], form["max_choices"] = 0, min(2, len(ids))
    n = draw(st.integers(1, 3))
    cats = [{"id": 20 + i, "name": f"类别{i}", "expected_count": draw(st.integers(0, 20)),
             "weight": draw(st.sampled_from([0.5, 1, 1.5]))} for i in range(n)]
    subjects = [{"id": i, "name": f"对象{i}", "note": ""} for i in ids]
    pool = draw(st.lists(answers_of(form, ids), min_size=1, max_size=4))
    ballots = []
    for c in cats:
        for _ in range(draw(st.integers(0, 16))):  # answers repeat, as in a real round
            ballots.append((c["id"], check_answers(form, ids, draw(st.sampled_from(pool)))))
    return {"form": form, "ids": ids, "subjects": subjects, "categories": cats,
            "ballots": ballots, "rules": draw(rules_for(form)),
            "invalid": {c["id"]: draw(st.integers(0, 2)) for c in cats}}


def outcome(fn: Any, *args: Any) -> Any:
    """fn(*args), or the kind of error it raised."""
    try:
        return fn(*args)
    except Exception as exc:  # noqa: BLE001 - compared between the two ways
        return ("raised", type(exc).__name__)


# ----------------------------------------------------------------- engine from counts


@given(st.lists(st.integers(0, 6), max_size=15), st.integers(0, 4))
def test_trimming_a_histogram_is_trimming_the_sorted_scores(values: list[int], n: int) -> None:
    """n highest and n lowest dropped, when there are at least 2n + 1 scores to drop from."""
    scores = [Fraction(v, 2) for v in values]
    kept, done = _trim(Counter(scores), n)
    trims = n > 0 and len(scores) >= 2 * n + 1
    assert done == trims
    assert sorted(kept.elements()) == (sorted(scores)[n:-n] if trims else sorted(scores))


def test_counted_results_refuse_counts_that_cannot_be() -> None:
    from server.resultsengine.engine import CountedBallots

    form = KINDS["appraisal"]
    subs = [{"id": 1, "name": "甲", "note": ""}]
    cats = [{"id": 2, "name": "类别", "expected_count": 3, "weight": 1}]
    for counted in ({9: CountedBallots(1)},  # unknown category
                    {2: CountedBallots(-1)},
                    {2: CountedBallots(1, Counter({("1", "overall", "excellent"): 0}))},
                    {2: CountedBallots(1, Counter({("7", "overall", "excellent"): 1}))},
                    {2: CountedBallots(1, Counter({("1", "overall", "great"): 1}))}):
        with pytest.raises(ValueError):
            compute_counted_results(form, subs, cats, counted)


# ----------------------------------------------------------------- the digest


def old_recount(form: dict[str, Any], stored: list[tuple[int, str]]) -> dict[str, Any]:
    """server/voting/recount.py as it was: every ballot parsed and tallied."""
    turnout: dict[int, int] = {}
    tallies: dict[int, dict[str, int]] = {}
    for category_id, answers in stored:
        turnout[category_id] = turnout.get(category_id, 0) + 1
        bucket = tallies.setdefault(category_id, {})
        for f, n in tally_fields(form, decode_answers(form, answers)).items():
            bucket[f] = bucket.get(f, 0) + n
    return {"turnout": turnout,
            "tallies": {c: {f: n for f, n in t.items() if n} for c, t in tallies.items()}}


def old_official(r: dict[str, Any], stored: list[tuple[int, str]]) -> dict[str, Any]:
    """server/results/official.py as it was: every ballot parsed, checked and counted."""
    valid: list[tuple[int, dict[str, Any]]] = []
    invalid: Counter[int] = Counter()
    for category_id, raw in stored:
        try:
            valid.append((category_id, check_answers(r["form"], r["ids"],
                                                     decode_answers(r["form"], raw))))
        except (ApiError, ValueError):
            invalid[category_id] += 1
    return compute_results(r["form"], r["subjects"], r["categories"], valid, dict(invalid),
                           r["rules"])


def new_official(r: dict[str, Any], stored: list[tuple[int, str]]) -> dict[str, Any]:
    counted, invalid = digest(r["form"], r["ids"], stored).counted()
    return compute_counted_results(r["form"], r["subjects"], r["categories"], counted, invalid,
                                   r["rules"])


BAD_VALUES = ["great", "", None, 7, 7.25, -1, 1e400, 10**30, True, [1], {"x": 1}, "}", "{"]
GARBAGE = ["", "null", "[]", "[[1]]", "{", "{}", '{"choices":[1,1]}', '{"choices":"x"}',
           "not json", '{"3":{"a":"}"}}', '{"3":1}', '{"3":[]}',
           # the compact appraisal format (forms/storage.py), broken
           "A:", "A:3=", "A:3=0,3=0", "A:3=zzzzzz", "A:x"]


@st.composite
def stored_ballot(draw: st.DrawFn, r: dict[str, Any], wild: bool) -> str:
    """A stored ballot: mostly canonical and valid, sometimes not; when `wild`, maybe
    not even something the recount can read."""
    answers = json.loads(json.dumps(draw(answers_of(r["form"], r["ids"]))))
    how = draw(st.sampled_from(["canonical"] * 3 + ["stored"] * 3
                               + ["spaced", "missing key", "extra key",
                                                    "extra subject", "missing subject"]
                               + (["bad value", "garbage"] if wild else [])))
    rows = [v for v in answers.values() if isinstance(v, dict)]
    if how == "garbage":
        return draw(st.sampled_from(GARBAGE))
    if how == "stored":  # as the ballot path stores it: compact for appraisals
        try:
            return encode_answers(r["form"], check_answers(r["form"], r["ids"], answers))
        except ApiError:
            return canonical(answers)
    if how == "spaced":
        return json.dumps(answers, sort_keys=True)
    if how == "extra subject":
        answers[str(draw(st.sampled_from([4, 12, 999])))] = rows[0] if rows else {}
    elif how == "missing subject" and len(answers) > 1:
        answers.pop(sorted(answers)[0])
    elif rows and how in ("bad value", "missing key", "extra key"):
        row = draw(st.sampled_from(rows))
        key = draw(st.sampled_from(sorted(row)))
        if how == "bad value":
            row[key] = draw(st.sampled_from(BAD_VALUES))
        elif how == "missing key":
            del row[key]
        else:
            row[draw(st.sampled_from(["zz", "a:b", key + "x"]))] = next(iter(row.values()))
    try:
        return canonical(answers)
    except ValueError:  # 1e400 is not JSON: store it as Python would write it
        return json.dumps(answers, sort_keys=True, separators=(",", ":"))


@st.composite
def stored_round(draw: st.DrawFn, kind: str) -> tuple[dict[str, Any], list[tuple[int, str]]]:
    r = draw(rounds(kind))
    wild = draw(st.integers(0, 3)) == 0
    pool = draw(st.lists(stored_ballot(r, wild), min_size=1, max_size=6))
    stored = [(c["id"], draw(st.sampled_from(pool)))
              for c in r["categories"] for _ in range(draw(st.integers(0, 8)))]
    return r, stored


@pytest.mark.parametrize("kind", sorted(KINDS))
@PROPERTY
@given(data=st.data())
def test_digest_recount_equals_tallying_every_ballot(kind: str, data: Any) -> None:
    r, stored = data.draw(stored_round(kind))
    new = outcome(lambda: digest(r["form"], r["ids"], stored).recount())
    old = outcome(old_recount, r["form"], stored)
    if isinstance(old, tuple):  # a ballot the recount cannot read stops both
        assert isinstance(new, tuple)
    else:
        assert new == old


@pytest.mark.parametrize("kind", sorted(KINDS))
@PROPERTY
@given(data=st.data())
def test_digest_results_equal_checking_every_ballot(kind: str, data: Any) -> None:
    r, stored = data.draw(stored_round(kind))
    new, old = outcome(new_official, r, stored), outcome(old_official, r, stored)
    if isinstance(old, tuple):
        assert isinstance(new, tuple)
    else:
        assert json.dumps(new, sort_keys=True) == json.dumps(old, sort_keys=True)


@pytest.mark.parametrize("kind", sorted(KINDS))
@PROPERTY
@given(data=st.data())
def test_what_close_freezes_does_not_follow_the_arrival_order(kind: str, data: Any) -> None:
    """The frozen recount and results are the same text whatever order the ballots are
    read in (the old recount listed fields in order of first appearance: the first
    keys of the frozen tally spelled out the first ballot)."""
    r, stored = data.draw(stored_round(kind))
    shuffled = data.draw(st.permutations(stored))
    for freeze in (lambda s: digest(r["form"], r["ids"], s).recount(),
                   lambda s: new_official(r, s)):
        first, second = (outcome(lambda s=s: json.dumps(freeze(s))) for s in (stored, shuffled))
        if isinstance(first, tuple) or isinstance(second, tuple):  # an unreadable ballot
            assert isinstance(first, tuple) and isinstance(second, tuple)
        else:
            assert first == second


def test_canonical_ballots_are_split_into_rows_and_the_rest_kept_whole() -> None:
    form = KINDS["appraisal"]
    ids = [9, 10]
    row = {c["key"]: "excellent" for c in form["criteria"]}
    good = canonical({"9": row, "10": row})
    odd = {"spaced": json.dumps({"9": row, "10": row}, sort_keys=True),
           "bad grade": canonical({"9": {**row, "overall": "great"}, "10": row}),
           "brace": canonical({"9": {**row, "overall": "}"}, "10": row}),
           "subject missing": canonical({"9": row})}
    d = digest(form, ids, [(1, good)] * 3 + [(1, t) for t in odd.values()])
    assert row_pattern(ids).fullmatch(good) and d.split == {1: 3}
    assert set(d.whole) == {(1, t) for t in odd.values()}
    counted, invalid = d.counted()
    assert counted[1].ballots == 4 and invalid == {1: 3}  # the spaced one is valid
    assert d.recount()["turnout"] == {1: 7}


# ----------------------------------------------------------------- the rewrite


def test_rewrite_keeps_every_row_and_only_moves_the_round(app) -> None:
    from tests.factories import make_round, valid_answers

    with app.app_context():
        rnd, _ = make_round("appraisal", tokens_per_category=1)
        other, _ = make_round("appraisal", tokens_per_category=1)
        cat = rnd.categories[0].id
        # ids as the committer draws them (secrets.token_hex): the rewrite's order
        rows = [{"id": secrets.token_hex(16), "r": r.id, "c": r.categories[0].id, "rc": f"R{i:015d}",
                 "a": canonical(valid_answers(r, variant=i))}
                for i, r in enumerate([rnd] * 40 + [other] * 5)]
        db.session.execute(text("INSERT INTO ballots (id, round_id, category_id, receipt, "
                                "answers) VALUES (:id, :r, :c, :rc, :a)"), rows)
        db.session.commit()

        def table(round_id: int) -> list[tuple[Any, ...]]:
            order = "ctid" if db.engine.dialect.name == "postgresql" else "rowid"
            return [tuple(x) for x in db.session.execute(text(
                "SELECT id, round_id, category_id, receipt, answers FROM ballots "  # noqa: S608
                f"WHERE round_id = :r ORDER BY {order}"), {"r": round_id})]

        before, untouched = table(rnd.id), table(other.id)
        table_name, columns = BALLOTS
        rewrite_in_random_order(db.session.connection(), table_name, columns, rnd.id)
        db.session.commit()
        after = table(rnd.id)
        # rows stored in the order of their random ids, not as they arrived
        assert after == sorted(before) and after != before  # P(same) = 1/40!
        assert table(other.id) == untouched
        assert {x[2] for x in after} == {cat}
        with pytest.raises(ValueError, match="not a table"):
            rewrite_in_random_order(db.session.connection(), "tokens", ("token_hash",), 1)


def test_digest_of_a_large_random_round_is_the_old_count() -> None:
    """The shape of the benchmark's round (every ballot distinct), at 2,000 ballots."""
    form = KINDS["appraisal"]
    ids = list(range(1, 8))
    rng = random.Random(5)
    grades = [g["key"] for g in form["grades"]]
    stored = [(1 + i % 2, canonical({str(s): {c["key"]: rng.choice(grades)
                                              for c in form["criteria"]} for s in ids}))
              for i in range(2000)]
    r = {"form": form, "ids": ids, "rules": ResultRules(),
         "subjects": [{"id": s, "name": f"对象{s}", "note": ""} for s in ids],
         "categories": [{"id": c, "name": f"类别{c}", "expected_count": 1500, "weight": w}
                        for c, w in ((1, 0.4), (2, 0.6))]}
    d = digest(form, ids, stored)
    assert not d.whole and sum(d.split.values()) == 2000
    assert d.recount() == old_recount(form, stored)
    assert new_official(r, stored) == old_official(r, stored)


def test_a_failed_rewrite_fails_the_close_and_changes_nothing(app, client, monkeypatch) -> None:
    """The rewrite runs beside the counting (operations._meanwhile): its error reaches
    the caller, and the close's transaction is rolled back whole."""
    from server.roundbase.reads import get_round
    from server.rounds import operations
    from server.rounds.operations import close_round
    from tests.factories import make_round, valid_answers

    with app.app_context():
        rnd, tokens = make_round("appraisal", tokens_per_category=2)
        rid, answers = rnd.id, valid_answers(rnd)
    for token in [t for ts in tokens.values() for t in ts]:
        assert client.post("/api/v1/ballots", json={"token": token,
                                                    "answers": answers}).status_code == 201

    def broken(conn: Any, round_id: int) -> None:
        rewrite_in_random_order(conn, *BALLOTS, round_id)  # half done, then fails
        raise RuntimeError("disk full")

    def rows() -> list[tuple[Any, ...]]:
        return [tuple(x) for x in db.session.execute(text(
            "SELECT id, receipt, answers FROM ballots WHERE round_id = :r ORDER BY id"),
            {"r": rid})]

    with app.app_context():
        before = rows()
        monkeypatch.setattr(operations, "_shuffle_storage", broken)
        with pytest.raises(RuntimeError, match="disk full"):
            close_round(get_round(rid))
        db.session.rollback()
        assert rows() == before and get_round(rid).status == "closing"
        monkeypatch.undo()
        assert close_round(get_round(rid)).status == "closed"
        assert rows() == before
