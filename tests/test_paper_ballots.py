"""Paper ballots (纸质票) through the HTTP API: slips against 应到, double entry (双人录入),
invalid sheets with a reason, the issued limit, publishing, and the results' split."""

from __future__ import annotations

import io

import pytest
from openpyxl import load_workbook

from server.core.db import db
from server.roundbase.models import Round
from tests.conftest import csrf_token
from tests.factories import organizer
from tests.support.rounds_http import create, issue, lifecycle, vote
from tests.test_exports import pdf_text

CRITERIA = ["political", "ability", "performance", "style", "integrity", "overall"]
CATS = [{"name": "中层干部", "expected_count": 6}, {"name": "职工代表", "expected_count": 8}]


@pytest.fixture
def keys(app):
    """Two organizers of one committee, A and B, and a third, C."""
    with app.app_context():
        out = [{"Authorization": f"Bearer {organizer(name)[1]}"} for name in "abc"]
    return out


def _round(client, key, form="appraisal", **extra):
    body = {"form": form, "title": f"纸质票测试（{form}）", "categories": CATS,
            "subjects": [{"name": "张三", "note": "书记"}, {"name": "李四", "note": "经理"},
                         {"name": "王五", "note": ""}, {"name": "赵六", "note": ""}],
            "results": {"min_turnout": 0}, **extra}
    return create(client, key, body)


def _sheet(rnd, grade="competent", overall="excellent"):
    return {str(s["id"]): {c: overall if c == "overall" else grade for c in CRITERIA}
            for s in rnd["subjects"]}


def _slips(client, key, rid, cid, n, **extra):
    return client.post(f"/api/v1/rounds/{rid}/paper/slips",
                       json={"category_id": cid, "count": n, **extra}, headers=key)


def _first(client, key, rid, body):
    return client.post(f"/api/v1/rounds/{rid}/paper/ballots", json=body, headers=key)


def _again(client, key, rid, number, body):
    return client.post(f"/api/v1/rounds/{rid}/paper/ballots/{number}", json=body, headers=key)


def _closed(client, key, form="appraisal", paper=(2, 2), voters=1, **extra):
    """A round with `voters` electronic ballots per category and `paper` slips per
    category, closed."""
    rnd = _round(client, key, form, **extra)
    rid = rnd["id"]
    for cat, n in zip(rnd["categories"], paper, strict=True):
        if n:
            assert _slips(client, key, rid, cat["id"], n).status_code == 201
    tokens = [t for cat in rnd["categories"] for t in issue(client, key, rid, cat["id"], voters)]
    assert lifecycle(client, key, rid, "open").status_code == 200
    for t in tokens:
        vote(client, t, _sheet(rnd) if form == "appraisal" else
             {"choices": [rnd["subjects"][0]["id"]]})
    assert lifecycle(client, key, rid, "close").status_code == 200
    return rnd


def _validity(client, key, rid):
    res = client.get(f"/api/v1/rounds/{rid}/results", headers=key)
    assert res.status_code == 200, res.json
    return res.json["validity"]


def _overview(client, key, rid):
    res = client.get(f"/api/v1/rounds/{rid}/paper", headers=key)
    assert res.status_code == 200, res.json
    return res.json


