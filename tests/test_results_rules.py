"""Issue 22, parts 1, 2, 4, 5, 6: exact thresholds (达到/超过), the rates practice uses,
official weights with k-anonymity that only hides, ties on the shown value, and
trimming by each scorer's total. Each rule: an engine unit test and an API test."""

from __future__ import annotations

import csv
import io
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from server.forms.answers import check_answers
from server.forms.templates import check_form, load_forms
from server.resultsengine.config import ResultRules, fraction_of, fraction_words
from server.resultsengine.engine import compute_results, k_warnings
from tests.conftest import csrf_token
from tests.support.rounds_http import create, lifecycle, run_round

FORMS = load_forms(Path(__file__).resolve().parents[1] / "config" / "forms")
APPRAISAL = FORMS["appraisal"]
CRITERIA = [c["key"] for c in APPRAISAL["criteria"]]
POINTS = {g["key"]: Fraction(g["points"]) for g in APPRAISAL["grades"] if "points" in g}


def results_of(client, key, rid):
    res = client.get(f"/api/v1/rounds/{rid}/results", headers=key)
    assert res.status_code == 200, res.json
    return res.json


def row(overall: str, rest: str = "competent") -> dict[str, str]:
    return {c: overall if c == "overall" else rest for c in CRITERIA}


def engine(form: dict[str, Any], subjects: int, cats: list[tuple[str, int, float]],
           ballots: list[tuple[int, dict[str, Any]]], rules: ResultRules,
           expected: list[int] | None = None) -> dict[str, Any]:
    subs = [{"id": 100 + i, "name": f"对象{i}", "note": ""} for i in range(subjects)]
    categories = [{"id": 10 + i, "name": n, "expected_count": (expected or [e for _, e, _ in
                                                                           cats])[i],
                   "weight": w} for i, (n, e, w) in enumerate(cats)]
    checked = [(10 + c, check_answers(form, [s["id"] for s in subs],
                                      {str(100 + int(k[1:])): v for k, v in a.items()}))
               for c, a in ballots]
    return compute_results(form, subs, categories, checked, None, rules)


# ----------------------------------------------------------------- 1. exact thresholds


def test_fractions_are_exact_and_floats_stay_what_they_say() -> None:
    assert fraction_of("2/3") == Fraction(2, 3) and fraction_of("50%") == Fraction(1, 2)
    assert fraction_of("0.5") == Fraction(1, 2) and fraction_of(0.6667) == Fraction(6667, 10000)
    assert fraction_words("2/3") == "三分之二" and fraction_words(0.6667) == "66.67%"
    for bad in ("2/0", "abc", float("nan"), True, "1/3/4"):
        with pytest.raises(ValueError):
            fraction_of(bad)
    with pytest.raises(ValueError, match="min_turnout"):
        ResultRules(min_turnout="4/3")
    with pytest.raises(ValueError, match="compare"):
        ResultRules(min_turnout={"value": "2/3", "compare": "about"})


@pytest.mark.parametrize(("minimum", "publishable"), [
    ("2/3", True),  # 达到: 6 of 9 reaches two thirds
    ({"value": "2/3", "compare": "above"}, False),  # 超过: 6 of 9 does not exceed it
    (0.6667, False),  # a float is the decimal it says: 6/9 < 0.6667
])
def test_a_branch_of_9_with_6_votes_reaches_two_thirds(minimum: Any, publishable: bool) -> None:
    out = engine(APPRAISAL, 1, [("全体党员", 9, 1.0)],
                 [(0, {"#0": row("excellent")})] * 6, ResultRules(k=1, min_turnout=minimum))
    v = out["validity"]
    assert v["publishable"] is publishable
    if not publishable:
        words = "三分之二" if isinstance(minimum, dict) else "66.67%"
        verb = "超过" if isinstance(minimum, dict) else "达到"
        assert v["reason"] == (f"参评率 66.67%（实到 6 / 应到 9）未{verb}应到人数的{words}，"
                               "结果不能公布")


@pytest.mark.parametrize(("test", "fires"), [("share_above", False), ("share_at_least", True)])
def test_exactly_one_third_incompetent(test: str, fires: bool) -> None:
    """3 of 9 不称职 is exactly one third: 超过 does not fire, 达到 does."""
    ballots = [(0, {"#0": row("incompetent")})] * 3 + [(0, {"#0": row("competent")})] * 6
    rules = ResultRules(k=1, flags=[{"grade": "incompetent", test: "1/3", "label": "x"}])
    out = engine(APPRAISAL, 1, [("全体", 9, 1.0)], ballots, rules)
    assert (out["appraisal"]["subjects"][0]["flags"] == ["x"]) is fires


