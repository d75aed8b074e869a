"""The results engine against simple independent recounts, worked examples, k-anonymity."""

from __future__ import annotations

import copy
import json
import math
from collections import Counter
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from server.forms.answers import check_answers
from server.forms.templates import check_form, load_forms
from server.resultsengine.config import ResultRules
from server.resultsengine.engine import apply_k_anonymity, check_rules, compute_results, round2

FORMS = load_forms(Path(__file__).resolve().parents[1] / "config" / "forms")
APPRAISAL, RECOMMENDATION, REVIEW = FORMS["appraisal"], FORMS["recommendation"], FORMS["review"]
CRITERIA = [c["key"] for c in APPRAISAL["criteria"]]
PROPERTY = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# ----------------------------------------------------------------- independent helpers


def two_dp(x: Fraction | None) -> float | None:
    """What the published figure must be: half-up rounding of the exact value."""
    if x is None:
        return None
    assert x >= 0
    return float(Fraction(math.floor(x * 100 + Fraction(1, 2)), 100))


def dec(x: float) -> Fraction:
    return Fraction(str(x))


def ranks_of(values: dict[Any, Fraction | None]) -> dict[Any, int | None]:
    """Ranks by the value shown (two decimals, 四舍五入): equal shown values share one."""
    values = {k: None if v is None else (Fraction(v) * 100 + Fraction(1, 2)).__floor__()
              for k, v in values.items()}
    return {k: None if v is None else 1 + sum(1 for w in values.values()
                                               if w is not None and w > v)
            for k, v in values.items()}


def small_breakdowns(data: Any, k: int, path: str = "") -> list[str]:
    """Every breakdown row (under "by_category") whose size lies in 1..k-1."""
    bad = []
    if isinstance(data, dict):
        for key, value in data.items():
            if key == "by_category":
                for row in value:
                    for field in ("ballots", "cast", "valid"):
                        if field in row and 0 < row[field] < k:
                            bad.append(f"{path}.{key}:{row['name']}.{field}={row[field]}")
            bad += small_breakdowns(value, k, f"{path}.{key}")
    elif isinstance(data, list):
        for i, value in enumerate(data):
            bad += small_breakdowns(value, k, f"{path}[{i}]")
    return bad


def categories(sizes: list[int], weights: list[float], expected: list[int] | None = None
               ) -> list[dict[str, Any]]:
    expected = expected or sizes
    return [{"id": 10 + i, "name": f"类别{i}", "expected_count": e, "weight": w}
            for i, (w, e) in enumerate(zip(weights, expected, strict=True))]


def subjects(n: int) -> list[dict[str, Any]]:
    return [{"id": 100 + j, "name": f"对象{j}", "note": "职务"} for j in range(n)]


def is_weighted(use: bool | None, cats: list[dict[str, Any]]) -> bool:
    return use if use is not None else len({c["weight"] for c in cats}) > 1


# ----------------------------------------------------------------- random rounds


def answers_strategy(form: dict[str, Any], subs: list[dict[str, Any]]) -> st.SearchStrategy:
    ids = [s["id"] for s in subs]
    if form["kind"] == "appraisal":
        grades = [g["key"] for g in form["grades"]]
        row = st.fixed_dictionaries({c: st.sampled_from(grades) for c in CRITERIA})
        return st.fixed_dictionaries({str(i): row for i in ids})
    if form["kind"] == "recommendation":
        return st.lists(st.sampled_from(ids), min_size=1, max_size=min(3, len(ids)),
                        unique=True).map(lambda c: {"choices": c})
    row = st.fixed_dictionaries({
        item["key"]: st.integers(0, int(item["max"] * 10)).map(lambda v: v / 10)
        for item in form["items"]})
    return st.fixed_dictionaries({str(i): row for i in ids})


@st.composite
def random_round(draw: st.DrawFn, form: dict[str, Any], max_size: int = 9,
                 n_subjects: tuple[int, int] = (1, 3)) -> dict[str, Any]:
    n = draw(st.integers(1, 4))
    weights = draw(st.lists(st.sampled_from([0.2, 0.3, 0.5, 1.0, 1.5]), min_size=n, max_size=n))
    sizes = draw(st.lists(st.integers(0, max_size), min_size=n, max_size=n))
    expected = draw(st.lists(st.integers(0, 12), min_size=n, max_size=n))
    cats = categories(sizes, weights, expected)
    subs = subjects(draw(st.integers(*n_subjects)))
    ids = [s["id"] for s in subs]
    ballots = []
    for c, size in zip(cats, sizes, strict=True):
        for _ in range(size):
            raw = draw(answers_strategy(form, subs))
            ballots.append((c["id"], check_answers(form, ids, raw)))  # canonical, as stored
    invalid = {c["id"]: draw(st.integers(0, 2)) for c in cats}
    return {"subjects": subs, "categories": cats, "ballots": ballots, "invalid": invalid}


