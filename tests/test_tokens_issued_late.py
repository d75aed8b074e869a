"""Tokens issued while a round is open reach the live tally (signals.tokens_issued):
a late token votes at once, and turnout counts it."""

from __future__ import annotations

from tests.support.meetings import answers_for
from tests.support.rounds_http import create, issue, lifecycle, vote


def test_a_token_issued_after_open_votes_at_once(client, key):
    rnd = create(client, key, {
        "form": "appraisal", "title": "2026年度民主测评",
        "subjects": [{"name": "张三", "note": "总经理"}],
        "categories": [{"name": "职工代表", "expected_count": 3}]})
    rid, cat = rnd["id"], rnd["categories"][0]["id"]
    early = issue(client, key, rid, cat, 1)
    assert lifecycle(client, key, rid, "open").status_code == 200
    late = issue(client, key, rid, cat, 1)
    answers = answers_for(client.post("/api/v1/ballot-form", json={"token": late[0]}).json, 0)
    vote(client, late[0], answers)
    vote(client, early[0], answers)
    turnout = client.get(f"/api/v1/rounds/{rid}/turnout", headers=key).json
    assert turnout["actual"] == 2 and turnout["categories"][0]["issued"] == 2, turnout
