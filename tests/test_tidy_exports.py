"""Issue 22, part 9: exports a program can read too.

The tidy CSV read back with the stdlib `csv` module gives the same numbers as the JSON
results (every count, rate, score, rank, level of every subject of a two-section
appraisal with levels and a veto, a recommendation and a scoring round with
trimming); hidden figures have no row; the xlsx holds the values shown; every export
names one charset; the OpenAPI document types the results, and the API's answer
loses nothing to its schema."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from typing import Any

import pytest
from openpyxl import load_workbook

from server.results.export_csv import HEADER
from server.results.report import RECOMMEND_STATUS
from server.resultsengine.engine import result_sections
from tests.factories import organizer
from tests.support.rounds_http import run_round
from tests.test_assessment import scene  # noqa: F401 (a fixture)
from tests.test_exports import appraisal_round, grades
from tests.test_results_sections import FORM, SHEETS, SUBJECTS, answers

MEMBER_LEVELS = [
    {"level": "优秀", "when": [{"rate": "优秀率", "at_least": "1/2"}], "quota": 1},
    {"level": "称职", "when": [{"rate": "称职以上率", "at_least": "2/3"}]},
    {"level": "基本称职"},
]
VETO = {"label": "不称职票超过三分之一", "when": [{"flag": "“不称职”率超过三分之一"}],
        "level": "基本称职"}
REVIEW_LEVELS = [{"level": "好", "when": [{"score": "总分", "at_least": 80}]},
                 {"level": "一般"}]
# five scorers, two secretaries; totals of 书记甲 90, 70, 81, 99, 60: trimmed (by total)
# to (90 + 70 + 81) / 3 = 80.33
PANEL = [[28, 22, 18, 14, 8], [20, 20, 10, 10, 10], [25, 20, 16, 12, 8],
         [30, 25, 20, 15, 9], [18, 15, 12, 9, 6]]


@pytest.fixture
def key(app):
    with app.app_context():
        _, raw = organizer()
    return {"Authorization": f"Bearer {raw}"}


def sections_round(client, key) -> int:
    """The two-section appraisal (tests/test_results_sections.py) with 考核等次 for the
    班子成员 and a veto: 李四's 不称职 above one third takes him out of the ranking."""
    definition = {k: v for k, v in FORM.items() if k not in ("criteria", "grades", "key")}
    made = client.post("/api/v1/forms", json={"definition": definition}, headers=key)
    assert made.status_code == 201, made.json
    body = {"form_id": made.json["id"], "title": "两级测评",
            "subjects": [{k: s[k] for k in ("name", "note", "section")} for s in SUBJECTS],
            "categories": [{"name": "全体参会人员", "expected_count": 8}],
            "results": {"levels": MEMBER_LEVELS, "vetoes": [VETO]}}
    sheets = [{f"#{i}": row for i, row in enumerate(answers(s).values())} for s in SHEETS]
    rnd, _ = run_round(client, key, body, {"全体参会人员": sheets})
    return rnd["id"]


def recommendation_round(client, key) -> int:
    """Eight 党员 and two 群众 (below k: merged into nothing shown) choose two of four."""
    body = {"form": "recommendation", "title": "后备干部民主推荐", "max_choices": 2,
            "subjects": [{"name": n} for n in ("甲", "乙", "丙", "丁")],
            "categories": [{"name": "党员", "expected_count": 9},
                           {"name": "群众", "expected_count": 2}]}
    picks = [[0, 1]] * 5 + [[0, 2]] * 2 + [[1, 3]]
    rnd, _ = run_round(client, key, body, {"党员": [{"choices": p} for p in picks],
                                           "群众": [{"choices": [2, 3]}] * 2})
    return rnd["id"]


def scoring_round(client, key) -> int:
    body = {"form": "review", "title": "党支部书记述职评议",
            "subjects": [{"name": "书记甲"}, {"name": "书记乙", "note": "第二支部"}],
            "categories": [{"name": "评委", "expected_count": 5}],
            "results": {"trim": 1, "min_turnout": 0, "levels": REVIEW_LEVELS}}
    items = ["responsibility", "organization", "conduct", "innovation", "answers"]
    sheets = [{"#0": dict(zip(items, p, strict=True)),
               "#1": dict(zip(items, [x - 3 if x > 5 else x for x in p], strict=True))}
              for p in PANEL]
    rnd, _ = run_round(client, key, body, {"评委": sheets})
    return rnd["id"]