def run(form: dict[str, Any], r: dict[str, Any], rules: ResultRules) -> dict[str, Any]:
    return compute_results(form, r["subjects"], r["categories"], r["ballots"], r["invalid"],
                           rules)


def check_validity(out: dict[str, Any], r: dict[str, Any]) -> None:
    valid = len(r["ballots"])
    spoilt = sum(r["invalid"].values())
    expected = sum(c["expected_count"] for c in r["categories"])
    total = out["validity"]["total"]
    assert total == {"expected": expected, "cast": valid + spoilt, "valid": valid,
                     "invalid": spoilt,
                     "turnout_pct": two_dp(Fraction(100 * (valid + spoilt), expected))
                     if expected else None,
                     "electronic": {"cast": valid + spoilt, "valid": valid, "invalid": spoilt},
                     "paper": {"cast": 0, "valid": 0, "invalid": 0}}


# ----------------------------------------------------------------- property: appraisal


def recount_appraisal(r: dict[str, Any], weighted: bool) -> tuple[Counter, dict[int, Any]]:
    points = {g["key"]: dec(g["points"]) for g in APPRAISAL["grades"] if not g["abstain"]}
    counts: Counter = Counter()
    for _, answers in r["ballots"]:
        for sid, row in answers.items():
            for crit, grade in row.items():
                counts[(sid, crit, grade)] += 1
    scores: dict[int, Any] = {}
    for s in r["subjects"]:
        sid = str(s["id"])

        def overall_points(cid: int | None, sid: str = sid) -> list[Fraction]:
            return [points[a[sid]["overall"]] for c, a in r["ballots"]
                    if (cid is None or c == cid) and a[sid]["overall"] in points]

        if weighted:
            num = den = Fraction(0)
            for c in r["categories"]:
                pts = overall_points(c["id"])
                if pts:
                    num += dec(c["weight"]) * sum(pts) / len(pts)
                    den += dec(c["weight"])
            scores[s["id"]] = num / den if den else None
        else:
            pts = overall_points(None)
            scores[s["id"]] = sum(pts) / len(pts) if pts else None
    return counts, scores


@PROPERTY
@given(random_round(APPRAISAL), st.sampled_from([None, True, False]))
def test_appraisal_totals_equal_a_recount(r: dict[str, Any], use_weights: bool | None) -> None:
    out = run(APPRAISAL, r, ResultRules(k=1, use_category_weights=use_weights))
    weighted = is_weighted(use_weights, r["categories"])
    counts, scores = recount_appraisal(r, weighted)
    check_validity(out, r)
    ranks = ranks_of(scores)
    abstain = {g["key"] for g in APPRAISAL["grades"] if g["abstain"]}
    for s in out["appraisal"]["subjects"]:
        sid = str(s["id"])
        assert s["score"] == two_dp(scores[s["id"]])
        assert s["rank"] == ranks[s["id"]]
        for row in s["criteria"]:
            answered = sum(counts[(sid, row["key"], g)] for g in
                           (g["key"] for g in APPRAISAL["grades"]) if g not in abstain)
            assert row["answered"] == answered
            for g in row["grades"]:
                n = counts[(sid, row["key"], g["key"])]
                assert g["count"] == n
                if g["key"] in abstain:
                    assert g["rate_pct"] is None
                else:
                    assert g["rate_pct"] == (two_dp(Fraction(100 * n, answered))
                                             if answered else None)
    # k = 1: one row per category, each equal to a recount of that category alone
    for row, cat in zip(out["appraisal"]["by_category"], r["categories"], strict=True):
        mine = [b for b in r["ballots"] if b[0] == cat["id"]]
        assert row["categories"] == [cat["name"]] and row["ballots"] == len(mine)


# ----------------------------------------------------------------- property: recommendation


def selection(votes: dict[int, int], valid: int, threshold: Fraction, places: int
              ) -> tuple[list[int], list[int]]:
    """(selected, tied at the cut-off) by the plain rule: pass the threshold, top places."""
    passing = sorted((c for c in votes if valid and Fraction(votes[c], valid) > threshold),
                     key=lambda c: -votes[c])
    if len(passing) <= places:
        return passing, []
    cut = votes[passing[places - 1]]
    at_least = [c for c in passing if votes[c] >= cut]
    if len(at_least) == places:
        return at_least, []
    return [c for c in passing if votes[c] > cut], [c for c in passing if votes[c] == cut]