@pytest.mark.parametrize("compare", ["at_least", "above"])
def test_exact_two_thirds_through_the_api(app, client, key, compare: str) -> None:
    body = {"form": "appraisal", "title": "支部测评", "subjects": [{"name": "甲"}],
            "categories": [{"name": "全体党员", "expected_count": 9}],
            "results": {"k": 5, "min_turnout": {"value": "2/3", "compare": compare},
                        "flags": [{"grade": "incompetent", "share_above": "1/3",
                                   "label": "“不称职”票超过三分之一"},
                                  {"grade": "incompetent", "share_at_least": "1/3",
                                   "label": "“不称职”票达到三分之一"}]}}
    ballots = [{"#0": row("incompetent")}] * 2 + [{"#0": row("competent")}] * 4
    rnd, _ = run_round(client, key, body, {"全体党员": ballots})
    assert rnd["results"]["min_turnout"] == {"value": "2/3", "compare": compare}
    res = results_of(client, key, rnd["id"])
    assert res["appraisal"]["subjects"][0]["flags"] == ["“不称职”票达到三分之一"]
    rule = "参评率须" + ("达到" if compare == "at_least" else "超过") + "三分之二应到人数方可公布"
    assert rule in res["rule_text"]
    published = lifecycle(client, key, rnd["id"], "publish")
    assert published.status_code == (200 if compare == "at_least" else 409), published.json


def test_a_threshold_that_is_no_fraction_is_refused_with_its_field(app, client, key) -> None:
    body = {"form": "appraisal", "title": "测评", "subjects": [{"name": "甲"}],
            "categories": [{"name": "全体", "expected_count": 9}]}
    for results, field in (({"min_turnout": "3/2"}, "results.min_turnout"),
                           ({"min_turnout": "两成"}, "results.min_turnout")):
        res = client.post("/api/v1/rounds", json={**body, "results": results}, headers=key)
        assert res.status_code == 422, res.json
        assert field.startswith(res.json["error"]["field"])  # the schema names "results"


# ----------------------------------------------------------------- 2. rates


def rates(subject: dict[str, Any]) -> dict[str, float | None]:
    return {r["label"]: r["pct"] for r in subject["rates"]}


@pytest.mark.parametrize(("abstain", "expected"), [
    ("exclude", {"优秀率": 25.0, "称职率": 25.0, "称职以上率": 50.0, "基本称职率": 37.5,
                 "基本称职以上率": 87.5, "不称职率": 12.5}),
    ("include", {"优秀率": 20.0, "称职率": 20.0, "称职以上率": 40.0, "基本称职率": 30.0,
                 "基本称职以上率": 70.0, "不称职率": 10.0}),
])
def test_rates_follow_the_scale_and_the_abstain_rule(abstain: str, expected: dict) -> None:
    plan = ["excellent"] * 2 + ["competent"] * 2 + ["basic"] * 3 + ["incompetent"] + [
        "unknown"] * 2
    out = engine(APPRAISAL, 1, [("全体", 10, 1.0)], [(0, {"#0": row(g)}) for g in plan],
                 ResultRules(k=1, abstain_in_rates=abstain))
    a = out["appraisal"]
    assert [d["label"] for d in a["rate_defs"]] == list(expected)
    assert rates(a["subjects"][0]) == expected


def test_team_scale_rates_through_the_api(app, client, key) -> None:
    """A designed form of two sections: the team on 好/较好/一般/差 has 较好以上率."""
    from server.demo.seed import DESIGNED_FORM

    res = client.post("/api/v1/forms", json={"definition": DESIGNED_FORM}, headers=key)
    assert res.status_code == 201, res.json
    body = {"form_id": res.json["id"], "title": "两部分", "subjects": [
        {"name": "领导班子", "section": "team"}, {"name": "张三", "section": "members"}],
        "categories": [{"name": "全体", "expected_count": 6}]}
    crit = ["political", "ability", "performance", "style", "integrity", "overall"]
    ballots = [{"#0": {c: g for c in crit}, "#1": {c: m for c in crit}}
               for g, m in (("good", "excellent"), ("fair", "competent"), ("fair", "unknown"),
                            ("average", "basic"), ("poor", "competent"),
                            ("good", "incompetent"))]
    rnd, _ = run_round(client, key, body, {"全体": ballots})
    res = results_of(client, key, rnd["id"])
    team, members = res["appraisal"]["sections"]
    assert rates(team["subjects"][0]) == {"好率": 33.33, "较好率": 33.33, "较好以上率": 66.67,
                                          "一般率": 16.67, "一般以上率": 83.33, "差率": 16.67}
    assert rates(members["subjects"][0])["称职以上率"] == 60.0  # 3 of 5, 不了解 left out


