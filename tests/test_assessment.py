"""Combined assessment (综合考核): two published rounds and one imported sheet, combined
per roster member with exact weights, ranked by shown values, with its own 等次."""

from __future__ import annotations

import io
from fractions import Fraction

import pytest
from openpyxl import load_workbook

from server.assessment.combine import PartScores, combine, weights_of
from server.assessment.models import AssessmentScore
from server.core.db import db
from tests.factories import committee, organizer
from tests.support.assessment import published, roster, xlsx

PEOPLE = [("1001", "张三"), ("1002", "李四"), ("1003", "王五"), ("1004", "赵六"),
          ("1005", "刘洋"), ("1006", "刘洋")]
LEVELS = [{"level": "优秀", "when": [{"score": "综合得分", "at_least": 90}], "quota": 1},
          {"level": "称职", "when": [{"score": "综合得分", "at_least": 85}]},
          {"level": "基本称职"}]
SHEET = [["2026年度业绩考核得分"], ["工号", "姓名", "分数"],
         ["1002", "李四", 88.5], ["1001", "张三", "92"], [None, "王五", 99.49],
         ["1004", "赵六", 70]]


@pytest.fixture
def scene(app):
    """民主测评 (appraisal) and 党建考核 (scoring), published, and the roster.

    民主测评, composite on 总体评价 (two ballots): 张三 95, 李四 (95+85)/2 = 90,
    王五 (85+75)/2 = 80; 王五 is not linked (his name is unique), 领导班子 matches
    nobody. 党建考核 totals (two scorers, no trimming): 张三 (91+89)/2 = 90,
    李四 81, 王五 (100+95)/2 = 97.5."""
    with app.app_context():
        _, key = organizer()
        cid = committee().id
        ids = roster(cid, PEOPLE)
        appraisal = published(cid, "appraisal", "2026年度民主测评", [
            {"name": "张三", "member_id": ids["1001"]}, {"name": "李四", "member_id": ids["1002"]},
            {"name": "王五"}, {"name": "领导班子（整体）"}],
            [{0: "excellent", 1: "excellent", 2: "competent", 3: "competent"},
             {0: "excellent", 1: "competent", 2: "basic", 3: "competent"}], year=2026)
        scoring = published(cid, "review", "2026年度党建考核", [
            {"name": "张三", "member_id": ids["1001"]}, {"name": "李四", "member_id": ids["1002"]},
            {"name": "王五", "member_id": ids["1003"]}],
            [{0: [28, 22, 18, 14, 9], 1: [25, 20, 16, 12, 8], 2: [30, 25, 20, 15, 10]},
             {0: [27, 23, 17, 13, 9], 1: [25, 20, 16, 12, 8], 2: [29, 24, 19, 14, 9]}],
            year=2026)
        return {"auth": {"Authorization": f"Bearer {key}"}, "ids": ids,
                "appraisal": appraisal, "scoring": scoring}


def _parts(scene, weights=("1/3", "1/3", "1/3")):
    return [{"label": "民主测评", "round_id": scene["appraisal"], "weight": weights[0]},
            {"label": "业绩考核", "weight": weights[1]},
            {"label": "党建考核", "round_id": scene["scoring"], "weight": weights[2]}]


def _create(client, scene, **body):
    res = client.post("/api/v1/assessments", headers=scene["auth"], json={
        "title": "领导人员年度综合考核", "year": 2026, "levels": LEVELS, **body})
    assert res.status_code == 201, res.json
    return res.json


def _upload(client, scene, aid, data, name="业绩考核.xlsx", part="业绩考核"):
    return client.post(f"/api/v1/assessments/{aid}/sheet", headers=scene["auth"],
                       data={"file": (io.BytesIO(data), name), "part": part},
                       content_type="multipart/form-data")