def test_paper_slips_count_against_expected_with_the_electronic_ones(client, keys):
    a = keys[0]
    rnd = _round(client, a)
    rid, cat = rnd["id"], rnd["categories"][0]
    issue(client, a, rid, cat["id"], 4)
    over = _slips(client, a, rid, cat["id"], 3)
    assert over.status_code == 409 and over.json["error"]["code"] == "over_expected"
    assert over.json["error"]["details"] == {"expected": 6, "issued": 4, "paper_issued": 0,
                                             "over": 1}
    assert _slips(client, a, rid, cat["id"], 2).status_code == 201
    res = _slips(client, a, rid, cat["id"], 1, allow_over=True)
    assert res.status_code == 201
    row = next(c for c in res.json["categories"] if c["id"] == cat["id"])
    assert (row["expected"], row["issued"], row["paper_issued"]) == (6, 4, 3)
    for bad, code in ((0, "invalid_count"), (5001, "invalid_count")):
        res = _slips(client, a, rid, cat["id"], bad)
        assert res.status_code == 422 and res.json["error"]["code"] == code
    res = _slips(client, a, rid, 999999, 1)
    assert res.status_code == 422 and res.json["error"]["code"] == "unknown_category"
    res = client.post(f"/api/v1/rounds/{rid}/paper/slips", json={"count": "2"}, headers=a)
    assert res.status_code == 422
    assert lifecycle(client, a, rid, "open").status_code == 200
    assert lifecycle(client, a, rid, "close").status_code == 200
    res = _slips(client, a, rid, cat["id"], 1)
    assert res.status_code == 409 and res.json["error"]["code"] == "round_already_closed"
    row = next(c for c in _overview(client, a, rid)["categories"] if c["id"] == cat["id"])
    assert row["paper_issued"] == 3  # nothing changed by the refusals


def test_paper_is_entered_after_the_vote_closes(client, keys):
    a = keys[0]
    rnd = _round(client, a)
    cid = rnd["categories"][0]["id"]
    _slips(client, a, rnd["id"], cid, 2)
    assert lifecycle(client, a, rnd["id"], "open").status_code == 200
    res = _first(client, a, rnd["id"], {"category_id": cid, "answers": _sheet(rnd)})
    assert res.status_code == 409 and res.json["error"]["code"] == "round_not_closed"


def test_a_sheet_counts_when_the_second_entry_matches_the_first(client, keys):
    a, b, _ = keys
    rnd = _closed(client, a)
    rid, cid = rnd["id"], rnd["categories"][0]["id"]
    before = _validity(client, a, rid)["total"]
    first = _first(client, a, rid, {"category_id": cid, "answers": _sheet(rnd)})
    assert first.status_code == 201, first.json
    assert first.json["status"] == "pending" and first.json["number"] == 1
    assert first.json["first_by"] == "a" and first.json["differences"] == []
    assert _validity(client, a, rid)["total"] == before  # entered once: not counted
    second = _again(client, b, rid, 1, {"answers": _sheet(rnd)})
    assert second.status_code == 200, second.json
    assert second.json["status"] == "counted" and second.json["second_by"] == "b"
    total = _validity(client, a, rid)["total"]
    assert (total["cast"], total["valid"], total["invalid"]) == (3, 3, 0)
    assert total["electronic"] == {"cast": 2, "valid": 2, "invalid": 0}
    assert total["paper"] == {"cast": 1, "valid": 1, "invalid": 0}
    again = _again(client, b, rid, 1, {"answers": _sheet(rnd)})
    assert again.status_code == 409 and again.json["error"]["code"] == "paper_ballot_counted"
    row = _overview(client, a, rid)["categories"][0]
    assert (row["entered"], row["counted_valid"], row["waiting"]) == (1, 1, 0)


def test_a_second_entry_by_the_same_person_is_refused(client, keys):
    a = keys[0]
    rnd = _closed(client, a)
    rid, cid = rnd["id"], rnd["categories"][0]["id"]
    assert _first(client, a, rid, {"category_id": cid, "answers": _sheet(rnd)}).status_code == 201
    res = _again(client, a, rid, 1, {"answers": _sheet(rnd)})
    assert res.status_code == 409 and res.json["error"]["code"] == "same_person_entry"
    sheet = _overview(client, a, rid)["sheets"][0]
    assert sheet["status"] == "pending" and sheet["second_by"] is None
    res = _again(client, a, rid, 7, {"answers": _sheet(rnd)})
    assert res.status_code == 404 and res.json["error"]["code"] == "unknown_paper_ballot"


