"""The points API end to end: entries, approval, boards, member page, periods,
appraisal results feeding points, and the rectification ledger."""

from __future__ import annotations

import pytest

from server.core.db import db
from server.points.models import PointsEntry
from server.roundbase.models import Round
from server.rounds.operations import close_round, publish_round
from tests.factories import make_round, valid_answers
from tests.support.points import build_world


@pytest.fixture
def world(app):
    with app.app_context():
        return build_world()


def post(client, w, who, url, body=None):
    return client.post(url, headers=w.auth(who), json=body or {})


def test_enter_approve_and_read_back(client, world):
    w = world
    res = post(client, w, "sec_a", "/api/v1/points/entries", {
        "member_id": w.members_a[0], "item": "参加主题党日活动", "points": 2, "period": "2026Q1",
        "reason": "1月、2月主题党日", "evidence": "签到表", "self_report": True})
    assert res.status_code == 201, res.json
    entry = res.json
    assert entry["status"] == "pending" and entry["points"] == 2.0
    assert entry["source"] == "self_report" and entry["period"] == "2026Q1"
    res = post(client, w, "wei_a", f"/api/v1/points/entries/{entry['id']}/approve",
               {"note": "支委会3月会议审定"})
    assert res.status_code == 200 and res.json["status"] == "approved"

    board = client.get(f"/api/v1/points/boards/members/{w.branch_a}?period=2026Q1",
                       headers=w.auth("sec_a")).json
    assert board["rows"] == [{"rank": 1, "id": w.members_a[0], "name": "王建华", "points": 2.0,
                              "deductions": 0.0}]
    assert board["visibility"] == "live" and "fewer deductions" in board["tie_break"]
    year = client.get(f"/api/v1/points/boards/members/{w.branch_a}?period=2026",
                      headers=w.auth("dangwei")).json
    assert year["rows"][0]["level"] == "不合格" and year["rows"][0]["stars"] == 0
    member = client.get(f"/api/v1/points/members/{w.members_a[0]}?year=2026",
                        headers=w.auth("sec_a")).json
    assert member["total"] == 2.0 and member["rank"] == 1 and member["level"] == "不合格"
    basic = next(c for c in member["categories"] if c["key"] == "basic")
    assert basic == {"key": "basic", "label": "基础项", "kind": "award", "cap": 30.0,
                     "total": 2.0}
    listed = client.get("/api/v1/points/entries?status=approved&period=2026Q1",
                        headers=w.auth("sec_a")).json
    assert listed["total"] == 1

    rev = post(client, w, "sec_a", f"/api/v1/points/entries/{entry['id']}/reverse",
               {"reason": "重复申报"})
    assert rev.status_code == 201 and rev.json["points"] == -2.0
    assert rev.json["reverses_id"] == entry["id"]


def test_bad_input_gets_a_clear_error(client, world):
    w = world
    base = {"member_id": w.members_a[0], "item": "innovation", "points": 2, "period": "2026Q1",
            "reason": "x"}
    cases = [
        ({**base, "member_id": 99999}, 422, "unknown_member", "member_id"),
        ({**base, "item": "唱歌"}, 422, "unknown_item", "item"),
        ({**base, "points": 9}, 422, "points_above_cap", "points"),
        ({**base, "points": "1.25"}, 422, "invalid_points", "points"),
        ({**base, "period": "2026Q9"}, 422, "invalid_period", "period"),
        ({**base, "group_id": w.groups_a[0]}, 422, "invalid_subject", "member_id"),
        ({k: v for k, v in base.items() if k != "reason"}, 422, "invalid_input", "reason"),
    ]
    for body, status, code, field in cases:
        res = post(client, w, "sec_a", "/api/v1/points/entries", body)
        assert res.status_code == status, (body, res.json)
        err = res.json["error"]
        assert (err["code"], err["field"]) == (code, field), err
        assert err["message"] and err["message_en"]
    assert client.get("/api/v1/points/entries", headers=w.auth("sec_a")).json["total"] == 0
    assert post(client, w, "sec_a", "/api/v1/points/entries/99999/approve").status_code == 404
    res = client.get(f"/api/v1/points/boards/nonsense/{w.branch_a}?period=2026Q1",
                     headers=w.auth("sec_a"))
    assert res.status_code == 404 and res.json["error"]["code"] == "unknown_board"


