"""gunicorn's worker class for server/asgi.py (config/gunicorn.conf.py).

uvicorn with httptools (HTTP parsed in C) and uvloop. Proxy headers are left
to the app's own ProxyFix (TRUSTED_PROXY_HOPS, core/ratelimit.py), so a
client's address is worked out once, the same way on every path; HTTPS behind
a proxy is recognised by gunicorn's rule, as with the threaded workers. The
app has no startup or shutdown hooks, so lifespan events are not sent.
"""

import asyncio
import os
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn_worker import UvicornWorker

from server.core.access_log import AccessLogged

MAX_HEAD = 64 * 1024  # a request's line and headers, in bytes
# Seconds a client may take to send a request's line and headers, and a new
# connection to send its first byte (PINGYI_HEAD_TIMEOUT_S).
HEAD_TIMEOUT_S = float(os.environ.get("PINGYI_HEAD_TIMEOUT_S", "20"))
# Seconds a request's body may go without a byte arriving (PINGYI_BODY_TIMEOUT_S).
BODY_TIMEOUT_S = float(os.environ.get("PINGYI_BODY_TIMEOUT_S", "20"))


class CoalescedWrites:
    """A transport whose writes within one turn of the event loop leave as one.

    uvicorn writes a response's head and its body separately: two send() calls
    and two TCP segments, which the client reads in two wake-ups. Gathered, a
    ballot's answer is one system call and one segment. In bursts of 2,000
    ballots (four interleaved pairs) the p99 was 244-334 ms against 292-320 ms.
    """

    __slots__ = ("_transport", "_loop", "_pending")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []

    def write(self, data: bytes) -> None:
        if not self._pending:
            self._loop.call_soon(self._flush)
        self._pending.append(data)

    def _flush(self) -> None:
        if self._pending:
            data = b"".join(self._pending) if len(self._pending) > 1 else self._pending[0]
            self._pending = []
            if not self._transport.is_closing():
                self._transport.write(data)

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:  # everything else: the socket's transport
        return getattr(self._transport, name)


class BoundedHttpTools(HttpToolsProtocol):
    """uvicorn's httptools protocol with bounds on a request's head.

    uvicorn buffers a request line and headers of any size; gunicorn's own
    workers refuse over-long ones (431), and so does this: a client cannot make
    a worker hold megabytes of headers. Counted per chunk received before the
    head is complete, so the bound may be passed by one read at most.

    Nor does uvicorn limit how long a head may take to arrive, or how long a new
    connection may stay silent: a few hundred sockets trickling headers would
    hold a worker's connections for ever. Each head has HEAD_TIMEOUT_S from its
    first byte (a new connection, from its opening): then 408 and close, as
    gunicorn answers a request that timed out.

    A body that stops arriving is cut off the same way once BODY_TIMEOUT_S pass
    without a byte of it: otherwise each trickled body would hold one of the
    WSGI pool's threads, which waits for it. The time the app leaves a body
    unread (uvicorn pauses reading) does not count against the client.
    """

    _in_head = True
    _head_bytes = 0
    _timer: asyncio.TimerHandle | None = None  # bounds the head, then the body
    _body_deadline = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(CoalescedWrites(transport, self.loop))  # type: ignore[arg-type]
        self._timer = self.loop.call_later(HEAD_TIMEOUT_S, self._timed_out)

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._in_head:
            if self._timer is None:  # the first bytes of the next request's head
                self._timer = self.loop.call_later(HEAD_TIMEOUT_S, self._timed_out)
            self._head_bytes += len(data)
            if self._head_bytes > MAX_HEAD:
                self._refuse(b"431 Request Header Fields Too Large")
                return
        super().data_received(data)

    def _timed_out(self) -> None:
        self._timer = None
        if not self._in_head:  # the head came in time: this is the body's bound
            self._body_timed_out()
        elif self._head_bytes:
            self._refuse(b"408 Request Timeout")
        else:  # nothing sent at all: nothing to answer
            self.transport.close()

    def _body_timed_out(self) -> None:
        now = self.loop.time()
        cycle = self.cycle
        if self.flow.read_paused or (cycle is not None and cycle.waiting_for_100_continue):
            # The app has not read what came, or not yet asked for the body, so
            # the client is not the one holding things up; its time starts
            # again (to within a second) once the app reads.
            self._body_deadline = now + BODY_TIMEOUT_S
            self._timer = self.loop.call_later(min(1.0, BODY_TIMEOUT_S), self._timed_out)
        elif now < self._body_deadline:
            self._timer = self.loop.call_at(self._body_deadline, self._timed_out)
        elif cycle is not None and cycle.response_started:
            self.transport.close()  # answered already (without its body): just stop
        else:
            self._refuse(b"408 Request Timeout")

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _refuse(self, status: bytes) -> None:
        """Answer `status` in plain text (its reason phrase as the body), and close."""
        msg = status.split(b" ", 1)[1]
        self.transport.write(b"HTTP/1.1 %s\r\ncontent-type: text/plain; charset=utf-8\r\n"
                             b"content-length: %d\r\nconnection: close\r\n\r\n%s"
                             % (status, len(msg), msg))
        self.transport.close()

    def on_headers_complete(self) -> None:
        # The head's timer stays to bound the body (cancelled when the message is
        # complete, usually in this same read): one timer per request, not two.
        # It is replaced only when it would fire after the body's first deadline.
        self._in_head = False
        self._body_deadline = self.loop.time() + BODY_TIMEOUT_S
        if self._timer is None or BODY_TIMEOUT_S < HEAD_TIMEOUT_S:
            self._stop_timer()
            self._timer = self.loop.call_later(BODY_TIMEOUT_S, self._timed_out)
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        self._body_deadline = self.loop.time() + BODY_TIMEOUT_S
        super().on_body(body)

    def on_message_complete(self) -> None:
        self._in_head, self._head_bytes = True, 0  # the next request's head
        self._stop_timer()
        super().on_message_complete()


class Worker(UvicornWorker):
    # access_log off: uvicorn's own line has no response time; core/access_log.py
    # writes gthread's format to gunicorn's access log instead (below).
    CONFIG_KWARGS = {"loop": "uvloop", "http": BoundedHttpTools, "lifespan": "off",
                     "proxy_headers": False, "server_header": False, "access_log": False}

    def load_wsgi(self) -> None:
        super().load_wsgi()
        # gunicorn's own rule for X-Forwarded-Proto (FORWARDED_ALLOW_IPS,
        # secure_scheme_headers), which its threaded workers apply themselves.
        trust = getattr(self.wsgi, "trust_scheme_headers", None)
        if trust is not None:
            trust(self.cfg.forwarded_allow_ips, self.cfg.secure_scheme_headers)
        if self.cfg.accesslog:
            self.wsgi = AccessLogged(self.wsgi, self.log.access_log)