def test_a_mismatch_is_shown_to_both_and_corrected_by_either(client, keys):
    a, b, c = keys
    rnd = _closed(client, a)
    rid, cid = rnd["id"], rnd["categories"][0]["id"]
    _first(client, a, rid, {"category_id": cid, "answers": _sheet(rnd)})
    misread = _sheet(rnd)
    misread[str(rnd["subjects"][1]["id"])]["overall"] = "competent"
    res = _again(client, b, rid, 1, {"answers": misread})
    assert res.status_code == 200 and res.json["status"] == "mismatch"
    assert res.json["differences"] == [{"field": "李四 · 总体评价", "first": "优秀",
                                        "second": "称职"}]
    for key in (a, b):  # both see which field differs
        sheet = _overview(client, key, rid)["sheets"][0]
        assert sheet["differences"] == res.json["differences"]
    assert _validity(client, a, rid)["total"]["paper"]["cast"] == 0
    res = _again(client, c, rid, 1, {"answers": _sheet(rnd)})
    assert res.status_code == 409 and res.json["error"]["code"] == "not_an_enterer"
    res = _again(client, b, rid, 1, {"answers": _sheet(rnd)})  # B looks again and corrects
    assert res.status_code == 200 and res.json["status"] == "counted"
    assert _validity(client, a, rid)["total"]["paper"] == {"cast": 1, "valid": 1, "invalid": 0}


def test_entries_beyond_the_paper_slips_issued_are_refused(client, keys):
    a = keys[0]
    rnd = _closed(client, a, paper=(1, 0))
    rid, (c1, c2) = rnd["id"], [c["id"] for c in rnd["categories"]]
    assert _first(client, a, rid, {"category_id": c1, "answers": _sheet(rnd)}).status_code == 201
    for cid in (c1, c2):
        res = _first(client, a, rid, {"category_id": cid, "answers": _sheet(rnd)})
        assert res.status_code == 409 and res.json["error"]["code"] == "paper_beyond_issued"
    assert len(_overview(client, a, rid)["sheets"]) == 1


def test_a_sheet_that_does_not_fit_is_entered_only_as_invalid_with_a_reason(client, keys):
    a, b, _ = keys
    rnd = _closed(client, a, "recommendation", paper=(3, 0), max_choices=2)
    rid, cid = rnd["id"], rnd["categories"][0]["id"]
    ids = [s["id"] for s in rnd["subjects"]]
    res = _first(client, a, rid, {"category_id": cid, "answers": {"choices": ids[:3]}})
    assert res.status_code == 422 and res.json["error"]["code"] == "paper_ballot_misfit"
    assert res.json["error"]["details"] == {"check": "too_many_choices"}
    for bad in ({"invalid": "smudged"}, {"invalid": "blank", "answers": {"choices": []}}):
        res = _first(client, a, rid, {"category_id": cid, **bad})
        assert res.status_code == 422
        assert res.json["error"]["code"] in ("invalid_reason", "answers_and_invalid")
    assert _overview(client, a, rid)["sheets"] == []  # nothing written by a refusal
    res = _first(client, a, rid, {"category_id": cid, "invalid": "over_marked"})
    assert res.status_code == 201
    res = _again(client, b, rid, 1, {"invalid": "unreadable"})  # both 无效, reasons differ
    assert res.json["status"] == "mismatch"
    assert res.json["differences"] == [{"field": "是否有效",
                                        "first": "无效（多选（超过规定人数或等次多选））",
                                        "second": "无效（无法辨认）"}]
    res = _again(client, b, rid, 1, {"invalid": "over_marked"})
    assert res.json["status"] == "counted" and res.json["invalid"] == "over_marked"
    # one valid sheet, one read as valid by A and as blank by B, then agreed valid
    _first(client, a, rid, {"category_id": cid, "answers": {"choices": ids[:2]}})
    res = _again(client, b, rid, 2, {"invalid": "blank"})
    assert res.json["differences"] == [{"field": "是否有效", "first": "有效",
                                        "second": "无效（空白票）"}]
    assert _again(client, b, rid, 2, {"answers": {"choices": ids[1::-1]}}
                  ).json["status"] == "counted"
    total = _validity(client, a, rid)["total"]
    assert (total["cast"], total["valid"], total["invalid"]) == (4, 3, 1)
    assert total["paper"] == {"cast": 2, "valid": 1, "invalid": 1}
    assert total["electronic"] == {"cast": 2, "valid": 2, "invalid": 0}
    res = client.get(f"/api/v1/rounds/{rid}/results", headers=a).json
    votes = {c["id"]: c["votes"] for c in res["recommendation"]["candidates"]}
    assert (votes[ids[0]], votes[ids[1]]) == (3, 1)  # 2 electronic + 1 paper, 1 paper


