"""Which SQL and Redis the benchmark uses: the machine's, or embedded ones."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import redis

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/pingyi_bench"
REDIS_URL = "redis://127.0.0.1:6379/13"


def database_url(workdir: Path, prefer_sqlite: bool = False) -> str:
    if not prefer_sqlite:
        try:
            import psycopg

            with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=2) as conn:
                exists = conn.execute(
                    "SELECT 1 FROM pg_database WHERE datname = 'pingyi_bench'").fetchone()
                if not exists:
                    conn.execute("CREATE DATABASE pingyi_bench")
            return PG_URL
        except Exception as exc:  # noqa: BLE001 - no PostgreSQL here: embedded SQLite
            print(f"no PostgreSQL ({type(exc).__name__}); using SQLite")
    return f"sqlite:///{workdir / 'bench.sqlite3'}"


def redis_cluster(workdir: Path) -> Any:
    """A 3-master Redis Cluster on free loopback ports (the test suite's launcher);
    the caller stops it."""
    from tests.support.redis_cluster import RedisClusterProcess

    return RedisClusterProcess(workdir / "cluster").start()


def redis_url(workdir: Path) -> str:
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
        return REDIS_URL
    except redis.RedisError:
        from server.core.redis import ensure_private_redis

        return ensure_private_redis(str(workdir / "redis"))