def results(client, key, rid: int) -> dict[str, Any]:
    res = client.get(f"/api/v1/rounds/{rid}/results", headers=key)
    assert res.status_code == 200, res.json
    return res.json


def read_csv(client, key, rid: int) -> list[dict[str, str]]:
    res = client.get(f"/api/v1/rounds/{rid}/export.csv", headers=key)
    assert res.status_code == 200
    text = res.data.decode("utf-8")
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text[1:])))
    assert rows[0] == HEADER and all(len(r) == len(HEADER) for r in rows)
    return [dict(zip(HEADER, r, strict=True)) for r in rows[1:]]


# ----------------------------------------------------------------- the JSON's figures


def group_name(g: dict[str, Any]) -> str:
    return f"{g['name']}（{'、'.join(g['categories'])}）" if g["merged"] else g["name"]


Figure = tuple[str, str, str, str, str, Any]


def json_figures(res: dict[str, Any]) -> Counter[Figure]:
    """Every figure of the JSON results, as (section, subject id, category, criterion,
    measure, value): a rate as its fraction, a yes/no as 1/0, text as itself; a
    withheld (null) figure is no figure."""
    out: Counter[Figure] = Counter()

    def put(section: str, sid: Any, category: str, criterion: str, measure: str,
            value: Any, ratio: bool = False) -> None:
        if value is not None:
            number = isinstance(value, int | float) and not isinstance(value, bool)
            value = round(value / 100, 4) if ratio else float(value) if number else (
                float(value) if isinstance(value, bool) else value)
            out[(section, str(sid), category, criterion, measure, value)] += 1

    v = res["validity"]
    for name, row in [*((group_name(g), g) for g in v["by_category"]), ("全部", v["total"])]:
        for m in ("expected", "cast", "valid", "invalid"):
            put("validity", "", name, "", m, row[m])
        put("validity", "", name, "", "turnout", row["turnout_pct"], ratio=True)
    put("validity", "", "全部", "", "publishable", v["publishable"])

    def decisions(section: str, s: dict[str, Any]) -> None:
        for m in ("rank", "level", "level_tie"):
            put(section, s["id"], "全部", "", m, s[m])
        for veto in s["vetoes"]:
            put(section, s["id"], "全部", "", "veto", veto)
        for flag in s["flags"]:
            put(section, s["id"], "全部", "", "flag", flag)

    def criteria(section: str, sid: int, category: str, rows: list[dict[str, Any]]) -> None:
        for c in rows:
            put(section, sid, category, c["key"], "answered", c["answered"])
            put(section, sid, category, c["key"], "abstained", c["abstained"])
            for g in c["grades"]:
                put(section, sid, category, c["key"], f"count:{g['key']}", g["count"])
                put(section, sid, category, c["key"], f"share:{g['key']}", g["rate_pct"],
                    ratio=True)

    if res["kind"] == "appraisal":
        for a in result_sections(res["appraisal"]):
            section = f"appraisal:{a.get('key', 'main')}"
            for s in a["subjects"]:
                put(section, s["id"], "全部", "", "score", s["score"])
                put(section, s["id"], "全部", "", "score_answers", s["score_answers"])
                decisions(section, s)
                for r in s["rates"]:
                    put(section, s["id"], "全部", "", f"rate:{r['key']}", r["pct"], ratio=True)
                criteria(section, s["id"], "全部", s["criteria"])
            for g in a["by_category"]:
                for s in g["subjects"]:
                    put(section, s["id"], group_name(g), "", "score", s["score"])
                    criteria(section, s["id"], group_name(g), s["criteria"])
    elif res["kind"] == "recommendation":
        r = res["recommendation"]
        put("recommendation", "", "全部", "", "places", r["places"])
        put("recommendation", "", "全部", "", "threshold", r["threshold_pct"], ratio=True)
        for c in r["candidates"]:
            for m, value, ratio in (("votes", c["votes"], False),
                                    ("vote_share", c["vote_pct"], True),
                                    ("rank", c["rank"], False),
                                    ("passes_threshold", c["passes_threshold"], False),
                                    ("selected", c["status"] == "selected", False),
                                    ("status", RECOMMEND_STATUS[c["status"]], False)):
                put("recommendation", c["id"], "全部", "", m, value, ratio)
        for g in r["by_category"]:
            for c in g["candidates"]:
                put("recommendation", c["id"], group_name(g), "", "votes", c["votes"])
    else:
        sc = res["scoring"]
        for s in sc["subjects"]:
            put("scoring", s["id"], "全部", "", "total", s["total"])
            put("scoring", s["id"], "全部", "", "total_trimmed", s["total_trimmed"])
            decisions("scoring", s)
            for i in s["items"]:
                put("scoring", s["id"], "全部", i["key"], "mean", i["mean"])
                put("scoring", s["id"], "全部", i["key"], "trimmed", i["trimmed"])
        for g in sc["by_category"]:
            for s in g["subjects"]:
                put("scoring", s["id"], group_name(g), "", "total", s["total"])
                for i in s["items"]:
                    put("scoring", s["id"], group_name(g), i["key"], "mean", i["mean"])
    return out


