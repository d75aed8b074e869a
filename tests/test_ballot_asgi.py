"""POST /api/v1/ballots on the event loop (server/voting/asgi.py), and the ASGI app
around it that every deployment serves (server/asgi.py).

The app is called here in-process, as uvicorn calls it: a scope, the body as
http.request messages, the messages it sends collected. Over real HTTP the same
app is what every live-server and gunicorn-based test (browsers, races, faults,
linkage, two hosts) runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from flask import Flask
from sqlalchemy import text
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from server.core.db import db
from server.core.redis import get_redis
from server.roundbase.reads import get_round
from server.rounds.operations import close_round
from server.voting import roundinfo
from server.voting.asgi import BallotFront, LoopOutcome
from tests.conftest import _dispose, make_app
from tests.factories import make_round, valid_answers
from tests.support.miniprogram import answers_for, bearer, make_staff
from tests.test_miniprogram_content import _comments, _open_round_with_comments

HEADERS = ("Content-Type", "Content-Security-Policy", "X-Content-Type-Options",
           "Referrer-Policy", "X-Frame-Options", "Cache-Control", "Retry-After",
           "Strict-Transport-Security")


class Response:
    """What the ASGI app sent, shaped like a test client's response for `answer`."""

    def __init__(self, sent: list[dict[str, Any]]) -> None:
        start = next(m for m in sent if m["type"] == "http.response.start")
        self.status_code = start["status"]
        self.headers = _Headers(start["headers"])
        self.data = b"".join(m.get("body", b"") for m in sent
                             if m["type"] == "http.response.body")


