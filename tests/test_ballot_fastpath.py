"""POST /api/v1/ballots beneath Flask (server/voting/fastpath.py) answers as Flask does.

Each case is sent to two apps on the same SQL database and Redis: one with the
fast path (the default) and one with BALLOT_FAST_PATH off, where every ballot
goes through Flask's view. Status, JSON body (receipts aside) and headers must
match, and so must what was recorded.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from flask import Flask
from sqlalchemy import text

from server.core.db import db
from server.core.redis import get_redis
from server.rounds.operations import close_round, get_round
from tests.conftest import _dispose, layer_pair_fixture, make_app
from tests.factories import make_round, valid_answers

HEADERS = ("Content-Type", "Content-Security-Policy", "X-Content-Type-Options",
           "Referrer-Policy", "X-Frame-Options", "Cache-Control", "Retry-After",
           "Strict-Transport-Security")


pair = layer_pair_fixture("BALLOT_FAST_PATH", TOKEN_GUESS_LIMIT=3)  # (fast, flask): two apps over one database and one Redis


class Counting:
    """Counts the requests the fast path hands on to Flask."""

    def __init__(self, app: Flask) -> None:
        self.inner = app.wsgi_app.inner  # type: ignore[attr-defined]
        self.calls = 0
        app.wsgi_app.inner = self  # type: ignore[attr-defined]

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        self.calls += 1
        return self.inner(environ, start_response)


def answer(res: Any) -> tuple[int, Any, dict[str, str | None]]:
    body = json.loads(res.data)
    if "receipt" in body:
        body["receipt"] = "<receipt>"
    return res.status_code, body, {h: res.headers.get(h) for h in HEADERS}


def post(app: Flask, body: Any, **kw: Any) -> Any:
    data = body if isinstance(body, str | bytes) else json.dumps(body, ensure_ascii=False)
    kw.setdefault("content_type", "application/json")
    return app.test_client().post("/api/v1/ballots", data=data, **kw)


def recorded(app: Flask, round_id: int) -> tuple[int, int]:
    with app.app_context():
        return tuple(db.session.execute(text(
            "SELECT (SELECT count(*) FROM ballots WHERE round_id = :r),"
            " (SELECT count(*) FROM spent_tokens WHERE round_id = :r)"), {"r": round_id}).one())


def test_the_fast_path_serves_well_formed_ballots_and_only_those(pair):
    fast, _ = pair
    with fast.app_context():
        rnd, tokens = make_round("appraisal")
        toks, ans, rid = tokens[rnd.categories[0].id], valid_answers(rnd), rnd.id
    handed_on = Counting(fast)

    assert post(fast, {"token": toks[0], "answers": ans}).status_code == 201
    assert post(fast, {"token": toks[0], "answers": ans}).status_code == 409
    assert post(fast, {"token": toks[1], "answers": ans, "comment": None}).status_code == 201
    assert handed_on.calls == 0
    assert recorded(fast, rid) == (2, 2)

    assert post(fast, {"token": toks[2]}).status_code == 422  # no answers: Flask says so
    assert post(fast, "{not json").status_code == 400
    assert post(fast, {"token": toks[2], "answers": ans, "extra": 1}).status_code == 422
    assert post(fast, {"token": "\u0000", "answers": ans}).status_code == 400
    assert handed_on.calls == 4
    assert recorded(fast, rid) == (2, 2)


def _cases(toks: list[str], ans: dict[str, Any], other_round_token: str) -> list[tuple]:
    """(name, body or raw text, extra request arguments)."""
    unknown = toks[0].split(".")[0] + "." + "Q" * 22
    wrong = {k: {c: "no-such-grade" for c in v} for k, v in ans.items()}
    return [
        ("accepted", {"token": toks[0], "answers": ans}, {}),
        ("replayed", {"token": toks[0], "answers": ans}, {}),
        ("accepted with charset", {"token": toks[1], "answers": ans},
         {"content_type": "application/json; charset=utf-8"}),
        ("accepted over https", {"token": toks[2], "answers": ans},
         {"base_url": "https://localhost"}),
        ("answers not in the form", {"token": toks[3], "answers": wrong}, {}),
        ("answers not an object", {"token": toks[3], "answers": [1, 2]}, {}),
        ("answers null", {"token": toks[3], "answers": None}, {}),
        ("malformed token", {"token": "abc", "answers": ans}, {}),
        ("token of no round", {"token": "2147483000." + "Z" * 22, "answers": ans}, {}),
        ("token too long", {"token": "A" * 65, "answers": ans}, {}),
        ("token not a string", {"token": 12, "answers": ans}, {}),
        ("unknown field", {"token": toks[3], "answers": ans, "x": 1}, {}),
        ("comment too long", {"token": toks[3], "answers": ans, "comment": "长" * 5001}, {}),
        ("comment not allowed", {"token": toks[3], "answers": ans, "comment": "很好"}, {}),
        ("NUL escaped", '{"token": "a\\u0000", "answers": {}}', {}),
        ("lone surrogate", '{"token": "\\ud800", "answers": {}}', {}),
        ("not JSON", "{", {}),
        ("JSON not an object", "[1]", {}),
        ("form-encoded", "token=a&answers=b",
         {"content_type": "application/x-www-form-urlencoded"}),
        ("query string", {"token": toks[3], "answers": ans}, {"query_string": {"a": "1"}}),
        ("too large", {"token": toks[3], "answers": ans, "comment": "x" * 70000}, {}),
        ("token of another round's form", {"token": other_round_token, "answers": ans}, {}),
        # unknown tokens of the round: the client's fourth is over the limit (3)
        *[(f"guess {i}", {"token": unknown, "answers": ans}, {}) for i in (1, 2, 3, 4)],
    ]


def same_answers(app: Flask, first: Callable[..., Any], second: Callable[..., Any]
                 ) -> dict[str, tuple[int, Any, dict[str, str | None]]]:
    """Every case of `_cases` sent through `first`, then through `second` (five tokens
    each, the guess counters cleared in between): the answers must match, case by
    case. Returns the first's answers by case name."""
    with app.app_context():  # one round, five tokens for each path
        rnd, tokens = make_round("appraisal", tokens_per_category=10)
        other, other_tokens = make_round("recommendation")
        toks, ans, rid = tokens[rnd.categories[0].id], valid_answers(rnd), rnd.id
        other_token = other_tokens[other.categories[0].id][0]
        redis_client = get_redis()  # a single Redis or the cluster client
    answers = []
    for i, send in enumerate((first, second)):
        for key in redis_client.scan_iter("*guess*"):
            redis_client.delete(key)
        answers.append([(case, *answer(send(body, **kw)))
                        for case, body, kw in _cases(toks[5 * i:5 * i + 5], ans, other_token)])
        assert recorded(app, rid) == (4 * (i + 1), 4 * (i + 1))
    for a, b in zip(*answers, strict=True):
        assert a == b, a[0]
    return {name: (status, body, headers) for name, status, body, headers in answers[0]}