# ----------------------------------------------------------------- 4. official weights


CATS = [("公司领导", 4, 0.3), ("中层干部", 40, 0.4), ("职工代表", 70, 0.3)]


def weighted_ballots() -> list[tuple[int, dict[str, Any]]]:
    """公司领导 all 优秀 (95); 中层干部 half 优秀 half 称职 (90); 职工代表 all 称职 (85)."""
    return ([(0, {"#0": row("excellent")})] * 4
            + [(1, {"#0": row("excellent" if i % 2 else "competent")}) for i in range(40)]
            + [(2, {"#0": row("competent")})] * 70)


def derive_small_mean(res: dict[str, Any], weights: dict[str, Fraction],
                      sizes: dict[str, int], small: str) -> Fraction | None:
    """Try to solve the small category's mean from everything shown: the weighted
    composite, the counts over all categories, every shown category's row, and (as an
    attacker would know) every category's weight and voter count. None: not determined."""
    a = res["appraisal"]
    s = a["subjects"][0]
    shown = {g["name"]: g for g in a["by_category"]}
    assert small not in shown, "the small category has a row of its own"
    hidden = [n for n in weights if n not in shown]
    score_of = {n: Fraction(str(next(x for x in g["subjects"] if x["id"] == s["id"])["score"]))
                for n, g in shown.items()}
    total_w = sum(weights.values())
    # Σ_hidden w·m = composite·W − Σ_shown w·m
    weighted_rest = Fraction(str(s["score"])) * total_w - sum(
        weights[n] * score_of[n] for n in shown)
    equations: list[tuple[dict[str, Fraction], Fraction]] = [
        ({n: weights[n] for n in hidden}, weighted_rest)]
    overall = next(c for c in s["criteria"] if c["key"] == "overall")
    if overall["answered"] is not None:  # Σ_hidden n·m from the counts over all
        points = sum(Fraction(POINTS[g["key"]]) * g["count"] for g in overall["grades"]
                     if g["key"] in POINTS)
        equations.append(({n: Fraction(sizes[n]) for n in hidden},
                          points - sum(sizes[n] * score_of[n] for n in shown)))
    # the small mean is determined iff e_small lies in the span of the equations' rows
    rows = [[eq[0][n] for n in hidden] for eq in equations]
    target = [Fraction(1 if n == small else 0) for n in hidden]
    if len(hidden) == 1:
        coef, rhs = equations[0]
        return rhs / coef[small]
    if len(rows) == 2 and len(hidden) == 2:
        (a1, b1), (a2, b2) = rows
        det = a1 * b2 - a2 * b1
        if det:
            i = hidden.index(small)
            r1, r2 = equations[0][1], equations[1][1]
            return (r1 * b2 - r2 * b1) / det if i == 0 else (a1 * r2 - a2 * r1) / det
        return None
    # more unknowns than equations: determined only if target = x·row1 + y·row2
    if len(rows) == 2:
        (p, q) = rows
        for i in range(len(hidden)):
            for j in range(i + 1, len(hidden)):
                det = p[i] * q[j] - p[j] * q[i]
                if det:
                    x = (target[i] * q[j] - target[j] * q[i]) / det
                    y = (p[i] * target[j] - p[j] * target[i]) / det
                    if all(x * p[m] + y * q[m] == target[m] for m in range(len(hidden))):
                        return x * equations[0][1] + y * equations[1][1]
                    return None
    return None


def test_official_weights_are_kept_and_the_small_mean_cannot_be_derived() -> None:
    out = engine(APPRAISAL, 1, CATS, weighted_ballots(), ResultRules())
    s = out["appraisal"]["subjects"][0]
    # the official composite: 0.3 × 95 + 0.4 × 90 + 0.3 × 85 = 90
    assert s["score"] == 90.0
    weights = {n: Fraction(str(w)) for n, _, w in CATS}
    sizes = {n: e for n, e, _ in CATS}
    assert derive_small_mean(out, weights, sizes, "公司领导") is None
    assert any("规定的权重" in n for n in out["notes"])