@PROPERTY
@given(random_round(RECOMMENDATION, max_size=12, n_subjects=(1, 8)),
       st.sampled_from([0.0, 0.25, 0.5]), st.sampled_from([None, 1, 2, 3]))
def test_recommendation_totals_equal_a_recount(r: dict[str, Any], threshold: float,
                                                places: int | None) -> None:
    out = run(RECOMMENDATION, r, ResultRules(k=1, recommend_threshold=threshold, places=places))
    check_validity(out, r)
    valid = len(r["ballots"])
    votes = {s["id"]: sum(s["id"] in a["choices"] for _, a in r["ballots"])
             for s in r["subjects"]}
    rec = out["recommendation"]
    ranks = ranks_of(votes)
    for c in rec["candidates"]:
        assert c["votes"] == votes[c["id"]]
        assert c["rank"] == ranks[c["id"]]
        assert c["vote_pct"] == (two_dp(Fraction(100 * votes[c["id"]], valid)) if valid else None)
        assert c["passes_threshold"] == (valid > 0 and votes[c["id"]] > threshold * valid)
    selected, tied = selection(votes, valid, dec(threshold), places or 3)
    assert sorted(rec["selected"]) == sorted(selected)
    assert sorted(c for t in rec["ties"] for c in t["candidates"]) == sorted(tied)
    for row, cat in zip(rec["by_category"], r["categories"], strict=True):
        mine = [a for cid, a in r["ballots"] if cid == cat["id"]]
        assert {c["id"]: c["votes"] for c in row["candidates"]} == {
            s["id"]: sum(s["id"] in a["choices"] for a in mine) for s in r["subjects"]}


# ----------------------------------------------------------------- property: scoring


def weighted_review() -> dict[str, Any]:
    form = copy.deepcopy(REVIEW)
    for item, w in zip(form["items"], [1.0, 1.5, 0.5, 2.0, 1.0], strict=True):
        item["weight"] = w
    return check_form(form)


WEIGHTED_REVIEW = weighted_review()


def trimmed_mean(values: list[Fraction], n: int) -> tuple[list[Fraction], bool]:
    values = sorted(values)
    if n and len(values) >= 2 * n + 1:
        return values[n:len(values) - n], True
    return values, False


def recount_scoring(form: dict[str, Any], r: dict[str, Any], n: int, scope: str,
                    weighted: bool, by: str = "item"
                    ) -> dict[int, tuple[Fraction | None, dict[str, Any]]]:
    out = {}
    for s in r["subjects"]:
        sid = str(s["id"])
        means: dict[str, Fraction | None] = {}
        if by == "total":  # each scorer's weighted total trimmed; the items are not
            def totals(cid: int | None) -> list[Fraction]:
                return [sum(dec(a[sid][i["key"]]) * dec(i["weight"]) for i in form["items"])
                        for c, a in r["ballots"] if cid in (None, c)]
            untrimmed = recount_scoring(form, r, 0, scope, weighted)[s["id"]][1]
            if scope == "overall":
                kept, _ = trimmed_mean(totals(None), n)
                out[s["id"]] = (sum(kept) / len(kept) if kept else None, untrimmed)
                continue
            parts = [(dec(c["weight"]), trimmed_mean(totals(c["id"]), n)[0])
                     for c in r["categories"]]
            parts = [(w, kept) for w, kept in parts if kept]
            if not parts:
                total = None
            elif weighted:
                total = sum(w * sum(k) / len(k) for w, k in parts) / sum(w for w, _ in parts)
            else:
                kept = [v for _, k in parts for v in k]
                total = sum(kept) / len(kept)
            out[s["id"]] = (total, untrimmed)
            continue
        for item in form["items"]:
            def scores(cid: int | None, key: str = item["key"]) -> list[Fraction]:
                return [dec(a[sid][key]) for c, a in r["ballots"] if cid in (None, c)]
            if scope == "overall":
                kept, _ = trimmed_mean(scores(None), n)
                means[item["key"]] = sum(kept) / len(kept) if kept else None
                continue
            parts = [(dec(c["weight"]), trimmed_mean(scores(c["id"]), n)[0])
                     for c in r["categories"]]
            parts = [(w, kept) for w, kept in parts if kept]
            if not parts:
                means[item["key"]] = None
            elif weighted:
                means[item["key"]] = (sum(w * sum(k) / len(k) for w, k in parts)
                                      / sum(w for w, _ in parts))
            else:
                kept = [v for _, k in parts for v in k]
                means[item["key"]] = sum(kept) / len(kept)
        total = (None if None in means.values()
                 else sum(m * dec(i["weight"]) for m, i in zip(means.values(), form["items"],
                                                              strict=True)))
        out[s["id"]] = (total, means)
    return out


