"""A local fake of the WeChat (mini-program) and WeChat Work HTTP APIs.

A small real HTTP server on loopback, used by the tests and by `make run`'s
demo instead of api.weixin.qq.com / qyapi.weixin.qq.com. It checks payloads
as the real services document them (field names, byte limits, rate limits,
error codes) and records everything it received for inspection.

Routes are split by product: `wecom.py` (WeChat Work: gettoken, appchat,
group robot webhook, callbacks), `miniprogram.py` (code2session,
getwxacodeunlimit, msg_sec_check) and `oauth.py` (the official account's web
authorization: the authorize page and sns/oauth2/access_token). Each module
exposes `bp`, a Blueprint.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from flask import Flask
from werkzeug.serving import WSGIRequestHandler, make_server


@dataclass
class Received:
    """One request the fake answered: path, query, JSON body (or None) and the answer."""

    path: str
    query: dict[str, str]
    body: Any
    answer: dict[str, Any]


@dataclass
class FakeState:
    """What the fake knows and what it saw; shared by every route module."""

    received: list[Received] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, item: Received) -> None:
        with self.lock:
            self.received.append(item)

    def seen(self, path_part: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if path_part in r.path]


def create_fake_app(state: FakeState | None = None) -> Flask:
    app = Flask("wechat_fake")
    app.config["FAKE_STATE"] = state or FakeState()
    from bot.wechat_fake import miniprogram, oauth, wecom

    app.register_blueprint(wecom.bp)
    app.register_blueprint(miniprogram.bp)
    app.register_blueprint(oauth.bp)
    return app


class _QuietHandler(WSGIRequestHandler):
    """No access log: the fake stands in for Tencent's servers, whose logs are not ours
    (and its request lines hold webhook keys and tokens, as Tencent's would)."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


@contextlib.contextmanager
def running_fake(state: FakeState | None = None, port: int = 0) -> Iterator[tuple[str, FakeState]]:
    """Serve the fake on 127.0.0.1 in a thread; yields (base URL, state)."""
    app = create_fake_app(state)
    server = make_server("127.0.0.1", port, app, threaded=True, request_handler=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", app.config["FAKE_STATE"]
    finally:
        server.shutdown()
        thread.join(timeout=5)
