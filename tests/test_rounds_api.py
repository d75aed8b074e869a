"""The organizer API: build a round, issue tokens, run it, read turnout and results."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import text

from server.core.db import db
from tests.factories import committee, organizer

APPRAISAL = {
    "form": "appraisal",
    "title": "2026年度领导班子民主测评",
    "subjects": [{"name": "领导班子", "note": "整体"}, {"name": "王建国", "note": "书记"}],
    "categories": [{"name": "公司领导", "expected_count": 5, "weight": 0.3},
                   {"name": "中层干部", "expected_count": 10, "weight": 0.7}],
}


@pytest.fixture
def key(app):
    with app.app_context():
        _, raw = organizer()
    return {"Authorization": f"Bearer {raw}"}


def test_full_round_through_the_api(app, client, key):
    # 4 of 15 vote: 26.67% clears this round's 20% publication threshold
    res = client.post("/api/v1/rounds", json={**APPRAISAL, "results": {"min_turnout": 0.2}},
                      headers=key)
    assert res.status_code == 201, res.json
    rnd = res.json
    rid, cats = rnd["id"], rnd["categories"]
    assert rnd["status"] == "draft" and [c["name"] for c in cats] == ["公司领导", "中层干部"]

    issued = client.post(f"/api/v1/rounds/{rid}/tokens",
                         json={"category_id": cats[1]["id"], "count": 6}, headers=key)
    assert issued.status_code == 201
    tokens = [t["token"] for t in issued.json["tokens"]]
    assert len(set(tokens)) == 6
    assert all(t["url"] == f"https://vote.example.test/v/#{t['token']}"
               for t in issued.json["tokens"])
    with app.app_context():
        stored = {h for (h,) in db.session.execute(text("SELECT token_hash FROM tokens"))}
    assert not any(t in stored for t in tokens), "raw tokens are never stored"

    assert client.post(f"/api/v1/rounds/{rid}/open", headers=key).json["status"] == "open"
    assert client.post(f"/api/v1/rounds/{rid}/open", headers=key).json["status"] == "open"
    hidden = client.get(f"/api/v1/rounds/{rid}/results", headers=key)
    assert hidden.status_code == 409 and hidden.json["error"]["code"] == "results_hidden"

    form = client.post("/api/v1/ballot-form", json={"token": tokens[0]}).json
    sids = [str(s["id"]) for s in form["subjects"]]
    crits = [c["key"] for c in form["form"]["criteria"]]
    for i, token in enumerate(tokens[:4]):
        grade = ["excellent", "competent", "excellent", "unknown"][i]
        answers = {sid: {c: grade for c in crits} for sid in sids}
        assert client.post("/api/v1/ballots", json={"token": token, "answers": answers}
                           ).status_code == 201

    turnout = client.get(f"/api/v1/rounds/{rid}/turnout", headers=key).json
    assert (turnout["expected"], turnout["actual"]) == (15, 4)
    assert [(c["name"], c["actual"], c["issued"]) for c in turnout["categories"]] == [
        ("公司领导", 0, 0), ("中层干部", 4, 6)]

    closed = client.post(f"/api/v1/rounds/{rid}/close", headers=key)
    assert closed.status_code == 200 and closed.json["status"] == "closed"
    results = client.get(f"/api/v1/rounds/{rid}/results", headers=key).json
    assert results["ballots"] == 4
    overall = next(c for c in results["appraisal"]["subjects"][0]["criteria"]
                   if c["key"] == "overall")
    assert {g["key"]: g["count"] for g in overall["grades"]} == {
        "excellent": 2, "competent": 1, "basic": 0, "incompetent": 0, "unknown": 1}
    late = client.post(f"/api/v1/rounds/{rid}/tokens",
                       json={"category_id": cats[0]["id"], "count": 1}, headers=key)
    assert late.status_code == 409
    assert client.post(f"/api/v1/rounds/{rid}/publish", headers=key).json["status"] == "published"
    listing = client.get("/api/v1/rounds?status=published", headers=key).json
    assert listing["total"] == 1 and listing["items"][0]["id"] == rid


def test_recommendation_limits_and_live_results(app, client, key):
    body = {"form": "recommendation", "title": "后备干部推荐",
            "subjects": [{"name": f"候选人{i}"} for i in range(5)],
            "categories": [{"name": "全体", "expected_count": 30}],
            "max_choices": 2, "show_live_results": True}
    rnd = client.post("/api/v1/rounds", json=body, headers=key).json
    rid, cat = rnd["id"], rnd["categories"][0]["id"]
    tokens = [t["token"] for t in client.post(
        f"/api/v1/rounds/{rid}/tokens", json={"category_id": cat, "count": 3}, headers=key
    ).json["tokens"]]
    client.post(f"/api/v1/rounds/{rid}/open", headers=key)
    ids = [s["id"] for s in rnd["subjects"]]
    too_many = client.post("/api/v1/ballots",
                           json={"token": tokens[0], "answers": {"choices": ids[:3]}})
    assert too_many.json["error"]["code"] == "too_many_choices"
    assert client.post("/api/v1/ballots", json={"token": tokens[0],
                                                "answers": {"choices": ids[1:3]}}).status_code == 201
    live = client.get(f"/api/v1/rounds/{rid}/results", headers=key).json
    assert live["live"] is True
    # one ballot is fewer than k: the live figures stay at the empty count (k-anonymity)
    assert live["ballots"] == 0
    assert [c["votes"] for c in live["recommendation"]["candidates"]] == [0] * 5


@pytest.mark.parametrize(("patch", "code", "field"), [
    ({"form": "nope"}, "unknown_form", "form"),
    ({"title": ""}, "invalid_input", "title"),
    ({"subjects": []}, "invalid_input", "subjects"),
    ({"categories": [{"name": "a", "expected_count": -1}]}, "invalid_input", "categories"),
    ({"categories": [{"name": "a", "expected_count": 1}, {"name": "a", "expected_count": 2}]},
     "duplicate_category", "categories[1].name"),
    ({"form": "recommendation", "max_choices": 9}, "invalid_choice_limits", "max_choices"),
    ({"closes_at": "2001-01-01T00:00:00"}, "invalid_deadline", "closes_at"),
])
def test_bad_round_definitions(app, client, key, patch, code, field):
    res = client.post("/api/v1/rounds", json={**APPRAISAL, **patch}, headers=key)
    assert res.status_code == 422, res.json
    assert res.json["error"]["code"] == code
    assert res.json["error"]["field"] == field
    with app.app_context():
        assert db.session.execute(text("SELECT count(*) FROM rounds")).scalar() == 0


def test_auth_roles_and_committee_scope(app, client, key):
    rid = client.post("/api/v1/rounds", json=APPRAISAL, headers=key).json["id"]
    assert client.get(f"/api/v1/rounds/{rid}").status_code == 401
    assert client.get(f"/api/v1/rounds/{rid}",
                      headers={"Authorization": "Bearer wrong"}).json["error"]["code"] == \
        "invalid_api_key"
    with app.app_context():
        _, secretary = organizer("sec", role="secretary")
        other = committee("另一个党委")
        from server.accounts.operations import create_user, new_api_key

        stranger = new_api_key(create_user("stranger", "correct horse 1", committee_id=other.id))
    res = client.post(f"/api/v1/rounds/{rid}/open", headers={"Authorization": f"Bearer {secretary}"})
    assert res.status_code == 403 and res.json["error"]["code"] == "forbidden"
    res = client.get(f"/api/v1/rounds/{rid}", headers={"Authorization": f"Bearer {stranger}"})
    assert res.status_code == 404
    res = client.post(f"/api/v1/rounds/{rid}/open", headers={"Authorization": f"Bearer {stranger}"})
    assert res.status_code == 404
    with app.app_context():
        assert db.session.execute(text("SELECT status FROM rounds")).scalar() == "draft"


def test_deadline_stops_votes_and_close_due_closes(app, client, key, runner):
    soon = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).replace(tzinfo=None)
    body = {**APPRAISAL, "closes_at": soon.isoformat(timespec="seconds")}
    rnd = client.post("/api/v1/rounds", json=body, headers=key).json
    rid, cat = rnd["id"], rnd["categories"][0]["id"]
    token = client.post(f"/api/v1/rounds/{rid}/tokens", json={"category_id": cat, "count": 1},
                        headers=key).json["tokens"][0]["token"]
    client.post(f"/api/v1/rounds/{rid}/open", headers=key)
    with app.app_context():
        from server.roundbase.reads import get_round
        from server.rounds.operations import set_deadline

        past = (dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)).replace(tzinfo=None)
        set_deadline(get_round(rid), past)
    res = client.post("/api/v1/ballot-form", json={"token": token})
    assert res.status_code == 200  # the form still shows, the submit is refused
    sids = [str(s["id"]) for s in rnd["subjects"]]
    answers = {s: {c: "excellent" for c in ("political", "ability", "performance", "style",
                                            "integrity", "overall")} for s in sids}
    res = client.post("/api/v1/ballots", json={"token": token, "answers": answers})
    assert res.status_code == 409 and res.json["error"]["code"] == "round_closed"
    out = runner.invoke(args=["round", "close-due"])
    assert out.exit_code == 0 and f"closed 1 round(s): {rid}" in out.output
    assert client.get(f"/api/v1/rounds/{rid}", headers=key).json["status"] == "closed"
