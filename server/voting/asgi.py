"""POST /api/v1/ballots on the event loop, for production (server/asgi.py).

Under gunicorn's gthread worker a ballot holds a thread while it waits for
its group commit, and each request crosses four threads (the worker's poller,
a pool thread, the committer, back to the poller) in pure-Python HTTP. Here
the ballot waits as a coroutine: uvicorn parses HTTP in C (httptools), the
ballot is checked on the loop, queued for the same committer
(voting/groupcommit.py) and awaited; no thread waits for it (docs/deploy.md §9).

Served here: a ballot that passes the checks voting/fastpath.py makes on the
request. What needs blocking I/O before the commit (a round not yet cached in
this process, read from SQL; a bad token, counted as the client's guess in
Redis) runs in a thread, so hundreds of first ballots of a round do not queue
for the WSGI pool. Everything else (another path or method, a body Flask must
judge, live state to rebuild) goes to the WSGI stack (ProxyFix, the fast
paths, Flask) in a thread pool (core/wsgi_pool.py), with the body already read, and is
answered there as before. What is answered here is what that stack would
answer: tests/test_ballot_asgi.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from server.core import ratelimit
from server.core.errors import ApiError
from server.core.wsgi_pool import Message, Receive, Scope, Send, WsgiPool, read_body
from server.tokens.codec import parse_token
from server.voting.ballots import (
    UNCONFIRMED,
    locate,
    prepare_ballot,
    receipt_body,
    refusal,
    settled,
)
from server.voting.fastpath import (
    ECHO_PATH,
    PATH,
    Answer,
    content_length,
    error_answer,
    plain_ballot,
    response_parts,
    takes_body,
)
from server.voting.groupcommit import GroupCommitter
from server.voting.roundinfo import RoundInfo, cached_round_info, round_info

log = logging.getLogger(__name__)

Client = tuple[str, bool]  # the client's address and whether it came over https
Route = Callable[[Client, dict[str, Any]], Awaitable[Answer | None]]

_HEADERS = {b"content-length": "CONTENT_LENGTH", b"content-type": "CONTENT_TYPE",
            b"x-forwarded-for": "HTTP_X_FORWARDED_FOR",
            b"x-forwarded-proto": "HTTP_X_FORWARDED_PROTO"}


def _headers(scope: Scope) -> dict[str, str]:
    """The few request headers needed here, as WSGI names them (repeats joined by
    a comma, as gunicorn does)."""
    out: dict[str, str] = {}
    for name, value in scope.get("headers", ()):
        key = _HEADERS.get(name.lower())
        if key is not None:
            text = value.decode("latin-1")
            out[key] = f"{out[key]},{text}" if key in out else text
    return out


def _replay(raw: bytes, receive: Receive) -> Receive:
    """A receive() that gives the body already read once, then the client's own."""
    given = False

    async def again() -> Message:
        nonlocal given
        if given:
            return await receive()
        given = True
        return {"type": "http.request", "body": raw, "more_body": False}

    return again


class LoopOutcome:
    """A ballot's outcome from the committer's thread, awaited on the event loop.

    What a concurrent Future wrapped for the loop would carry, without its lock,
    condition and the chain of futures between them: in-process, a ballot's CPU
    fell from 0.203-0.215 to 0.165-0.174 ms (min of 3 × 6,000, three A/B pairs).
    `result` fails with TimeoutError once `expire` runs (COMMIT_TIMEOUT_S); an
    outcome that comes later is dropped: the ballot may still count, and the voter
    was told so (UNCONFIRMED).
    """

    __slots__ = ("_loop", "_set", "result")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._set = False
        self.result: asyncio.Future[str] = loop.create_future()

    def done(self) -> bool:
        return self._set

    def set_result(self, result: str) -> None:
        self._hand_over(result, None)

    def set_exception(self, exception: BaseException) -> None:
        self._hand_over(None, exception)

    def _hand_over(self, result: str | None, exception: BaseException | None) -> None:
        self._set = True
        try:
            self._loop.call_soon_threadsafe(self._land, result, exception)
        except RuntimeError:  # the loop has closed (the worker is stopping): no one waits
            pass

    def _land(self, result: str | None, exception: BaseException | None) -> None:
        if self.result.done():  # expired first
            return
        if exception is not None:
            self.result.set_exception(exception)
        else:
            self.result.set_result(result)  # type: ignore[arg-type]

    def expire(self) -> None:
        if not self.result.done():
            self.result.set_exception(TimeoutError())