def _misfit(client, key, rnd, answers):
    rid, cid = rnd["id"], rnd["categories"][0]["id"]
    _slips(client, key, rid, cid, 1)
    assert lifecycle(client, key, rid, "open").status_code == 200
    assert lifecycle(client, key, rid, "close").status_code == 200
    res = _first(client, key, rid, {"category_id": cid, "answers": answers})
    assert res.status_code == 422 and res.json["error"]["code"] == "paper_ballot_misfit"
    return res.json["error"]["details"]["check"]


def test_a_missing_answer_or_a_score_out_of_range_is_refused(app, client, keys):
    a = keys[0]
    rnd = _round(client, a)
    missing = {str(s["id"]): {"overall": "excellent"} for s in rnd["subjects"]}
    assert _misfit(client, a, rnd, missing) == "missing_criterion"
    rnd = _round(client, a, "review")
    with app.app_context():
        items = db.session.get(Round, rnd["id"]).form["items"]
    scores = {str(s["id"]): {i["key"]: i["max"] for i in items} for s in rnd["subjects"]}
    scores[str(rnd["subjects"][0]["id"])][items[0]["key"]] = items[0]["max"] + 1
    assert _misfit(client, a, rnd, scores) == "score_out_of_range"


def test_publish_waits_for_every_sheet_and_entry_stops_after_it(client, keys):
    a, b, _ = keys
    rnd = _closed(client, a)
    rid, cid = rnd["id"], rnd["categories"][0]["id"]
    _first(client, a, rid, {"category_id": cid, "answers": _sheet(rnd)})
    res = lifecycle(client, a, rid, "publish")
    assert res.status_code == 409 and res.json["error"]["code"] == "paper_entry_unresolved"
    assert client.get(f"/api/v1/rounds/{rid}", headers=a).json["status"] == "closed"
    _again(client, b, rid, 1, {"answers": _sheet(rnd)})
    assert lifecycle(client, a, rid, "publish").status_code == 200
    res = _first(client, a, rid, {"category_id": cid, "answers": _sheet(rnd)})
    assert res.status_code == 409 and res.json["error"]["code"] == "round_already_published"


def test_xlsx_shows_electronic_and_paper_apart(client, keys):
    a, b, _ = keys
    rnd = _closed(client, a)
    rid, cid = rnd["id"], rnd["categories"][0]["id"]
    _first(client, a, rid, {"category_id": cid, "answers": _sheet(rnd)})
    _again(client, b, rid, 1, {"answers": _sheet(rnd)})
    _first(client, a, rid, {"category_id": cid, "invalid": "blank"})
    _again(client, b, rid, 2, {"invalid": "blank"})
    res = client.get(f"/api/v1/rounds/{rid}/export.xlsx", headers=a)
    assert res.status_code == 200
    ws = load_workbook(io.BytesIO(res.data))["有效性"]
    rows = [[c.value for c in row] for row in ws.iter_rows()]
    head = next(i for i, r in enumerate(rows) if r[0] == "参评类别")
    assert rows[head][6:12:3] == ["电子票", "纸质票"]
    assert rows[head + 1][6:12] == ["实到", "有效", "无效"] * 2
    total = next(r for r in rows if r[0] == "合计")
    assert total[2:5] == [4, 3, 1]  # 实到, 有效票, 无效票
    assert total[6:12] == [2, 2, 0, 2, 1, 1]


