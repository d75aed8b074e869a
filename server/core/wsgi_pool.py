"""The WSGI app under an ASGI server: each request runs whole in a pool thread.

Adapters that stream (a2wsgi, asgiref) hop between the thread and the event
loop for every message (the status line, each body chunk, the end) and for
every read of the request body; each hop wakes the loop and trades the GIL.
pingyi's responses are whole documents (JSON, pages, a PDF or workbook built
in memory), so this adapter reads the request body on the loop, runs the
request in a thread in one go, and sends what it returned: one hop there, one
back. A body is read up to MAX_CONTENT_LENGTH (and one byte more, so Flask
still answers 413 for a larger one); a larger declared Content-Length is not
read at all: Flask refuses it from the header.
"""

from __future__ import annotations

import asyncio
import io
import sys
from collections.abc import Awaitable, Callable, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Any]
Reply = tuple[int, list[tuple[bytes, bytes]], bytes]


def environ_for(scope: Scope, body: bytes) -> dict[str, Any]:
    """The PEP 3333 environ of an ASGI http scope (as gunicorn would build it)."""
    server = scope.get("server") or ("localhost", 80)
    client = scope.get("client")
    environ: dict[str, Any] = {
        "REQUEST_METHOD": scope["method"],
        "SCRIPT_NAME": scope.get("root_path", "").encode().decode("latin-1"),
        "PATH_INFO": scope["path"].encode().decode("latin-1"),
        "QUERY_STRING": scope.get("query_string", b"").decode("latin-1"),
        "SERVER_NAME": str(server[0]),
        "SERVER_PORT": str(server[1] or 0),
        "SERVER_PROTOCOL": f"HTTP/{scope.get('http_version', '1.1')}",
        "REMOTE_ADDR": client[0] if client else "",
        "REMOTE_PORT": str(client[1]) if client else "",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "wsgi.input_terminated": True,  # as gunicorn: the stream holds the whole body
    }
    for raw_name, raw_value in scope.get("headers", ()):
        name = raw_name.decode("latin-1").upper().replace("-", "_")
        if name not in ("CONTENT_LENGTH", "CONTENT_TYPE"):
            name = "HTTP_" + name
        value = raw_value.decode("latin-1")
        environ[name] = f"{environ[name]},{value}" if name in environ else value
    return environ


class WsgiPool:
    """An ASGI app that serves `app` (WSGI) in a pool of `threads` threads."""

    def __init__(self, app: WsgiApp, threads: int, max_body: int | None) -> None:
        self.app = app
        self.max_body = max_body
        self.executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="wsgi")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return  # no websockets; lifespan is off (config/gunicorn.conf.py)
        await self.serve(scope, await self.read(scope, receive), send)

    async def read(self, scope: Scope, receive: Receive) -> bytes:
        """The request's body as this pool reads it: up to MAX_CONTENT_LENGTH and one
        byte more (Flask then answers 413), nothing when a larger one is declared."""
        declared = declared_length(scope)
        if declared is not None and self.max_body and declared > self.max_body:
            return b""
        return await read_body(receive, (self.max_body or sys.maxsize) + 1)

    async def serve(self, scope: Scope, body: bytes, send: Send) -> None:
        """Run the request, its body already read, in a pool thread; send the answer."""
        environ = environ_for(scope, body)
        loop = asyncio.get_running_loop()
        status, headers, data = await loop.run_in_executor(self.executor, self._run, environ)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": data})

    def _run(self, environ: dict[str, Any]) -> Reply:
        started: list[Any] = []
        chunks: list[bytes] = []

        def start_response(status: str, headers: list[tuple[str, str]],
                           exc_info: Any = None) -> Callable[[bytes], None]:
            if exc_info and started:
                raise exc_info[1].with_traceback(exc_info[2])
            started[:] = [status, headers]
            return chunks.append

        result = self.app(environ, start_response)
        try:
            chunks.extend(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        status, headers = started
        return (int(status.split(" ", 1)[0]),
                [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers],
                b"".join(chunks))


def declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def read_body(receive: Receive, most: int) -> bytes:
    """The request body, stopping once `most` bytes have come (or the client left)."""
    chunks: list[bytes] = []
    size = 0
    while size < most:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if not message.get("more_body"):
            break
    return b"".join(chunks)
