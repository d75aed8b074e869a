"""Serve the real app over HTTP on a loopback port, as production serves it."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from flask import Flask

from server.core.serving import UVICORN
from server.voting.asgi import BallotFront


@contextmanager
def live_server(app: Flask, threads: int = 8) -> Iterator[str]:
    """Run `app` in the ASGI app every deployment serves (server/asgi.py: ballots on
    the event loop, the rest in Flask in `threads` threads) under uvicorn with the
    workers' settings, on 127.0.0.1 (a free port) in a background thread; yield its
    base URL."""
    front = BallotFront(app, threads)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(front, **UVICORN, log_level="warning",
                                           access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]},
                              name="live-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the live server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        front.wsgi.executor.shutdown(wait=True)
        sock.close()
