"""A worker opens SQL, Redis and its group committer before its first ballot
(server/core/warmup.py, called by config/gunicorn.conf.py), and starts anyway when
either is down."""

from __future__ import annotations

import logging
import socket
import threading
import time

from flask import Flask

from server.core.access_log import AccessLogged
from server.core.db import db
from server.core.warmup import warm_up
from server.voting.asgi import BallotFront
from tests.conftest import _dispose, make_app


def _committers() -> int:
    return sum(t.name == "group-commit" and t.is_alive() for t in threading.enumerate())


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_worker_opens_sql_redis_and_its_committer_before_the_first_ballot(app):
    before = _committers()
    front = BallotFront(app, threads=2)
    # the ASGI front, as gunicorn loads server/asgi.py, in the access log's wrapper
    assert warm_up(AccessLogged(front, logging.getLogger("test.access"))) is True
    front.wsgi.executor.shutdown(wait=True)
    assert _committers() == before + 1
    with app.app_context():
        assert db.engine.pool.checkedin() >= 1  # an open connection, waiting in the pool
    assert warm_up(app) is True  # the Flask app itself (what create_app returns): no second committer
    assert _committers() == before + 1


def test_a_worker_starts_when_sql_and_redis_are_down(tmp_path, caplog):
    port = _closed_port()
    down = make_app(tmp_path, f"redis://127.0.0.1:{port}/0",
                    DATABASE_URL=f"postgresql+psycopg://postgres@127.0.0.1:{port}/test",
                    REDIS_CLUSTER_NODES="")
    with caplog.at_level(logging.WARNING, logger="server.core.warmup"):
        start = time.monotonic()
        assert warm_up(down, wait_s=10) is True
        assert time.monotonic() - start < 10
    said = caplog.text
    assert "SQL not reachable" in said and "Redis not reachable" in said
    _dispose(down)


def test_other_apps_are_left_alone():
    assert warm_up(Flask("naive")) is False
    assert warm_up(object()) is False
