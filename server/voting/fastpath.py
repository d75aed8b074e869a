"""POST /api/v1/ballots served beneath Flask's dispatch, for well-formed ballots.

The ballot is the request that arrives by the hundred per second, and Flask's
machinery around it (request context, session, before/after hooks, webargs and
marshmallow, the response object) cost more CPU than the ballot's own checks
(docs/deploy.md: where a ballot's CPU goes). This WSGI layer serves the common
case itself and hands everything else to Flask untouched:

- it takes only a POST to exactly /api/v1/ballots with no query string,
  Content-Type application/json, a Content-Length within MAX_CONTENT_LENGTH,
  and a body that is a JSON object of exactly the shape `BallotIn` accepts
  with no ``\\u`` escape in it (so no NUL or lone surrogate: core/text.py);
- anything else (another media type, an oversized, chunked, malformed or
  wrongly shaped body) goes to Flask with the bytes already read, so every
  error answer is the one the API documents;
- what it answers is what Flask would: the same `submit_ballot`, the same JSON
  (keys sorted, compact, a final newline), status, error shape
  (core/errors.error_for) and headers (core/security.response_headers).

tests/test_ballot_fastpath.py holds the two paths to the same answers.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterable
from typing import Any

import orjson
from flask import Flask
from werkzeug.http import HTTP_STATUS_CODES

from server.core import ratelimit
from server.core.errors import error_for, retry_headers
from server.core.security import response_headers
from server.voting.ballots import receipt_body, submit_ballot

PATH = "/api/v1/ballots"
ECHO_PATH = "/healthz/echo"  # the benchmark's ceiling, with BENCH_ENDPOINTS only (core/health.py)
_LIMITS = {"token": 64, "comment": 5000, "content_pass": 100}  # as voting/schemas.BallotIn
_FIELDS = frozenset({"token", "answers", "comment", "content_pass"})

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
WsgiApp = Callable[[Environ, StartResponse], Iterable[bytes]]
Answer = tuple[int, Any, list[tuple[str, str]]]  # status, JSON payload, extra headers


def plain_ballot(raw: bytes) -> dict[str, Any] | None:
    """The body as BallotIn would load it unchanged, or None (Flask decides)."""
    if b"\\u" in raw:
        return None
    try:
        # Stricter than json (no NaN, no UTF-16, no integers past 64 bits, at most
        # 1024 levels): what it refuses goes to Flask, which answers as before.
        body = orjson.loads(raw)
    except (ValueError, RecursionError):
        return None
    if type(body) is not dict or not body.keys() <= _FIELDS or body.get("answers") is None:
        return None
    if type(body.get("token")) is not str:
        return None
    for name, longest in _LIMITS.items():
        value = body.get(name)
        if value is not None and (type(value) is not str or len(value) > longest):
            return None
    return body


def content_length(value: str | None) -> int | None:
    try:
        return int(value or "")
    except ValueError:
        return None


def _is_json(content_type: str) -> bool:
    return content_type.split(";", 1)[0].strip().lower() == "application/json"


def json_bytes(payload: Any) -> bytes:
    """As Flask's JSON provider writes a response (app.json, not in debug)."""
    # (Not orjson: it writes some floats otherwise, 1e-05 as 1e-5; turnout has floats.)
    return (json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
            + "\n").encode()


def takes_body(length: int | None, limit: int | None, content_type: str) -> bool:
    """Whether a POST's declared body is one this layer reads (else Flask decides)."""
    return bool(length and length > 0 and not (limit and length > limit)
                and _is_json(content_type))


def response_parts(path: str, secure: bool, payload: Any, extra: list[tuple[str, str]]
                   ) -> tuple[bytes, list[tuple[str, str]]]:
    """The JSON body and headers Flask would send (also voting/asgi.py)."""
    data = json_bytes(payload)
    return data, [("Content-Type", "application/json"), ("Content-Length", str(len(data))),
                  *extra, *response_headers(path, secure)]


def respond(environ: Environ, start_response: StartResponse, status: int, payload: Any,
            extra: list[tuple[str, str]]) -> list[bytes]:
    """Answer with the JSON, status and headers Flask would send."""
    data, headers = response_parts(environ["PATH_INFO"],
                                   environ.get("wsgi.url_scheme") == "https", payload, extra)
    start_response(f"{status} {HTTP_STATUS_CODES[status]}", headers)
    return [data]


def error_answer(exc: Exception) -> Answer:
    """An exception as Flask's error handlers would answer it."""
    err = error_for(exc)
    return err.status, {"error": err.to_dict()}, retry_headers(err)


class BallotFastPath:
    """The WSGI layer (create_app installs it just beneath ProxyFix)."""

    def __init__(self, app: Flask, inner: WsgiApp) -> None:
        self.app = app
        self.inner = inner
        self.routes: dict[str, Callable[[Environ, dict[str, Any]], Answer]] = {
            PATH: self._ballot}
        if app.config.get("BENCH_ENDPOINTS"):
            # The ceiling `make bench` compares ballots with: a ballot-sized body
            # read, parsed and checked here, then answered, with nothing else done.
            self.routes[ECHO_PATH] = lambda environ, body: (200, {"ok": True}, [])

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        route = self.routes.get(environ.get("PATH_INFO", ""))
        if (route is None or environ.get("REQUEST_METHOD") != "POST"
                or environ.get("QUERY_STRING")):
            return self.inner(environ, start_response)
        length = content_length(environ.get("CONTENT_LENGTH"))
        if not takes_body(length, self.app.config.get("MAX_CONTENT_LENGTH"),
                          environ.get("CONTENT_TYPE", "")):
            return self.inner(environ, start_response)
        try:
            raw = environ["wsgi.input"].read(length)
        except OSError:
            raw = b""
        body = plain_ballot(raw) if len(raw) == length else None
        if body is None:
            environ["wsgi.input"] = io.BytesIO(raw)  # Flask reads the body again
            return self.inner(environ, start_response)
        return respond(environ, start_response, *route(environ, body))

    def _ballot(self, environ: Environ, body: dict[str, Any]) -> Answer:
        with self.app.app_context():
            ratelimit.bind_client(environ.get("REMOTE_ADDR"))
            try:
                accepted = submit_ballot(body["token"], body["answers"], body.get("comment"),
                                         body.get("content_pass"))
            except Exception as exc:  # noqa: BLE001 - answered as Flask's handlers would
                return error_answer(exc)
        return 201, receipt_body(accepted), []