@PROPERTY
@given(random_round(WEIGHTED_REVIEW), st.integers(0, 2), st.sampled_from([None, True, False]),
       st.sampled_from(["overall", "category"]), st.sampled_from(["item", "total"]))
def test_scoring_totals_equal_a_recount(r: dict[str, Any], trim: int, use_weights: bool | None,
                                        scope: str, by: str) -> None:
    weighted = is_weighted(use_weights, r["categories"])
    if weighted:
        scope = "category"  # the only scope that combines with weights
    rules = ResultRules(k=1, trim=trim, trim_scope=scope, use_category_weights=use_weights,
                        trim_by=by)
    out = run(WEIGHTED_REVIEW, r, rules)
    check_validity(out, r)
    expected = recount_scoring(WEIGHTED_REVIEW, r, trim, scope, weighted, by)
    ranks = ranks_of({sid: total for sid, (total, _) in expected.items()})
    for s in out["scoring"]["subjects"]:
        total, means = expected[s["id"]]
        assert s["total"] == two_dp(total)
        assert s["rank"] == ranks[s["id"]]
        assert [i["mean"] for i in s["items"]] == [two_dp(m) for m in means.values()]


# ----------------------------------------------------------------- property: k-anonymity


@PROPERTY
@given(st.sampled_from([APPRAISAL, RECOMMENDATION, WEIGHTED_REVIEW]).flatmap(
    lambda form: st.tuples(st.just(form), random_round(form, max_size=8))),
    st.integers(2, 6))
def test_no_breakdown_below_k_and_totals_keep_every_ballot(case: Any, k: int) -> None:
    form, r = case
    out = run(form, r, ResultRules(k=k, trim=1))
    assert json.loads(json.dumps(out, allow_nan=False)) == out
    assert small_breakdowns(out, k) == []
    check_validity(out, r)
    # the hidden remainder cannot be recovered by subtraction from the totals
    shown = out["validity"]["by_category"]
    for field in ("cast", "valid"):
        rest = out["validity"]["total"][field] - sum(row[field] for row in shown)
        assert rest == 0 or rest >= k or not any(row[field] for row in shown)
    block = out[form["kind"]]
    # unweighted, the rows cover every ballot; weighted, the hidden ones have no row
    # (official_plan), and what they leave over is at least k ballots
    rest = len(r["ballots"]) - sum(row["ballots"] for row in block["by_category"])
    assert rest == 0 or rest >= k or not any(row["ballots"] for row in block["by_category"])
    if not block.get("weighted"):
        assert rest in (0, len(r["ballots"]))
    if form["kind"] == "recommendation":
        for c in block["candidates"]:
            assert c["votes"] == sum(c["id"] in a["choices"] for _, a in r["ballots"])
    if form["kind"] == "appraisal" and not block["counts_hidden"]:
        s = block["subjects"][0]
        overall = next(row for row in s["criteria"] if row["key"] == "overall")
        assert overall["answered"] + overall["abstained"] == len(r["ballots"])


# ----------------------------------------------------------------- seed 001: 述职评议


