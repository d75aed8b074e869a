"""A private redis-server process for tests that must stop and restart Redis."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import redis

from server.core.redis import redis_server_binary


class RedisProcess:
    def __init__(self, folder: Path, *extra_args: str) -> None:
        self.folder = folder
        self.extra_args = list(extra_args)  # e.g. "--appendonly", "yes" (later ones win)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.sock = folder / "redis.sock"
        self.url = f"unix://{self.sock}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> RedisProcess:
        self.proc = subprocess.Popen(
            [redis_server_binary(), "--port", "0", "--unixsocket", str(self.sock),
             "--save", "", "--appendonly", "no", "--dir", str(self.folder), *self.extra_args],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if redis.Redis.from_url(self.url).ping():
                    return self
            except redis.RedisError:
                time.sleep(0.02)
        raise RuntimeError("redis-server did not start")

    def kill(self) -> None:
        """SIGKILL: everything in memory is gone."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=10)
            self.proc = None

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None