class BallotFront:
    """The ASGI app gunicorn's uvicorn worker serves (server/asgi.py)."""

    def __init__(self, app: Flask, threads: int) -> None:
        self.app = app
        self.wsgi = WsgiPool(app, threads, app.config.get("MAX_CONTENT_LENGTH"))
        self.committer: GroupCommitter = app.extensions["pingyi_committer"]
        self._loading: dict[int, asyncio.Future[RoundInfo]] = {}
        self._scheme_peers: set[str] = set()
        self._scheme_headers: dict[bytes, bytes] = {}
        self.routes: dict[str, Route] = {}
        if app.config.get("BALLOT_FAST_PATH", True):
            self.routes[PATH] = self._ballot
            if app.config.get("BENCH_ENDPOINTS"):
                self.routes[ECHO_PATH] = self._echo  # the benchmark's ceiling
        hops = int(app.config.get("TRUSTED_PROXY_HOPS") or 0)
        # The same ProxyFix the WSGI stack has (core/ratelimit.trust_proxies),
        # run on the few keys it reads and writes.
        self._proxy = (ProxyFix(lambda environ, _: environ, x_for=hops, x_proto=hops)
                       if hops > 0 else None)

    def trust_scheme_headers(self, allowed: list[str], headers: dict[str, str]) -> None:
        """HTTPS as gunicorn tells it (server/worker.py): a peer in `allowed` ("*":
        any) may say so with one of `headers` (e.g. X-Forwarded-Proto: https)."""
        self._scheme_peers = set(allowed)
        self._scheme_headers = {k.lower().encode(): v.encode() for k, v in headers.items()}

    def _secure(self, scope: Scope) -> bool:
        peer = scope.get("client")
        if not self._scheme_headers or not (
                "*" in self._scheme_peers or (peer and peer[0] in self._scheme_peers)):
            return False
        said = {self._scheme_headers[k] == v for k, v in scope.get("headers", ())
                if k.lower() in self._scheme_headers}
        return said == {True}  # gunicorn refuses conflicting headers; here: not https

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("scheme") == "http" and self._secure(scope):
            scope = {**scope, "scheme": "https"}
        route = self.routes.get(scope.get("path", "")) if scope["type"] == "http" else None
        if route is None or scope["method"] != "POST" or scope.get("query_string"):
            return await self.wsgi(scope, receive, send)
        headers = _headers(scope)
        length = content_length(headers.get("CONTENT_LENGTH"))
        if not takes_body(length, self.app.config.get("MAX_CONTENT_LENGTH"),
                          headers.get("CONTENT_TYPE", "")):
            return await self.wsgi(scope, receive, send)
        raw = await read_body(receive, (length or 0) + 1)  # one more: a longer body shows
        body = plain_ballot(raw) if len(raw) == length else None
        if body is None:
            return await self.wsgi(scope, _replay(raw, receive), send)
        client = self._client(scope, headers)
        answer = await route(client, body)
        if answer is None:
            return await self.wsgi(scope, _replay(raw, receive), send)
        status, payload, extra = answer
        data, out = response_parts(scope["path"], client[1], payload, extra)
        await send({"type": "http.response.start", "status": status,
                    "headers": [(k.lower().encode(), v.encode("latin-1")) for k, v in out]})
        await send({"type": "http.response.body", "body": data})

    def _client(self, scope: Scope, headers: dict[str, str]) -> Client:
        peer = scope.get("client")
        environ: dict[str, Any] = {"REMOTE_ADDR": peer[0] if peer else "",
                                   "wsgi.url_scheme": scope.get("scheme", "http"), **headers}
        if self._proxy is not None:
            environ = self._proxy(environ, None)
        return environ["REMOTE_ADDR"], environ["wsgi.url_scheme"] == "https"

    async def _located(self, raw_token: Any) -> tuple[RoundInfo, str] | None:
        """(round, token hash) without blocking the loop: a round this process has
        not cached is read from SQL in a thread, once for all the ballots that
        wait for it (the first minute of a meeting brings hundreds at once).
        None for a malformed token or one naming no round."""
        try:
            round_id, token_hash = parse_token(raw_token)
        except ApiError:
            return None
        info = cached_round_info(round_id)
        if info is None:
            loading = self._loading.get(round_id)
            if loading is None:
                loading = asyncio.ensure_future(asyncio.to_thread(self._load, round_id))
                self._loading[round_id] = loading
                loading.add_done_callback(lambda _: self._loading.pop(round_id, None))
            try:
                info = await asyncio.shield(loading)
            except Exception:  # noqa: BLE001 - no such round, or SQL is down: _locate says
                return None
        return info, token_hash

    def _load(self, round_id: int) -> RoundInfo:
        with self.app.app_context():
            return round_info(round_id)[0]

    def _locate(self, raw_token: Any, addr: str) -> tuple[RoundInfo, str]:
        """In a thread: the refusal of a bad token, counted as this client's guess."""
        with self.app.app_context():
            ratelimit.bind_client(addr)
            return locate(raw_token)

    async def _echo(self, client: Client, body: dict[str, Any]) -> Answer:
        return 200, {"ok": True}, []

    async def _ballot(self, client: Client, body: dict[str, Any]) -> Answer | None:
        """The answer, or None to hand the ballot to the WSGI stack."""
        located = await self._located(body["token"])
        if located is None:  # a bad token: refused, and counted as this client's guess
            try:
                located = await asyncio.to_thread(self._locate, body["token"], client[0])
            except Exception as exc:  # noqa: BLE001 - no such round, malformed, an outage
                with self.app.app_context():
                    return error_answer(exc)
        info, token_hash = located
        # No app context for the common case (its push and teardown were ~20% of a
        # ballot's CPU on the loop): the guessing limit's key is worked out from the app.
        guess = ratelimit.guess_args_for(self.app, info.id, client[0])
        loop = asyncio.get_running_loop()
        waiter = LoopOutcome(loop)
        timer = loop.call_later(self.app.config["COMMIT_TIMEOUT_S"], waiter.expire)
        try:
            comment = body.get("comment")
            with self._bound(client[0]) if comment is not None else contextlib.nullcontext():
                item = prepare_ballot(info, token_hash, body["answers"], comment,
                                      body.get("content_pass"), outcome=waiter, guess=guess)
            self.committer.enqueue(item)
            outcome = await waiter.result
            if outcome == "ok":
                return 201, receipt_body(settled(item, outcome)), []
            if outcome == "missing":  # live state gone: the WSGI path rebuilds it
                return None
            with self._bound(client[0]):
                refused = refusal(outcome)  # a 429 tells this client's limit
            return error_answer(refused)
        except TimeoutError:
            # Still queued or committing: it may yet count, but we cannot say so.
            log.warning("ballot commit timed out (round %s)", info.id)
            return error_answer(UNCONFIRMED)
        except Exception as exc:  # noqa: BLE001 - a refusal or an outage, as Flask answers
            with self._bound(client[0]):
                return error_answer(exc)
        finally:
            timer.cancel()

    @contextlib.contextmanager
    def _bound(self, addr: str) -> Iterator[None]:
        """An app context serving the client at `addr`: what a comment's checks and a
        refusal need (the app's settings, the client's guessing limit)."""
        with self.app.app_context():
            ratelimit.bind_client(addr)
            yield
