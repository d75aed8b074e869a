"""Tools for the race and fault tests: a gunicorn whose workers can be killed, a
bounded load generator of voters over HTTP, a Redis MONITOR recorder, and the
audit that compares what clients were told with what SQL holds.

Everything runs on loopback, is bounded in time, and stops by itself.
"""

from __future__ import annotations

import collections
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
import requests
from flask import Flask
from sqlalchemy import text

from server.core.db import db
from server.roundbase.reads import get_round
from server.voting import livetally
from server.voting.recount import differences, recount
from tests.support.gunicorn import ROOT, free_port

# ---- gunicorn ---------------------------------------------------------------------------


class Gunicorn:
    """The production server (config/gunicorn.conf.py) on a loopback port, as an object
    that knows its master's pid, so a test can kill -9 a worker."""

    def __init__(self, database_url: str, redis_url: str, workers: int = 3, threads: int = 8,
                 log_path: Path | None = None, access_log: Path | None = None,
                 extra_env: dict[str, str] | None = None, app_module: str | None = None) -> None:
        self.port = free_port()
        self.app_module = app_module  # instead of config's wsgi_app (server.asgi:app)
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url,
                    "SECRET_KEY": "test-secret", "PINGYI_BIND": f"127.0.0.1:{self.port}",
                    "PINGYI_WORKERS": str(workers), "PINGYI_THREADS": str(threads),
                    "PINGYI_LOG_LEVEL": "info",
                    "BALLOT_MIX_K": "1",  # acknowledged at once, as make_app's (conftest.py)
                    **(extra_env or {})}
        if access_log is not None:
            self.env["PINGYI_ACCESS_LOG"] = str(access_log)
        self.log_path = log_path
        self.workers = workers
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Gunicorn:
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "config" / "gunicorn.conf.py"),
             *([self.app_module] if self.app_module else [])],
            cwd=ROOT, env=self.env, stdout=log, stderr=log,
        )
        if self.log_path:
            log.close()  # type: ignore[union-attr]
        try:
            self.wait_ready(30)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def wait_ready(self, timeout: float, workers: int | None = None) -> None:
        """Until the server answers and (optionally) has `workers` live workers."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                ok = requests.get(f"{self.base}/api/v1/openapi.json", timeout=1).status_code == 200
            except requests.RequestException:
                ok = False
            if ok and (workers is None or len(self.worker_pids()) >= workers):
                return
            if self.proc is None or self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("gunicorn did not start")
            time.sleep(0.1)

    def worker_pids(self) -> list[int]:
        """Live worker processes (children of the master), from /proc."""
        assert self.proc is not None
        out = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as f:
                    stat = f.read()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if int(fields[1]) == self.proc.pid and fields[0] not in ("Z", "X"):
                out.append(int(entry))
        return sorted(out)

    def kill_worker(self) -> int:
        """SIGKILL one worker (the master forks a new one); returns its pid."""
        pid = self.worker_pids()[0]
        os.kill(pid, signal.SIGKILL)
        return pid

    def __exit__(self, *exc: object) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None


# ---- voters -----------------------------------------------------------------------------


@dataclass
class Attempt:
    """One HTTP submission and what came back (status None: no HTTP answer at all)."""

    token: str
    t0: float
    t1: float
    status: int | None
    code: str
    receipt: str | None = None

    @property
    def label(self) -> str:
        return f"{self.status if self.status is not None else 'no answer'} {self.code}".strip()


def submit(session: requests.Session, base: str, token: str, answers: Any,
           timeout: float = 30) -> Attempt:
    t0 = time.monotonic()
    try:
        res = session.post(f"{base}/api/v1/ballots", json={"token": token, "answers": answers},
                           timeout=timeout)
    except requests.RequestException as exc:
        return Attempt(token, t0, time.monotonic(), None, type(exc).__name__)
    t1 = time.monotonic()
    try:
        body = res.json()
    except ValueError:
        body = {}
    if res.status_code == 201:
        return Attempt(token, t0, t1, 201, "", body.get("receipt"))
    code = (body.get("error") or {}).get("code", "") if isinstance(body, dict) else ""
    return Attempt(token, t0, t1, res.status_code, code or "(no error body)")


RETRY_CODES = {"service_unavailable", "tally_rebuilding", "token_in_use"}


class Load:
    """Bounded voters: `threads` threads take (token, answers) from a queue and submit.

    A submission without a definitive answer (no HTTP answer, 503, token_in_use)
    puts its token back for a later retry, as a voter would tap again. Stops
    after `duration` seconds or `max_requests` submissions, whichever first.
    """

    def __init__(self, base: str, items: Iterable[tuple[str, Any]], threads: int = 12,
                 duration: float = 6.0, max_requests: int = 5000, pause: float = 0.02,
                 timeout: float = 15) -> None:
        self.base = base
        self.todo: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        for item in items:
            self.todo.put(item)
        self.threads = threads
        self.duration = duration
        self.max_requests = max_requests
        self.pause = pause
        self.timeout = timeout
        self.attempts: list[Attempt] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._workers: list[threading.Thread] = []
        self.started = 0.0

    def start(self) -> Load:
        self.started = time.monotonic()
        for i in range(self.threads):
            t = threading.Thread(target=self._run, name=f"voter-{i}", daemon=True)
            t.start()
            self._workers.append(t)
        return self

    def _run(self) -> None:
        session = requests.Session()
        deadline = self.started + self.duration
        while not self._stop.is_set() and time.monotonic() < deadline:
            try:
                token, answers = self.todo.get_nowait()
            except queue.Empty:
                return
            with self._lock:
                if len(self.attempts) >= self.max_requests:
                    return
            a = submit(session, self.base, token, answers, self.timeout)
            with self._lock:
                self.attempts.append(a)
            if a.status is None or a.code in RETRY_CODES:
                self.todo.put((token, answers))
                session.close()
                session = requests.Session()
            time.sleep(self.pause)

    def stop(self) -> list[Attempt]:
        """Stop now (threads finish their request in flight) and return the attempts."""
        self._stop.set()
        return self.join()

    def join(self) -> list[Attempt]:
        for t in self._workers:
            t.join(max(0.0, self.started + self.duration - time.monotonic()) + self.timeout + 5)
        self._stop.set()
        return self.attempts


# ---- Redis MONITOR ------------------------------------------------------------------------


class RedisMonitor:
    """Every command the Redis server runs while this is on, as text (MONITOR)."""

    def __init__(self, url: str) -> None:
        self.client = redis.Redis.from_url(url)
        self.lines: list[str] = []
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._monitor: Any = None

    def __enter__(self) -> RedisMonitor:
        self._thread = threading.Thread(target=self._run, name="redis-monitor", daemon=True)
        self._thread.start()
        assert self._ready.wait(10), "MONITOR did not start"
        return self

    def _run(self) -> None:
        with self.client.monitor() as m:
            self._monitor = m
            self._ready.set()
            try:
                for cmd in m.listen():
                    self.lines.append(str(cmd.get("command", "")))
                    if self._stop.is_set():
                        return
            except (redis.RedisError, OSError, ValueError, AttributeError):
                return

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self.client.ping()  # one more command wakes the listener up
        if self._thread:
            self._thread.join(5)
        try:
            self._monitor.connection.disconnect()
        except Exception:  # noqa: BLE001 - best effort
            pass
        self.client.close()


# ---- the audit ---------------------------------------------------------------------------


@dataclass
class Audit:
    """What clients were told against what SQL holds, for one round."""

    acked: dict[str, str]                      # token -> receipt of its 201
    sql_receipts: set[str]
    sql_spent: int
    missing: list[str]                         # 2xx receipts not in SQL: must be empty
    unacked: int                               # ballots in SQL with no 2xx: allowed
    double_acks: list[str]                     # tokens with two 201s: must be empty
    answers: collections.Counter[str] = field(default_factory=collections.Counter)


def sql_state(app: Flask, round_id: int) -> tuple[set[str], int]:
    with app.app_context():
        receipts = set(db.session.execute(
            text("SELECT receipt FROM ballots WHERE round_id = :r"), {"r": round_id}).scalars())
        spent = db.session.execute(text("SELECT count(*) FROM spent_tokens WHERE round_id = :r"),
                                   {"r": round_id}).scalar_one()
        db.session.remove()
    return receipts, int(spent)


def audit(app: Flask, round_id: int, attempts: Iterable[Attempt]) -> Audit:
    acked: dict[str, str] = {}
    double: list[str] = []
    answers: collections.Counter[str] = collections.Counter()
    for a in attempts:
        answers[a.label] += 1
        if a.status == 201:
            if a.token in acked:
                double.append(a.token)
            acked[a.token] = a.receipt or ""
    receipts, spent = sql_state(app, round_id)
    missing = [r for r in acked.values() if r not in receipts]
    unacked = len(receipts - set(acked.values()))
    return Audit(acked, receipts, spent, missing, unacked, double, answers)


def live_vs_sql(app: Flask, round_id: int) -> list[str]:
    """Differences between the Redis live tally and the SQL recount (empty: they agree)."""
    with app.app_context():
        rnd = get_round(round_id)
        sql = recount(round_id, rnd.form)
        live = livetally.read(round_id, [c.id for c in rnd.categories])
        db.session.remove()
    return differences(sql, live)


def bad_answers(attempts: Iterable[Attempt]) -> list[str]:
    """Answers no client may ever get: a 5xx other than 503 service_unavailable /
    tally_rebuilding, or a 503 without the error body."""
    bad = []
    for a in attempts:
        if a.status is not None and a.status >= 500 and not (
                a.status == 503 and a.code in ("service_unavailable", "tally_rebuilding")):
            bad.append(a.label)
    return bad


def table(title: str, rows: list[tuple[str, Any]]) -> str:
    width = max(len(k) for k, _ in rows)
    lines = [f"== {title} =="] + [f"  {k.ljust(width)}  {v}" for k, v in rows]
    out = "\n".join(lines)
    print("\n" + out, flush=True)
    return out
