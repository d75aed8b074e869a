"""Results of an appraisal form with several sections: each section's subjects rated on
its own criteria and scale, ranked and flagged among themselves, and drawn as its own
table by the API, the console, the projector and the exports."""

from __future__ import annotations

import copy
import csv
import datetime as dt
import io
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from server.core.db import db
from server.forms.templates import load_forms
from server.points.feed import shares_from_results
from server.results.official import categories_of, subjects_of
from server.results.provisional import ballots_from_tally
from server.results.rules import round_rules
from server.results.view import board
from server.resultsengine.config import ResultRules
from server.resultsengine.engine import check_rules, compute_results, result_sections
from server.roundbase.models import Round, Subject, VoterCategory
from tests.factories import committee, organizer
from tests.support.rounds_http import lifecycle, run_round
from tests.test_console import login
from tests.test_exports import export, pdf_text

TEAM = {"key": "team", "label": "领导班子",
        "criteria": [{"key": "overall", "label": "总体评价", "overall": True}],
        "grades": [{"key": "good", "label": "好", "points": 100},
                   {"key": "fair", "label": "较好", "points": 85},
                   {"key": "average", "label": "一般", "points": 70},
                   {"key": "poor", "label": "差", "points": 50}]}
MEMBERS = {"key": "members", "label": "班子成员",
           "criteria": [{"key": "political", "label": "政治素质"},
                        {"key": "overall", "label": "总体评价", "overall": True}],
           "grades": [{"key": "excellent", "label": "优秀", "points": 95},
                      {"key": "competent", "label": "称职", "points": 85},
                      {"key": "basic", "label": "基本称职", "points": 75},
                      {"key": "incompetent", "label": "不称职", "points": 65},
                      {"key": "unknown", "label": "不了解", "abstain": True}]}
FLAGS = [{"grade": "incompetent", "share_above": 0.3333, "label": "“不称职”率超过三分之一"},
         {"grade": "poor", "share_above": 0.1, "label": "“差”率超过10%"},
         {"score_below": 80, "label": "得分低于80分"}]
FORM = {"kind": "appraisal", "key": "two_scales", "name": "领导班子和班子成员民主测评",
        "sections": [TEAM, MEMBERS], "criteria": TEAM["criteria"], "grades": TEAM["grades"],
        "results": {"min_turnout": 0.6667, "flags": FLAGS}}

SUBJECTS = [{"id": 1, "name": "领导班子", "note": "", "section": "team"},
            {"id": 11, "name": "张三", "note": "党委书记", "section": "members"},
            {"id": 12, "name": "李四", "note": "副总经理", "section": "members"}]
CATEGORY = {"id": 5, "name": "全体参会人员", "expected_count": 8, "weight": 1}
# Six ballots: (team overall, 张三 political, 张三 overall, 李四 political, 李四 overall)
SHEETS = [("good", "excellent", "excellent", "competent", "competent"),
          ("good", "excellent", "excellent", "competent", "competent"),
          ("good", "excellent", "excellent", "competent", "basic"),
          ("fair", "excellent", "competent", "incompetent", "incompetent"),
          ("fair", "competent", "basic", "incompetent", "incompetent"),
          ("poor", "competent", "unknown", "incompetent", "unknown")]


def answers(sheet: tuple[str, ...]) -> dict[str, Any]:
    team, p11, o11, p12, o12 = sheet
    return {"1": {"overall": team}, "11": {"political": p11, "overall": o11},
            "12": {"political": p12, "overall": o12}}


def results(form: dict[str, Any] = FORM, **rules: Any) -> dict[str, Any]:
    return compute_results(form, SUBJECTS, [CATEGORY], [(5, answers(s)) for s in SHEETS],
                           None, ResultRules(k=5, min_turnout=0.6667, flags=tuple(FLAGS),
                                             **rules))


def counts(criterion_row: dict[str, Any]) -> dict[str, tuple[int, float | None]]:
    return {g["key"]: (g["count"], g["rate_pct"]) for g in criterion_row["grades"]}


