"""Servers of its own for each pytest-xdist worker (`pytest -n 2`).

A private redis-server, SQLite files and loopback ports are already per process. What
the environment names is shared, so each worker gets its own slice of it: the
PostgreSQL database `<name>_gw0`, `<name>_gw1`, … (created on first use, next to the one
TEST_DATABASE_URL names) and the Redis database number of TEST_REDIS_URL plus the
worker's index.
"""

from __future__ import annotations

import os

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

REDIS_DATABASES = 16  # redis-server's default `databases`


def worker_id(config: pytest.Config) -> str | None:
    """"gw0", "gw1", … in an xdist worker; None in a run without workers."""
    workerinput = getattr(config, "workerinput", None)
    return workerinput["workerid"] if workerinput else None


def use_own_services(worker: str) -> None:
    """Point TEST_DATABASE_URL and TEST_REDIS_URL (when set) at this worker's own."""
    index = int(worker.removeprefix("gw"))
    if os.environ.get("TEST_DATABASE_URL"):
        os.environ["TEST_DATABASE_URL"] = own_database(os.environ["TEST_DATABASE_URL"], worker)
    if os.environ.get("TEST_REDIS_URL"):
        os.environ["TEST_REDIS_URL"] = own_redis_db(os.environ["TEST_REDIS_URL"], index)


def own_database(url: str, worker: str) -> str:
    """`<database>_<worker>` on the same PostgreSQL server, created when missing."""
    given = make_url(url)
    mine = given.set(database=f"{given.database}_{worker}")
    engine = create_engine(given, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            found = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :name"),
                                 {"name": mine.database}).first()
            if not found:
                conn.execute(text(f'CREATE DATABASE "{mine.database}"'))
    finally:
        engine.dispose()
    return mine.render_as_string(hide_password=False)


def own_redis_db(url: str, index: int) -> str:
    """The Redis URL with database number (the given one + index)."""
    base, _, number = url.rpartition("/")
    if not base.startswith(("redis://", "rediss://")) or not number.isdigit():
        raise pytest.UsageError(f"TEST_REDIS_URL must end in /<database number>: {url}")
    db = int(number) + index
    if db >= REDIS_DATABASES:
        raise pytest.UsageError(
            f"TEST_REDIS_URL's database {number} + worker {index} passes Redis's "
            f"{REDIS_DATABASES} databases: give a lower number for parallel runs")
    return f"{base}/{db}"
