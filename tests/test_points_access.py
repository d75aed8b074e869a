"""Branch scoping: a secretary of branch A can neither read nor change branch B
(API and console); roles without a right get 403 with a code naming it."""

from __future__ import annotations

import pytest

from server.core.db import db
from server.points.models import PointsEntry
from server.points.operations import approve_entry, create_entry
from tests.conftest import csrf_token
from tests.support.points import PASSWORD, build_world, sheet


@pytest.fixture
def world(app):
    with app.app_context():
        return build_world()


@pytest.fixture
def b_entries(app, world):
    """An approved and a pending entry of branch B."""
    with app.app_context():
        w = world
        done = create_entry(w.user("sec_b"), "member", w.members_b[0], "innovation", 2, "2026Q1",
                            "B的记录")
        approve_entry(w.user("wei_b"), done.id)
        pending = create_entry(w.user("sec_b"), "member", w.members_b[1], "innovation", 2,
                               "2026Q1", "B待审定")
        return done.id, pending.id


def login(client, username):
    page = client.get("/console/login")
    res = client.post("/console/login", data={"csrf_token": csrf_token(page.get_data(as_text=True)),
                                              "username": username, "password": PASSWORD})
    assert res.status_code == 302


def entries_of(app, branch_id):
    with app.app_context():
        return db.session.execute(db.select(PointsEntry).filter_by(branch_id=branch_id)
                                  ).scalars().all()


def test_api_secretary_cannot_read_branch_b(client, world, b_entries):
    w, (done, _pending) = world, b_entries
    h = w.auth("sec_a")
    reads = [
        f"/api/v1/points/members/{w.members_b[0]}",
        f"/api/v1/points/entries/{done}",
        f"/api/v1/points/boards/members/{w.branch_b}?period=2026Q1",
        f"/api/v1/points/boards/groups/{w.branch_b}?period=2026",
        f"/api/v1/points/entries?branch_id={w.branch_b}",
        f"/api/v1/points/entries?member_id={w.members_b[0]}",
        f"/api/v1/points/rectifications?branch_id={w.branch_b}",
    ]
    for url in reads:
        res = client.get(url, headers=h)
        assert res.status_code == 404, (url, res.json)
        assert res.json["error"]["code"].endswith("not_found")
    listed = client.get("/api/v1/points/entries", headers=h).json
    assert listed["total"] == 0
    # the same reads work for branch B's own secretary and the committee
    for who in ("sec_b", "dangwei"):
        assert client.get(reads[0], headers=w.auth(who)).status_code == 200
        assert client.get(reads[2], headers=w.auth(who)).status_code == 200


def test_api_secretary_cannot_change_branch_b(app, client, world, b_entries):
    w, (done, pending) = world, b_entries
    h = w.auth("sec_a")
    before = [(e.id, e.status) for e in entries_of(app, w.branch_b)]
    res = client.post("/api/v1/points/entries", headers=h, json={
        "member_id": w.members_b[0], "item": "innovation", "points": 2, "period": "2026Q1",
        "reason": "越权"})
    assert res.status_code == 422 and res.json["error"]["code"] == "unknown_member"
    assert res.json["error"]["field"] == "member_id"
    for action, body in (("approve", {}), ("reject", {"reason": "x"})):
        res = client.post(f"/api/v1/points/entries/{pending}/{action}", headers=h, json=body)
        assert res.status_code == 404, res.json
    res = client.post(f"/api/v1/points/entries/{done}/reverse", headers=h, json={"reason": "x"})
    assert res.status_code == 404
    res = client.post(f"/api/v1/points/boards/members/{w.branch_b}/visibility", headers=h,
                      json={"period": "2026Q1", "visibility": "hidden"})
    assert res.status_code == 404
    res = client.post("/api/v1/points/rectifications", headers=h, json={
        "branch_id": w.branch_b, "problem": "p", "source": "s", "owner": "o",
        "deadline": "2026-06-30"})
    assert res.status_code == 422 and res.json["error"]["code"] == "unknown_branch"
    upload = client.post("/api/v1/points/imports", headers=h, data={
        "branch_id": str(w.branch_b), "period": "2026Q1",
        "file": (__import__("io").BytesIO(sheet([["B001", "孙伟", "innovation", 2, "x"]])),
                 "b.xlsx")}, content_type="multipart/form-data")
    assert upload.status_code == 404
    assert [(e.id, e.status) for e in entries_of(app, w.branch_b)] == before


def test_roles_without_the_right_get_403(client, world, b_entries):
    w, (_done, pending) = world, b_entries
    res = client.post(f"/api/v1/points/entries/{pending}/approve", headers=w.auth("organizer"),
                      json={})
    assert res.status_code == 403 and res.json["error"]["code"] == "approval_forbidden"
    assert "审定" in res.json["error"]["message"]
    res = client.post("/api/v1/points/entries", headers=w.auth("organizer"), json={
        "member_id": w.members_b[0], "item": "innovation", "period": "2026Q1", "reason": "x"})
    assert res.status_code == 403 and res.json["error"]["code"] == "points_forbidden"
    res = client.post("/api/v1/points/periods/2026Q1/close", headers=w.auth("sec_b"))
    assert res.status_code == 403 and res.json["error"]["code"] == "committee_only"
    res = client.post("/api/v1/points/periods/2026/review", headers=w.auth("sec_a"))
    assert res.status_code == 403
    # reads need a key or a session
    assert client.get(f"/api/v1/points/members/{w.members_b[0]}").status_code == 401


def test_console_secretary_cannot_read_or_change_branch_b(app, client, world, b_entries):
    w, (done, pending) = world, b_entries
    login(client, "sec_a")
    for url in (f"/console/points/members/{w.members_b[0]}",
                f"/console/points/?branch={w.branch_b}",
                f"/console/points/entries?branch={w.branch_b}",
                f"/console/points/import?branch={w.branch_b}"):
        res = client.get(url)
        assert res.status_code == 404, url
        assert "找不到" in res.get_data(as_text=True)
    token = csrf_token(client.get("/console/points/entries").get_data(as_text=True))
    before = [(e.id, e.status) for e in entries_of(app, w.branch_b)]
    for url, data in ((f"/console/points/entries/{pending}/approve", {}),
                      (f"/console/points/entries/{pending}/reject", {"reason": "x"}),
                      (f"/console/points/entries/{done}/reverse", {"reason": "x"})):
        res = client.post(url, data={"csrf_token": token, **data})
        assert res.status_code == 404, url
    res = client.post("/console/points/entries", data={
        "csrf_token": token, "subject": f"member:{w.members_b[0]}", "item": "member:innovation",
        "points": "2", "period": "2026Q1", "reason": "越权"})
    assert res.status_code == 422 and "找不到该党员" in res.get_data(as_text=True)
    assert [(e.id, e.status) for e in entries_of(app, w.branch_b)] == before
    # the own branch's pages work, and list nothing of branch B
    page = client.get("/console/points/entries?period=2026Q1").get_data(as_text=True)
    assert "第一党支部" in page and "孙伟" not in page and "B待审定" not in page
    board = client.get("/console/points/?period=2026Q1").get_data(as_text=True)
    assert "孙伟" not in board and "王建华" in board