def test_the_attack_works_when_too_little_is_hidden() -> None:
    """The attacker of the test above is real: with the old k-anonymity (only the small
    category hidden) it finds the mean of 95."""
    out = engine(APPRAISAL, 1, CATS, weighted_ballots(), ResultRules())
    a = out["appraisal"]
    # as if only 公司领导 were hidden: show the two big categories' own rows
    single = engine(APPRAISAL, 1, CATS[1:], [(c - 1, b) for c, b in weighted_ballots()
                                             if c > 0], ResultRules(use_category_weights=False))
    rows = single["appraisal"]["by_category"]
    leaky = {**out, "appraisal": {**a, "by_category": rows}}
    weights = {n: Fraction(str(w)) for n, _, w in CATS}
    assert derive_small_mean(leaky, weights, {n: e for n, e, _ in CATS}, "公司领导") == 95


def test_two_categories_withhold_the_counts_instead() -> None:
    """With only 班子成员 (4) and 职工 (40), the counts over all and the composite would
    give two equations in two means: the counts are withheld, the composite stays."""
    cats = [("班子成员", 4, 0.3), ("职工", 40, 0.7)]
    ballots = ([(0, {"#0": row("excellent")})] * 4
               + [(1, {"#0": row("competent")})] * 40)
    out = engine(APPRAISAL, 1, cats, ballots, ResultRules())
    a = out["appraisal"]
    assert a["counts_hidden"] is True and a["by_category"] == []
    s = a["subjects"][0]
    assert s["score"] == 88.0  # 0.3 × 95 + 0.7 × 85
    assert all(g["count"] is None for c in s["criteria"] for g in c["grades"])
    weights = {n: Fraction(str(w)) for n, _, w in cats}
    assert derive_small_mean(out, weights, {n: e for n, e, _ in cats}, "班子成员") is None


def test_building_a_round_warns_what_will_be_hidden() -> None:
    cats = [{"name": n, "expected_count": e, "weight": w} for n, e, w in CATS]
    warnings = k_warnings(cats, 5, True, "appraisal")
    assert warnings[0] == "参评类别 “公司领导”（应到 4 人） 少于 5 人，其分类结果不单独显示"
    assert "综合得分仍按规定权重计算（公司领导 30%）" in warnings
    assert any("“中层干部”“职工代表”的分类结果也不单独显示" in w for w in warnings)
    assert k_warnings([{**c, "expected_count": 9} for c in cats], 5, True, "appraisal") == []


