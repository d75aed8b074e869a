"""Meetings (测评会) over HTTP: build, slips, one ballot per form with each form's own
token, turnout per form and per meeting, close; bad input gets stable codes."""

from __future__ import annotations

import pytest

from server.meetings.codec import form_token, parse_meeting_token
from server.tokens.codec import token_hash
from tests.factories import organizer
from tests.support.meetings import answers_for, make_meeting, round_body


@pytest.fixture
def key(app):
    with app.app_context():
        _, k = organizer()
    return {"Authorization": f"Bearer {k}"}


def slips(client, key, mid, n, category="职工代表"):
    res = client.post(f"/api/v1/meetings/{mid}/slips", headers=key,
                      json={"category": category, "count": n})
    assert res.status_code == 201, res.json
    return [t["token"] for t in res.json["tokens"]]


def test_meeting_from_slips_to_close(app, client, key):
    meeting = make_meeting(client, key)
    mid = meeting["id"]
    assert meeting["status"] == "draft" and len(meeting["forms"]) == 3
    assert [c["name"] for c in meeting["categories"]] == ["班子成员", "职工代表"]
    tokens = slips(client, key, mid, 4)
    assert all(t.startswith(f"M{mid}.") for t in tokens)
    assert client.get(f"/api/v1/meetings/{mid}", headers=key).json["categories"][1]["issued"] == 4

    # before the meeting opens: every form says so
    res = client.post("/api/v1/meeting-slip", json={"token": tokens[0]})
    assert res.status_code == 200, res.json
    assert [f["state"] for f in res.json["forms"]] == ["not_open"] * 3

    assert client.post(f"/api/v1/meetings/{mid}/open", headers=key).json["status"] == "open"
    receipts = {}
    for v, tok in enumerate(tokens[:3]):
        slip = client.post("/api/v1/meeting-slip", json={"token": tok.lower()}).json
        assert slip["meeting"]["forms"] == 3
        for form in slip["forms"]:
            assert form["state"] == "open" and form["ballot"]["category"] == "职工代表"
            assert form["token"].startswith(f"{form['round_id']}.")
            if v == 2 and form["position"] == 3:
                continue  # this voter leaves the last form blank
            res = client.post("/api/v1/ballots", json={
                "token": form["token"], "answers": answers_for(form["ballot"], v)})
            assert res.status_code == 201, res.json
            receipts[(v, form["round_id"])] = res.json["receipt"]
    # a reload shows what is done: two submitted forms and one still open
    slip = client.post("/api/v1/meeting-slip", json={"token": tokens[2]}).json
    assert [f["state"] for f in slip["forms"]] == ["spent", "spent", "open"]
    assert slip["forms"][0]["error"]["code"] == "token_spent"
    # one token, one ballot per form
    again = client.post("/api/v1/ballots", json={
        "token": slip["forms"][0]["token"], "answers": answers_for(slip["forms"][2]["ballot"], 0)})
    assert again.status_code in (409, 422)

    turnout = client.get(f"/api/v1/meetings/{mid}/turnout", headers=key).json
    assert [f["actual"] for f in turnout["forms"]] == [3, 3, 2]
    assert (turnout["expected"], turnout["actual"], turnout["complete_at_most"]) == (25, 3, 2)

    closed = client.post(f"/api/v1/meetings/{mid}/close", headers=key).json
    assert closed["status"] == "closed"
    assert {f["status"] for f in closed["forms"]} == {"closed"}
    for (_, rid), receipt in receipts.items():
        check = client.post("/api/v1/receipts/check", json={"round_id": rid, "receipt": receipt})
        assert check.json["counted"] is True
    slip = client.post("/api/v1/meeting-slip", json={"token": tokens[3]}).json
    assert {f["state"] for f in slip["forms"]} == {"closed"}
    assert client.post(f"/api/v1/meetings/{mid}/close", headers=key).status_code == 200


def test_stored_tokens_are_the_derived_ones_and_nothing_else(app, client, key):
    meeting = make_meeting(client, key)
    tokens = slips(client, key, meeting["id"], 3)
    rids = [f["round_id"] for f in meeting["forms"]]
    with app.app_context():
        from sqlalchemy import text

        from server.core.db import db
        stored = {(r, h) for r, h in db.session.execute(
            text("SELECT round_id, token_hash FROM tokens"))}
    _, canonical = parse_meeting_token(tokens[0])
    assert canonical == tokens[0]
    expected = {(r, token_hash(form_token(t, r))) for t in tokens for r in rids}
    assert stored == expected  # per form hashes only: no meeting token, no meeting id
    assert not any(token_hash(t) in {h for _, h in stored} for t in tokens)


def test_pdf_slips(app, client, key):
    meeting = make_meeting(client, key)
    res = client.post(f"/api/v1/meetings/{meeting['id']}/slips", headers=key,
                      json={"category": "班子成员", "count": 2, "format": "pdf"})
    assert res.status_code == 201 and res.data.startswith(b"%PDF")