def csv_figures(rows: list[dict[str, str]]) -> Counter[Figure]:
    """The same from the CSV: the value column's number, or the shown text."""
    return Counter((r["section"], r["subject_id"], r["category"], r["criterion"], r["measure"],
                    r["shown"] if r["unit"] == "text" else float(r["value"]))
                   for r in rows if r["measure"] != "weight")


def shown_text(r: dict[str, str]) -> str:
    """What the results show for a row's value."""
    x = float(r["value"])
    return {"ratio": f"{x * 100:.2f}%", "points": f"{x:.2f}", "bool": "是" if x else "否",
            "weight": f"{x:g}"}.get(r["unit"], str(int(x)))


# ----------------------------------------------------------------- the tidy CSV


@pytest.mark.parametrize("make", [sections_round, recommendation_round, scoring_round])
def test_tidy_csv_reads_back_into_the_json_numbers(app, client, key, make):
    rid = make(client, key)
    res = results(client, key, rid)
    rows = read_csv(client, key, rid)
    assert {r["round_id"] for r in rows} == {str(rid)} and {r["rehearsal"] for r in rows} == {"0"}
    assert csv_figures(rows) == json_figures(res)
    for r in rows:
        assert r["unit"] in ("count", "ratio", "points", "rank", "bool", "text"), r
        if r["unit"] == "text":
            assert r["value"] == "" and r["shown"]
        else:  # a number written as a number, and shown as the results show it
            assert r["value"] == repr(float(r["value"])) or r["value"] == str(int(r["value"]))
            assert r["shown"] == shown_text(r), r
    # one row per subject × measure (× category × criterion): no figure twice
    keys = Counter((r["section"], r["subject_id"], r["category"], r["criterion"],
                    r["measure"]) for r in rows if r["measure"] not in ("veto", "flag"))
    assert max(keys.values()) == 1


def by_subject(rows: list[dict[str, str]], name: str, category: str = "全部"
               ) -> dict[str, str]:
    """measure -> value (or shown text) of one subject's rows of one category."""
    return {(f"{r['criterion']}/" if r["criterion"] else "") + r["measure"]:
            r["shown"] if r["unit"] == "text" else r["value"]
            for r in rows if r["subject"] == name and r["category"] == category
            and r["measure"] not in ("veto", "flag")}


def test_the_appraisal_rows_say_what_the_results_say(app, client, key):
    rows = read_csv(client, key, sections_round(client, key))
    team = by_subject(rows, "领导班子")
    assert {r["section"] for r in rows if r["subject"] == "领导班子"} == {"appraisal:team"}
    # (3 x 100 + 2 x 85 + 50) / 6 = 86.67; 差 1 of 6 = 16.67% (0.1667, not 0.16670000000000001)
    assert (team["score"], team["rank"], team["overall/count:poor"],
            team["overall/share:poor"]) == ("86.67", "1", "1", "0.1667")
    assert "level" not in team  # no 等次 rule fits the 好/较好 scale
    zhang, li = by_subject(rows, "张三"), by_subject(rows, "李四")
    assert (zhang["score"], zhang["rank"], zhang["level"]) == ("89.0", "1", "优秀")
    assert zhang["rate:excellent"] == "0.6" and zhang["rate:competent+"] == "0.8"
    assert zhang["overall/count:unknown"] == "1" and zhang["overall/answered"] == "5"
    # 李四: 不称职 2 of 5 > 1/3, vetoed: no rank, 等次 set by the veto
    assert "rank" not in li and li["level"] == "基本称职"
    assert li["rate:incompetent"] == "0.4" and li["rate:competent+"] == "0.4"
    marks = [(r["measure"], r["shown"]) for r in rows
             if r["subject"] == "李四" and r["measure"] in ("veto", "flag")]
    assert marks == [("veto", "不称职票超过三分之一"), ("flag", "“不称职”率超过三分之一"),
                     ("flag", "得分低于80分")]
    validity = {r["measure"]: r["value"] for r in rows
                if r["section"] == "validity" and r["category"] == "全部"}
    assert validity == {"expected": "8", "cast": "6", "valid": "6", "invalid": "0",
                        "turnout": "0.75", "publishable": "1"}