# ----------------------------------------------------------------- the engine


def test_each_section_on_its_own_scale():
    out = results()
    a = out["appraisal"]
    assert a["valid_ballots"] == 6 and [s["key"] for s in a["sections"]] == ["team", "members"]
    assert out["validity"]["total"] == {
        "expected": 8, "cast": 6, "valid": 6, "invalid": 0, "turnout_pct": 75.0,
        "electronic": {"cast": 6, "valid": 6, "invalid": 0},
        "paper": {"cast": 0, "valid": 0, "invalid": 0}}
    assert out["validity"]["publishable"]
    team, members = a["sections"]

    assert team["label"] == "领导班子"
    assert [g["label"] for g in team["grades"]] == ["好", "较好", "一般", "差"]
    [whole] = team["subjects"]
    # (3 x 100 + 2 x 85 + 1 x 50) / 6 = 520 / 6 = 86.666...
    assert (whole["name"], whole["score"], whole["rank"], whole["score_answers"]) == (
        "领导班子", 86.67, 1, 6)
    assert counts(whole["criteria"][0]) == {"good": (3, 50.0), "fair": (2, 33.33),
                                            "average": (0, 0.0), "poor": (1, 16.67)}
    assert whole["flags"] == ["“差”率超过10%"]  # 1/6 > 10%; no 不称职 on this scale

    assert members["label"] == "班子成员"
    assert [g["label"] for g in members["grades"]] == ["优秀", "称职", "基本称职", "不称职", "不了解"]
    assert [c["label"] for c in members["criteria"]] == ["政治素质", "总体评价"]
    assert members["order"] == [11, 12]
    zhang, li = members["subjects"]
    # 张三 overall: 3 优秀, 1 称职, 1 基本称职, 1 不了解 -> (285 + 85 + 75) / 5 = 89
    assert (zhang["score"], zhang["rank"], zhang["score_answers"], zhang["flags"]) == (
        89.0, 1, 5, [])
    political, overall = zhang["criteria"]
    assert counts(political) == {"excellent": (4, 66.67), "competent": (2, 33.33),
                                 "basic": (0, 0.0), "incompetent": (0, 0.0),
                                 "unknown": (0, None)}
    assert counts(overall) == {"excellent": (3, 60.0), "competent": (1, 20.0),
                               "basic": (1, 20.0), "incompetent": (0, 0.0),
                               "unknown": (1, None)}
    assert (overall["answered"], overall["abstained"]) == (5, 1)
    # 李四 overall: 2 称职, 1 基本称职, 2 不称职, 1 不了解 -> (170 + 75 + 130) / 5 = 75;
    # 不称职 2/5 = 40% > 1/3, and below 80
    assert (li["score"], li["rank"]) == (75.0, 2)
    assert li["flags"] == ["“不称职”率超过三分之一", "得分低于80分"]
    assert counts(li["criteria"][0])["incompetent"] == (3, 50.0)
    assert [g["ballots"] for g in members["by_category"]] == [6]


def test_rules_fit_a_section_or_are_refused():
    rules = ResultRules(flags=({"grade": "poor", "share_above": 0.2, "label": "差"},))
    check_rules(rules, FORM, [CATEGORY])  # 差 is on the team's scale only: fine
    for bad, why in (({"grade": "unknown", "share_above": 0.2, "label": "x"}, "non-abstain"),
                     ({"grade": "nope", "share_above": 0.2, "label": "x"}, "'nope'"),
                     ({"grade": "poor", "criterion": "political", "share_above": 0.2,
                       "label": "x"}, "unknown criterion")):
        with pytest.raises(ValueError, match="fits no section") as err:
            check_rules(ResultRules(flags=(bad,)), FORM, [CATEGORY])
        assert why in str(err.value)