def test_28_secretaries_scored_by_a_panel_of_12_with_trimmed_mean() -> None:
    """Ten reviewers spread evenly around each item's value; reviewer 11 gives the
    item's maximum and reviewer 12 gives 5 (or 0), so dropping one highest and one
    lowest score leaves exactly the value."""
    spread = [-1, -0.5, 0, 0.5, 1, -1, -0.5, 0, 0.5, 1]
    secretaries = [{"id": i + 1, "name": f"第{i + 1}党支部书记", "note": ""} for i in range(28)]
    values = {s["id"]: {"responsibility": 15 + 0.5 * min(i, 26), "organization": 20,
                        "conduct": 16, "innovation": 12, "answers": 8}
              for i, s in enumerate(secretaries)}
    maxima = {item["key"]: item["max"] for item in REVIEW["items"]}
    panel = {"id": 1, "name": "考评组", "expected_count": 12, "weight": 1.0}
    ballots = []
    for reviewer in range(12):
        raw = {}
        for s in secretaries:
            row = {}
            for key, v in values[s["id"]].items():
                if reviewer < 10:
                    row[key] = v + spread[reviewer]
                else:
                    row[key] = maxima[key] if reviewer == 10 else min(5, v - 2)
            raw[str(s["id"])] = row
        ballots.append((1, check_answers(REVIEW, [s["id"] for s in secretaries], raw)))

    out = compute_results(REVIEW, secretaries, [panel], ballots, None,
                          ResultRules(trim=1, trim_by="item"))
    result = {s["id"]: s for s in out["scoring"]["subjects"]}
    first = result[1]  # responsibility 15: scores 14..16 and 30, 5
    assert first["items"][0] == {"key": "responsibility", "mean": 15.0, "trimmed": True}
    assert first["total"] == 15 + 20 + 16 + 12 + 8 == 71
    # the plain mean would have counted the outliers: (150 + 30 + 5) / 12 = 15.42
    untrimmed = compute_results(REVIEW, secretaries, [panel], ballots)
    assert untrimmed["scoring"]["subjects"][0]["items"][0]["mean"] == 15.42
    assert result[11]["total"] == 71 + 5 == 76
    # secretaries 27 and 28 have the same sheet: they share rank 1 and nobody is 2nd
    assert result[27]["total"] == result[28]["total"] == 84
    assert (result[27]["rank"], result[28]["rank"], result[26]["rank"]) == (1, 1, 3)
    assert result[1]["rank"] == 28
    assert out["scoring"]["order"][:3] == [27, 28, 26]
    assert out["validity"]["total"] == {
        "expected": 12, "cast": 12, "valid": 12, "invalid": 0, "turnout_pct": 100.0,
        "electronic": {"cast": 12, "valid": 12, "invalid": 0},
        "paper": {"cast": 0, "valid": 0, "invalid": 0}}
    assert [row["name"] for row in out["scoring"]["by_category"]] == ["考评组"]
    assert out["notes"] == []


def test_too_few_scores_are_not_trimmed_and_a_note_says_so() -> None:
    subs = subjects(1)
    row = {i["key"]: 1 for i in REVIEW["items"]}
    ballots = [(10, {"100": dict(row)}), (10, {"100": {**row, "answers": 7}})]
    out = compute_results(REVIEW, subs, categories([2], [1.0]), ballots,
                          rules=ResultRules(k=1, trim=1))
    item = out["scoring"]["subjects"][0]["items"][-1]
    assert item == {"key": "answers", "mean": 4.0, "trimmed": False}
    assert "评分人数少于3人的，未去掉最高分和最低分" in out["notes"]


# ----------------------------------------------------------------- seed 003: 民主测评


def _overall_grades(plan: dict[str, int]) -> list[str]:
    return [g for g, n in plan.items() for _ in range(n)]


