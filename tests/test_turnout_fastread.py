"""GET /api/v1/rounds/<id>/turnout beneath Flask (server/rounds/fastread.py) answers
as Flask does.

Each case is sent to two apps on the same SQL database and Redis: one with the
fast read (the default) and one with TURNOUT_FAST_READ off, where every read goes
through Flask's view. Status, JSON body and headers must match; and the fast
read must serve the common case itself and hand everything else on.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from flask import Flask

from server.accounts.operations import create_user, new_api_key
from server.core.db import db
from server.rounds.operations import close_round, get_round
from server.voting import livetally
from tests.conftest import _dispose, layer_pair_fixture, make_app
from tests.factories import committee, make_round, valid_answers

HEADERS = ("Content-Type", "Content-Security-Policy", "X-Content-Type-Options",
           "Referrer-Policy", "X-Frame-Options", "Cache-Control", "Strict-Transport-Security",
           "Set-Cookie")


pair = layer_pair_fixture("TURNOUT_FAST_READ")  # (fast, flask): two apps over one database and one Redis


class Counting:
    """Counts the requests the fast read hands on to Flask."""

    def __init__(self, app: Flask) -> None:
        layer = app.wsgi_app.inner  # type: ignore[attr-defined]  # beneath the ballots' layer
        self.inner = layer.inner
        self.calls = 0
        layer.inner = self

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        self.calls += 1
        return self.inner(environ, start_response)


def answer(res: Any) -> tuple[int, Any, dict[str, str | None]]:
    return res.status_code, json.loads(res.data), {h: res.headers.get(h) for h in HEADERS}


def get(app: Flask, round_id: int | str, key: str | None, **kw: Any) -> Any:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    method = kw.pop("method", "GET")
    return app.test_client().open(f"/api/v1/rounds/{round_id}/turnout", method=method,
                                  headers=headers, **kw)


def vote(app: Flask, token: str, answers: dict[str, Any]) -> None:
    res = app.test_client().post("/api/v1/ballots", json={"token": token, "answers": answers})
    assert res.status_code == 201, res.data


@pytest.fixture
def world(pair: tuple[Flask, Flask]) -> dict[str, Any]:
    """Rounds in every state, ballots in one, and keys of every kind of caller."""
    fast, _ = pair
    with fast.app_context():
        home = committee().id
        other = committee("另一党委").id
        rnd, tokens = make_round("appraisal", n_subjects=2)
        rnd.closes_at = dt.datetime(2031, 5, 4, 9, 30)
        db.session.commit()
        ans = valid_answers(rnd)
        cats = [c.id for c in rnd.categories]
        draft, _ = make_round("appraisal", open_it=False)
        closed, closed_tokens = make_round("recommendation")
        closed_vote = (closed_tokens[closed.categories[0].id][0], valid_answers(closed))
        lost, _ = make_round("appraisal")
        keys = {}
        for name, role, where in (("admin", "admin", None), ("organizer", "organizer", home),
                                  ("committee", "committee", home),
                                  ("secretary", "secretary", home),
                                  ("stranger", "organizer", other),
                                  ("retired", "organizer", home)):
            user = create_user(f"u-{name}", "password-123", role=role, committee_id=where)
            keys[name] = new_api_key(user, name)
            if name == "retired":
                user.active = False
                db.session.commit()
        ids = {"open": rnd.id, "draft": draft.id, "closed": closed.id, "lost": lost.id}
    for i in range(3):
        vote(fast, tokens[cats[i % 3]][i], ans)
    vote(fast, tokens[cats[0]][4], ans)
    vote(fast, *closed_vote)
    with fast.app_context():
        close_round(get_round(ids["closed"]))
    return {"ids": ids, "keys": keys}


def _served_here(ids: dict[str, int], keys: dict[str, str]) -> list[tuple]:
    """(name, round id, key, request arguments): the fast read answers these."""
    return [
        ("organizer, open round", ids["open"], keys["organizer"], {}),
        ("committee member", ids["open"], keys["committee"], {}),
        ("admin of any committee", ids["open"], keys["admin"], {}),
        ("over https", ids["open"], keys["organizer"], {"base_url": "https://localhost"}),
        ("draft round", ids["draft"], keys["organizer"], {}),
    ]


def _handed_on(ids: dict[str, int], keys: dict[str, str]) -> list[tuple]:
    """Cases Flask answers (errors, and what the fast read does not serve)."""
    return [
        ("closed round (frozen result)", ids["closed"], keys["organizer"], {}),
        ("no key", ids["open"], None, {}),
        ("unknown key", ids["open"], "pk_not-a-key", {}),
        ("key of an inactive user", ids["open"], keys["retired"], {}),
        ("role that may not read", ids["open"], keys["secretary"], {}),
        ("another committee's round", ids["open"], keys["stranger"], {}),
        ("no such round", 2147483000, keys["organizer"], {}),
        ("id beyond any integer", "9" * 25, keys["organizer"], {}),
        ("query string", ids["open"], keys["organizer"], {"query_string": {"a": "1"}}),
        ("HEAD", ids["open"], keys["organizer"], {"method": "HEAD"}),
        ("POST", ids["open"], keys["organizer"], {"method": "POST"}),
    ]


def test_the_fast_read_serves_readers_of_live_rounds_and_only_those(pair, world):
    fast, _ = pair
    ids, keys = world["ids"], world["keys"]
    handed_on = Counting(fast)
    for name, rid, key, kw in _served_here(ids, keys):
        assert get(fast, rid, key, **kw).status_code == 200, name
    assert handed_on.calls == 0
    for name, rid, key, kw in _handed_on(ids, keys):
        get(fast, rid, key, **kw)
        assert handed_on.calls == 1, name
        handed_on.calls = 0


def test_both_paths_give_the_same_answers(pair, world):
    fast, slow = pair
    ids, keys = world["ids"], world["keys"]
    cases = _served_here(ids, keys) + [c for c in _handed_on(ids, keys) if c[0] != "HEAD"]
    got = {name: (answer(get(fast, rid, key, **kw)), answer(get(slow, rid, key, **kw)))
           for name, rid, key, kw in cases}
    for name, (f, s) in got.items():
        assert f == s, name
    status = {name: f[0] for name, (f, _) in got.items()}
    assert status["organizer, open round"] == 200 and status["draft round"] == 200
    assert status["no key"] == 401 and status["unknown key"] == 401
    assert status["key of an inactive user"] == 401
    assert status["role that may not read"] == 403
    assert status["another committee's round"] == 404 and status["no such round"] == 404
    assert status["POST"] == 405

    live = got["organizer, open round"][0]
    body, headers = live[1], live[2]
    assert (body["actual"], body["expected"], body["rate"]) == (4, 120, round(4 / 120, 4))
    assert [c["actual"] for c in body["categories"]] == [2, 1, 1]
    assert [c["issued"] for c in body["categories"]] == [5, 5, 5]
    assert body["closes_at"] == "2031-05-04T09:30:00+00:00"
    assert headers["Cache-Control"] == "no-store" and headers["Set-Cookie"] is None
    assert got["over https"][0][2]["Strict-Transport-Security"]
    assert got["draft round"][0][1]["actual"] == 0
    assert got["closed round (frozen result)"][0][1]["actual"] == 1


def test_lost_live_state_is_rebuilt_through_flask(pair, world):
    fast, slow = pair
    ids, keys = world["ids"], world["keys"]
    with fast.app_context():
        rid = ids["open"]
        livetally.drop(rid, [c.id for c in get_round(rid).categories])
    handed_on = Counting(fast)
    first = answer(get(fast, rid, keys["organizer"]))
    assert handed_on.calls == 1  # Flask rebuilt the live state from SQL ...
    assert first[1]["actual"] == 4
    assert answer(get(fast, rid, keys["organizer"])) == first  # ... then the fast read serves
    assert handed_on.calls == 1
    assert answer(get(slow, rid, keys["organizer"])) == first


def test_a_ballot_shows_in_the_next_read(pair, world):
    fast, _ = pair
    ids, keys = world["ids"], world["keys"]
    with fast.app_context():
        rnd = get_round(ids["lost"])
        cat = rnd.categories[2]
        from server.tokens.operations import issue_tokens

        token = issue_tokens(rnd, cat.id, 1)[0]
        ans = valid_answers(rnd)
    before = get(fast, ids["lost"], keys["organizer"]).get_json()
    assert before["categories"][2]["issued"] == 6 and before["actual"] == 0
    vote(fast, token, ans)
    after = get(fast, ids["lost"], keys["organizer"]).get_json()
    assert after["actual"] == 1 and after["categories"][2]["actual"] == 1


def test_redis_outage_answers_match(pair, world, tmp_path):
    ids, keys = world["ids"], world["keys"]
    got = []
    for fast_read in (True, False):
        down = make_app(tmp_path, "redis://127.0.0.1:1/0", TURNOUT_FAST_READ=fast_read,
                        REDIS_CLUSTER_NODES="")  # no cluster either, in cluster mode
        got.append(answer(get(down, ids["open"], keys["organizer"])))
        _dispose(down)
    assert got[0] == got[1]
    assert got[0][0] == 503 and got[0][1]["error"]["code"]