def test_a_grade_from_another_scale_is_a_bug_not_a_count():
    ballots = [(5, {**answers(SHEETS[0]), "1": {"overall": "excellent"}})]
    with pytest.raises(ValueError, match="not in the form"):
        compute_results(FORM, SUBJECTS, [CATEGORY], ballots, None, ResultRules(k=1))


def test_subject_sections_from_a_bound_form_or_the_first():
    bound = {**FORM, "subject_sections": {"1": "team", "11": "members", "12": "members"}}
    bare = [{k: v for k, v in s.items() if k != "section"} for s in SUBJECTS]
    out = compute_results(bound, bare, [CATEGORY], [(5, answers(s)) for s in SHEETS], None,
                          ResultRules(k=5, flags=tuple(FLAGS)))
    assert out["appraisal"] == results()["appraisal"]
    team_only = [{**s, "section": ""} for s in SUBJECTS[:1]]
    out = compute_results(FORM, team_only, [CATEGORY], [(5, {"1": {"overall": "fair"}})] * 5)
    assert [len(p["subjects"]) for p in out["appraisal"]["sections"]] == [1, 0]


def test_one_section_results_unchanged():
    """A form of one section gives byte for byte what the same form without sections gave."""
    preset = load_forms(Path(__file__).resolve().parents[1] / "config" / "forms")["appraisal"]
    plain = {k: v for k, v in copy.deepcopy(preset).items() if k != "sections"}
    one = {**plain, "sections": [{"key": "main", "label": "", "criteria": plain["criteria"],
                                  "grades": plain["grades"]}]}
    crit = [c["key"] for c in plain["criteria"]]
    grades = [g["key"] for g in plain["grades"]]
    subs = [{"id": 7, "name": "甲", "note": ""}, {"id": 8, "name": "乙", "note": "", "section": ""}]
    ballots = [(5, {str(s): {c: grades[(i + j + s) % len(grades)] for j, c in enumerate(crit)}
                    for s in (7, 8)}) for i in range(9)]
    rules = ResultRules(flags=({"grade": "incompetent", "share_above": 0.1, "label": "x"},))
    before = compute_results(plain, subs, [CATEGORY], ballots, None, rules)
    after = compute_results(one, subs, [CATEGORY], ballots, None, rules)
    assert json.dumps(after, ensure_ascii=False) == json.dumps(before, ensure_ascii=False)
    assert "sections" not in after["appraisal"] and result_sections(after["appraisal"]) == [
        after["appraisal"]]


def test_live_ballots_from_the_tally_give_the_same_figures():
    fields: Counter[str] = Counter()
    for sheet in SHEETS:
        for sid, row in answers(sheet).items():
            for crit, grade in row.items():
                fields[f"{sid}:{crit}:{grade}"] += 1
    rebuilt = ballots_from_tally(FORM, [1, 11, 12], len(SHEETS), fields)
    again = compute_results(FORM, SUBJECTS, [CATEGORY], [(5, b) for b in rebuilt], None,
                            ResultRules(k=5, min_turnout=0.6667, flags=tuple(FLAGS)))
    assert again["appraisal"] == results()["appraisal"]


def test_board_and_points_per_section():
    out = results()
    b = board({**out, "live": False, "ballots": 6})
    assert b["kind"] == "appraisal" and "subjects" not in b
    team, members = b["sections"]
    assert (team["label"], team["caption"], team["abstain_label"]) == ("领导班子", "总体评价", None)
    assert [g["label"] for g in team["grades"]] == ["好", "较好", "一般", "差"]
    assert [(x["key"], x["count"], x["pct"]) for x in team["subjects"][0]["bars"]] == [
        ("good", 3, 50.0), ("fair", 2, 33.33), ("average", 0, 0.0), ("poor", 1, 16.67)]
    assert (members["label"], members["abstain_label"]) == ("班子成员", "不了解")
    assert [g["label"] for g in members["grades"]] == ["优秀", "称职", "基本称职", "不称职"]
    assert [(s["name"], s["abstained"]) for s in members["subjects"]] == [("张三", 1), ("李四", 1)]
    # each subject's score against the top grade of its own scale
    shares = shares_from_results(out)
    assert {sid: float(v) for sid, v in shares.items()} == pytest.approx(
        {1: 86.67 / 100, 11: 89 / 95, 12: 75 / 95})