def test_120_voter_appraisal_in_three_weighted_categories() -> None:
    """Composite = Σ weight × category mean of the overall grade, 不了解 left out.

    Subject 1 (领导班子):
      公司领导 20: 9 优秀, 9 称职, 2 不了解     → 1620 / 18 = 90
      中层干部 40: 16 优秀, 12 称职, 4 基本称职, 8 不了解 → 2840 / 32 = 88.75
      职工代表 60: 24 优秀, 24 称职, 6 基本, 2 不称职, 4 不了解 → 4900 / 56 = 87.5
      0.3 × 90 + 0.4 × 88.75 + 0.3 × 87.5 = 27 + 35.5 + 26.25 = 88.75
      (pooled without weights: 9360 / 106 = 88.30)
    Subject 2: 82.5, 80, 80 → 24.75 + 32 + 24 = 80.75; 不称职 30 of 120 = 25%.
    Subject 3: 公司领导 all 不了解, so weights renormalise over the other two:
      (0.4 × 95 + 0.3 × 85) / 0.7 = 90.714… → 90.71
    """
    cats = [{"id": 1, "name": "公司领导", "expected_count": 22, "weight": 0.3},
            {"id": 2, "name": "中层干部", "expected_count": 42, "weight": 0.4},
            {"id": 3, "name": "职工代表", "expected_count": 65, "weight": 0.3}]
    subs = [{"id": 1, "name": "领导班子", "note": ""}, {"id": 2, "name": "张三", "note": "总经理"},
            {"id": 3, "name": "李四", "note": "副总经理"}]
    plans = {
        1: {1: {"excellent": 9, "competent": 9, "unknown": 2},
            2: {"excellent": 5, "competent": 10, "incompetent": 5},
            3: {"unknown": 20}},
        2: {1: {"excellent": 16, "competent": 12, "basic": 4, "unknown": 8},
            2: {"competent": 30, "incompetent": 10},
            3: {"excellent": 40}},
        3: {1: {"excellent": 24, "competent": 24, "basic": 6, "incompetent": 2, "unknown": 4},
            2: {"competent": 45, "incompetent": 15},
            3: {"competent": 60}},
    }
    ballots = []
    for cid, per_subject in plans.items():
        columns = {sid: _overall_grades(p) for sid, p in per_subject.items()}
        for i in range(len(columns[1])):
            raw = {str(sid): {c: col[i] if c == "overall" else "competent" for c in CRITERIA}
                   for sid, col in columns.items()}
            ballots.append((cid, check_answers(APPRAISAL, [1, 2, 3], raw)))
    assert len(ballots) == 120
    rules = ResultRules(min_turnout=0.9, flags=[
        {"grade": "incompetent", "share_above": 0.2, "label": "不称职率超过20%"},
        {"grades": ["basic", "incompetent"], "share_at_least": 0.1, "label": "基本称职及以下达10%"},
    ])
    out = compute_results(APPRAISAL, subs, cats, ballots, {2: 2}, rules)
    a = out["appraisal"]
    by_id = {s["id"]: s for s in a["subjects"]}
    assert a["weighted"] is True
    assert by_id[1]["score"] == 88.75
    assert by_id[2]["score"] == 80.75
    assert by_id[3]["score"] == 90.71
    assert [by_id[i]["rank"] for i in (1, 2, 3)] == [2, 3, 1]
    assert a["order"] == [3, 1, 2]
    assert by_id[1]["flags"] == ["基本称职及以下达10%"]  # 12 / 106 = 11.3%
    assert by_id[2]["flags"] == ["不称职率超过20%", "基本称职及以下达10%"]
    assert by_id[3]["flags"] == []

    overall = next(r for r in by_id[1]["criteria"] if r["key"] == "overall")
    assert (overall["answered"], overall["abstained"]) == (106, 14)
    rates = {g["key"]: (g["count"], g["rate_pct"]) for g in overall["grades"]}
    assert rates == {"excellent": (49, 46.23), "competent": (45, 42.45), "basic": (10, 9.43),
                     "incompetent": (2, 1.89), "unknown": (14, None)}

    unweighted = compute_results(APPRAISAL, subs, cats, ballots,
                                 rules=ResultRules(use_category_weights=False))
    assert unweighted["appraisal"]["subjects"][0]["score"] == 88.30

    rows = {r["name"]: r for r in a["by_category"]}
    assert rows["公司领导"]["subjects"][0]["score"] == 90.0
    assert rows["中层干部"]["subjects"][0]["score"] == 88.75
    assert rows["职工代表"]["subjects"][0]["score"] == 87.5
    assert rows["公司领导"]["subjects"][2]["score"] is None

    v = out["validity"]
    assert v["total"] == {"expected": 129, "cast": 122, "valid": 120, "invalid": 2,
                          "turnout_pct": 94.57,
                          "electronic": {"cast": 122, "valid": 120, "invalid": 2},
                          "paper": {"cast": 0, "valid": 0, "invalid": 0}}
    assert v["publishable"] is True and v["reason"] is None
    strict = compute_results(APPRAISAL, subs, cats, ballots, {2: 2},
                             ResultRules(min_turnout=0.95))
    assert strict["validity"]["publishable"] is False
    assert "94.57%" in strict["validity"]["reason"]


# ----------------------------------------------------------------- seed 003: 后备干部推荐


def _recommendation_ballots(votes: dict[int, int], n: int) -> list[dict[str, Any]]:
    """n ballots carrying these vote counts: each candidate's votes go to a run of
    consecutive ballots, wrapping around, so no ballot names anyone twice."""
    choices: list[list[int]] = [[] for _ in range(n)]
    at = 0
    for cid, v in votes.items():
        for _ in range(v):
            choices[at % n].append(cid)
            at += 1
    ids = list(range(1, 11))
    return [check_answers(RECOMMENDATION, ids, {"choices": c}) for c in choices]


def _recommend(votes: dict[int, int], n: int, **rules: Any) -> dict[str, Any]:
    cands = [{"id": i, "name": f"候选人{i}", "note": ""} for i in range(1, 11)]
    cats = [{"id": 1, "name": "中层干部", "expected_count": 40, "weight": 1.0},
            {"id": 2, "name": "职工代表", "expected_count": 20, "weight": 1.0}]
    answers = _recommendation_ballots(votes, n)
    ballots = [(1 if i < 40 else 2, a) for i, a in enumerate(answers)]
    return compute_results(RECOMMENDATION, cands, cats, ballots, rules=ResultRules(**rules))


