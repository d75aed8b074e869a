"""The ASGI app every deployment serves (server/asgi.py): ballots on the event loop,
everything else in Flask through a thread pool (core/wsgi_pool.py).

A ballot waits for its group commit (voting/groupcommit.py) as a coroutine, not
as a thread: uvicorn parses HTTP in C (httptools), the ballot is checked on the
loop, queued for the committer and awaited (docs/deploy.md §9). What needs
blocking I/O before the commit (a round not yet cached in this process, read
from SQL; a bad token, counted as the client's guess in Redis) runs in a thread,
so hundreds of first ballots of a round do not queue for the pool.

The route takes a POST to exactly /api/v1/ballots, without a query string, whose
application/json body (read as the pool reads bodies) Flask's JSON loader and
the view's own schema (`BallotIn`) accept. Anything else, and a ballot whose
round has lost its live state (Flask's view rebuilds it), goes to Flask with the
body already read, and Flask answers it. The answers sent from here are built by
the functions Flask's side uses: the app's JSON provider, core/errors.json_error
and core/security.add_response_headers. Client address and scheme are the
server's (uvicorn's proxy headers, FORWARDED_ALLOW_IPS), as Flask sees them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, cast

from flask import Flask, Response

from server.core import ratelimit
from server.core.errors import ApiError, error_for, json_error
from server.core.security import add_response_headers
from server.core.text import check_json_text
from server.core.wsgi_pool import Receive, Scope, Send, WsgiPool, declared_length
from server.tokens.codec import parse_token
from server.voting.ballots import (
    UNCONFIRMED,
    locate,
    prepare_ballot,
    receipt_body,
    refusal,
    settled,
)
from server.voting.groupcommit import GroupCommitter
from server.voting.roundinfo import RoundInfo, cached_round_info, round_info
from server.voting.schemas import BallotIn

log = logging.getLogger(__name__)

PATH = "/api/v1/ballots"
ECHO_PATH = "/healthz/echo"  # the benchmark's ceiling, with BENCH_ENDPOINTS only (core/health.py)

Route = Callable[[str, dict[str, Any]], Awaitable[Response | None]]


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
            self.result.set_result(result)  # type: ignore[arg-type]  # set when no exception

    def expire(self) -> None:
        if not self.result.done():
            self.result.set_exception(TimeoutError())


class BallotFront:
    """The ASGI app: the ballot route on the loop, Flask (in `threads` threads) for the rest."""

    def __init__(self, app: Flask, threads: int) -> None:
        self.app = app
        self.wsgi = WsgiPool(app, threads, app.config.get("MAX_CONTENT_LENGTH"))
        self.committer: GroupCommitter = app.extensions["pingyi_committer"]
        self.schema = BallotIn()  # the view's schema: its fields and limits
        self._loading: dict[int, asyncio.Future[RoundInfo]] = {}
        self.routes: dict[str, Route] = {PATH: self._ballot}
        if app.config.get("BENCH_ENDPOINTS"):
            self.routes[ECHO_PATH] = self._echo

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = self._route(scope)
        if route is None:
            return await self.wsgi(scope, receive, send)
        raw = await self.wsgi.read(scope, receive)
        body = self._loaded(scope, raw)
        answer = await route(scope["client"][0] if scope.get("client") else "", body) \
            if body is not None else None
        if answer is None:
            return await self.wsgi.serve(scope, raw, send)
        add_response_headers(answer, scope["path"], scope.get("scheme") == "https")
        await send({"type": "http.response.start", "status": answer.status_code,
                    "headers": [(k.lower().encode("latin-1"), v.encode("latin-1"))
                                for k, v in answer.headers.items()]})
        await send({"type": "http.response.body", "body": answer.get_data()})

    def _route(self, scope: Scope) -> Route | None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope.get("query_string"):
            return None
        route = self.routes.get(scope["path"])
        if route is None:
            return None
        for name, value in scope.get("headers", ()):
            if name.lower() == b"content-type":
                if value.split(b";", 1)[0].strip().lower() == b"application/json":
                    return route
                return None
        return None

    def _loaded(self, scope: Scope, raw: bytes) -> dict[str, Any] | None:
        """The body as Flask's JSON loader and the view's schema load it, or None
        (Flask answers it: chunked, too large, malformed, odd text, wrong shape)."""
        if declared_length(scope) != len(raw):
            return None
        try:
            body = self.app.json.loads(raw)
            check_json_text(raw, body)
            return self.schema.load(body)
        except Exception:  # noqa: BLE001 - whatever it is, Flask says what
            return None

    def _json(self, payload: Any, status: int) -> Response:
        # what jsonify sends: an app.response_class (typed as werkzeug's sansio base)
        resp = cast(Response, self.app.json.response(payload))
        resp.status_code = status
        return resp

    def _error(self, exc: Exception, addr: str) -> Response:
        with self._bound(addr):
            return json_error(error_for(exc))

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
        with self._bound(addr):
            return locate(raw_token)

    async def _echo(self, addr: str, body: dict[str, Any]) -> Response:
        return self._json({"ok": True}, 200)

    async def _ballot(self, addr: str, body: dict[str, Any]) -> Response | None:
        """The answer, or None to hand the ballot to Flask."""
        if body.get("signature") is not None:  # a blind-signed token: Flask verifies it
            return None
        located = await self._located(body["token"])
        if located is None:  # a bad token: refused, and counted as this client's guess
            try:
                located = await asyncio.to_thread(self._locate, body["token"], addr)
            except Exception as exc:  # noqa: BLE001 - no such round, malformed, an outage
                return self._error(exc, addr)
        info, token_hash = located
        # No app context for the common case (its push and teardown were ~20% of a
        # ballot's CPU on the loop): the guessing limit's key is worked out from the app.
        guess = ratelimit.guess_args_for(self.app, info.id, addr)
        loop = asyncio.get_running_loop()
        waiter = LoopOutcome(loop)
        timer = loop.call_later(self.app.config["COMMIT_TIMEOUT_S"], waiter.expire)
        try:
            comment = body["comment"]
            with self._bound(addr) if comment is not None else contextlib.nullcontext():
                item = prepare_ballot(info, token_hash, body["answers"], comment,
                                      body["content_pass"], outcome=waiter, guess=guess)
            self.committer.enqueue(item)
            outcome = await waiter.result
            if outcome == "ok":
                return self._json(receipt_body(settled(item, outcome)), 201)
            if outcome == "missing":  # live state gone: Flask's view rebuilds it
                return None
            with self._bound(addr):
                raise refusal(outcome)  # a 429 tells this client's limit
        except TimeoutError:
            # Still queued or committing: it may yet count, but we cannot say so.
            log.warning("ballot commit timed out (round %s)", info.id)
            return self._error(UNCONFIRMED(), addr)
        except Exception as exc:  # noqa: BLE001 - a refusal or an outage, as Flask answers
            return self._error(exc, addr)
        finally:
            timer.cancel()

    @contextlib.contextmanager
    def _bound(self, addr: str) -> Iterator[None]:
        """An app context serving the client at `addr`: what a comment's checks, a
        refusal and an error answer need (the app's settings, the client's limit)."""
        with self.app.app_context():
            ratelimit.bind_client(addr)
            yield