def test_combined_from_two_rounds_and_a_sheet(client, scene):
    a = _create(client, scene, parts=_parts(scene))
    assert [p["source"] for p in a["parts"]] == ["round", "sheet", "round"]
    assert a["result"]["notes"][0] == "“业绩考核”尚未导入成绩表"
    res = _upload(client, scene, a["id"], xlsx(SHEET))
    assert res.status_code == 200, res.json
    out = client.get(f"/api/v1/assessments/{a['id']}", headers=scene["auth"]).json
    result = out["result"]
    rows = {s["name"]: s for s in result["subjects"]}
    # 张三 (95 + 92 + 90)/3 = 92.333…, 王五 (80 + 99.49 + 97.5)/3 = 92.33: shown alike, 并列
    # 李四 (90 + 88.5 + 81)/3 = 86.5; 赵六 has only 业绩考核
    assert [p["score"] for p in rows["张三"]["parts"]] == [95, 92, 90]
    assert [p["score"] for p in rows["王五"]["parts"]] == [80, 99.49, 97.5]
    assert (rows["张三"]["score"], rows["王五"]["score"], rows["李四"]["score"]) == (
        92.33, 92.33, 86.5)
    assert (rows["张三"]["rank"], rows["王五"]["rank"], rows["李四"]["rank"]) == (1, 1, 3)
    # one 优秀 place, two equal shown scores on it: neither is 优秀, both 称职, tie shown
    assert rows["张三"]["level"] == rows["王五"]["level"] == "称职"
    assert rows["张三"]["level_tie"] == rows["王五"]["level_tie"] == "优秀"
    assert rows["李四"]["level"] == "称职" and rows["李四"]["level_tie"] is None
    assert rows["赵六"]["score"] is None and rows["赵六"]["rank"] is None
    assert rows["赵六"]["missing"] == ["民主测评", "党建考核"]
    assert rows["赵六"]["level"] is None
    assert [s["name"] for s in result["subjects"]][:3] == ["张三", "王五", "李四"]
    assert result["complete"] is False
    # matched by roster identity; the unlinked 王五 by his unique name, and said so
    assert [p["matched_by"] for p in rows["王五"]["parts"]] == ["name", "name", "member"]
    assert [p["matched_by"] for p in rows["张三"]["parts"]] == ["member", "member_no", "member"]
    assert any("王五" in n and "姓名" in n and "唯一" in n for n in result["notes"])
    assert [(u["part"], u["name"]) for u in result["unmatched"]] == [("民主测评", "领导班子（整体）")]
    assert "同名" in result["unmatched"][0]["reason"]
    assert result["rules_text"][0].startswith("综合得分 = 民主测评 × 33.3333% + 业绩考核")
    assert any("名额" in t and "并列" in t for t in result["rules_text"])

    export = client.get(f"/api/v1/assessments/{a['id']}/export.xlsx", headers=scene["auth"])
    assert export.status_code == 200
    assert export.headers["Content-Type"].startswith("application/vnd.openxmlformats")
    wb = load_workbook(io.BytesIO(export.data))
    assert wb.sheetnames == ["综合考核", "历年对比", "说明"]
    table = [list(r) for r in wb["综合考核"].iter_rows(min_row=2, values_only=True)]
    assert table[0] == ["排名", "姓名", "工号", "所在支部", "民主测评（1/3）", "业绩考核（1/3）",
                        "党建考核（1/3）", "综合得分", "考核等次", "说明"]
    assert table[1][:9] == [1, "张三", "1001", "第一党支部", 95, 92, 90, 92.33, "称职"]
    assert table[2][:9] == [1, "王五", "1003", "第一党支部", 80, 99.49, 97.5, 92.33, "称职"]
    assert "并列" in table[1][9]
    assert table[3][:9] == [3, "李四", "1002", "第一党支部", 90, 88.5, 81, 86.5, "称职"]
    assert table[4][:9] == [None, "赵六", "1004", "第一党支部", None, 70, None, None, None]
    notes = [r[0] for r in wb["说明"].iter_rows(values_only=True)]
    assert "领导班子（整体）" in notes


