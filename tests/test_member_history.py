"""Year over year: a roster member's results in published rounds of the same form,
by year, in the API, as a server-drawn chart in the console and in the export."""

from __future__ import annotations

import io
import re

import pytest
from openpyxl import load_workbook

from server.assessment.chart import line_chart
from tests.conftest import csrf_token
from tests.factories import committee, organizer
from tests.support.assessment import published, roster

# 民主测评 composite on 总体评价: 张三 2025 (85 + 75)/2 = 80 (李四 90, so 张三 is 2nd),
# 2026 (95 + 85)/2 = 90 (李四 75); 党建考核 (scoring) only in 2026: (91 + 89)/2 = 90.
BALLOTS = {2025: [{0: "competent", 1: "competent"}, {0: "basic", 1: "excellent"}],
           2026: [{0: "excellent", 1: "basic"}, {0: "competent", 1: "basic"}]}


@pytest.fixture
def years(app):
    with app.app_context():
        _, key = organizer()
        cid = committee().id
        ids = roster(cid, [("1001", "张三"), ("1002", "李四")])
        rounds = {}
        for year in (2025, 2026):
            rounds[year] = published(cid, "appraisal", f"{year}年度领导人员民主测评", [
                {"name": "张三", "member_id": ids["1001"]},
                # 2025: 李四 not linked, so not his history (no guessing by name)
                {"name": "李四", **({"member_id": ids["1002"]} if year == 2026 else {})}],
                BALLOTS[year], year=year)
        scoring = published(cid, "review", "2026年度党建考核", [
            {"name": "张三", "member_id": ids["1001"]}],
            [{0: [28, 22, 18, 14, 9]}, {0: [27, 23, 17, 13, 9]}], year=2026)
        return {"auth": {"Authorization": f"Bearer {key}"}, "ids": ids, "rounds": rounds,
                "scoring": scoring}


def test_history_by_year_for_a_linked_member(client, years):
    res = client.get(f"/api/v1/members/{years['ids']['1001']}/history", headers=years["auth"])
    assert res.status_code == 200, res.json
    body = res.json
    assert body["member"]["name"] == "张三" and body["member"]["member_no"] == "1001"
    appraisal, scoring = body["series"]
    assert appraisal["kind"] == "appraisal" and appraisal["label"] == "领导人员民主测评"
    assert [(p["year"], p["score"], p["rank"], p["of"]) for p in appraisal["points"]] == [
        (2025, 80.0, 2, 2), (2026, 90.0, 1, 2)]
    assert [(p["year"], p["score"]) for p in scoring["points"]] == [(2026, 90.0)]
    assert appraisal["key"] != scoring["key"]
    # 李四's 2025 subject was not linked to him: only 2026 counts
    other = client.get(f"/api/v1/members/{years['ids']['1002']}/history",
                       headers=years["auth"]).json
    assert [p["year"] for p in other["series"][0]["points"]] == [2026]
    missing = client.get("/api/v1/members/999999/history", headers=years["auth"])
    assert missing.status_code == 404 and missing.json["error"]["code"] == "member_not_found"


def _sign_in(client):
    page = client.get("/console/login").get_data(as_text=True)
    res = client.post("/console/login", data={"csrf_token": csrf_token(page),
                                               "username": "organizer",
                                               "password": "correct horse 1"})
    assert res.status_code == 302


def test_chart_on_the_member_page_and_the_assessment_page(client, years):
    _sign_in(client)
    html = client.get(f"/console/members/{years['ids']['1001']}/history").get_data(as_text=True)
    svg = re.search(r"<svg class=\"yoy-chart\".*?</svg>", html, re.S)
    assert svg, html[:500]
    chart = svg.group(0)
    assert "2025年" in chart and "2026年" in chart
    assert "80.00" in chart and "90.00" in chart
    assert chart.count("<polyline") == 1  # 民主测评 over two years; 党建考核 one point
    assert chart.count("<circle") == 3
    assert "<script" not in html.split("</svg>")[0].split("<svg")[-1]

    res = client.post("/api/v1/assessments", headers=years["auth"], json={
        "title": "综合考核", "year": 2026, "parts": [
            {"label": "民主测评", "round_id": years["rounds"][2026], "weight": "70%"},
            {"label": "党建考核", "round_id": years["scoring"], "weight": "30%"}]})
    assert res.status_code == 201, res.json
    aid = res.json["id"]
    page = client.get(f"/console/assessments/{aid}").get_data(as_text=True)
    assert 'id="yoy"' in page
    assert page.count('<svg class="yoy-chart"') == 2  # one per member
    assert "2025年" in page

    export = client.get(f"/api/v1/assessments/{aid}/export.xlsx", headers=years["auth"])
    wb = load_workbook(io.BytesIO(export.data))
    rows = list(wb["历年对比"].iter_rows(values_only=True))
    assert rows[0] == ("姓名", "工号", "民主测评 2025年", "民主测评 2026年", "党建考核 2026年")
    assert rows[1] == ("张三", "1001", 80, 90, 90)
    assert rows[2] == ("李四", "1002", None, 75, None)


def test_chart_scales_and_escapes():
    svg = str(line_chart([("<b>甲</b>", {2024: 60.0, 2025: None, 2026: 99.5})]))
    assert "&lt;b&gt;" in svg and "<b>" not in svg
    assert svg.count("<circle") == 2 and "99.50" in svg
    assert str(line_chart([("甲", {})])) == ""


def test_yoy_chart_in_chromium(app, browser, years, client):
    """The chart as an organizer sees it (screenshots: /tmp/shots/yoy.png and
    yoy-assessment.png)."""
    from tests.support.browser import desk, shot, sign_in
    from tests.support.liveserver import live_server

    res = client.post("/api/v1/assessments", headers=years["auth"], json={
        "title": "综合考核", "year": 2026, "parts": [
            {"label": "民主测评", "round_id": years["rounds"][2026], "weight": "70%"},
            {"label": "党建考核", "round_id": years["scoring"], "weight": "30%"}]})
    errors: list[str] = []
    with live_server(app) as url:
        page = desk(browser, errors)
        sign_in(page, url)
        page.goto(f"{url}/console/members/{years['ids']['1001']}/history")
        chart = page.locator("#member-chart svg.yoy-chart")
        box = chart.bounding_box()
        assert box and box["width"] > 500 and box["height"] > 200
        assert chart.locator("polyline").count() == 1
        assert chart.locator("circle").count() == 3
        shot(page.locator("#member-chart"), "yoy")
        page.goto(f"{url}/console/assessments/{res.json['id']}")
        assert page.locator("#yoy svg.yoy-chart").count() == 2
        shot(page, "yoy-assessment", full_page=True)
    assert not errors, errors
