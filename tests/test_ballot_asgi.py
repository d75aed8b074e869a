"""POST /api/v1/ballots on the event loop (server/voting/asgi.py) answers as Flask does.

The ASGI app gunicorn serves (server/asgi.py) is called here in-process, as
uvicorn calls it: a scope, the body as one http.request message, the messages
it sends collected. Each case goes to it and, on the same SQL database and
Redis, to a Flask app without any fast path; status, JSON (receipts aside) and
headers must match, and so must what was recorded. Over real HTTP the same
app is what every gunicorn-based test (races, faults, linkage, two hosts) runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from sqlalchemy import text

from server.core.db import db
from server.core.redis import get_redis
from server.rounds.operations import close_round, get_round
from server.voting import roundinfo
from server.voting.asgi import BallotFront, LoopOutcome
from tests.conftest import _dispose, layer_pair_fixture, make_app
from tests.factories import make_round, valid_answers
from tests.support.miniprogram import answers_for, bearer, make_staff
from tests.test_ballot_fastpath import answer, post, recorded, same_answers
from tests.test_miniprogram_content import _comments, _open_round_with_comments

pair = layer_pair_fixture("BALLOT_FAST_PATH", TOKEN_GUESS_LIMIT=3)  # (fast, flask)


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
    """Counts the requests the front hands on to the WSGI stack."""

    def __init__(self, front: BallotFront) -> None:
        self.inner = front.wsgi
        self.calls = 0
        front.wsgi = self  # type: ignore[assignment]

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.calls += 1
        await self.inner(scope, receive, send)


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


async def call(front: BallotFront, body: Any, **kw: Any) -> Response:
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


def asgi_post(front: BallotFront, body: Any, **kw: Any) -> Response:
    return asyncio.run(call(front, body, **kw))


@pytest.fixture
def front(pair):
    fast, _ = pair
    front = BallotFront(fast, threads=4)
    pool = front.wsgi.executor  # Counting may stand in front of front.wsgi
    yield front
    pool.shutdown(wait=True)


def test_well_formed_ballots_are_served_on_the_loop_and_only_those(pair, front):
    fast, _ = pair
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
    assert asgi_post(front, {"token": toks[2], "answers": ans}, query_string={"a": "1"}
                     ).status_code == 201  # Flask's view takes it
    assert handed_on.calls == 3
    assert recorded(fast, rid) == (3, 3)


def test_the_first_ballots_of_a_round_read_it_once(pair, front):
    """Hundreds of ballots of a round this process has not cached arrive together:
    one SQL read of the round serves them all, and every ballot is recorded."""
    fast, _ = pair
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


def test_both_paths_give_the_same_answers(pair, front):
    fast, slow = pair
    by_name = same_answers(fast, lambda body, **kw: asgi_post(front, body, **kw),
                           lambda body, **kw: post(slow, body, **kw))
    assert by_name["accepted"][0] == 201
    assert by_name["accepted over https"][2]["Strict-Transport-Security"]
    assert by_name["too large"][0] == 413
    assert [by_name[f"guess {i}"][0] for i in (1, 2, 3, 4)] == [404, 404, 404, 429]


def test_a_comment_on_the_loop_is_checked_and_stored_apart(pair, front):
    """A ballot with a comment is served on the loop too (its checks read the app's
    settings in an app context): refused when too long, else stored apart."""
    fast, _ = pair
    client = fast.test_client()
    rid, tokens = _open_round_with_comments(client, bearer(make_staff(fast)))
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
    assert _comments(fast, rid) == ["建议 加强调查研究"]
    assert recorded(fast, rid) == (2, 2)


def test_closed_round_lost_state_and_outage_answer_as_flask(pair, front, tmp_path):
    fast, slow = pair
    got = []
    with fast.app_context():
        rnd, tokens = make_round("appraisal")
        toks, ans, rid = tokens[rnd.categories[0].id], valid_answers(rnd), rnd.id
        close_round(get_round(rid))
    got = [answer(asgi_post(front, {"token": toks[0], "answers": ans})),
           answer(post(slow, {"token": toks[1], "answers": ans}))]
    assert got[0] == got[1]
    assert got[0][0] == 409 and got[0][1]["error"]["code"] == "round_closed"

    # The round's live state lost (Redis restarted): handed to the WSGI path,
    # which rebuilds it from SQL; the next ballot is served on the loop again.
    with fast.app_context():
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
    assert recorded(fast, rid) == (3, 3)
    with fast.app_context():
        turnout = client.hgetall(f"{{r:{rid}}}:turnout")
    assert sum(int(v) for v in turnout.values()) == 3

    # Redis gone: 503 with Retry-After, as Flask answers, nothing recorded.
    down = make_app(tmp_path, "redis://127.0.0.1:1/0", REDIS_CLUSTER_NODES="")
    down_flask = make_app(tmp_path, "redis://127.0.0.1:1/0", REDIS_CLUSTER_NODES="",
                          BALLOT_FAST_PATH=False)
    down_front = BallotFront(down, threads=2)
    try:
        with fast.app_context():
            rnd, tokens = make_round("appraisal")
            toks, ans, rid = tokens[rnd.categories[0].id], valid_answers(rnd), rnd.id
        outage = [answer(asgi_post(down_front, {"token": toks[0], "answers": ans})),
                  answer(post(down_flask, {"token": toks[1], "answers": ans}))]
        assert outage[0] == outage[1]
        assert outage[0][0] == 503 and outage[0][2]["Retry-After"] == "2"
        assert recorded(fast, rid) == (0, 0)
    finally:
        down_front.wsgi.executor.shutdown(wait=True)
        _dispose(down_flask)
        _dispose(down)


def test_guessing_is_counted_per_forwarded_client_behind_a_proxy(proxied_app):
    app = proxied_app
    front = BallotFront(app, threads=2)
    try:
        with app.app_context():
            rnd, tokens = make_round("appraisal")
            ans, tok = valid_answers(rnd), tokens[rnd.categories[0].id][0]

        def guess(addr: str) -> int:
            return asgi_post(front, {"token": f"{rnd.id}." + "Q" * 22, "answers": ans},
                             headers={"X-Forwarded-For": addr}).status_code

        assert [guess("203.0.113.7") for _ in range(3)] == [404, 404, 429]
        assert guess("198.51.100.9") == 404  # another client behind the proxy
        ok = asgi_post(front, {"token": tok, "answers": ans},
                       headers={"X-Forwarded-For": "198.51.100.10", "X-Forwarded-Proto": "https"})
        assert ok.status_code == 201
        assert ok.headers.get("Strict-Transport-Security")  # https, as the proxy says
        with app.app_context():
            assert db.session.execute(text("SELECT count(*) FROM ballots")).scalar() == 1
    finally:
        front.wsgi.executor.shutdown(wait=True)


def test_https_from_a_trusted_proxy_as_gunicorn_tells_it(pair, front):
    """X-Forwarded-Proto counts only from FORWARDED_ALLOW_IPS (server/worker.py passes
    gunicorn's settings), on the loop and in the WSGI stack alike."""
    fast, _ = pair
    with fast.app_context():
        rnd, tokens = make_round("appraisal")
        toks, ans = tokens[rnd.categories[0].id], valid_answers(rnd)
    front.trust_scheme_headers(["127.0.0.1"], {"X-FORWARDED-PROTO": "https"})

    def hsts(body: Any, peer: str, proto: str) -> str | None:
        res = asgi_post(front, body, peer=peer, headers={"X-Forwarded-Proto": proto})
        return res.headers.get("Strict-Transport-Security")

    assert hsts({"token": toks[0], "answers": ans}, "127.0.0.1", "https")
    assert hsts({"token": toks[1], "answers": ans}, "127.0.0.1", "http") is None
    assert hsts({"token": toks[2], "answers": ans}, "192.0.2.8", "https") is None
    assert hsts("{not json", "127.0.0.1", "https")  # Flask's answer, from the pool
    assert hsts("{not json", "192.0.2.8", "https") is None


def test_other_requests_are_answered_by_flask_in_the_pool(pair, front):
    """core/wsgi_pool.py: what is not a ballot for the loop runs whole in a thread,
    with gunicorn's environ; bodies are bounded by MAX_CONTENT_LENGTH (64 KB here)."""
    fast, slow = pair
    with fast.app_context():
        rnd, tokens = make_round("appraisal")
        toks, ans, rid = tokens[rnd.categories[0].id], valid_answers(rnd), rnd.id
    got = asgi_post(front, b"", method="GET", path="/healthz")
    want = slow.test_client().get("/healthz")
    assert (got.status_code, json.loads(got.data)) == (want.status_code, want.get_json())

    # A ballot without Content-Length (chunked): Flask reads it to its end.
    chunked = asgi_post(front, {"token": toks[0], "answers": ans}, length=None)
    assert chunked.status_code == 201, chunked.data
    # Over the limit, declared or streamed: 413 from Flask, nothing recorded.
    big = {"token": toks[1], "answers": ans, "comment": "x" * 70000}
    assert asgi_post(front, big).status_code == 413
    assert asgi_post(front, big, length=None).status_code == 413
    assert asgi_post(front, b"{}", length=10**9).status_code == 413  # never read
    assert recorded(fast, rid) == (1, 1)


short_wait = layer_pair_fixture("BALLOT_FAST_PATH", COMMIT_TIMEOUT_S=0.5)


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


def test_a_commit_slower_than_the_timeout_is_unconfirmed_then_recorded(short_wait):
    """COMMIT_TIMEOUT_S passes while the ballot waits for the database: 503
    commit_unconfirmed on the loop as from Flask. The ballot still commits once the
    database lets go, and sending it again says token_spent (the 503's advice)."""
    fast, slow = short_wait
    front = BallotFront(fast, threads=2)
    with fast.app_context():
        rnd, tokens = make_round("appraisal")
        toks, ans, rid = tokens[rnd.categories[0].id], valid_answers(rnd), rnd.id
    with writes_blocked(fast, rid):
        on_loop = asgi_post(front, {"token": toks[0], "answers": ans})
        from_flask = post(slow, {"token": toks[1], "answers": ans})
        assert recorded(fast, rid) == (0, 0)
    assert answer(on_loop)[:2] == answer(from_flask)[:2]
    assert on_loop.status_code == 503
    assert json.loads(on_loop.data)["error"]["code"] == "commit_unconfirmed"
    deadline = time.monotonic() + 20
    while recorded(fast, rid) != (2, 2) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert recorded(fast, rid) == (2, 2)
    again = asgi_post(front, {"token": toks[0], "answers": ans})
    assert answer(again)[:2] == answer(post(slow, {"token": toks[1], "answers": ans}))[:2]
    assert json.loads(again.data)["error"]["code"] == "token_spent"
    front.wsgi.executor.shutdown(wait=True)


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