def test_recommend_3_of_10_reports_the_tie_at_the_cut_off() -> None:
    # 60 ballots; more than half is 31 votes or more; candidate 5 has exactly half
    votes = {1: 40, 2: 38, 3: 35, 4: 35, 5: 30, 6: 2}
    rec = _recommend(votes, 60)["recommendation"]
    by_id = {c["id"]: c for c in rec["candidates"]}
    assert rec["places"] == 3 and rec["valid_ballots"] == 60
    assert rec["selected"] == [1, 2]
    assert rec["ties"] == [{"votes": 35, "vote_pct": 58.33, "rank": 3, "candidates": [3, 4],
                            "places_left": 1}]
    assert [by_id[i]["status"] for i in (1, 2, 3, 4, 5, 6, 7)] == [
        "selected", "selected", "tie", "tie", "below_threshold", "below_threshold",
        "below_threshold"]
    assert (by_id[3]["rank"], by_id[4]["rank"], by_id[5]["rank"]) == (3, 3, 5)
    assert by_id[5]["vote_pct"] == 50.0 and by_id[5]["passes_threshold"] is False
    assert rec["at_threshold"] == [5]
    assert by_id[7]["votes"] == 0 and by_id[7]["rank"] == 7
    per_cat = {row["name"]: {c["id"]: c["votes"] for c in row["candidates"]}
               for row in rec["by_category"]}
    assert {i: per_cat["中层干部"][i] + per_cat["职工代表"][i] for i in votes} == votes


def test_recommendation_tie_inside_the_places_is_no_tie() -> None:
    rec = _recommend({1: 40, 2: 35, 3: 35, 4: 20}, 60)["recommendation"]
    assert rec["selected"] == [1, 2, 3] and rec["ties"] == []


def test_recommendation_tie_at_the_threshold_is_reported_not_passed() -> None:
    # places 3 but only two pass: the two at exactly 50% are listed, not selected
    rec = _recommend({1: 40, 2: 35, 3: 30, 4: 30}, 60)["recommendation"]
    assert rec["selected"] == [1, 2] and rec["ties"] == []
    assert rec["at_threshold"] == [3, 4]


# ----------------------------------------------------------------- k-anonymity


def _appraisal_round(sizes: list[int], weights: list[float] | None = None) -> dict[str, Any]:
    cats = categories(sizes, weights or [1.0] * len(sizes))
    row = {c: "excellent" for c in CRITERIA}
    low = {c: "basic" for c in CRITERIA}
    ballots = [(cat["id"], {"100": row if i % 2 else low})
               for cat, size in zip(cats, sizes, strict=True) for i in range(size)]
    return {"subjects": subjects(1), "categories": cats, "ballots": ballots,
            "invalid": {}}


def _names_alone(out: Any) -> set[str]:
    """Names of every breakdown row that shows one category on its own."""
    found: set[str] = set()
    if isinstance(out, dict):
        for key, value in out.items():
            if key == "by_category":
                found |= {r["categories"][0] for r in value if len(r["categories"]) == 1}
            found |= _names_alone(value)
    elif isinstance(out, list):
        for value in out:
            found |= _names_alone(value)
    return found


def test_a_category_of_3_never_appears_on_its_own() -> None:
    r = _appraisal_round([3, 20, 30], [0.3, 0.4, 0.3])
    out = run(APPRAISAL, r, ResultRules())
    assert small_breakdowns(out, 5) == []
    assert "类别0" not in _names_alone(out)
    # weighted: 3 keeps its official weight; with the counts over all and the
    # composite shown, any one shown category would let its mean be solved, so no
    # category is shown on its own (the validity table pools them, 53 >= k)
    assert out["appraisal"]["by_category"] == []
    assert [(r["name"], r["categories"], r["valid"]) for r in
            out["validity"]["by_category"]] == [("其他", ["类别0", "类别1", "类别2"], 53)]
    assert out["validity"]["total"]["valid"] == 53
    assert "人数少于5人的类别已合并或隐藏" in out["notes"]


def test_small_categories_merge_into_other() -> None:
    out = run(APPRAISAL, _appraisal_round([3, 2, 20, 0]), ResultRules())
    rows = [(r["name"], r["categories"], r["ballots"]) for r in out["appraisal"]["by_category"]]
    assert rows == [("类别2", ["类别2"], 20), ("类别3", ["类别3"], 0),
                    ("其他", ["类别0", "类别1"], 5)]
    assert small_breakdowns(out, 5) == []