def test_bad_input(app, client, key):
    meeting = make_meeting(client, key)
    mid = meeting["id"]
    rid = meeting["forms"][0]["round_id"]

    def create(**body):
        return client.post("/api/v1/meetings", headers=key, json={"title": "会", **body})

    def code(res):
        assert res.status_code < 500, res.data
        return res.status_code, res.json["error"]["code"]

    assert code(create(round_ids=[])) == (422, "invalid_rounds")
    assert code(create(round_ids=[rid, rid])) == (422, "duplicate_round")
    assert code(create(round_ids=[999999])) == (422, "unknown_round")
    assert code(create(round_ids=[rid])) == (409, "round_in_meeting")
    assert code(create(round_ids=["x"]))[0] == 422
    assert code(create(round_ids=[rid], submit_mode="later"))[0] == 422
    other = round_body("appraisal", "另一类别")
    other["categories"][0]["expected_count"] = 6
    oid = client.post("/api/v1/rounds", json=other, headers=key).json["id"]
    same = client.post("/api/v1/rounds", json=round_body("appraisal", "同类别"), headers=key)
    assert code(create(round_ids=[same.json["id"], oid])) == (422, "categories_differ")
    client.post(f"/api/v1/rounds/{oid}/tokens", headers=key,
                json={"category_id": client.get(f"/api/v1/rounds/{oid}", headers=key)
                      .json["categories"][0]["id"], "count": 1})
    assert code(create(round_ids=[oid])) == (409, "round_has_slips")

    def issue(**body):
        return client.post(f"/api/v1/meetings/{mid}/slips", headers=key, json=body)

    assert code(issue(category="无此类别", count=1)) == (422, "unknown_category")
    assert code(issue(category="职工代表", count=0))[0] == 422
    assert code(client.get("/api/v1/meetings/999", headers=key)) == (404, "meeting_not_found")
    assert client.post("/api/v1/meetings", json={"title": "x", "round_ids": [rid]}
                       ).status_code == 401

    def slip(token):
        return client.post("/api/v1/meeting-slip", json={"token": token})

    assert code(slip("M1.xyz")) == (400, "token_malformed")
    assert code(slip(12))[0] == 422
    assert code(slip("M999." + "A" * 26)) == (404, "token_unknown")
    client.post(f"/api/v1/meetings/{mid}/open", headers=key)
    assert code(slip(f"M{mid}." + "A" * 26)) == (404, "token_unknown")
    client.post(f"/api/v1/rounds/{rid}/close", headers=key)
    assert code(client.post(f"/api/v1/meetings/{mid}/slips", headers=key,
                            json={"category": "职工代表", "count": 1})) == (409,
                                                                          "round_already_closed")


def test_console_pages(app, client, key):
    from tests.conftest import csrf_token
    from tests.test_console import login

    meeting = make_meeting(client, key)
    extra = client.post("/api/v1/rounds", json=round_body("appraisal", "选人用人工作满意度"),
                        headers=key).json
    login(client)
    page = client.get("/console/meetings").get_data(as_text=True)
    assert meeting["title"] in page and "选人用人工作满意度" in page
    token = csrf_token(page)
    res = client.post("/console/meetings", data={"csrf_token": token, "title": "",
                                                  "round_ids": [str(extra["id"])]})
    assert res.status_code == 422 and "请填写测评会名称" in res.get_data(as_text=True)
    mid = meeting["id"]
    detail = client.get(f"/console/meetings/{mid}").get_data(as_text=True)
    assert "参评情况" in detail and "第3份" in detail
    res = client.post(f"/console/meetings/{mid}/slips",
                      data={"csrf_token": token, "category": "班子成员", "count": "2"})
    assert res.status_code == 200 and res.data.startswith(b"%PDF")
    res = client.post(f"/console/meetings/{mid}/slips",
                      data={"csrf_token": token, "category": "班子成员", "count": "x"})
    assert res.status_code == 422
    res = client.post(f"/console/meetings/{mid}/open", data={"csrf_token": token})
    assert res.status_code == 302
    assert client.get(f"/api/v1/meetings/{mid}", headers=key).json["status"] == "open"
    assert "结束投票并计票" in client.get(f"/console/meetings/{mid}").get_data(as_text=True)


def test_the_demo_has_a_meeting_of_three_forms(app, client, runner):
    res = runner.invoke(args=["demo", "seed", "--base-url", "http://127.0.0.1:5000"])
    assert res.exit_code == 0, res.output
    assert "测评会：三份测评表，一张选票" in res.output
    link = next(line.strip() for line in res.output.splitlines() if "/v/m/#" in line)
    slip = client.post("/api/v1/meeting-slip", json={"token": link.split("#", 1)[1]}).json
    assert [f["state"] for f in slip["forms"]] == ["open"] * 3
    grades = [[g["label"] for g in f["ballot"]["form"]["grades"]] for f in slip["forms"]]
    assert grades == [["好", "较好", "一般", "差"], ["优秀", "称职", "基本称职", "不称职"],
                      ["满意", "基本满意", "不满意", "不了解"]]
    assert slip["forms"][0]["ballot"]["category"] == "职工代表"