def test_the_recommendation_and_scoring_rows(app, client, key):
    rows = read_csv(client, key, recommendation_round(client, key))
    jia, bing = by_subject(rows, "甲"), by_subject(rows, "丙")
    assert (jia["votes"], jia["vote_share"], jia["rank"], jia["selected"], jia["status"]) == (
        "7", "0.7", "1", "1", "推荐人选")
    assert (bing["votes"], bing["passes_threshold"], bing["status"]) == ("4", "0", "未超过规定比例")

    rows = read_csv(client, key, scoring_round(client, key))
    jia = by_subject(rows, "书记甲")
    # totals 90, 70, 81, 99, 60 less the highest and the lowest: (90 + 70 + 81) / 3
    assert (jia["total"], jia["total_trimmed"], jia["rank"], jia["level"]) == (
        "80.33", "1", "1", "好")
    assert jia["responsibility/mean"] == "24.2" and jia["responsibility/trimmed"] == "0"
    yi = by_subject(rows, "书记乙")
    assert (yi["total"], yi["rank"], yi["level"]) == ("65.33", "2", "一般")
    assert {r["note"] for r in rows if r["subject"] == "书记乙"} == {"第二支部"}


def test_hidden_figures_have_no_row(app, client, key):
    """纪委委员 (3 ballots, k = 5) is hidden with whatever would reveal it; what the JSON
    withholds the CSV leaves out, never writes as 0."""
    rnd, _ = appraisal_round(client, key)
    res = results(client, key, rnd["id"])
    rows = read_csv(client, key, rnd["id"])
    assert csv_figures(rows) == json_figures(res)
    shown = {g["name"] for g in res["appraisal"]["by_category"]}
    assert "纪委委员" not in shown
    categories = {r["category"] for r in rows}
    assert not [c for c in categories if c.startswith("纪委委员")]
    assert categories - {"全部"} <= {group_name(g) for g in res["validity"]["by_category"]}
    weights = {r["category"]: r["value"] for r in rows if r["measure"] == "weight"}
    assert weights and all(w in ("0.4", "0.6", "0.2", "1.0") for w in weights.values())

    # two categories at official weights: the counts are withheld, score and rank stay
    body = {"form": "appraisal", "title": "加权", "subjects": [{"name": "张三"}, {"name": "李四"}],
            "categories": [{"name": "职工", "expected_count": 6, "weight": 0.7},
                           {"name": "领导", "expected_count": 3, "weight": 0.3}],
            "results": {"min_turnout": 0}}
    ballots = {"职工": [{"#0": grades("excellent"), "#1": grades("competent")}] * 6,
               "领导": [{"#0": grades("competent"), "#1": grades("basic")}] * 3}
    rnd, _ = run_round(client, key, body, ballots)
    res = results(client, key, rnd["id"])
    assert res["appraisal"]["counts_hidden"]
    rows = read_csv(client, key, rnd["id"])
    assert csv_figures(rows) == json_figures(res)
    measures = {r["measure"] for r in rows if r["subject"]}
    assert {"score", "rank"} <= measures
    assert not [m for m in measures if m.startswith(("count:", "share:", "rate:"))]
    assert "answered" not in measures


def test_a_rehearsal_csv_says_so_on_every_row(app, client, key):
    from tests.support.rounds_http import create, issue, vote

    rnd = create(client, key, {"form": "recommendation", "title": "演练推荐", "max_choices": 1,
                               "subjects": [{"name": "甲"}, {"name": "乙"}],
                               "categories": [{"name": "党员", "expected_count": 5}]})
    rid = rnd["id"]
    assert client.post(f"/api/v1/rounds/{rid}/rehearse", headers=key).status_code == 200
    for token in issue(client, key, rid, rnd["categories"][0]["id"], 5):
        vote(client, token, {"choices": [rnd["subjects"][0]["id"]]})
    assert client.post(f"/api/v1/rounds/{rid}/close", headers=key).status_code == 200
    rows = read_csv(client, key, rid)
    assert rows and {r["rehearsal"] for r in rows} == {"1"}


# ----------------------------------------------------------------- the xlsx