def test_the_printed_ballot_is_the_form_without_any_serial(client, keys, tmp_path):
    a = keys[0]
    rnd = _round(client, a, "recommendation", max_choices=2)
    cid = rnd["categories"][1]["id"]
    res = client.get(f"/api/v1/rounds/{rnd['id']}/paper/ballot.pdf?category_id={cid}",
                     headers=a)
    assert res.status_code == 200 and res.mimetype == "application/pdf"
    text = pdf_text(res.data, tmp_path)
    for want in ("纸质选票", "参评类别：职工代表", "最多推荐 2 人", "张三", "赵六", "不记名、不编号"):
        assert want in text
    digits = {ch for ch in text if ch.isdigit()}
    assert digits <= set("12345"), digits  # list positions and the limits, no serial
    res = client.get(f"/api/v1/rounds/{rnd['id']}/paper/ballot.pdf?category_id=999999",
                     headers=a)
    assert res.status_code == 422


def test_the_console_counts_paper_slips_before_issuing_more_electronic_ones(client, keys):
    a = keys[0]
    rnd = _round(client, a)
    rid, cat = rnd["id"], rnd["categories"][0]
    assert _slips(client, a, rid, cat["id"], 5).status_code == 201
    page = client.get("/console/login").get_data(as_text=True)
    client.post("/console/login", data={"csrf_token": csrf_token(page), "username": "a",
                                        "password": "correct horse 1"})
    detail = client.get(f"/console/rounds/{rid}").get_data(as_text=True)
    assert "另纸质票 5" in detail and 'data-issued="5"' in detail
    res = client.post(f"/console/rounds/{rid}/slips", data={
        "csrf_token": csrf_token(detail), "category_id": str(cat["id"]), "count": "2"},
        follow_redirects=True)
    assert "已发放 5 张，再发 2 张将超出应到人数 1 张" in res.get_data(as_text=True)
    row = next(c for c in _overview(client, a, rid)["categories"] if c["id"] == cat["id"])
    assert row["issued"] == 0  # nothing issued without the confirmation


def test_the_demo_has_paper_sheets_counted_and_one_waiting_for_its_second_entry(app):
    from server.demo.paper import TITLE
    from server.demo.seed import DEMO_PASSWORD, DEMO_USER, seed_demo
    from server.paper.operations import overview

    with app.app_context():
        seed_demo("http://127.0.0.1:5000")
        rnd = db.session.execute(db.select(Round).filter_by(title=TITLE)).scalar_one()
        rid, status, paper = rnd.id, rnd.status, overview(rnd)
        validity = rnd.result["official"]["validity"]["total"]
    assert status == "closed" and paper["unresolved"] == 1
    assert [(s["number"], s["status"], s["first_by"]) for s in paper["sheets"]] == [
        (1, "counted", "demo"), (2, "counted", "demo"), (3, "counted", "demo"),
        (4, "pending", "demo-clerk")]
    assert validity["paper"] == {"cast": 3, "valid": 2, "invalid": 1}
    assert validity["electronic"] == {"cast": 8, "valid": 8, "invalid": 0}
    client = app.test_client()
    page = client.get("/console/login").get_data(as_text=True)
    client.post("/console/login", data={"csrf_token": csrf_token(page), "username": DEMO_USER,
                                        "password": DEMO_PASSWORD})
    html = client.get(f"/console/rounds/{rid}/paper").get_data(as_text=True)
    assert f"/console/rounds/{rid}/paper/4" in html and "复核录入" in html


def test_a_meetings_paper_ballot_has_all_its_forms_one_after_another(client, keys, tmp_path):
    from tests.support.meetings import make_meeting

    a = keys[0]
    meeting = make_meeting(client, a)
    url = f"/api/v1/meetings/{meeting['id']}/paper/ballot.pdf"
    res = client.get(f"{url}?category=职工代表", headers=a)
    assert res.status_code == 200 and res.mimetype == "application/pdf"
    text = pdf_text(res.data, tmp_path)
    places = [text.index(f"第{i}份") for i in (1, 2, 3)]  # the three forms, in order
    assert places == sorted(places) and "参评类别：职工代表" in text
    assert "最多推荐" in text and "满分" in text and "测评指标" in text
    res = client.get(f"{url}?category=无此类别", headers=a)
    assert res.status_code == 422 and res.json["error"]["code"] == "unknown_category"