def test_periods_via_the_api(client, world):
    w = world
    res = post(client, w, "dangwei", "/api/v1/points/periods/2026Q1/close")
    assert res.status_code == 200 and res.json["state"] == "closed"
    res = post(client, w, "sec_a", "/api/v1/points/entries", {
        "member_id": w.members_a[0], "item": "innovation", "period": "2026Q1", "reason": "x"})
    assert res.status_code == 409 and res.json["error"]["code"] == "period_closed"
    assert res.json["error"]["message"] == "2026年第一季度已关闭，不能再录入积分"
    listed = client.get("/api/v1/points/periods?year=2026", headers=w.auth("sec_a")).json
    assert [p["state"] for p in listed] == ["closed", "open", "open", "open", "open"]
    res = post(client, w, "dangwei", "/api/v1/points/periods/2026Q2/publish")
    assert res.status_code == 409 and res.json["error"]["code"] == "period_open"
    rules = client.get("/api/v1/points/rules?year=2026", headers=w.auth("sec_a")).json
    assert rules["ref"] == "default-2026" and rules["member"]["stars"][0] == {
        "min": 60.0, "stars": 1, "label": "一星"}


def test_appraisal_results_feed_pending_entries(app, client, world):
    w = world
    with app.app_context():
        rnd, tokens = make_round("appraisal", n_subjects=3)
        subjects = list(rnd.subjects)
        subjects[0].member_id = w.members_a[0]
        subjects[1].member_id = w.members_b[0]
        db.session.commit()
        rid = rnd.id
        answers = [valid_answers(rnd, v) for v in range(3)]
        flat = [t for ts in tokens.values() for t in ts]
    for i, token in enumerate(flat[:9]):
        assert client.post("/api/v1/ballots", json={"token": token,
                                                    "answers": answers[i % 3]}).status_code == 201
    res = post(client, w, "dangwei", f"/api/v1/points/rounds/{rid}/feed",
               {"item": "群众测评", "period": "2026Q2"})
    assert res.status_code == 409 and res.json["error"]["code"] == "round_not_closed"
    with app.app_context():
        close_round(db.session.get(Round, rid))
    # closed but not published: subject names and scores stay with the committee
    res = post(client, w, "sec_a", f"/api/v1/points/rounds/{rid}/feed",
               {"item": "群众测评", "period": "2026Q2"})
    assert res.status_code == 409 and res.json["error"]["code"] == "round_not_published"
    assert "name" not in res.get_data(as_text=True)
    with app.app_context():
        publish_round(db.session.get(Round, rid))
    res = post(client, w, "dangwei", f"/api/v1/points/rounds/{rid}/feed",
               {"item": "innovation", "period": "2026Q2"})
    assert res.status_code == 422 and res.json["error"]["code"] == "unknown_item"

    res = post(client, w, "sec_a", f"/api/v1/points/rounds/{rid}/feed",
               {"item": "群众测评", "period": "2026Q2"})
    assert res.status_code == 201, res.json
    assert len(res.json["created"]) == 1
    assert {s["why"] for s in res.json["skipped"]} == {"不在本支部", "未关联花名册人员"}
    res = post(client, w, "dangwei", f"/api/v1/points/rounds/{rid}/feed",
               {"item": "masses_review", "period": "2026Q2"})
    assert len(res.json["created"]) == 1
    assert "已计入过" in {s["why"] for s in res.json["skipped"]}
    with app.app_context():
        entries = db.session.execute(db.select(PointsEntry).order_by(PointsEntry.id)).scalars()
        got = [(e.member_id, e.item_key, e.source, e.status, e.round_id) for e in entries]
        assert got == [(w.members_a[0], "masses_review", "round", "pending", rid),
                       (w.members_b[0], "masses_review", "round", "pending", rid)]
        for e in db.session.execute(db.select(PointsEntry)).scalars():
            assert 0 < e.points_x10 <= 70 and "得分率" in e.reason