def test_both_paths_give_the_same_answers(pair):
    fast, slow = pair
    by_name = same_answers(fast, lambda body, **kw: post(fast, body, **kw),
                           lambda body, **kw: post(slow, body, **kw))
    assert by_name["accepted"][0] == 201
    assert by_name["accepted"][2]["Cache-Control"] == "no-store"
    assert by_name["accepted over https"][2]["Strict-Transport-Security"]
    assert by_name["replayed"][1]["error"]["code"] == "token_spent"
    assert by_name["token of no round"][1]["error"]["code"] == "token_unknown"
    assert by_name["too large"][0] == 413
    assert by_name["NUL escaped"][1]["error"]["code"] == "invalid_characters"
    assert by_name["token of another round's form"][0] == 422
    assert [by_name[f"guess {i}"][0] for i in (1, 2, 3, 4)] == [404, 404, 404, 429]
    assert by_name["guess 4"][2]["Retry-After"] == "600"


def test_closed_round_and_outage_answers_match(pair, tmp_path):
    fast, slow = pair
    got = []
    for app in (fast, slow):
        with app.app_context():
            rnd, tokens = make_round("appraisal")
            toks, ans, rid = tokens[rnd.categories[0].id], valid_answers(rnd), rnd.id
            close_round(get_round(rid))
        got.append(answer(post(app, {"token": toks[0], "answers": ans})))
    assert got[0] == got[1]
    assert got[0][0] == 409 and got[0][1]["error"]["code"] == "round_closed"

    # Redis gone: 503 with Retry-After from both, nothing recorded.
    outage = []
    for fast_path in (True, False):
        down = make_app(tmp_path, "redis://127.0.0.1:1/0", BALLOT_FAST_PATH=fast_path,
                        REDIS_CLUSTER_NODES="")  # no cluster either, in cluster mode
        with fast.app_context():
            rnd, tokens = make_round("appraisal")
            toks, ans, rid = tokens[rnd.categories[0].id], valid_answers(rnd), rnd.id
        outage.append(answer(post(down, {"token": toks[0], "answers": ans})))
        assert recorded(fast, rid) == (0, 0)
        _dispose(down)
    assert outage[0] == outage[1]
    assert outage[0][0] == 503 and outage[0][2]["Retry-After"] == "2"


def test_guessing_is_counted_per_forwarded_client_behind_a_proxy(proxied_app):
    app = proxied_app
    with app.app_context():
        rnd, _ = make_round("appraisal")
        ans = valid_answers(rnd)

    def guess(addr: str) -> int:
        return post(app, {"token": f"{rnd.id}." + "Q" * 22, "answers": ans},
                    headers={"X-Forwarded-For": addr}).status_code

    assert [guess("203.0.113.7") for _ in range(3)] == [404, 404, 429]
    assert guess("198.51.100.9") == 404  # another client behind the same proxy
