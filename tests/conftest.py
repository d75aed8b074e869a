"""Fixtures: a real Redis server and a real SQL database for every test.

TEST_REDIS_URL / TEST_DATABASE_URL point the suite at existing servers (CI sets
them to the machine's Redis and PostgreSQL); otherwise a private redis-server
is started for the session and each test gets its own SQLite file.

TEST_REDIS_CLUSTER=1 (or `pytest --redis-cluster`) runs the `app` fixture
against a real 3-master Redis Cluster started on loopback ports for the session
(tests/support/redis_cluster.py) and stopped at its end; every master is
flushed before each test. Tests marked `single_redis` (they stop and start a
redis-server of their own) are skipped then. The `cluster_app` fixture uses
that cluster in every run (tests/test_cluster*.py).
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

from server.app import create_app
from server.core.db import db
from tests.factories import organizer
from tests.support.redis_cluster import RedisClusterProcess, cluster_binaries
from tests.support.redisproc import RedisProcess
from tests.support.schema import empty_schema
from tests.support.workers import use_own_services, worker_id

pytest_plugins = ["tests.support.browser"]  # the `browser` fixture of the Chromium tests


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--redis-cluster", action="store_true",
                     help="run the app fixture against a Redis Cluster (TEST_REDIS_CLUSTER=1)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "single_redis: runs a redis-server of its own (skipped in cluster mode)")
    config.addinivalue_line(
        "markers", "faults: long race/fault tests (run with -m faults or RUN_FAULTS=1)")
    config.addinivalue_line(  # xdist's own, named also for runs with -p no:xdist
        "markers", "xdist_group(name): tests that pytest -n --dist loadgroup keeps in one worker")
    worker = worker_id(config)
    if worker:  # pytest -n N: a PostgreSQL database and a Redis database of its own
        use_own_services(worker)


def cluster_mode(config: pytest.Config) -> bool:
    return bool(config.getoption("--redis-cluster")) or os.environ.get("TEST_REDIS_CLUSTER") == "1"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # The long race/fault tests run only when asked: `-m faults` or RUN_FAULTS=1.
    if "faults" not in (config.option.markexpr or "") and os.environ.get("RUN_FAULTS") != "1":
        skip_long = pytest.mark.skip(reason="long fault test: use -m faults or RUN_FAULTS=1")
        for item in items:
            if "faults" in item.keywords:
                item.add_marker(skip_long)
    if cluster_mode(config):
        skip = pytest.mark.skip(reason="stops and starts a single redis-server of its own")
        for item in items:
            if "single_redis" in item.keywords:
                item.add_marker(skip)
    # With `-n N --dist loadgroup`, the tests on a Redis Cluster run in one worker, which
    # starts one cluster (six redis-servers) rather than one in each worker.
    for item in items:
        if {"redis_cluster", "cluster_app"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.xdist_group("redis_cluster"))


@pytest.fixture(scope="session", autouse=True)
def cheap_password_hashes() -> Iterator[None]:
    """Accounts get scrypt with N=2**10 instead of werkzeug's 2**15: the full cost is
    0.1-0.3 s a password, and tests create and sign in hundreds of accounts. A hash names
    its own parameters, so checking one (also in gunicorn children) is as cheap."""
    from werkzeug.security import generate_password_hash

    from server.accounts import operations

    cheap = functools.partial(generate_password_hash, method="scrypt:1024:8:1")
    patch = pytest.MonkeyPatch()
    patch.setattr(operations, "generate_password_hash", cheap)
    patch.setattr(operations, "_DUMMY_HASH", cheap("not-a-password"))
    yield
    patch.undo()


@pytest.fixture(scope="session")
def redis_cluster(request: pytest.FixtureRequest,
                  tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisClusterProcess]:
    """A 3-master Redis Cluster on loopback ports, started once, stopped at the end."""
    if cluster_binaries() is None:
        if cluster_mode(request.config):
            pytest.fail("TEST_REDIS_CLUSTER=1 needs redis-server and redis-cli on PATH")
        pytest.skip("redis-cli not installed: no Redis Cluster")
    cluster = RedisClusterProcess(tmp_path_factory.mktemp("redis-cluster")).start()
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def redis_url(request: pytest.FixtureRequest,
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if cluster_mode(request.config):
        # "" plus REDIS_CLUSTER_NODES in the environment, which gunicorn children inherit.
        cluster: RedisClusterProcess = request.getfixturevalue("redis_cluster")
        env = pytest.MonkeyPatch()
        env.setenv("REDIS_CLUSTER_NODES", cluster.nodes)
        yield ""
        env.undo()
        return
    url = os.environ.get("TEST_REDIS_URL")
    if url:
        yield url
        return
    proc = RedisProcess(tmp_path_factory.mktemp("redis")).start()
    yield proc.url
    proc.stop()


_reset_sql = empty_schema  # the models' schema, no rows (tests/support/schema.py)


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
        # ballots one at a time, each acknowledged at once: a lone ballot would wait
        # BALLOT_MIX_WAIT_S for its batch (tests/test_ballot_mixing.py sets its own)
        "BALLOT_MIX_K": 1,
    }
    config.update(extra)
    return create_app(config)


def _dispose(app: Flask) -> None:
    from server.rounds.operations import wait_for_scrub

    wait_for_scrub(60)  # a close's background VACUUM: let it end before the schema goes
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    client = app.extensions.get("pingyi_redis")
    if isinstance(client, redis.Redis | redis.RedisCluster):
        client.close()


def _cluster_app(tmp_path: Path, cluster: RedisClusterProcess) -> Flask:
    cluster.flush()
    app = make_app(tmp_path, "", REDIS_CLUSTER_NODES=cluster.nodes)
    _reset_sql(app)
    return app


@pytest.fixture
def app(request: pytest.FixtureRequest, tmp_path: Path, redis_url: str) -> Iterator[Flask]:
    if cluster_mode(request.config):
        app = _cluster_app(tmp_path, request.getfixturevalue("redis_cluster"))
    else:
        redis.Redis.from_url(redis_url).flushdb()
        app = make_app(tmp_path, redis_url)
        _reset_sql(app)
    yield app
    _dispose(app)


@pytest.fixture
def cluster_app(tmp_path: Path, redis_cluster: RedisClusterProcess) -> Iterator[Flask]:
    """The app on the session's Redis Cluster, whatever mode the suite runs in."""
    app = _cluster_app(tmp_path, redis_cluster)
    yield app
    _dispose(app)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> Any:
    return app.test_cli_runner()


@pytest.fixture
def key(app: Flask) -> dict[str, str]:
    """The Authorization header of a new organizer's API key."""
    with app.app_context():
        _, raw = organizer()
    return {"Authorization": f"Bearer {raw}"}


def csrf_token(html: str) -> str:
    m = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', html)
    assert m, "page has no CSRF token"
    return m.group(1)


@pytest.fixture
def fake(app: Flask) -> Iterator[Any]:
    """The local WeChat fake on loopback, with the app pointed at it: (base URL, state)."""
    from tests.support.miniprogram import wechat_fake

    with wechat_fake(app) as running:
        yield running
