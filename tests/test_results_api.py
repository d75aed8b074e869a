"""Official results through the HTTP API: the seeds' worked examples, result rules per
round, the publication threshold, and the published receipt list."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from server.core.db import db
from server.roundbase.models import Round
from tests.conftest import csrf_token
from tests.factories import organizer
from tests.support.rounds_http import (
    assert_k_safe_json,
    create,
    issue,
    lifecycle,
    run_round,
    vote,
)

CRITERIA = ["political", "ability", "performance", "style", "integrity", "overall"]


@pytest.fixture
def key(app):
    with app.app_context():
        _, raw = organizer()
    return {"Authorization": f"Bearer {raw}"}


def results_of(client, key, rid):
    res = client.get(f"/api/v1/rounds/{rid}/results", headers=key)
    assert res.status_code == 200, res.json
    return res.json


# ----------------------------------------------------------------- seed 003: 民主测评


def appraisal_ballots(plans: dict[int, dict[str, int]]) -> list[dict[str, dict[str, str]]]:
    """One ballot per voter: the planned overall grade per subject, 称职 elsewhere."""
    columns = {sid: [g for g, n in plan.items() for _ in range(n)] for sid, plan in plans.items()}
    size = len(next(iter(columns.values())))
    return [{f"#{sid}": {c: col[i] if c == "overall" else "competent" for c in CRITERIA}
             for sid, col in columns.items()} for i in range(size)]


def test_120_voter_appraisal_in_three_weighted_categories(app, client, key):
    """0.3 × 90 + 0.4 × 88.75 + 0.3 × 87.5 = 88.75 for the team (不了解 left out);
    李四 has only 不了解 from 公司领导, so the weights renormalise: 90.71."""
    body = {
        "form": "appraisal", "title": "2026年度领导班子和领导人员民主测评",
        "subjects": [{"name": "领导班子", "note": "整体"}, {"name": "张三", "note": "总经理"},
                     {"name": "李四", "note": "副总经理"}],
        "categories": [{"name": "公司领导", "expected_count": 22, "weight": 0.3},
                       {"name": "中层干部", "expected_count": 42, "weight": 0.4},
                       {"name": "职工代表", "expected_count": 65, "weight": 0.3}],
        "results": {"min_turnout": 0.9, "flags": [
            {"grade": "incompetent", "share_above": 0.2, "label": "不称职率超过20%"},
            {"grades": ["basic", "incompetent"], "share_at_least": 0.1,
             "label": "基本称职及以下达10%"}]},
    }
    ballots = {
        "公司领导": appraisal_ballots({0: {"excellent": 9, "competent": 9, "unknown": 2},
                                    1: {"excellent": 5, "competent": 10, "incompetent": 5},
                                    2: {"unknown": 20}}),
        "中层干部": appraisal_ballots({0: {"excellent": 16, "competent": 12, "basic": 4,
                                        "unknown": 8},
                                    1: {"competent": 30, "incompetent": 10},
                                    2: {"excellent": 40}}),
        "职工代表": appraisal_ballots({0: {"excellent": 24, "competent": 24, "basic": 6,
                                        "incompetent": 2, "unknown": 4},
                                    1: {"competent": 45, "incompetent": 15},
                                    2: {"competent": 60}}),
    }
    rnd, receipts = run_round(client, key, body, ballots)
    assert len(receipts) == 120
    res = results_of(client, key, rnd["id"])
    assert (res["live"], res["kind"], res["ballots"]) == (False, "appraisal", 120)
    a = res["appraisal"]
    ids = [s["id"] for s in rnd["subjects"]]
    by_id = {s["id"]: s for s in a["subjects"]}
    assert a["weighted"] is True and res["rules"]["use_category_weights"] is True
    assert [by_id[i]["score"] for i in ids] == [88.75, 80.75, 90.71]
    assert [by_id[i]["rank"] for i in ids] == [2, 3, 1]
    assert a["order"] == [ids[2], ids[0], ids[1]]
    assert by_id[ids[0]]["flags"] == ["基本称职及以下达10%"]
    assert by_id[ids[1]]["flags"] == ["不称职率超过20%", "基本称职及以下达10%"]

    overall = next(c for c in by_id[ids[0]]["criteria"] if c["key"] == "overall")
    assert (overall["answered"], overall["abstained"]) == (106, 14)
    assert {g["key"]: (g["count"], g["rate_pct"]) for g in overall["grades"]} == {
        "excellent": (49, 46.23), "competent": (45, 42.45), "basic": (10, 9.43),
        "incompetent": (2, 1.89), "unknown": (14, None)}
    groups = {g["name"]: g for g in a["by_category"]}
    assert [groups[n]["subjects"][0]["score"] for n in ("公司领导", "中层干部", "职工代表")] == [
        90.0, 88.75, 87.5]

    v = res["validity"]
    assert v["total"] == {"expected": 129, "cast": 120, "valid": 120, "invalid": 0,
                          "turnout_pct": 93.02,
                          "electronic": {"cast": 120, "valid": 120, "invalid": 0},
                          "paper": {"cast": 0, "valid": 0, "invalid": 0}}
    assert v["publishable"] is True
    assert "参评率须达到90%应到人数方可公布" in res["rule_text"]
    assert_k_safe_json(res, 5, set())

    # what close froze is what the API shows, and the raw recount is still there
    with app.app_context():
        frozen = db.session.get(Round, rnd["id"]).result
    assert frozen["ballots"] == 120 and set(frozen["turnout"]) == {
        str(c["id"]) for c in rnd["categories"]}
    assert frozen["official"]["appraisal"] == a
    assert lifecycle(client, key, rnd["id"], "publish").json["status"] == "published"
    assert results_of(client, key, rnd["id"])["appraisal"] == a


# ----------------------------------------------------------------- seed 001: 述职评议


def test_28_secretaries_scored_by_a_panel_of_12_with_trimmed_mean(app, client, key):
    """The form's rule drops one highest and one lowest score per item: reviewer 11
    gives the maximum, reviewer 12 a low outlier, the other ten spread around v."""
    spread = [-1, -0.5, 0, 0.5, 1, -1, -0.5, 0, 0.5, 1]
    maxima = {"responsibility": 30, "organization": 25, "conduct": 20, "innovation": 15,
              "answers": 10}
    values = [{"responsibility": 15 + 0.5 * min(i, 26), "organization": 20, "conduct": 16,
               "innovation": 12, "answers": 8} for i in range(28)]
    sheets = []
    for reviewer in range(12):
        sheet = {}
        for i, v in enumerate(values):
            if reviewer < 10:
                sheet[f"#{i}"] = {k: x + spread[reviewer] for k, x in v.items()}
            elif reviewer == 10:
                sheet[f"#{i}"] = dict(maxima)
            else:
                sheet[f"#{i}"] = {k: min(5, x - 2) for k, x in v.items()}
        sheets.append(sheet)
    body = {"form": "review", "title": "第三季度党支部书记抓基层党建述职评议",
            "subjects": [{"name": f"书记{i + 1:02d}", "note": f"第{i + 1}党支部"}
                         for i in range(28)],
            "categories": [{"name": "考评组", "expected_count": 12}]}
    rnd, _ = run_round(client, key, body, {"考评组": sheets})
    assert rnd["results"]["trim"] == 1  # from config/forms/review.toml
    res = results_of(client, key, rnd["id"])
    s = res["scoring"]
    ids = [x["id"] for x in rnd["subjects"]]
    by_id = {x["id"]: x for x in s["subjects"]}
    first = by_id[ids[0]]
    # trimmed by total (the preset's default): reviewer 11's total is the highest and
    # reviewer 12's the lowest, so the other ten's totals remain, around 71; the
    # items' means are over all twelve, untrimmed
    assert first["items"][0] == {"key": "responsibility", "mean": 15.42, "trimmed": False}
    assert first["total"] == 71.0 and first["rank"] == 28 and first["total_trimmed"]
    assert by_id[ids[10]]["total"] == 76.0
    assert by_id[ids[26]]["total"] == by_id[ids[27]]["total"] == 84.0
    assert (by_id[ids[26]]["rank"], by_id[ids[27]]["rank"], by_id[ids[25]]["rank"]) == (1, 1, 3)
    assert s["order"][:3] == [ids[26], ids[27], ids[25]]
    assert res["validity"]["total"]["turnout_pct"] == 100.0
    assert any("总分中最高和最低的各 1 个" in line for line in res["rule_text"])


# ----------------------------------------------------------------- seed 003: 后备干部推荐


def spread_votes(votes: dict[int, int], n: int) -> list[dict[str, list[int]]]:
    """n ballots carrying these vote counts; no ballot names a candidate twice."""
    choices: list[list[int]] = [[] for _ in range(n)]
    at = 0
    for cid, v in votes.items():
        for _ in range(v):
            choices[at % n].append(cid)
            at += 1
    return [{"choices": c} for c in choices]


def test_recommend_3_of_10_with_a_tie_at_the_cut_off(app, client, key):
    # 60 ballots; more than half is 31 or more; candidates 3 and 4 tie for the last place
    ballots = spread_votes({0: 40, 1: 38, 2: 35, 3: 35, 4: 30, 5: 2}, 60)
    body = {"form": "recommendation", "title": "2026年度后备干部民主推荐",
            "subjects": [{"name": f"候选人{i + 1}", "note": "部门副职"} for i in range(10)],
            "categories": [{"name": "中层干部", "expected_count": 40},
                           {"name": "职工代表", "expected_count": 20}],
            "max_choices": 3}
    rnd, _ = run_round(client, key, body, {"中层干部": ballots[:40], "职工代表": ballots[40:]})
    ids = [s["id"] for s in rnd["subjects"]]
    r = results_of(client, key, rnd["id"])["recommendation"]
    by_id = {c["id"]: c for c in r["candidates"]}
    assert (r["places"], r["valid_ballots"], r["threshold_pct"]) == (3, 60, 50.0)
    assert r["selected"] == ids[:2]
    assert r["ties"] == [{"votes": 35, "vote_pct": 58.33, "rank": 3,
                          "candidates": [ids[2], ids[3]], "places_left": 1}]
    assert [by_id[i]["status"] for i in ids[:7]] == [
        "selected", "selected", "tie", "tie", "below_threshold", "below_threshold",
        "below_threshold"]
    assert by_id[ids[4]]["vote_pct"] == 50.0 and r["at_threshold"] == [ids[4]]
    per_cat = {g["name"]: {c["id"]: c["votes"] for c in g["candidates"]}
               for g in r["by_category"]}
    assert per_cat["中层干部"][ids[0]] + per_cat["职工代表"][ids[0]] == 40
    assert lifecycle(client, key, rnd["id"], "publish").json["status"] == "published"


# ----------------------------------------------------------------- rules per round


def test_template_rules_are_the_defaults_and_a_round_may_override_them(app, client, key):
    body = {"form": "appraisal", "title": "测评", "subjects": [{"name": "甲"}],
            "categories": [{"name": "全体", "expected_count": 10}]}
    rules = create(client, key, body)["results"]
    assert rules["min_turnout"] == "2/3" and rules["k"] == 5  # exact, as the preset says
    assert rules["flags"] == [{"grades": ["incompetent"], "share_above": "1/3",
                               "label": "“不称职”票超过三分之一"}]
    rules = create(client, key, {**body, "results": {"min_turnout": 0.5, "flags": [], "k": 8}}
                   )["results"]
    assert (rules["min_turnout"], rules["flags"], rules["k"]) == (0.5, [], 8)
    rec = create(client, key, {**body, "form": "recommendation", "max_choices": 1})["results"]
    assert rec["recommend_threshold"] == "1/2" and rec["places"] is None


@pytest.mark.parametrize(("form", "rules", "code", "field"), [
    ("appraisal", {"min_turnout": 1.5}, "invalid_input", "results"),
    ("appraisal", {"k": 2}, "k_below_minimum", "results.k"),
    ("appraisal", {"flags": [{"grade": "unknown", "share_above": 0.2, "label": "x"}]},
     "invalid_result_rules", "results"),
    ("appraisal", {"flags": [{"grade": "incompetent", "label": "no test"}]},
     "invalid_result_rules", "results"),
    ("appraisal", {"colour": "red"}, "invalid_input", "results"),
    ("review", {"trim": 1, "trim_scope": "overall", "use_category_weights": True},
     "invalid_result_rules", "results"),
    ("recommendation", {"places": 4}, "invalid_result_rules", "results.places"),
    ("recommendation", {"recommend_threshold": 1.0}, "invalid_result_rules",
     "results.recommend_threshold"),
])
def test_bad_rules_are_refused_with_a_clear_error(app, client, key, form, rules, code, field):
    body = {"form": form, "title": "测评", "subjects": [{"name": n} for n in "甲乙丙"],
            "categories": [{"name": "领导", "expected_count": 10, "weight": 0.4},
                           {"name": "职工", "expected_count": 30, "weight": 0.6}],
            "results": rules}
    res = client.post("/api/v1/rounds", json=body, headers=key)
    assert res.status_code == 422, res.json
    err = res.json["error"]
    assert (err["code"], err["field"]) == (code, field)
    assert err["message"] and err["message_en"]
    with app.app_context():
        assert db.session.execute(text("SELECT count(*) FROM rounds")).scalar() == 0


def test_console_new_round_takes_rules(app, client):
    with app.app_context():
        organizer()
    page = client.get("/console/login").get_data(as_text=True)
    client.post("/console/login", data={"csrf_token": csrf_token(page), "username": "organizer",
                                        "password": "correct horse 1"})
    page = client.get("/console/rounds/new").get_data(as_text=True)
    assert 'name="min_turnout"' in page and 'data-rule-defaults="' in page
    form = {"csrf_token": csrf_token(page), "form": "appraisal", "title": "带规则的测评",
            "subjects": "张三 书记", "categories": "全体,50,1", "min_turnout": "abc"}
    res = client.post("/console/rounds/new", data=form)
    assert res.status_code == 422 and "参评率下限应为 0～100 之间的百分数" in res.get_data(
        as_text=True)
    res = client.post("/console/rounds/new", data={**form, "min_turnout": "50%",
                                                    "flag_share": "25", "k": "6"})
    assert res.status_code == 303
    with app.app_context():
        rules = db.session.execute(db.select(Round)).scalar_one().result_rules
    assert rules["min_turnout"] == 0.5 and rules["k"] == 6
    assert rules["flags"] == [{"grades": ["incompetent"], "share_above": 0.25,
                               "label": "“不称职”率超过25%"}]


# ----------------------------------------------------------------- publish


def test_publish_is_blocked_below_the_participation_threshold(app, client, key):
    body = {"form": "recommendation", "title": "推荐", "max_choices": 1,
            "subjects": [{"name": "甲"}, {"name": "乙"}],
            "categories": [{"name": "全体", "expected_count": 30}]}
    rnd, _ = run_round(client, key, body, {"全体": [{"choices": [0]}] * 5})
    rid = rnd["id"]
    res = results_of(client, key, rid)
    assert res["validity"]["publishable"] is False
    assert "16.67%" in res["validity"]["reason"] and "三分之二" in res["validity"]["reason"]
    refused = lifecycle(client, key, rid, "publish")
    assert refused.status_code == 409
    assert refused.json["error"]["code"] == "turnout_below_threshold"
    assert "参评率 16.67%（实到 5 / 应到 30）未达到应到人数的三分之二" in (
        refused.json["error"]["message"])
    assert client.get(f"/api/v1/rounds/{rid}", headers=key).json["status"] == "closed"
    assert client.get(f"/api/v1/rounds/{rid}/receipts").status_code == 409


def test_console_says_why_it_cannot_publish(app, client, key):
    body = {"form": "appraisal", "title": "参评率不足", "subjects": [{"name": "甲"}],
            "categories": [{"name": "全体", "expected_count": 30}]}
    rnd, _ = run_round(client, key, body,
                       {"全体": [{"#0": {c: "excellent" for c in CRITERIA}}] * 6})
    rid = rnd["id"]
    login = client.get("/console/login").get_data(as_text=True)
    client.post("/console/login", data={"csrf_token": csrf_token(login),
                                        "username": "organizer", "password": "correct horse 1"})
    page = client.get(f"/console/rounds/{rid}").get_data(as_text=True)
    assert "参评率 20.0%（实到 6 / 应到 30）未达到应到人数的三分之二" in page
    assert "发布结果" not in page
    assert "下载 Excel" in page
    res = client.post(f"/console/rounds/{rid}/publish", data={"csrf_token": csrf_token(page)},
                      follow_redirects=True)
    assert "未达到应到人数的三分之二" in res.get_data(as_text=True)
    assert client.get(f"/api/v1/rounds/{rid}", headers=key).json["status"] == "closed"
    results = client.get(f"/console/rounds/{rid}/results").get_data(as_text=True)
    assert "不能发布" in results


def test_publish_at_the_threshold(app, client, key):
    body = {"form": "recommendation", "title": "推荐", "max_choices": 1,
            "subjects": [{"name": "甲"}, {"name": "乙"}],
            "categories": [{"name": "全体", "expected_count": 6}],
            "results": {"min_turnout": 0.5}}
    rnd, _ = run_round(client, key, body, {"全体": [{"choices": [1]}] * 3})
    assert lifecycle(client, key, rnd["id"], "publish").json["status"] == "published"


# ----------------------------------------------------------------- receipts


def test_published_receipts_list_only_codes_sorted(app, client, key):
    body = {"form": "appraisal", "title": "回执公示", "subjects": [{"name": "甲"}],
            "categories": [{"name": "全体", "expected_count": 8}]}
    ballots = [{"#0": {c: g for c in CRITERIA}} for g in ("excellent", "competent") * 4]
    rnd, receipts = run_round(client, key, body, {"全体": ballots}, close=False)
    rid = rnd["id"]
    for status in ("open", "closed"):
        if status == "closed":
            lifecycle(client, key, rid, "close")
        res = client.get(f"/api/v1/rounds/{rid}/receipts")
        assert res.status_code == 409 and res.json["error"]["code"] == "round_not_published"
        assert "尚未公布" in client.get(f"/r/{rid}").get_data(as_text=True)
    assert lifecycle(client, key, rid, "publish").json["status"] == "published"

    res = client.get(f"/api/v1/rounds/{rid}/receipts")  # public: no key
    assert res.status_code == 200
    assert set(res.json) == {"round_id", "title", "count", "receipts"}
    assert res.json["count"] == 8 and res.json["receipts"] == sorted(receipts)
    raw = res.get_data(as_text=True)
    assert "excellent" not in raw and "全体" not in raw  # no answers, no categories

    page = client.get(f"/r/{rid}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "回执码" in html and "核对" in html
    assert all(code in html for code in receipts)
    assert "excellent" not in html and "优秀" not in html
    assert "<script>" not in html and "receipts.js" in html
    assert client.get("/r/999999").status_code == 404
    assert client.get("/api/v1/rounds/999999/receipts").status_code == 404

    # a receipt can still be checked one by one (the existing voter API)
    check = client.post("/api/v1/receipts/check", json={"round_id": rid,
                                                         "receipt": receipts[0]}).json
    assert check["counted"] is True


def test_results_json_has_no_small_category_and_live_has_none_at_all(app, client, key):
    body = {"form": "appraisal", "title": "小类别", "subjects": [{"name": "甲"}, {"name": "乙"}],
            "categories": [{"name": "纪委委员", "expected_count": 3, "weight": 0.2},
                           {"name": "中层干部", "expected_count": 20, "weight": 0.4},
                           {"name": "职工代表", "expected_count": 20, "weight": 0.4}],
            "show_live_results": True}
    row = {c: "excellent" for c in CRITERIA}
    low = {c: "basic" for c in CRITERIA}
    ballots = {"纪委委员": [{"#0": low, "#1": row}] * 3,
               "中层干部": [{"#0": row, "#1": row}] * 6,
               "职工代表": [{"#0": row, "#1": low}] * 7}
    rnd, _ = run_round(client, key, body, ballots, close=False)
    live = results_of(client, key, rnd["id"])
    assert live["live"] is True and live["ballots"] == 16
    assert "by_category" in json.dumps(live)
    assert all(not v for v in _by_category_lists(live))
    lifecycle(client, key, rnd["id"], "close")
    res = results_of(client, key, rnd["id"])
    assert_k_safe_json(res, 5, {"纪委委员"})
    names = [g["name"] for g in res["appraisal"]["by_category"]]
    assert "纪委委员" not in names
    assert any(g["name"].startswith("其他") and "纪委委员" in g["categories"]
               for g in res["validity"]["by_category"])


def _by_category_lists(data):
    if isinstance(data, dict):
        for k, v in data.items():
            if k == "by_category":
                yield v
            else:
                yield from _by_category_lists(v)
    elif isinstance(data, list):
        for v in data:
            yield from _by_category_lists(v)


def test_results_hidden_before_close_unless_live_and_other_committees_404(app, client, key):
    body = {"form": "appraisal", "title": "隐藏", "subjects": [{"name": "甲"}],
            "categories": [{"name": "全体", "expected_count": 10}]}
    rnd = create(client, key, body)
    rid = rnd["id"]
    token = issue(client, key, rid, rnd["categories"][0]["id"], 1)[0]
    lifecycle(client, key, rid, "open")
    vote(client, token, {str(rnd["subjects"][0]["id"]): {c: "excellent" for c in CRITERIA}})
    res = client.get(f"/api/v1/rounds/{rid}/results", headers=key)
    assert res.status_code == 409 and res.json["error"]["code"] == "results_hidden"
    with app.app_context():
        from server.organization.models import Committee

        other = Committee(name="别的党委")
        db.session.add(other)
        db.session.commit()
        user, raw = organizer("other-org")
        user.committee_id = other.id
        db.session.commit()
    res = client.get(f"/api/v1/rounds/{rid}/results", headers={"Authorization": f"Bearer {raw}"})
    assert res.status_code == 404
