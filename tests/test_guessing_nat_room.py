"""A meeting room behind one NAT address keeps voting while someone there types made-up
codes (issue #24, item 7): the guessing limit refuses unknown tokens, never a valid
one. Real HTTP against the ASGI app every deployment serves; the room's address is
the one the server sees (X-Forwarded-For from the trusted loopback proxy)."""

from __future__ import annotations

import secrets

import requests

from server.core import ratelimit
from server.core.redis import get_redis
from tests.factories import make_round, valid_answers
from tests.support.liveserver import live_server

ROOM = {"X-Forwarded-For": "203.0.113.40"}


def test_made_up_tokens_never_lock_the_room_out(app):
    limit = app.config["TOKEN_GUESS_LIMIT"]
    assert 0 < limit < 25
    with app.app_context():
        rnd, tokens = make_round("appraisal", tokens_per_category=4)
        rid, answers = rnd.id, valid_answers(rnd)
    slips = [t for ts in tokens.values() for t in ts][:10]
    assert len(slips) == 10
    with live_server(app) as base:
        def post(path: str, body: dict) -> requests.Response:
            return requests.post(base + path, json=body, headers=ROOM, timeout=10)

        made_up = [post("/api/v1/ballots", {"token": f"{rid}.{secrets.token_urlsafe(16)}",
                                            "answers": answers}).status_code
                   for _ in range(25)]
        assert made_up == [404] * limit + [429] * (25 - limit)
        with app.app_context():  # the room's address is over its limit
            key = ratelimit.guess_key(rid, ratelimit.hashed_client("203.0.113.40",
                                                                   app.secret_key))
            assert int(get_redis().get(key)) >= limit
        for slip in slips:
            res = post("/api/v1/ballot-form", {"token": slip})
            assert res.status_code == 200, res.text
            res = post("/api/v1/ballots", {"token": slip, "answers": answers})
            assert res.status_code == 201, res.text
        # made-up tokens are still refused, and a used slip is told it was used
        assert post("/api/v1/ballot-form",
                    {"token": f"{rid}.{secrets.token_urlsafe(16)}"}).status_code == 429
        res = post("/api/v1/ballots", {"token": slips[0], "answers": answers})
        assert res.json()["error"]["code"] == "token_spent"
