"""The access log line of the uvicorn workers (config/gunicorn.conf.py wraps the app).

uvicorn's own line has no response time or size; this writes
'%(h)s "%(r)s" %(s)s %(b)s %(M)sms' (gunicorn's notation) to gunicorn's access
log (PINGYI_ACCESS_LOG). No timestamps: the order of lines is all they say about time.
"""

from __future__ import annotations

import logging
import time

from server.core.wsgi_pool import Message, Receive, Scope, Send


def access_line(scope: Scope, status: int, body_bytes: int, seconds: float) -> str:
    """The peer's address, the request line (a query string included: tokens never
    travel in URLs), the status ('-' if none was sent), body bytes ('-' for none), ms."""
    peer = scope.get("client")
    target = scope.get("raw_path") or scope.get("path", "").encode()
    if scope.get("query_string"):
        target += b"?" + scope["query_string"]
    line = f'{scope["method"]} {target.decode("latin-1")} HTTP/{scope.get("http_version", "1.1")}'
    return (f'{peer[0] if peer else "-"} "{line}" {status or "-"} {body_bytes or "-"} '
            f"{int(seconds * 1000)}ms")


class AccessLogged:
    """An ASGI app that writes one access line per HTTP request it passes to `app`."""

    def __init__(self, app: object, logger: logging.Logger) -> None:
        self.app = app  # the ASGI app gunicorn loaded, typed loosely (hence the ignores below)
        self.logger = logger

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)  # type: ignore[operator]
        start = time.perf_counter()
        sent = [0, 0]  # status, body bytes

        async def counted(message: Message) -> None:
            if message["type"] == "http.response.start":
                sent[0] = message["status"]
            elif message["type"] == "http.response.body":
                sent[1] += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, counted)  # type: ignore[operator]
        finally:
            self.logger.info("%s", access_line(scope, sent[0], sent[1],
                                               time.perf_counter() - start))
