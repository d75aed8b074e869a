"""Fixtures: a real Redis server and a real SQL database for every test.

TEST_REDIS_URL / TEST_DATABASE_URL point the suite at existing servers (CI sets
them to the machine's Redis and PostgreSQL); otherwise a private redis-server
is started for the session and each test gets its own SQLite file.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text

from server import create_app
from server.core.db import db
from tests.support.redisproc import RedisProcess


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = os.environ.get("TEST_REDIS_URL")
    if url:
        yield url
        return
    proc = RedisProcess(tmp_path_factory.mktemp("redis")).start()
    yield proc.url
    proc.stop()


def _reset_sql(app: Flask) -> None:
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            db.session.execute(text("DROP SCHEMA public CASCADE"))
            db.session.execute(text("CREATE SCHEMA public"))
            db.session.commit()
        db.create_all()


def make_app(tmp_path: Path, redis_url: str, **extra: Any) -> Flask:
    from server.voting import roundinfo

    roundinfo._CACHE.clear()
    config = {
        "TESTING": True,
        "DATABASE_URL": os.environ.get("TEST_DATABASE_URL")
        or f"sqlite:///{tmp_path / 'test.sqlite3'}",
        "REDIS_URL": redis_url,
        "SECRET_KEY": "test-secret",
        "INSTANCE_PATH": tmp_path / "instance",
        "PUBLIC_BASE_URL": "https://vote.example.test",
        "CLOSE_DRAIN_TIMEOUT_S": 2,
    }
    config.update(extra)
    return create_app(config)


@pytest.fixture
def app(tmp_path: Path, redis_url: str) -> Iterator[Flask]:
    redis.Redis.from_url(redis_url).flushdb()
    app = make_app(tmp_path, redis_url)
    _reset_sql(app)
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> Any:
    return app.test_cli_runner()


def csrf_token(html: str) -> str:
    m = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', html)
    assert m, "page has no CSRF token"
    return m.group(1)