def test_a_4_voter_category_at_30_percent_through_the_api(app, client, key) -> None:
    body = {"form": "appraisal", "title": "加权测评", "subjects": [{"name": "张三"}],
            "categories": [{"name": n, "expected_count": e, "weight": w} for n, e, w in CATS],
            "results": {"min_turnout": 0}}
    made = create(client, key, body)
    assert any("公司领导" in w for w in made["warnings"])
    assert client.get(f"/api/v1/rounds/{made['id']}", headers=key).json["warnings"] == (
        made["warnings"])
    names = {0: "公司领导", 1: "中层干部", 2: "职工代表"}
    ballots: dict[str, list] = {n: [] for n in names.values()}
    for c, b in weighted_ballots():
        ballots[names[c]].append(b)
    rnd, _ = run_round(client, key, body, ballots)
    res = results_of(client, key, rnd["id"])
    assert res["appraisal"]["subjects"][0]["score"] == 90.0
    weights = {n: Fraction(str(w)) for n, _, w in CATS}
    assert derive_small_mean(res, weights, {n: e for n, e, _ in CATS}, "公司领导") is None
    # the exports hold nothing more: no row of 公司领导 alone in the CSV either
    text = client.get(f"/api/v1/rounds/{rnd['id']}/export.csv", headers=key).data.decode(
        "utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows and not [r for r in rows if r["category"].startswith("公司领导")]
    login = client.get("/console/login").get_data(as_text=True)
    client.post("/console/login", data={"csrf_token": csrf_token(login),
                                        "username": "organizer", "password": "correct horse 1"})
    page = client.get(f"/console/rounds/{made['id']}").get_data(as_text=True)
    assert 'id="k-warnings"' in page and "“公司领导”（应到 4 人）" in page


# ----------------------------------------------------------------- 5. ties on the shown value


SCORING = check_form({"kind": "scoring", "name": "评分", "decimals": 2,
                      "items": [{"key": "total", "label": "总体", "max": 100}],
                      "results": {}})
TIED = {0: [90, 90, 90], 1: [78.63, 78.63, 78.63], 2: [78.64, 78.64, 78.62],
        3: [78.62, 78.63, 78.63], 4: [70, 70, 70]}


def test_equal_shown_values_share_a_rank() -> None:
    """78.63, 78.6333… and 78.6267… all show 78.63: ranks 2, 2, 2, then 5."""
    ballots = [(0, {f"#{s}": {"total": v[i]} for s, v in TIED.items()}) for i in range(3)]
    out = engine(SCORING, 5, [("评委", 3, 1.0)], ballots, ResultRules(k=1))
    subjects = out["scoring"]["subjects"]
    assert [x["total"] for x in subjects] == [90.0, 78.63, 78.63, 78.63, 70.0]
    assert [x["rank"] for x in subjects] == [1, 2, 2, 2, 5]


def test_shown_ties_through_the_api_and_the_exports(app, client, key) -> None:
    res = client.post("/api/v1/forms", json={"definition": SCORING}, headers=key)
    assert res.status_code == 201, res.json
    body = {"form_id": res.json["id"], "title": "并列", "subjects": [
        {"name": f"书记{i}"} for i in range(5)],
        "categories": [{"name": "评委", "expected_count": 3}], "results": {"min_turnout": 0}}
    sheets = [{f"#{s}": {"total": v[i]} for s, v in TIED.items()} for i in range(3)]
    rnd, _ = run_round(client, key, body, {"评委": sheets})
    out = results_of(client, key, rnd["id"])
    assert [x["rank"] for x in out["scoring"]["subjects"]] == [1, 2, 2, 2, 5]
    text = client.get(f"/api/v1/rounds/{rnd['id']}/export.csv", headers=key).data.decode(
        "utf-8-sig")
    ranks = [(r["subject"], r["value"]) for r in csv.DictReader(io.StringIO(text))
             if r["measure"] == "rank"]
    assert ranks == [("书记0", "1"), ("书记1", "2"), ("书记2", "2"), ("书记3", "2"),
                     ("书记4", "5")]


# ----------------------------------------------------------------- 6. trimming by total


ITEMS = check_form({"kind": "scoring", "name": "评议", "decimals": 0,
                    "items": [{"key": "a", "label": "甲", "max": 50},
                              {"key": "b", "label": "乙", "max": 50}], "results": {}})
# Five panel members; their totals are 60, 90, 70, 75, 60. By total one 60 and the 90
# are dropped: (60+70+75)/3 = 68.33, the items' means over all five: 32 and 39. By
# item, a drops 10 and 45: (30+35+40)/3 = 35; b drops 20 and 50: (40+40+45)/3 = 41.67.
PANEL = [{"a": 10, "b": 50}, {"a": 45, "b": 45}, {"a": 30, "b": 40}, {"a": 35, "b": 40},
         {"a": 40, "b": 20}]


@pytest.mark.parametrize(("by", "total", "means"), [
    ("total", 68.33, [32.0, 39.0]), ("item", 76.67, [35.0, 41.67])])
def test_trimming_by_total_or_by_item(by: str, total: float, means: list[float]) -> None:
    out = engine(ITEMS, 1, [("评委", 5, 1.0)], [(0, {"#0": p}) for p in PANEL],
                 ResultRules(k=1, trim=1, trim_by=by))
    s = out["scoring"]["subjects"][0]
    assert s["total"] == total and [i["mean"] for i in s["items"]] == means
    assert s["total_trimmed"] is (by == "total")


@pytest.mark.parametrize("by", ["total", "item"])
def test_trimming_through_the_api_says_which(app, client, key, by: str) -> None:
    res = client.post("/api/v1/forms", json={"definition": ITEMS}, headers=key)
    body = {"form_id": res.json["id"], "title": "述职评议", "subjects": [{"name": "书记"}],
            "categories": [{"name": "评委", "expected_count": 5}],
            "results": {"trim": 1, "trim_by": by, "min_turnout": 0}}
    rnd, _ = run_round(client, key, body, {"评委": [{"#0": p} for p in PANEL]})
    out = results_of(client, key, rnd["id"])
    assert out["scoring"]["subjects"][0]["total"] == (68.33 if by == "total" else 76.67)
    words = "总分中最高和最低的各 1 个" if by == "total" else "每项去掉最高分和最低分各 1 个"
    assert any(words in line for line in out["rule_text"])