def test_secretary_and_other_committees_see_nothing(client, scene, app):
    a = _create(client, scene, parts=_parts(scene))
    with app.app_context():
        from server.accounts.operations import create_user, new_api_key
        from server.organization.models import Committee

        other = Committee(name="另一党委")
        db.session.add(other)
        db.session.commit()
        elsewhere = new_api_key(create_user("other", "correct horse 1", role="organizer",
                                            committee_id=other.id), "t")
        reader = new_api_key(create_user("dw", "correct horse 1", role="committee",
                                         committee_id=committee().id), "t")
    res = client.get(f"/api/v1/assessments/{a['id']}",
                     headers={"Authorization": f"Bearer {elsewhere}"})
    assert res.status_code == 404 and res.json["error"]["code"] == "assessment_not_found"
    assert client.get("/api/v1/assessments", headers={
        "Authorization": f"Bearer {elsewhere}"}).json["items"] == []
    committee_reader = {"Authorization": f"Bearer {reader}"}
    assert client.get(f"/api/v1/assessments/{a['id']}", headers=committee_reader).status_code == 200
    res = client.post(f"/api/v1/assessments/{a['id']}/parts", headers=committee_reader,
                      json={"parts": _parts(scene)})
    assert res.status_code == 403


@pytest.mark.parametrize("weights,shown", [(("40%", "30%", "20%"), "90%"),
                                           (("0.3333", "0.3333", "0.3333"), "99.99%"),
                                           ((50, 30, 30), "11000%")])
def test_weights_must_add_up_to_exactly_100_percent(client, scene, weights, shown):
    a = _create(client, scene, parts=_parts(scene))
    res = client.post(f"/api/v1/assessments/{a['id']}/parts", headers=scene["auth"],
                      json={"parts": _parts(scene, weights)})
    assert res.status_code == 422, res.json
    err = res.json["error"]
    assert (err["code"], err["field"]) == ("weights_sum", "parts")
    assert shown in err["message"]
    after = client.get(f"/api/v1/assessments/{a['id']}", headers=scene["auth"]).json
    assert [p["weight"] for p in after["parts"]] == ["1/3", "1/3", "1/3"]  # unchanged
    res = client.post("/api/v1/assessments", headers=scene["auth"], json={
        "title": "x", "parts": _parts(scene, weights)})
    assert res.status_code == 422 and res.json["error"]["code"] == "weights_sum"


def test_weights_written_as_percentages_fractions_or_bare_numbers(client, scene):
    for weights in (("40%", "30%", "30%"), ("2/5", "0.3", 0.3), (40, 30, 30)):
        a = _create(client, scene, parts=_parts(scene, weights))
        assert [p["weight_pct"] for p in a["parts"]] == pytest.approx([40, 30, 30])