def test_xlsx_cells_hold_the_values_shown(app, client, key):
    rid = sections_round(client, key)
    res = results(client, key, rid)
    data = client.get(f"/api/v1/rounds/{rid}/export.xlsx", headers=key).data
    wb = load_workbook(io.BytesIO(data))
    numbers = [c for ws in wb for row in ws.iter_rows() for c in row
               if isinstance(c.value, int | float)]
    pcts = [c.value for c in numbers if c.number_format == "0.00%"]
    assert pcts and all(v == round(v, 4) for v in pcts)
    assert 0.1667 in pcts  # 差 1 of 6: the value shown, not 16.67 / 100
    assert all(c.value == round(c.value, 2) for c in numbers if c.number_format == "0.00")
    assert all(isinstance(c.value, int) for c in numbers if c.number_format == "0")
    team = wb["领导班子汇总"]
    values = [[c.value for c in row] for row in team.iter_rows()]
    whole = next(r for r in values if r[1] == "领导班子")
    s = result_sections(res["appraisal"])[0]["subjects"][0]
    assert whole[3] == s["score"] == 86.67
    assert whole[4:12] == [3, 0.5, 2, 0.3333, 0, 0.0, 1, 0.1667]


# ----------------------------------------------------------------- Content-Type


def one_charset(res: Any) -> str:
    types = res.headers.get_all("Content-Type")
    assert len(types) == 1, types
    assert types[0].lower().count("charset") <= 1, types[0]
    return types[0]