# ----------------------------------------------------------------- screens and exports


def published_round(app) -> tuple[int, dict[str, str]]:
    """A published round of FORM whose frozen results are the engine's over SHEETS."""
    with app.app_context():
        _, raw = organizer()
        rnd = Round(committee_id=committee().id, title="2026年度两级民主测评", kind="appraisal",
                    form_key=FORM["key"], form_json=json.dumps(FORM, ensure_ascii=False),
                    status="published", closed_at=dt.datetime(2026, 12, 6, 2, 0),
                    published_at=dt.datetime(2026, 12, 6, 3, 0))
        rnd.subjects = [Subject(position=i, name=s["name"], note=s["note"], section=s["section"])
                        for i, s in enumerate(SUBJECTS)]
        rnd.categories = [VoterCategory(position=0, name=CATEGORY["name"], expected_count=8,
                                        weight=1.0)]
        db.session.add(rnd)
        db.session.flush()
        ids = {old["id"]: str(new.id) for old, new in zip(SUBJECTS, rnd.subjects, strict=True)}
        cid = rnd.categories[0].id
        ballots = [(cid, {ids[int(k)]: v for k, v in answers(s).items()}) for s in SHEETS]
        official = compute_results(rnd.form, subjects_of(rnd), categories_of(rnd), ballots,
                                   None, round_rules(rnd.form))
        rnd.result_json = json.dumps({"turnout": {str(cid): 6}, "tallies": {}, "ballots": 6,
                                      "official": official})
        db.session.commit()
        return rnd.id, {"Authorization": f"Bearer {raw}"}


def test_results_api_and_console_show_each_section(app, client):
    rid, key = published_round(app)
    res = client.get(f"/api/v1/rounds/{rid}/results", headers=key)
    assert res.status_code == 200, res.json
    parts = res.json["appraisal"]["sections"]
    assert [(p["label"], [s["name"] for s in p["subjects"]]) for p in parts] == [
        ("领导班子", ["领导班子"]), ("班子成员", ["张三", "李四"])]
    assert parts[1]["subjects"][1]["score"] == 75.0

    pj = client.get(f"/api/v1/rounds/{rid}/projector", headers=key)
    assert pj.status_code == 200
    assert [p["label"] for p in pj.json["results"]["sections"]] == ["领导班子", "班子成员"]

    assert login(client).status_code == 302
    page = client.get(f"/console/rounds/{rid}/results")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "领导班子 · 综合得分排名" in html and "班子成员 · 综合得分排名" in html
    team_table = html[html.index("领导班子 · 综合得分排名"):html.index("班子成员 · 综合得分排名")]
    assert "较好" in team_table and "不称职" not in team_table
    assert "86.67" in team_table
    members_table = html[html.index("班子成员 · 综合得分排名"):]
    assert "基本称职" in members_table and "较好" not in members_table
    assert "89.00" in members_table and "75.00" in members_table