def test_bad_sheet_rows_are_listed_by_row_and_nothing_is_saved(client, scene, app):
    a = _create(client, scene, parts=_parts(scene))
    assert _upload(client, scene, a["id"], xlsx(SHEET)).status_code == 200
    bad = [["工号", "姓名", "分数"],
           ["1001", "张三", 90],           # row 2: fine
           ["9999", "张三", 90],           # row 3: 工号 not on the roster
           ["1002", "王五", 90],           # row 4: name does not match the 工号
           ["1003", "王五", "abc"],        # row 5: not a number
           ["1004", "赵六", "=1+1"],       # row 6: a formula is no score
           ["1001", "张三", 80],           # row 7: the same person again
           [None, "刘洋", 80],             # row 8: two 刘洋 on the roster
           [None, "不存在", 80],           # row 9: nobody of that name
           ["1002", "李四", None],         # row 10: no score
           ["1003", "王五", -5],           # row 11: negative
           ["1005", "刘洋", 1e9]]          # row 12: out of range
    res = _upload(client, scene, a["id"], xlsx(bad))
    assert res.status_code == 422
    err = res.json["error"]
    assert err["code"] == "sheet_invalid" and err["field"] == "file"
    rows = {(r["row"], r["column"]) for r in err["rows"]}
    assert err["count"] == 10 and err["message"].startswith("成绩表有 10 处问题，未导入任何数据。第3行")
    assert rows == {(3, "工号"), (4, "姓名"), (5, "分数"), (6, "分数"), (7, "工号"), (8, "姓名"),
                    (9, "姓名"), (10, "分数"), (11, "分数"), (12, "分数")}
    with app.app_context():  # the earlier upload is still what counts
        scores = db.session.execute(db.select(AssessmentScore.score)).scalars().all()
        assert sorted(scores) == ["70", "88.5", "92", "99.49"]
    for data, name in ((b"", "x.xlsx"), (b"not a workbook", "x.xlsx"), (b"\xd0\xcf\x11\xe0", "a.xls"),
                       (xlsx([["姓名", "职务"], ["张三", "x"]]), "x.xlsx"),
                       (xlsx([["工号", "姓名", "分数"]]), "x.xlsx")):
        res = _upload(client, scene, a["id"], data, name)
        assert res.status_code == 422, (name, res.json)
        assert res.json["error"]["code"] == "sheet_invalid"
    res = _upload(client, scene, a["id"], xlsx(SHEET), part="民主测评")
    assert res.status_code == 422 and res.json["error"]["code"] == "unknown_part"


def test_parts_must_be_published_rounds_with_scores(client, scene, app):
    from server.rounds.operations import create_round
    from tests.factories import make_round

    with app.app_context():
        draft = create_round(committee().id, "appraisal", "草稿", [{"name": "甲"}],
                             [{"name": "全体", "expected_count": 3}]).id
        recommend, _ = make_round("recommendation")
        rec_id = recommend.id
    a = _create(client, scene)
    for round_id, code in ((draft, "round_not_published"), (rec_id, "round_not_published"),
                           (999999, "unknown_round")):
        res = client.post(f"/api/v1/assessments/{a['id']}/parts", headers=scene["auth"],
                          json={"parts": [{"label": "x", "round_id": round_id, "weight": 1}]})
        assert res.status_code == 422, res.json
        assert (res.json["error"]["code"], res.json["error"]["field"]) == (
            code, "parts[0].round_id")
    res = client.post(f"/api/v1/assessments/{a['id']}/parts", headers=scene["auth"], json={
        "parts": [{"label": "民主测评", "round_id": scene["appraisal"], "weight": "50%"},
                  {"label": "民主测评", "weight": "50%"}]})
    assert res.json["error"]["code"] == "duplicate_part"
    res = client.post("/api/v1/assessments", headers=scene["auth"], json={
        "title": "x", "levels": [{"level": "优秀", "when": [{"rate": "优秀率", "at_least": "1/2"}]}]})
    assert res.status_code == 422 and res.json["error"]["code"] == "bad_levels"


def test_console_page_shows_the_combined_result(client, scene, app):
    from tests.conftest import csrf_token

    a = _create(client, scene, parts=_parts(scene))
    _upload(client, scene, a["id"], xlsx(SHEET))
    page = client.get("/console/login").get_data(as_text=True)
    client.post("/console/login", data={"csrf_token": csrf_token(page), "username": "organizer",
                                         "password": "correct horse 1"})
    html = client.get(f"/console/assessments/{a['id']}").get_data(as_text=True)
    assert "92.33" in html and "86.50" in html and "称职" in html
    assert "领导班子（整体）" in html  # unmatched, listed
    assert "名额边界并列" in html
    res = client.post(f"/console/assessments/{a['id']}/parts", data={
        "csrf_token": csrf_token(html), "part-0-label": "民主测评",
        "part-0-source": f"round:{scene['appraisal']}", "part-0-weight": "60%",
        "part-1-label": "业绩考核", "part-1-source": "sheet", "part-1-weight": "30%"})
    assert res.status_code == 422
    assert "权重之和应为 100%，现为 90%" in res.get_data(as_text=True)
    bad = xlsx([["工号", "姓名", "分数"], ["9999", "某某", 1]])
    res = client.post(f"/console/assessments/{a['id']}/sheet", data={
        "csrf_token": csrf_token(html), "part": "业绩考核", "sheet": (io.BytesIO(bad), "s.xlsx")},
        content_type="multipart/form-data")
    assert res.status_code == 422
    assert "不在本党委花名册中" in res.get_data(as_text=True)