def test_every_export_names_one_charset(app, client, key):
    rid = scoring_round(client, key)
    want = {"csv": "text/csv; charset=utf-8", "pdf": "application/pdf",
            "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
    for fmt, content_type in want.items():
        res = client.get(f"/api/v1/rounds/{rid}/export.{fmt}", headers=key)
        assert res.status_code == 200 and one_charset(res) == content_type
    for url in (f"/api/v1/rounds/{rid}/results", f"/api/v1/rounds/{rid}/projector",
                f"/api/v1/rounds/{rid}", "/api/v1/openapi.json"):
        res = client.get(url, headers=key)
        assert res.status_code == 200 and one_charset(res).startswith("application/json")
    assert client.post(f"/api/v1/rounds/{rid}/publish", headers=key).status_code == 200
    res = client.get(f"/api/v1/rounds/{rid}/receipts")
    assert res.status_code == 200 and one_charset(res).startswith("application/json")
    from tests.test_console import login

    login(client)
    for url in (f"/console/rounds/{rid}/results", f"/r/{rid}"):
        res = client.get(url)
        if res.status_code == 200:
            assert one_charset(res) == "text/html; charset=utf-8"


def test_the_combined_assessment_export_names_one_charset(client, scene):  # noqa: F811
    from tests.support.assessment import xlsx
    from tests.test_assessment import SHEET, _create, _parts, _upload

    a = _create(client, scene, parts=_parts(scene))
    assert _upload(client, scene, a["id"], xlsx(SHEET)).status_code == 200
    res = client.get(f"/api/v1/assessments/{a['id']}/export.xlsx", headers=scene["auth"])
    assert res.status_code == 200 and one_charset(res) == (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")


# ----------------------------------------------------------------- the OpenAPI document


def _resolve(spec: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node or len(node.get("allOf", [])) == 1:
        node = node["allOf"][0] if "allOf" in node else (
            spec["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]])
    return node


def free_form(spec: dict[str, Any], node: dict[str, Any], path: str, seen: set[str]
              ) -> list[str]:
    """Paths of objects without properties (free-form) under `node`."""
    if "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[1]
        if name in seen:
            return []
        seen = seen | {name}
    node = _resolve(spec, node)
    found: list[str] = []
    for alt in node.get("oneOf", []) + node.get("allOf", []):
        found += free_form(spec, alt, path, seen)
    if node.get("type") == "object" or "properties" in node:
        extra = node.get("additionalProperties")
        if not node.get("properties") and not isinstance(extra, dict):
            found.append(path)
        for name, prop in node.get("properties", {}).items():
            found += free_form(spec, prop, f"{path}.{name}", seen)
        if isinstance(extra, dict):
            found += free_form(spec, extra, f"{path}.*", seen)
    if node.get("type") == "array":
        found += free_form(spec, node.get("items", {}), f"{path}[]", seen)
    elif "oneOf" not in node and "type" not in node and path.count(".") > 1:
        found.append(f"{path} (untyped)")
    return found


def response_schema(spec: dict[str, Any], path: str) -> dict[str, Any]:
    return spec["paths"][path]["get"]["responses"]["200"]["content"]["application/json"][
        "schema"]


def test_openapi_types_every_result_structure(client):
    spec = client.get("/api/v1/openapi.json").json
    results = response_schema(spec, "/api/v1/rounds/{round_id}/results")
    projector = response_schema(spec, "/api/v1/rounds/{round_id}/projector")
    assert free_form(spec, results, "ResultsOut", set()) == []
    assert free_form(spec, projector, "ProjectorOut", set()) == []

    def at(node: dict[str, Any], *path: str) -> dict[str, Any]:
        for name in path:
            node = _resolve(spec, node)
            node = node["items"] if name == "[]" else node["properties"][name]
        return _resolve(spec, node)

    # the structures docs/results.md names
    subject = at(results, "appraisal", "subjects", "[]")
    assert {"rank", "level", "level_tie", "vetoes", "flags", "rates", "criteria",
            "score"} <= set(subject["properties"])
    assert set(at(results, "appraisal", "subjects", "[]", "rates", "[]")["properties"]) == {
        "key", "label", "pct"}
    assert {"key", "count", "rate_pct"} == set(at(
        results, "appraisal", "subjects", "[]", "criteria", "[]", "grades", "[]")["properties"])
    part = at(results, "appraisal", "sections", "[]")
    assert {"key", "label", "levels", "rate_defs", "abstain_in_rates", "counts_hidden",
            "subjects", "by_category"} <= set(part["properties"])
    assert {"expected", "cast", "valid", "invalid", "turnout_pct"} <= set(
        at(results, "validity", "by_category", "[]")["properties"])
    assert {"votes", "vote_pct", "rank", "passes_threshold", "status"} <= set(
        at(results, "recommendation", "candidates", "[]")["properties"])
    assert {"total", "total_trimmed", "rank", "level", "vetoes", "items"} <= set(
        at(results, "scoring", "subjects", "[]")["properties"])
    assert {"label", "when", "level", "rank"} == set(
        at(results, "rules", "vetoes", "[]")["properties"])
    assert at(results, "appraisal", "subjects", "[]", "rank").get("nullable") is True


@pytest.mark.parametrize("make", [sections_round, recommendation_round, scoring_round])
def test_the_answers_lose_nothing_to_their_schemas(app, client, key, make):
    """The API's answer dumped through ResultsOut equals the engine's dict, and it
    validates against the OpenAPI document (the projector's too)."""
    from openapi_schema_validator import OAS30Validator

    from server.core.db import db
    from server.results.api import ProjectorOut
    from server.results.view import compute_projector, forget_projector, results_body
    from server.roundbase.models import Round

    rid = make(client, key)
    assert client.post(f"/api/v1/rounds/{rid}/publish", headers=key).status_code == 200
    with app.app_context():
        forget_projector(rid)
        rnd = db.session.get(Round, rid)
        body = json.loads(json.dumps(results_body(rnd)))
        board = json.loads(json.dumps(compute_projector(rnd)))
        assert board["results"] is not None
        assert json.loads(json.dumps(ProjectorOut().dump(board))) == board
    answer = results(client, key, rid)
    assert answer == body
    spec = client.get("/api/v1/openapi.json").json

    def check(path: str, data: Any) -> None:
        schema = {**response_schema(spec, path), "components": spec["components"]}
        errors = [e.message for e in OAS30Validator(schema).iter_errors(data)]
        assert errors == []

    check("/api/v1/rounds/{round_id}/results", answer)
    check("/api/v1/rounds/{round_id}/projector",
          client.get(f"/api/v1/rounds/{rid}/projector", headers=key).json)


def test_the_live_answer_loses_nothing_either(app, client, key):
    """While open (live results, no breakdowns) the answer is the engine's dict too."""
    from server.core.db import db
    from server.results.view import results_body
    from server.roundbase.models import Round

    body = {"form": "review", "title": "现场评分", "show_live_results": True,
            "subjects": [{"name": "书记甲"}], "categories": [{"name": "评委", "expected_count": 5}],
            "results": {"trim": 1, "levels": REVIEW_LEVELS}}
    items = ["responsibility", "organization", "conduct", "innovation", "answers"]
    rnd, _ = run_round(client, key, body,
                       {"评委": [{"#0": dict(zip(items, p, strict=True))} for p in PANEL]},
                       close=False)
    answer = results(client, key, rnd["id"])
    assert answer["live"] and answer["scoring"]["subjects"][0]["total"] is not None
    with app.app_context():
        assert answer == json.loads(json.dumps(results_body(db.session.get(Round, rnd["id"]))))
