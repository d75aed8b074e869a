"""The points console: enter and approve, import, boards, member page, periods, 问题台账."""

from __future__ import annotations

import io

import pytest

from server.core.db import db
from server.points.models import PointsEntry, RectificationItem
from tests.conftest import csrf_token
from tests.support.points import PASSWORD, build_world, sheet


@pytest.fixture
def world(app):
    with app.app_context():
        return build_world()


def login(client, username):
    page = client.get("/console/login")
    res = client.post("/console/login", data={"csrf_token": csrf_token(page.get_data(as_text=True)),
                                              "username": username, "password": PASSWORD})
    assert res.status_code == 302


def token(client, path="/console/points/entries"):
    return csrf_token(client.get(path).get_data(as_text=True))


def entries(app):
    with app.app_context():
        return db.session.execute(db.select(PointsEntry).order_by(PointsEntry.id)).scalars().all()


def test_secretary_enters_approves_and_sees_the_board(app, client, world):
    w = world
    login(client, "sec_a")
    page = client.get("/console/points/entries?period=2026Q1")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "录入积分" in html and "王建华（A001）" in html and "第一党小组" in html
    assert "赵群众" not in html  # not a party member
    assert "参加支部党员大会、党小组会和党课" in html and "小组长作用发挥" in html

    res = client.post("/console/points/entries", data={
        "csrf_token": token(client), "subject": f"member:{w.members_a[0]}",
        "item": "member:branch_meeting", "points": "3", "period": "2026Q1",
        "reason": "第一季度3次党员大会", "evidence": "签到表", "self_report": "1"})
    assert res.status_code == 303
    done = client.get(res.headers["Location"]).get_data(as_text=True)
    assert "已录入：王建华 +3 分，待支委会审定" in done
    [e] = entries(app)
    assert (e.status, e.source, e.points_x10) == ("pending", "self_report", 30)

    assert "本人录入，须由他人审定" in done  # 支委会审定 is someone else
    res = client.post(f"/console/points/entries/{e.id}/approve",
                      data={"csrf_token": token(client), "note": "属实", "period": "2026Q1"})
    assert "录入人不能审定自己录入的积分" in client.get(res.headers["Location"]).get_data(
        as_text=True)
    assert entries(app)[0].status == "pending"
    other = app.test_client()
    login(other, "wei_a")
    res = other.post(f"/console/points/entries/{e.id}/approve",
                     data={"csrf_token": token(other), "note": "属实", "period": "2026Q1"})
    assert res.status_code == 303
    assert entries(app)[0].status == "approved"
    board = client.get("/console/points/?period=2026Q1").get_data(as_text=True)
    assert "王建华" in board and "排序规则" in board and "本期暂无积分（4 人）" in board

    member = client.get(f"/console/points/members/{w.members_a[0]}?year=2026")
    html = member.get_data(as_text=True)
    assert member.status_code == 200
    assert "2026年度积分" in html and "不合格" in html and "第一季度3次党员大会" in html


def test_form_errors_keep_the_input_and_name_the_problem(app, client, world):
    w = world
    login(client, "sec_a")
    res = client.post("/console/points/entries", data={
        "csrf_token": token(client), "subject": f"member:{w.members_a[0]}",
        "item": "member:innovation", "points": "9", "period": "2026Q1", "reason": "多条建议"})
    html = res.get_data(as_text=True)
    assert res.status_code == 422
    assert "“合理化建议、自主改善、创新成果”每条不超过6分" in html and 'value="多条建议"' in html
    res = client.post("/console/points/entries", data={
        "csrf_token": token(client), "subject": f"group:{w.groups_a[0]}",
        "item": "member:innovation", "points": "2", "period": "2026Q1", "reason": "x"})
    assert res.status_code == 422 and "所选项目与对象不符" in res.get_data(as_text=True)
    assert entries(app) == []


def test_reject_and_reverse_from_the_console(app, client, world):
    w = world
    login(client, "sec_a")
    for item in ("member:innovation", "member:post_duty"):
        client.post("/console/points/entries", data={
            "csrf_token": token(client), "subject": f"member:{w.members_a[1]}", "item": item,
            "points": "2", "period": "2026Q1", "reason": "x"})
    first, second = entries(app)
    res = client.post(f"/console/points/entries/{first.id}/reject",
                      data={"csrf_token": token(client), "reason": ""})
    page = client.get(res.headers["Location"]).get_data(as_text=True)
    assert "请填写退回理由" in page
    client.post(f"/console/points/entries/{first.id}/reject",
                data={"csrf_token": token(client), "reason": "无佐证"})
    other = app.test_client()
    login(other, "wei_a")
    other.post(f"/console/points/entries/{second.id}/approve", data={"csrf_token": token(other)})
    res = client.post(f"/console/points/entries/{second.id}/reverse",
                      data={"csrf_token": token(client), "reason": "录错人"})
    assert "已冲销" in client.get(res.headers["Location"]).get_data(as_text=True)
    got = [(e.status, e.points_x10, e.reverses_id) for e in entries(app)]
    assert got == [("rejected", 20, None), ("approved", 20, None),
                   ("approved", -20, second.id)]