def test_fewer_than_k_ballots_in_all_hides_every_breakdown() -> None:
    out = run(RECOMMENDATION, {
        "subjects": subjects(3), "categories": categories([2, 1], [1.0, 1.0]),
        "ballots": [(10, {"choices": [100]}), (10, {"choices": [101]}),
                    (11, {"choices": [100]})], "invalid": {}}, ResultRules())
    assert out["recommendation"]["by_category"] == []
    assert out["validity"]["by_category"] == []
    assert out["validity"]["total"]["valid"] == 3
    assert out["recommendation"]["candidates"][0]["votes"] == 2
    assert "人数少于5人的类别已合并或隐藏" in out["notes"]


def test_weighting_never_isolates_a_small_category() -> None:
    """With weights, a small category keeps its official weight and is hidden, with
    whatever would let the weighted score and the counts solve for its mean
    (tests/test_results_rules.py tries)."""
    r = _appraisal_round([4, 20, 30], [0.5, 0.25, 0.25])
    out = run(APPRAISAL, r, ResultRules())
    # every category is half 优秀 (95) and half 基本称职 (75), so the score is 85
    assert out["appraisal"]["subjects"][0]["score"] == 85.0
    assert "类别0" not in _names_alone(out)
    assert any("规定的权重" in n for n in out["notes"])


def test_apply_k_anonymity_by_itself() -> None:
    cats = [{"id": i, "name": n} for i, n in enumerate(["领导", "中层", "职工", "其他"])]
    plan = apply_k_anonymity(cats, {0: 3, 1: 12, 2: 40, 3: 6}, 5)
    # 领导 (3) is folded with the smallest other category so that 其他 reaches k
    assert [(g.name, g.category_ids, g.merged) for g in plan.groups] == [
        ("中层", (1,), False), ("职工", (2,), False), ("其他", (0, 3), True)]
    assert plan.hidden == () and plan.note == "人数少于5人的类别已合并或隐藏"
    plan = apply_k_anonymity(cats, {0: 3, 1: 12, 2: 40, 3: 60}, 5)
    assert [(g.name, g.category_ids) for g in plan.groups] == [
        ("职工", (2,)), ("其他", (3,)), ("其他（合并）", (0, 1))]
    # several counts per category (cast, valid): small if any of them is
    plan = apply_k_anonymity(cats[:2], {0: (9, 3), 1: (9, 9)}, 5)
    assert [g.category_ids for g in plan.groups] == [(0, 1)]
    plan = apply_k_anonymity(cats[:2], {0: 2, 1: 1}, 5)
    assert plan.groups == () and plan.hidden == (0, 1) and plan.note
    assert apply_k_anonymity(cats, {0: 3}, 1).note is None


# ----------------------------------------------------------------- rules and numbers


def test_round2_is_half_up_on_the_exact_value() -> None:
    assert round2(Fraction(1, 8)) == 0.13   # float round(0.125, 2) gives 0.12
    assert round2(Fraction(2675, 1000)) == 2.68
    assert round2(Fraction(-1, 8)) == -0.13
    assert round2(None) is None


def test_bad_rules_are_refused_with_a_reason() -> None:
    with pytest.raises(ValueError, match="trim"):
        ResultRules(trim=-1)
    with pytest.raises(ValueError, match="unknown result rules"):
        ResultRules.from_dict({"k": 5, "kk": 1})
    with pytest.raises(ValueError, match="label"):
        ResultRules(flags=[{"grade": "incompetent", "share_above": 0.2}])
    with pytest.raises(ValueError, match="exactly one"):
        ResultRules(flags=[{"grade": "incompetent", "label": "x"}])
    assert ResultRules.from_dict({"k": 3, "flags": [{"score_below": 60, "label": "低"}]}).k == 3
    cats = categories([1, 1], [0.3, 0.7])
    with pytest.raises(ValueError, match="trim_scope"):
        check_rules(ResultRules(trim=1, trim_scope="overall"), REVIEW, cats)
    check_rules(ResultRules(trim=1), REVIEW, cats)  # category scope is picked
    with pytest.raises(ValueError, match="non-abstain"):
        check_rules(ResultRules(flags=[{"grade": "unknown", "share_above": 0.1, "label": "x"}]),
                    APPRAISAL, cats)
    with pytest.raises(ValueError, match="unknown category"):
        compute_results(APPRAISAL, subjects(1), cats, [(99, {})])