# -- the arithmetic ----------------------------------------------------------------------

def test_weights_are_exact():
    assert weights_of(["1/3", "1/3", "1/3"]) == [Fraction(1, 3)] * 3
    assert weights_of([40, 30, 30]) == [Fraction(2, 5), Fraction(3, 10), Fraction(3, 10)]
    assert weights_of([0.1, 0.2, 0.7]) == [Fraction(1, 10), Fraction(1, 5), Fraction(7, 10)]
    for bad in (["0.3333"] * 3, ["50%", "60%"], ["100%", "0"], ["abc"]):
        with pytest.raises(ValueError):
            weights_of(bad)


def test_combine_ranks_shown_values_and_needs_every_part():
    a = PartScores("甲", Fraction(1, 2), {1: Fraction(9001, 100), 2: Fraction(90), 3: Fraction(80)})
    b = PartScores("乙", Fraction(1, 2), {1: Fraction(90), 2: Fraction(9001, 100)})
    out, notes = combine([a, b], [1, 2, 3], [])
    assert out[1]["exact"] == Fraction(18001, 200)  # 90.005 → shown 90.01
    assert out[1]["rank"] == out[2]["rank"] == 1
    assert out[3]["rank"] is None and out[3]["missing"] == ["乙"]
    assert notes == []


def test_the_demo_shows_a_combined_result_levels_and_last_year(app, client):
    """`make run`'s demo: 民主测评 + the shipped 业绩考核 sheet + 党建考核, and 2025 beside 2026."""
    from server.assessment.models import Assessment
    from server.demo.seed import seed_demo

    with app.app_context():
        seed_demo("http://127.0.0.1:5000")
        aid = db.session.execute(db.select(Assessment.id)).scalar_one()
    page = client.get("/console/login").get_data(as_text=True)
    from tests.conftest import csrf_token

    client.post("/console/login", data={"csrf_token": csrf_token(page), "username": "demo",
                                         "password": "pingyi-demo"})
    body = client.get(f"/api/v1/assessments/{aid}").json
    rows = {s["name"]: (s["score"], s["rank"], s["level"]) for s in body["result"]["subjects"]}
    assert rows == {"李明华": (92.8, 1, "优秀"), "王建国": (90.8, 2, "优秀"),
                    "刘秀英": (89.6, 3, "称职"), "张志强": (88.0, 4, "称职"),
                    "赵丽娟": (87.4, 5, "称职"), "陈海涛": (86.2, 6, "称职")}
    assert [u["name"] for u in body["result"]["unmatched"]] == ["领导班子（整体）"]
    assert body["result"]["complete"] is True
    wang = next(s["member_id"] for s in body["result"]["subjects"] if s["name"] == "王建国")
    history = client.get(f"/api/v1/members/{wang}/history").json
    appraisal = next(s for s in history["series"] if s["kind"] == "appraisal")
    assert [(p["year"], p["score"], p["rank"], p["level"]) for p in appraisal["points"]] == [
        (2025, 93.0, None, "不称职"), (2026, 91.0, 2, "称职")]  # vetoed last year
    html = client.get(f"/console/assessments/{aid}").get_data(as_text=True)
    assert html.count('<svg class="yoy-chart"') == 6 and "2025年" in html