def test_exports_hold_both_sections(app, client, tmp_path):
    rid, key = published_round(app)
    files = {}
    for fmt in ("xlsx", "pdf", "csv"):
        res = export(client, key, rid, fmt)
        assert res.status_code == 200, res.get_data(as_text=True)
        files[fmt] = res.data

    wb = load_workbook(io.BytesIO(files["xlsx"]))
    assert wb.sheetnames[:2] == ["领导班子汇总", "领导班子"]
    assert "班子成员汇总" in wb.sheetnames and {"张三", "李四", "有效性"} <= set(wb.sheetnames)

    def cells(name: str) -> list[list[Any]]:
        return [list(r) for r in wb[name].iter_rows(values_only=True)]

    team = cells("领导班子汇总")
    assert team[1][0] == "领导班子测评结果汇总表"
    head = [h for h in team[5] if h]  # the grade header row (row 4 is the table's title)
    assert head[4:11] == ["好", "较好", "一般", "差", "较好以上率", "一般以上率", "标记"]
    [row] = [r for r in team if r[1] == "领导班子"]
    assert row[:12] == [1, "领导班子", None, 86.67, 3, 0.5, 2, 0.3333, 0, 0, 1, 0.1667]
    assert row[12:15] == [pytest.approx(0.8333), pytest.approx(0.8333), "“差”率超过10%"]

    members = cells("班子成员汇总")
    assert members[1][0] == "班子成员测评结果汇总表"
    head = [h for h in members[5] if h]
    assert head[4:9] == ["优秀", "称职", "基本称职", "不称职", "不了解（票）"]
    rows = {r[1]: r for r in members if r[1] in ("张三", "李四")}
    # 名次 姓名 职务 得分 | 优秀 n % | 称职 n % | 基本称职 n % | 不称职 n % | 不了解 | 标记
    assert rows["张三"][:13] == [1, "张三", "党委书记", 89, 3, 0.6, 1, 0.2, 1, 0.2, 0, 0, 1]
    assert rows["李四"][:13] == [2, "李四", "副总经理", 75, 0, 0, 2, 0.4, 1, 0.2, 2, 0.4, 1]
    # … | 称职以上率 基本称职以上率 | 标记
    assert rows["张三"][13:15] == [pytest.approx(0.8), pytest.approx(1)]
    assert rows["李四"][15] == "“不称职”率超过三分之一；得分低于80分"
    zhang = cells("张三")
    assert zhang[1][0] == "班子成员 · 测评对象：张三（党委书记）"
    [political] = [r[:11] for r in zhang if r[0] == "政治素质"]
    assert political == pytest.approx(["政治素质", 4, 0.6667, 2, 0.3333, 0, 0, 0, 0, 0, 6])

    text = pdf_text(files["pdf"], tmp_path)
    for words in ("领导班子测评结果汇总表", "班子成员测评结果汇总表", "较好", "基本称职",
                  "86.67", "89.00", "75.00", "“不称职”率超过三分之一"):
        assert words in text, words
    assert text.index("领导班子测评结果汇总表") < text.index("班子成员测评结果汇总表")

    # the tidy CSV: each section's rows on its own scale, keyed by the section
    rows = list(csv.DictReader(io.StringIO(files["csv"].decode("utf-8-sig"))))
    sections = {r["subject"]: r["section"] for r in rows if r["subject"]}
    assert sections == {"领导班子": "appraisal:team", "张三": "appraisal:members",
                        "李四": "appraisal:members"}
    team = {r["measure"]: r["value"] for r in rows if r["subject"] == "领导班子"
            and r["category"] == "全部" and r["criterion"] in ("", "overall")}
    assert (team["rank"], team["score"], team["count:good"], team["share:good"],
            team["share:poor"]) == ("1", "86.67", "3", "0.5", "0.1667")
    assert "count:incompetent" not in team
    li = {r["measure"]: r["shown"] for r in rows if r["subject"] == "李四"
          and r["category"] == "全部" and r["criterion"] in ("", "overall")}
    assert (li["rank"], li["score"], li["share:competent"], li["count:unknown"]) == (
        "2", "75.00", "40.00%", "1")