class _Headers:
    def __init__(self, raw: list[tuple[bytes, bytes]]) -> None:
        self.raw = [(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in raw]

    def get(self, name: str) -> str | None:
        return next((v for k, v in self.raw if k == name.lower()), None)


class Counting:
    """Counts the requests the front hands on to Flask (in its thread pool)."""

    def __init__(self, front: BallotFront) -> None:
        self.inner = front.wsgi.serve
        self.calls = 0
        front.wsgi.serve = self  # type: ignore[method-assign]

    async def __call__(self, scope: Any, body: bytes, send: Any) -> None:
        self.calls += 1
        await self.inner(scope, body, send)


def answer(res: Any) -> tuple[int, Any, dict[str, str | None]]:
    body = json.loads(res.data)
    if "receipt" in body:
        body["receipt"] = "<receipt>"
    return res.status_code, body, {h: res.headers.get(h) for h in HEADERS}


def code(res: Any) -> str | None:
    return json.loads(res.data).get("error", {}).get("code")


def recorded(app: Flask, round_id: int) -> tuple[int, int]:
    with app.app_context():
        return tuple(db.session.execute(text(
            "SELECT (SELECT count(*) FROM ballots WHERE round_id = :r),"
            " (SELECT count(*) FROM spent_tokens WHERE round_id = :r)"), {"r": round_id}).one())


def scope_of(body: bytes, content_type: str = "application/json", base_url: str = "",
             query_string: dict[str, str] | None = None,
             headers: dict[str, str] | None = None, peer: str = "127.0.0.1",
             method: str = "POST", path: str = "/api/v1/ballots",
             length: int | None = -1) -> dict[str, Any]:
    """`length`: the Content-Length sent (-1: the body's; None: none, as when chunked)."""
    query = "&".join(f"{k}={v}" for k, v in (query_string or {}).items())
    if length == -1:
        length = len(body)
    raw_headers = [(b"host", b"localhost"), (b"content-type", content_type.encode()),
                   *([(b"content-length", str(length).encode())] if length is not None else []),
                   *((k.lower().encode(), v.encode()) for k, v in (headers or {}).items())]
    return {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
            "method": method, "scheme": "https" if base_url.startswith("https") else "http",
            "path": path, "raw_path": path.encode(), "root_path": "",
            "query_string": query.encode(), "headers": raw_headers,
            "client": (peer, 50123), "server": ("localhost", 80)}


async def call(front: Callable[..., Any], body: Any, **kw: Any) -> Response:
    data = body if isinstance(body, str | bytes) else json.dumps(body, ensure_ascii=False)
    raw = data.encode() if isinstance(data, str) else data
    pieces = [raw[i:i + 8192] for i in range(0, len(raw), 8192)] or [b""]
    messages = [{"type": "http.request", "body": p, "more_body": i < len(pieces) - 1}
                for i, p in enumerate(pieces)]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop(0)
        await asyncio.sleep(30)  # the client keeps the connection until answered
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await front(scope_of(raw, **kw), receive, send)
    return Response(sent)


def asgi_post(front: Callable[..., Any], body: Any, **kw: Any) -> Response:
    return asyncio.run(call(front, body, **kw))


@pytest.fixture
def front(app: Flask) -> Iterator[BallotFront]:
    app.config["TOKEN_GUESS_LIMIT"] = 3
    front = BallotFront(app, threads=4)
    pool = front.wsgi.executor
    yield front
    pool.shutdown(wait=True)


def test_well_formed_ballots_are_served_on_the_loop_and_only_those(app, front):
    fast = app
    with fast.app_context():
        rnd, tokens = make_round("appraisal")
        toks, ans, rid = tokens[rnd.categories[0].id], valid_answers(rnd), rnd.id
    roundinfo.forget(rid)  # the first ballot reads the round from SQL (in a thread)
    handed_on = Counting(front)

    assert asgi_post(front, {"token": toks[0], "answers": ans}).status_code == 201
    assert asgi_post(front, {"token": toks[0], "answers": ans}).status_code == 409
    assert asgi_post(front, {"token": toks[1], "answers": ans, "comment": None}).status_code == 201
    assert asgi_post(front, {"token": "abc", "answers": ans}).status_code == 400  # in a thread
    assert handed_on.calls == 0
    assert recorded(fast, rid) == (2, 2)

    assert asgi_post(front, {"token": toks[2]}).status_code == 422  # Flask says so
    assert asgi_post(front, "{not json").status_code == 400
    assert asgi_post(front, {"token": toks[2], "answers": ans, "x": 1}).status_code == 422
    assert asgi_post(front, {"token": "\u0000", "answers": ans}).status_code == 400
    assert asgi_post(front, {"token": toks[2], "answers": ans}, query_string={"a": "1"}
                     ).status_code == 201  # Flask's view takes it
    assert handed_on.calls == 5
    assert recorded(fast, rid) == (3, 3)


def test_the_first_ballots_of_a_round_read_it_once(app, front):
    """Hundreds of ballots of a round this process has not cached arrive together:
    one SQL read of the round serves them all, and every ballot is recorded."""
    fast = app
    with fast.app_context():
        rnd, tokens = make_round("appraisal", tokens_per_category=60)
        toks, ans, rid = tokens[rnd.categories[0].id], valid_answers(rnd), rnd.id
    roundinfo.forget(rid)
    loads = []
    load = front._load
    front._load = lambda round_id: (loads.append(round_id), load(round_id))[1]  # type: ignore[method-assign]

    async def all_at_once() -> list[int]:
        got = await asyncio.gather(*(call(front, {"token": t, "answers": ans}) for t in toks))
        return [r.status_code for r in got]

    assert asyncio.run(all_at_once()) == [201] * len(toks)
    assert loads == [rid]
    assert recorded(fast, rid) == (len(toks), len(toks))


def _cases(toks: list[str], ans: dict[str, Any], other_round_token: str
           ) -> list[tuple[str, Any, dict[str, Any], int, str | None]]:
    """(name, body or raw text, request arguments, status, error code)."""
    unknown = toks[0].split(".")[0] + "." + "Q" * 22
    wrong = {k: {c: "no-such-grade" for c in v} for k, v in ans.items()}
    return [
        ("accepted", {"token": toks[0], "answers": ans}, {}, 201, None),
        ("replayed", {"token": toks[0], "answers": ans}, {}, 409, "token_spent"),
        ("accepted with charset", {"token": toks[1], "answers": ans},
         {"content_type": "application/json; charset=utf-8"}, 201, None),
        ("accepted over https", {"token": toks[2], "answers": ans},
         {"base_url": "https://localhost"}, 201, None),
        ("answers not in the form", {"token": toks[3], "answers": wrong}, {}, 422, None),
        ("answers not an object", {"token": toks[3], "answers": [1, 2]}, {}, 422, None),
        ("answers null", {"token": toks[3], "answers": None}, {}, 422, "invalid_input"),
        ("malformed token", {"token": "abc", "answers": ans}, {}, 400, None),
        ("token of no round", {"token": "2147483000." + "Z" * 22, "answers": ans}, {},
         404, "token_unknown"),
        ("token too long", {"token": "A" * 65, "answers": ans}, {}, 422, "invalid_input"),
        ("token not a string", {"token": 12, "answers": ans}, {}, 422, "invalid_input"),
        ("unknown field", {"token": toks[3], "answers": ans, "x": 1}, {}, 422, "invalid_input"),
        ("comment too long", {"token": toks[3], "answers": ans, "comment": "长" * 5001}, {},
         422, "invalid_input"),
        ("comment not allowed", {"token": toks[3], "answers": ans, "comment": "很好"}, {},
         422, None),
        ("NUL escaped", '{"token": "a\\u0000", "answers": {}}', {}, 400, "invalid_characters"),
        ("lone surrogate", '{"token": "\\ud800", "answers": {}}', {}, 400,
         "invalid_characters"),
        ("not JSON", "{", {}, 400, "bad_request"),
        ("JSON not an object", "[1]", {}, 422, "invalid_input"),
        ("form-encoded", "token=a&answers=b",
         {"content_type": "application/x-www-form-urlencoded"}, 415, "unsupported_media_type"),
        ("query string", {"token": toks[3], "answers": ans}, {"query_string": {"a": "1"}},
         201, None),
        ("too large", {"token": toks[4], "answers": ans, "comment": "x" * 70000}, {},
         413, "body_too_large"),
        ("token of another round's form", {"token": other_round_token, "answers": ans}, {},
         422, None),
        # unknown tokens of the round: the client's fourth is over the limit (3)
        *[(f"guess {i}", {"token": unknown, "answers": ans}, {}, 404 if i < 4 else 429,
           "token_unknown" if i < 4 else "rate_limited") for i in (1, 2, 3, 4)],
    ]


def test_every_kind_of_ballot_gets_its_documented_answer(app, front):
    """Served on the loop or handed to Flask, each answer has its status, its error
    code and the headers every response carries; four ballots are recorded."""
    with app.app_context():
        rnd, tokens = make_round("appraisal", tokens_per_category=10)
        other, other_tokens = make_round("recommendation")
        toks, ans, rid = tokens[rnd.categories[0].id], valid_answers(rnd), rnd.id
        other_token = other_tokens[other.categories[0].id][0]
    got = {}
    for name, body, kw, status, error in _cases(toks, ans, other_token):
        got[name] = answer(res := asgi_post(front, body, **kw))
        assert (res.status_code, code(res) if error else error) == (status, error), name
        headers = got[name][2]
        assert headers["Content-Type"] == "application/json", name
        assert headers["Cache-Control"] == "no-store", name
        assert headers["X-Frame-Options"] == "DENY" and headers["Content-Security-Policy"]
        assert bool(headers["Strict-Transport-Security"]) == (name == "accepted over https")
    assert set(got["accepted"][1]) == {"receipt", "round_id", "message"}
    assert got["guess 4"][2]["Retry-After"] == "600"
    assert recorded(app, rid) == (4, 4)


def test_a_comment_on_the_loop_is_checked_and_stored_apart(app, front):
    """A ballot with a comment is served on the loop too (its checks read the app's
    settings in an app context): refused when too long, else stored apart."""
    client = app.test_client()
    rid, tokens = _open_round_with_comments(client, bearer(make_staff(app)))
    ans = answers_for(client.post("/api/v1/ballot-form", json={"token": tokens[0]}).json)
    handed_on = Counting(front)

    too_long = asgi_post(front, {"token": tokens[0], "answers": ans, "comment": "长" * 201})
    assert too_long.status_code == 422
    assert json.loads(too_long.data)["error"]["code"] == "comment_too_long"
    assert asgi_post(front, {"token": tokens[0], "answers": ans,
                             "comment": "建议  加强调查研究"}).status_code == 201
    assert asgi_post(front, {"token": tokens[1], "answers": ans, "comment": "  "}
                     ).status_code == 201
    assert handed_on.calls == 0
    assert _comments(app, rid) == ["建议 加强调查研究"]
    assert recorded(app, rid) == (2, 2)


def test_closed_round_lost_state_and_outage(app, front, tmp_path):
    with app.app_context():
        rnd, tokens = make_round("appraisal")
        toks, ans, rid = tokens[rnd.categories[0].id], valid_answers(rnd), rnd.id
        close_round(get_round(rid))
    closed = asgi_post(front, {"token": toks[0], "answers": ans})
    assert (closed.status_code, code(closed)) == (409, "round_closed")

    # The round's live state lost (Redis restarted): handed to Flask's view, which
    # rebuilds it from SQL; the next ballot is served on the loop again.
    with app.app_context():
        rnd, tokens = make_round("appraisal")
        toks, ans, rid = tokens[rnd.categories[0].id], valid_answers(rnd), rnd.id
        client = get_redis()
    asgi_post(front, {"token": toks[0], "answers": ans})
    for key in client.scan_iter(f"{{r:{rid}}}*"):
        client.delete(key)
    handed_on = Counting(front)
    assert asgi_post(front, {"token": toks[1], "answers": ans}).status_code == 201
    assert handed_on.calls == 1
    assert asgi_post(front, {"token": toks[2], "answers": ans}).status_code == 201
    assert handed_on.calls == 1
    assert recorded(app, rid) == (3, 3)
    with app.app_context():
        turnout = client.hgetall(f"{{r:{rid}}}:turnout")
    assert sum(int(v) for v in turnout.values()) == 3

    # Redis gone: 503 with Retry-After, nothing recorded.
    down = make_app(tmp_path, "redis://127.0.0.1:1/0", REDIS_CLUSTER_NODES="")
    down_front = BallotFront(down, threads=2)
    try:
        with app.app_context():
            rnd, tokens = make_round("appraisal")
            toks, ans, rid = tokens[rnd.categories[0].id], valid_answers(rnd), rnd.id
        outage = answer(asgi_post(down_front, {"token": toks[0], "answers": ans}))
        assert outage[0] == 503 and outage[2]["Retry-After"] == "2"
        assert outage[1]["error"]["code"] == "service_unavailable"
        assert recorded(app, rid) == (0, 0)
    finally:
        down_front.wsgi.executor.shutdown(wait=True)
        _dispose(down)


def test_client_address_and_scheme_come_from_a_trusted_proxy_only(app, front):
    """uvicorn's proxy headers (the server's FORWARDED_ALLOW_IPS, here 127.0.0.1): from
    the proxy, X-Forwarded-For names the client whose guesses are counted and
    X-Forwarded-Proto: https brings HSTS, on the loop and in Flask alike; from any
    other peer both headers are ignored."""
    app.config["TOKEN_GUESS_LIMIT"] = 2
    proxied = ProxyHeadersMiddleware(front, trusted_hosts="127.0.0.1")
    with app.app_context():
        rnd, tokens = make_round("appraisal")
        toks, ans = tokens[rnd.categories[0].id], valid_answers(rnd)

    def guess(addr: str, peer: str = "127.0.0.1") -> int:
        return asgi_post(proxied, {"token": f"{rnd.id}." + "Q" * 22, "answers": ans},
                         peer=peer, headers={"X-Forwarded-For": addr}).status_code

    assert [guess("203.0.113.7") for _ in range(3)] == [404, 404, 429]
    assert guess("198.51.100.9") == 404  # another client behind the proxy
    assert [guess("203.0.113.7", peer="192.0.2.8") for _ in range(3)] == [404, 404, 429]
    assert guess("198.51.100.9", peer="192.0.2.8") == 429  # the same peer, whatever it says

    def hsts(body: Any, peer: str, proto: str) -> str | None:
        res = asgi_post(proxied, body, peer=peer, headers={"X-Forwarded-Proto": proto})
        return res.headers.get("Strict-Transport-Security")

    assert hsts({"token": toks[0], "answers": ans}, "127.0.0.1", "https")
    assert hsts({"token": toks[1], "answers": ans}, "127.0.0.1", "http") is None
    assert hsts({"token": toks[2], "answers": ans}, "192.0.2.9", "https") is None
    assert hsts("{not json", "127.0.0.1", "https")  # Flask's answer, from the pool
    assert hsts("{not json", "192.0.2.9", "https") is None
    assert recorded(app, rnd.id) == (3, 3)


def test_other_requests_are_answered_by_flask_in_the_pool(app, front):
    """core/wsgi_pool.py: what is not a ballot for the loop runs whole in a thread,
    with gunicorn's environ; bodies are bounded by MAX_CONTENT_LENGTH (64 KB here)."""
    with app.app_context():
        rnd, tokens = make_round("appraisal")
        toks, ans, rid = tokens[rnd.categories[0].id], valid_answers(rnd), rnd.id
    got = asgi_post(front, b"", method="GET", path="/healthz")
    assert (got.status_code, json.loads(got.data)) == (200, {"ok": True})

    # A ballot without Content-Length (chunked): Flask reads it to its end.
    chunked = asgi_post(front, {"token": toks[0], "answers": ans}, length=None)
    assert chunked.status_code == 201, chunked.data
    # Over the limit, declared or streamed: 413 from Flask, nothing recorded.
    big = {"token": toks[1], "answers": ans, "comment": "x" * 70000}
    assert asgi_post(front, big).status_code == 413
    assert asgi_post(front, big, length=None).status_code == 413
    assert asgi_post(front, b"{}", length=10**9).status_code == 413  # never read
    assert recorded(app, rid) == (1, 1)


@contextlib.contextmanager
def writes_blocked(app: Any, round_id: int) -> Iterator[None]:
    """Another connection holds what a ballot's commit needs, as a close would: the
    round row FOR UPDATE on PostgreSQL, the write lock on SQLite. Released on exit."""
    with app.app_context():
        url = db.engine.url
    if url.get_backend_name() == "postgresql":
        conn = psycopg.connect(url.set(drivername="postgresql").render_as_string(False))
        conn.execute("SELECT id FROM rounds WHERE id = %s FOR UPDATE", (round_id,))
    else:
        conn = sqlite3.connect(url.database, isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        conn.rollback()
        conn.close()


def test_a_commit_slower_than_the_timeout_is_unconfirmed_then_recorded(app, front):
    """COMMIT_TIMEOUT_S passes while the ballot waits for the database: 503
    commit_unconfirmed, on the loop as from Flask's view. The ballot still commits once
    the database lets go, and sending it again says token_spent (the 503's advice)."""
    app.config["COMMIT_TIMEOUT_S"] = 0.5
    with app.app_context():
        rnd, tokens = make_round("appraisal")
        toks, ans, rid = tokens[rnd.categories[0].id], valid_answers(rnd), rnd.id
    with writes_blocked(app, rid):
        on_loop = asgi_post(front, {"token": toks[0], "answers": ans})
        from_flask = app.test_client().post("/api/v1/ballots",
                                            json={"token": toks[1], "answers": ans})
        assert recorded(app, rid) == (0, 0)
    assert answer(on_loop)[:2] == answer(from_flask)[:2]
    assert (on_loop.status_code, code(on_loop)) == (503, "commit_unconfirmed")
    deadline = time.monotonic() + 20
    while recorded(app, rid) != (2, 2) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert recorded(app, rid) == (2, 2)
    again = asgi_post(front, {"token": toks[0], "answers": ans})
    assert (again.status_code, code(again)) == (409, "token_spent")


def test_an_outcome_reaches_the_loop_from_another_thread_unless_it_expired():
    async def outcome_of(expire_first: bool) -> Any:
        loop = asyncio.get_running_loop()
        waiter = LoopOutcome(loop)
        if expire_first:
            waiter.expire()
        thread = threading.Thread(target=waiter.set_result, args=("ok",))
        thread.start()
        thread.join()
        assert waiter.done()
        try:
            return await waiter.result
        except TimeoutError:
            return "expired"

    assert asyncio.run(outcome_of(False)) == "ok"
    assert asyncio.run(outcome_of(True)) == "expired"  # the late "ok" is dropped quietly

    closed = asyncio.new_event_loop()
    late = LoopOutcome(closed)
    closed.close()
    late.set_exception(RuntimeError("after the worker stopped"))  # nothing to raise into
    assert late.done()