def test_excel_import_screen_is_all_or_nothing(app, client, world):
    login(client, "sec_a")
    page = client.get("/console/points/import")
    assert page.status_code == 200 and "上传积分表" in page.get_data(as_text=True)
    template = client.get("/console/points/import/template.xlsx")
    assert template.status_code == 200 and template.data[:2] == b"PK"
    bad = sheet([["A001", "王建华", "innovation", 2, "建议"], ["A999", "", "innovation", 2, "x"]])
    res = client.post("/console/points/import", data={
        "csrf_token": token(client, "/console/points/import"), "period": "2026Q1",
        "sheet": (io.BytesIO(bad), "q1.xlsx")}, content_type="multipart/form-data")
    html = res.get_data(as_text=True)
    assert res.status_code == 422 and "未导入任何数据" in html and "A999" in html
    assert entries(app) == []
    good = sheet([["A001", "王建华", "innovation", 2, "建议"]])
    res = client.post("/console/points/import", data={
        "csrf_token": token(client, "/console/points/import"), "period": "2026Q1",
        "approve": "1", "approver": "wei_a", "sheet": (io.BytesIO(good), "q1.xlsx")},
        content_type="multipart/form-data")
    assert res.status_code == 200 and "导入完成，已审定生效（审定人：wei_a）" in res.get_data(
        as_text=True)
    assert [(e.status, e.decided_by) for e in entries(app)] == [("approved", world.users["wei_a"])]


def test_committee_freezes_boards_and_runs_periods(app, client, world):
    w = world
    login(client, "dangwei")
    page = client.get(f"/console/points/?branch={w.branch_a}&period=2026Q1&board=branches")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "第二党支部" in html and "人均积分" in html
    res = client.post("/console/points/boards/visibility", data={
        "csrf_token": token(client, "/console/points/"), "board": "members",
        "branch": str(w.branch_a), "period": "2026Q1", "visibility": "frozen"})
    assert res.status_code == 303
    assert "已冻结" in client.get(res.headers["Location"]).get_data(as_text=True)

    periods = client.get("/console/points/periods?year=2026")
    assert periods.status_code == 200 and "2026年第一季度" in periods.get_data(as_text=True)
    res = client.post("/console/points/periods/2026Q1/close",
                      data={"csrf_token": token(client, "/console/points/periods")})
    assert "不再接受新的积分录入" in client.get(res.headers["Location"]).get_data(as_text=True)
    res = client.post("/console/points/periods/2026/review",
                      data={"csrf_token": token(client, "/console/points/periods")})
    assert "尚未关闭" in client.get(res.headers["Location"]).get_data(as_text=True)
    res = client.post("/console/points/periods/2026/close",
                      data={"csrf_token": token(client, "/console/points/periods")})
    assert "第二季度、第三季度、第四季度尚未关闭" in client.get(res.headers["Location"]).get_data(
        as_text=True)
    for q in (2, 3, 4):
        client.post(f"/console/points/periods/2026Q{q}/close",
                    data={"csrf_token": token(client, "/console/points/periods")})
    client.post("/console/points/periods/2026/close",
                data={"csrf_token": token(client, "/console/points/periods")})
    res = client.post("/console/points/periods/2026/review",
                      data={"csrf_token": token(client, "/console/points/periods")})
    page = client.get(res.headers["Location"]).get_data(as_text=True)
    assert "党委综评完成：已评定 8 名党员" in page and "评星定级资料库" in page
    export = client.get("/console/points/periods/2026/stars.xlsx")
    assert export.status_code == 200 and export.data[:2] == b"PK"


def test_secretary_cannot_run_periods(client, world):
    login(client, "sec_a")
    res = client.post("/console/points/periods/2026Q1/close",
                      data={"csrf_token": token(client, "/console/points/periods")})
    assert res.status_code == 403


def test_rectification_screen(app, client, world):
    login(client, "sec_a")
    tok = token(client, "/console/points/rectifications")
    res = client.post("/console/points/rectifications", data={
        "csrf_token": tok, "problem": "党员发展25个环节不熟悉", "source": "支部领导力测评",
        "owner": "王建华", "deadline": "2026-02-01", "measure": "组织专题培训"})
    assert res.status_code == 303
    res = client.post("/console/points/rectifications", data={
        "csrf_token": tok, "problem": "", "source": "s", "owner": "o", "deadline": "2026-02-01"})
    assert res.status_code == 422 and "请填写问题描述" in res.get_data(as_text=True)
    page = client.get("/console/points/rectifications").get_data(as_text=True)
    assert "已逾期 1 项" in page and "党员发展25个环节不熟悉" in page
    with app.app_context():
        item = db.session.execute(db.select(RectificationItem)).scalar_one()
    res = client.post(f"/console/points/rectifications/{item.id}/close",
                      data={"csrf_token": tok, "note": "已培训"})
    assert "已销号" in client.get(res.headers["Location"]).get_data(as_text=True)
    assert "已逾期 1 项" not in client.get("/console/points/rectifications").get_data(as_text=True)


def test_nav_link_and_organizer_read_only(client, world):
    login(client, "organizer")
    html = client.get("/console/").get_data(as_text=True)
    assert "积分管理" in html
    page = client.get("/console/points/entries?period=2026Q1").get_data(as_text=True)
    assert "录入积分" not in page
    assert client.get("/console/points/import").status_code == 403