def test_a_designed_form_of_two_sections_through_the_api(app, client, tmp_path):
    """Design the form, build a round, vote, watch live results, close, export."""
    with app.app_context():
        _, raw = organizer("designer")
    key = {"Authorization": f"Bearer {raw}"}
    definition = {k: v for k, v in FORM.items() if k not in ("criteria", "grades", "key")}
    made = client.post("/api/v1/forms", json={"definition": definition}, headers=key)
    assert made.status_code == 201, made.json
    body = {"form_id": made.json["id"], "title": "两级测评", "show_live_results": True,
            "subjects": [{k: s[k] for k in ("name", "note", "section")} for s in SUBJECTS],
            "categories": [{"name": CATEGORY["name"], "expected_count": 8}]}
    sheets = {CATEGORY["name"]: [{f"#{i}": row for i, row in enumerate(answers(s).values())}
                                 for s in SHEETS]}
    rnd, _ = run_round(client, key, body, sheets, close=False)
    rid = rnd["id"]

    def figures(res: dict[str, Any]) -> list[tuple[str, list[tuple[str, Any, Any, list[str]]]]]:
        return [(p["label"], [(s["name"], s["score"], s["rank"], s["flags"])
                              for s in p["subjects"]])
                for p in res["appraisal"]["sections"]]

    expected = [("领导班子", [("领导班子", 86.67, 1, ["“差”率超过10%"])]),
                ("班子成员", [("张三", 89.0, 1, []),
                          ("李四", 75.0, 2, ["“不称职”率超过三分之一", "得分低于80分"])])]
    live = client.get(f"/api/v1/rounds/{rid}/results", headers=key)
    assert live.status_code == 200 and live.json["live"], live.json
    assert figures(live.json) == expected
    assert lifecycle(client, key, rid, "close").status_code == 200
    official = client.get(f"/api/v1/rounds/{rid}/results", headers=key).json
    assert not official["live"] and figures(official) == expected
    scales = [(p["key"], p["criteria"], p["grades"]) for p in official["appraisal"]["sections"]]
    assert scales == [(p["key"], p["criteria"], p["grades"])
                      for p in results()["appraisal"]["sections"]]
    members = official["appraisal"]["sections"][1]["subjects"]
    assert [counts(c) for c in members[1]["criteria"]] == [
        {"excellent": (0, 0.0), "competent": (3, 50.0), "basic": (0, 0.0),
         "incompetent": (3, 50.0), "unknown": (0, None)},
        {"excellent": (0, 0.0), "competent": (2, 40.0), "basic": (1, 20.0),
         "incompetent": (2, 40.0), "unknown": (1, None)}]

    text = pdf_text(export(client, key, rid, "pdf").data, tmp_path)
    assert "领导班子测评结果汇总表" in text and "班子成员测评结果汇总表" in text


@pytest.mark.browser
def test_projector_pages_through_each_section(app, tmp_path, browser):
    """In Chromium: the big screen shows one section at a time, on its own scale."""
    from playwright.sync_api import expect

    from tests.support.liveserver import live_server

    rid, _ = published_round(app)
    with live_server(app) as base:
        ctx = browser.new_context(viewport={"width": 1600, "height": 900}, locale="zh-CN")
        page = ctx.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"{base}/console/login")
        page.fill("input[name=username]", "organizer")
        page.fill("input[name=password]", "correct horse 1")
        page.get_by_role("button", name="登录").click()
        page.wait_for_url(lambda url: "/console/login" not in url)
        page.clock.install()
        page.goto(f"{base}/console/rounds/{rid}/projector")
        title, legend = page.locator("#pj-res-title"), page.locator("#pj-legend")
        expect(title).to_have_text("测评结果 · 领导班子（总体评价）")
        expect(legend).to_have_text("好较好一般差")
        expect(page.locator("#pj-page")).to_have_text("1 / 2")
        expect(page.locator(".pj-card-name")).to_have_text(["领导班子"])
        page.clock.run_for(12_500)  # the next page
        expect(title).to_have_text("测评结果 · 班子成员（总体评价）")
        expect(legend).to_have_text("优秀称职基本称职不称职")
        expect(page.locator(".pj-card-name")).to_have_text(["张三", "李四"])
        expect(page.locator(".pj-card").nth(1)).to_contain_text("不了解 1")
        expect(page.locator(".pj-card").nth(1)).to_contain_text("“不称职”率超过三分之一")
        page.screenshot(path=str(tmp_path / "projector-members.png"))
        ctx.close()
        assert not errors, errors
