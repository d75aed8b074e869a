"""The projector feed: cached JSON, turnout while open, k-safe live results, charts
data after close; and live results rebuilt from the tally equal a recount."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from server.core.redis import get_redis
from server.forms.answers import check_answers, tally_fields
from server.forms.templates import load_forms
from server.results import view
from server.results.provisional import ballots_from_tally, snapshot_key
from server.resultsengine.config import ResultRules
from server.resultsengine.engine import compute_results
from tests.conftest import csrf_token
from tests.factories import organizer
from tests.support.rounds_http import create, issue, lifecycle, run_round, vote

FORMS = load_forms(Path(__file__).resolve().parents[1] / "config" / "forms")
CRITERIA = [c["key"] for c in FORMS["appraisal"]["criteria"]]
GRADES = [g["key"] for g in FORMS["appraisal"]["grades"]]


def feed(client, key, rid):
    res = client.get(f"/api/v1/rounds/{rid}/projector", headers=key)
    assert res.status_code == 200, res.get_data(as_text=True)
    return res.json


def appraisal_body(**extra):
    return {"form": "appraisal", "title": "民主测评", "subjects": [{"name": "甲", "note": "书记"},
                                                                 {"name": "乙"}],
            "categories": [{"name": "中层干部", "expected_count": 10},
                           {"name": "职工代表", "expected_count": 10}], **extra}


def sheet(grade_a: str, grade_b: str) -> dict:
    return {"#0": {c: grade_a for c in CRITERIA}, "#1": {c: grade_b for c in CRITERIA}}


def test_turnout_only_while_open(app, client, key):
    rnd, _ = run_round(client, key, appraisal_body(),
                       {"中层干部": [sheet("excellent", "competent")] * 2}, close=False)
    data = feed(client, key, rnd["id"])
    assert data["status"] == "open" and data["results"] is None
    assert data["hidden_reason"] == "投票结束前不显示结果"
    assert (data["turnout"]["actual"], data["turnout"]["expected"]) == (2, 20)


def test_feed_is_cached_for_a_second_per_round(app, client, key, monkeypatch):
    rnd, _ = run_round(client, key, appraisal_body(), {"中层干部": [sheet("basic", "basic")]},
                       close=False)
    rid = rnd["id"]
    calls = []
    real = view.compute_projector
    monkeypatch.setattr(view, "compute_projector", lambda r: calls.append(r.id) or real(r))
    first = client.get(f"/api/v1/rounds/{rid}/projector", headers=key).get_data()
    for _ in range(20):
        assert client.get(f"/api/v1/rounds/{rid}/projector", headers=key).get_data() == first
    assert calls == [rid]
    with app.app_context():
        r = get_redis()
        cache_key = view.projector_key(rid)
        assert cache_key.startswith(f"{{r:{rid}}}:")  # the round's hash tag (cluster slot)
        assert 0 < r.pttl(cache_key) <= 1000
        r.delete(cache_key)
    client.get(f"/api/v1/rounds/{rid}/projector", headers=key)
    assert calls == [rid, rid]


def test_close_shows_the_results_at_once_when_announced_on_close(app, client, key):
    """当场公布: the round says so; otherwise the hall waits for publish
    (tests/test_meeting_day.py)."""
    rnd, _ = run_round(client, key, appraisal_body(announce_on_close=True),
                       {"中层干部": [sheet("excellent", "basic")] * 3,
                        "职工代表": [sheet("competent", "basic")] * 3}, close=False)
    rid = rnd["id"]
    assert feed(client, key, rid)["results"] is None
    lifecycle(client, key, rid, "close")  # drops the cached feed
    data = feed(client, key, rid)
    b = data["results"]
    assert data["status"] == "closed" and b["kind"] == "appraisal" and b["live"] is False
    assert b["caption"] == "总体评价" and b["abstain_label"] == "不了解"
    assert [g["label"] for g in b["grades"]] == ["优秀", "称职", "基本称职", "不称职"]
    first = b["subjects"][0]
    assert (first["name"], first["note"], first["score"]) == ("甲", "书记", 90.0)
    assert [(x["label"], x["count"], x["pct"]) for x in first["bars"]] == [
        ("优秀", 3, 50.0), ("称职", 3, 50.0), ("基本称职", 0, 0.0), ("不称职", 0, 0.0)]
    assert data["turnout"]["actual"] == 6


def test_rankings_for_recommendation_and_scoring(app, client, key):
    body = {"form": "recommendation", "title": "推荐", "max_choices": 2,
            "subjects": [{"name": f"候选人{i}"} for i in range(1, 5)],
            "categories": [{"name": "全体", "expected_count": 8}], "announce_on_close": True}
    rnd, _ = run_round(client, key, body, {"全体": [{"choices": [2, 1]}] * 5
                                                  + [{"choices": [0, 2]}] * 3})
    b = feed(client, key, rnd["id"])["results"]
    assert b["kind"] == "recommendation" and b["threshold_pct"] == 50.0 and b["places"] == 2
    assert [(r["name"], r["votes"], r["pct"], r["status"]) for r in b["rows"]] == [
        ("候选人3", 8, 100.0, "selected"), ("候选人2", 5, 62.5, "selected"),
        ("候选人1", 3, 37.5, "below_threshold"), ("候选人4", 0, 0.0, "below_threshold")]

    body = {"form": "review", "title": "评议", "subjects": [{"name": "甲"}, {"name": "乙"}],
            "categories": [{"name": "考评组", "expected_count": 5}], "announce_on_close": True}
    low = {"responsibility": 10, "organization": 10, "conduct": 10, "innovation": 10,
           "answers": 5}
    high = {**low, "responsibility": 30}
    rnd, _ = run_round(client, key, body, {"考评组": [{"#0": low, "#1": high}] * 5})
    b = feed(client, key, rnd["id"])["results"]
    assert b["kind"] == "scoring" and b["max_total"] == 100.0 and b["trim"] == 1
    assert [(r["name"], r["total"], r["rank"]) for r in b["rows"]] == [("乙", 65.0, 1),
                                                                     ("甲", 45.0, 2)]


def test_live_results_move_only_in_steps_of_k_and_have_no_categories(app, client, key):
    body = appraisal_body(show_live_results=True)
    rnd = create(client, key, body)
    rid = rnd["id"]
    ids = [s["id"] for s in rnd["subjects"]]
    cats = [c["id"] for c in rnd["categories"]]
    tokens = issue(client, key, rid, cats[0], 8) + issue(client, key, rid, cats[1], 8)
    random.Random(7).shuffle(tokens)
    lifecycle(client, key, rid, "open")
    grades = ["excellent", "competent", "basic", "incompetent", "unknown"]
    seen = []
    for i, token in enumerate(tokens, start=1):
        g = grades[i % 5]
        vote(client, token, {str(ids[0]): {c: g for c in CRITERIA},
                             str(ids[1]): {c: "competent" for c in CRITERIA}})
        with app.app_context():
            get_redis().delete(view.projector_key(rid))  # no waiting for the 1 s cache
        data = feed(client, key, rid)
        b = data["results"]
        assert b["live"] is True and data["turnout"]["actual"] == i
        seen.append(b["ballots"])
        res = client.get(f"/api/v1/rounds/{rid}/results", headers=key).json
        assert res["ballots"] == b["ballots"] and res["live"] is True
        assert all(not rows for rows in _by_category(res))
    # published counts: 0 until 5 ballots, then every 5 more (never a step below k)
    assert seen == [0] * 4 + [5] * 5 + [10] * 5 + [15, 15]
    assert all(b - a in (0, 5) for a, b in zip(seen, seen[1:], strict=False))
    with app.app_context():
        assert get_redis().hget(snapshot_key(rid), "n") == "15"

    live = client.get(f"/api/v1/rounds/{rid}/results", headers=key).json
    lifecycle(client, key, rid, "close")
    official = client.get(f"/api/v1/rounds/{rid}/results", headers=key).json
    assert official["live"] is False and official["ballots"] == 16
    def rates(subject):
        return [[g["rate_pct"] for g in c["grades"]] for c in subject["criteria"]]

    same_live, same_official = live["appraisal"]["subjects"][1], official["appraisal"]["subjects"][1]
    assert same_live["score"] == same_official["score"] == 85.0
    assert rates(same_live) == rates(same_official)


def _by_category(data):
    if isinstance(data, dict):
        for k, v in data.items():
            if k == "by_category":
                yield v
            else:
                yield from _by_category(v)
    elif isinstance(data, list):
        for v in data:
            yield from _by_category(v)


def test_live_snapshot_equals_the_official_count_at_the_same_ballots(app, client, key):
    body = {"form": "review", "title": "评议", "subjects": [{"name": "甲"}, {"name": "乙"}],
            "categories": [{"name": "考评组", "expected_count": 5}],
            "show_live_results": True, "results": {"trim": 0}}
    rows = [{"#0": {"responsibility": 10 + i, "organization": 12.5, "conduct": 3,
                    "innovation": 0, "answers": 9.5},
             "#1": {"responsibility": 30, "organization": i, "conduct": 20, "innovation": 15,
                    "answers": 10}} for i in range(5)]
    rnd, _ = run_round(client, key, body, {"考评组": rows}, close=False)
    live = client.get(f"/api/v1/rounds/{rnd['id']}/results", headers=key).json
    lifecycle(client, key, rnd["id"], "close")
    official = client.get(f"/api/v1/rounds/{rnd['id']}/results", headers=key).json
    assert live["ballots"] == official["ballots"] == 5
    assert live["scoring"]["subjects"] == official["scoring"]["subjects"]


def test_projector_page_polls_the_feed_without_inline_script(app, client, key):
    rnd = create(client, key, appraisal_body())
    page = client.get("/console/login").get_data(as_text=True)
    client.post("/console/login", data={"csrf_token": csrf_token(page),
                                        "username": "organizer", "password": "correct horse 1"})
    html = client.get(f"/console/rounds/{rnd['id']}/projector").get_data(as_text=True)
    assert f'data-feed-url="/api/v1/rounds/{rnd["id"]}/projector"' in html
    assert 'id="pj-board"' in html and "<script>" not in html and "onclick" not in html
    assert feed(client, {}, rnd["id"])["status"] == "draft"  # the session reads the feed


def test_feed_needs_a_reader(app, client, key):
    rnd = create(client, key, appraisal_body())
    assert client.get(f"/api/v1/rounds/{rnd['id']}/projector").status_code == 401


# ----------------------------------------------------------------- tally → ballots


SIDS = [101, 102, 103]


@st.composite
def ballot_sets(draw, kind):
    n = draw(st.integers(min_value=0, max_value=12))
    if kind == "appraisal":
        raw = [{str(s): {c: draw(st.sampled_from(GRADES)) for c in CRITERIA} for s in SIDS}
               for _ in range(n)]
    elif kind == "recommendation":
        raw = [{"choices": draw(st.lists(st.sampled_from(SIDS), min_size=1, max_size=3,
                                         unique=True))} for _ in range(n)]
    else:
        items = FORMS["review"]["items"]
        raw = [{str(s): {i["key"]: draw(st.integers(0, int(i["max"]) * 10)) / 10 for i in items}
                for s in SIDS} for _ in range(n)]
    return raw


@pytest.mark.parametrize("kind,form_key", [("appraisal", "appraisal"),
                                           ("recommendation", "recommendation"),
                                           ("scoring", "review")])
def test_ballots_rebuilt_from_a_tally_give_the_same_results(kind, form_key):
    form = dict(FORMS[form_key])
    if kind == "recommendation":
        form = {**form, "min_choices": 1, "max_choices": 3}
    subjects = [{"id": s, "name": f"对象{s}", "note": ""} for s in SIDS]
    cats = [{"id": 1, "name": "全体", "expected_count": 12, "weight": 1.0}]
    rules = ResultRules(k=1)

    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(ballot_sets(kind))
    def check(raw):
        ballots = [check_answers(form, SIDS, b) for b in raw]
        fields: dict[str, int] = {}
        for b in ballots:
            for f, n in tally_fields(form, b).items():
                fields[f] = fields.get(f, 0) + n
        rebuilt = ballots_from_tally(form, SIDS, len(ballots), fields)
        assert len(rebuilt) == len(ballots)
        for b in rebuilt:
            check_answers(form, SIDS, b)  # each one is a valid ballot
        again: dict[str, int] = {}
        for b in rebuilt:
            for f, n in tally_fields(form, b).items():
                again[f] = again.get(f, 0) + n
        assert {f: n for f, n in again.items() if n} == {f: n for f, n in fields.items() if n}
        expected = compute_results(form, subjects, cats, [(1, b) for b in ballots], None, rules)
        got = compute_results(form, subjects, cats, [(1, b) for b in rebuilt], None, rules)
        assert json.dumps(got, sort_keys=True) == json.dumps(expected, sort_keys=True)

    check()


def test_live_results_and_projector_cache_on_a_redis_cluster(cluster_app):
    """The live-tally read and the snapshot script touch only the round's {r:N} slot."""
    app, client = cluster_app, cluster_app.test_client()
    with app.app_context():
        _, raw = organizer()
    key = {"Authorization": f"Bearer {raw}"}
    body = {"form": "recommendation", "title": "集群", "max_choices": 1, "show_live_results": True,
            "announce_on_close": True, "subjects": [{"name": "甲"}, {"name": "乙"}],
            "categories": [{"name": "全体", "expected_count": 10}]}
    rnd, _ = run_round(client, key, body, {"全体": [{"choices": [0]}] * 6}, close=False)
    rid = rnd["id"]
    data = feed(client, key, rid)
    assert data["results"]["ballots"] == 6
    assert [r["votes"] for r in data["results"]["rows"]] == [6, 0]
    with app.app_context():
        r = get_redis()
        assert r.hget(snapshot_key(rid), "n") == "6"
        assert r.pttl(view.projector_key(rid)) > 0
    lifecycle(client, key, rid, "close")
    assert feed(client, key, rid)["results"]["live"] is False


def test_deadline_is_sent_with_its_offset(app, client, key):
    """The feed's closes_at is RFC 3339 with +00:00, as TurnoutOut documents (schemathesis
    found a naive time here)."""
    rnd = create(client, key, appraisal_body(closes_at="9752-12-27T15:02:43+08:00"))
    assert rnd["closes_at"] == "9752-12-27T07:02:43+00:00"
    assert feed(client, key, rnd["id"])["turnout"]["closes_at"] == "9752-12-27T07:02:43+00:00"