def test_rectification_ledger(client, world):
    w = world
    res = post(client, w, "sec_a", "/api/v1/points/rectifications", {
        "problem": "工作要点未列入疫情防控和二次创业", "source": "2026年上半年支部领导力测评",
        "owner": "王建华", "deadline": "2026-01-31"})
    assert res.status_code == 201, res.json
    late = res.json
    assert late["branch_id"] == w.branch_a and late["overdue"] is True
    res = post(client, w, "sec_a", "/api/v1/points/rectifications", {
        "problem": "职工思想调查留痕简单", "source": "测评", "owner": "李海燕",
        "deadline": "2099-06-30"})
    later = res.json
    assert later["overdue"] is False
    res = post(client, w, "sec_a", "/api/v1/points/rectifications", {
        "problem": "p", "source": "s", "owner": "o", "deadline": "not a date"})
    assert res.status_code == 422 and res.json["error"]["field"] == "deadline"
    overdue = client.get("/api/v1/points/rectifications?overdue=true",
                         headers=w.auth("dangwei")).json
    assert [i["id"] for i in overdue] == [late["id"]]
    res = post(client, w, "sec_a", f"/api/v1/points/rectifications/{late['id']}/close",
               {"note": "已补充列入工作要点"})
    assert res.status_code == 200 and res.json["status"] == "closed"
    assert res.json["overdue"] is False
    res = post(client, w, "sec_a", f"/api/v1/points/rectifications/{late['id']}/close",
               {"note": "again"})
    assert res.status_code == 409 and res.json["error"]["code"] == "already_closed"
    res = post(client, w, "sec_b", f"/api/v1/points/rectifications/{later['id']}/close",
               {"note": "x"})
    assert res.status_code == 404
    assert client.get("/api/v1/points/rectifications?overdue=true",
                      headers=w.auth("dangwei")).json == []


def test_hostile_numbers_and_params_never_give_500(app, client, world):
    w, huge = world, 10**30
    h = w.auth("dangwei")
    gets = [f"/api/v1/points/members/{huge}", f"/api/v1/points/entries/{huge}",
            f"/api/v1/points/boards/members/{huge}?period=2026Q1",
            f"/api/v1/points/boards/branches/{huge}?period=2026",
            f"/api/v1/points/entries?branch_id={huge}", "/api/v1/points/entries?period=9999Q9",
            f"/api/v1/points/rectifications?branch_id={huge}", "/api/v1/points/rules?year=1"]
    for url in gets:
        assert client.get(url, headers=h).status_code in (404, 422), url
    posts = [(f"/api/v1/points/entries/{huge}/approve", {}),
             (f"/api/v1/points/periods/{huge}/review", {}),
             ("/api/v1/points/periods/0001Q1/close", {}),
             (f"/api/v1/points/rounds/{huge}/feed", {"item": "群众测评", "period": "2026Q1"}),
             (f"/api/v1/points/rectifications/{huge}/close", {"note": "x"}),
             ("/api/v1/points/entries", {"member_id": huge, "item": "x", "period": "2026Q1",
                                         "reason": "x"})]
    for url, body in posts:
        res = client.post(url, headers=h, json=body)
        assert 400 <= res.status_code < 500, (url, res.json)
    from tests.conftest import csrf_token
    from tests.support.points import PASSWORD

    page = client.get("/console/login")
    client.post("/console/login", data={"csrf_token": csrf_token(page.get_data(as_text=True)),
                                        "username": "dangwei", "password": PASSWORD})
    for url in (f"/console/points/members/{huge}", f"/console/points/?branch={huge}",
                "/console/points/?period=garbage", "/console/points/?board=nonsense",
                f"/console/points/periods/{huge}/stars.xlsx", "/console/points/periods?year=abc",
                f"/console/points/rectifications?branch={huge}"):
        assert client.get(url).status_code < 500, url
