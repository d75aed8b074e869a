"""Promises 2 and 4 under faults: real processes, killed and restarted mid-round.

Each test starts its own processes on loopback (gunicorn with 3 workers, a
private redis-server, and for the database fault a private PostgreSQL
cluster), runs bounded voters (tests/support/faults.py: Load) plus a prober
of organizer/voter reads, injects one fault, recovers, and then:

* every 2xx ballot is in SQL (must be 0 missing); ballots in SQL without a 2xx
  are allowed and counted;
* while the dependency was down, no client got a 500: only 503
  service_unavailable (or tally_rebuilding), 4xx refusals, or, for a killed
  worker, no HTTP answer at all;
* the service recovers by itself (ballots are accepted again);
* close either succeeds with counts equal to SQL, or refuses with
  tally_mismatch, in which case `pingyi tally rebuild` makes them equal and a
  second close succeeds.

A table per fault is printed (run with -s to see it). Long part: `-m faults`.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask

from server.core.db import db
from server.roundbase.reads import get_round
from tests.conftest import _reset_sql, make_app
from tests.factories import make_round, organizer, valid_answers
from tests.support import pgproc
from tests.support.faults import (
    Attempt,
    Gunicorn,
    Load,
    audit,
    bad_answers,
    live_vs_sql,
    table,
)
from tests.support.redisproc import RedisProcess

pytestmark = [pytest.mark.faults, pytest.mark.single_redis]

FAULT_AT_S = 2.0  # the fault comes this far into the load
DOWN_S = 2.0      # and lasts this long (then the recovery, however long it takes)
AFTER_S = 4.0     # voters go on this long after the recovery
LOAD_CAP_S = 90.0  # and never longer than this in all
TOKENS = 3600


@pytest.fixture
def redis_proc(tmp_path: Path) -> Iterator[RedisProcess]:
    proc = RedisProcess(tmp_path / "redis").start()
    yield proc
    proc.stop()


def fault_app(tmp_path: Path, redis_url: str, database_url: str | None = None) -> Flask:
    extra = {"DATABASE_URL": database_url} if database_url else {}
    app = make_app(tmp_path, redis_url, **extra)
    _reset_sql(app)
    return app


def dispose(app: Flask) -> None:
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


class Prober:
    """Reads while the fault happens: turnout (organizer, API key), the ballot form
    for an unused token, the health check. Records (path, status, code) in time."""

    def __init__(self, base: str, round_id: int, key: str, token: str) -> None:
        self.calls: list[tuple[float, str, int | None, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(base, round_id, key, token),
                                        daemon=True)

    def _run(self, base: str, round_id: int, key: str, token: str) -> None:
        s = requests.Session()
        reqs = [
            ("turnout", "GET", f"/api/v1/rounds/{round_id}/turnout", None),
            ("ballot-form", "POST", "/api/v1/ballot-form", {"token": token}),
            ("healthz", "GET", "/healthz", None),
        ]
        while not self._stop.is_set():
            for name, method, path, body in reqs:
                t0 = time.monotonic()
                try:
                    res = s.request(method, base + path, json=body, timeout=10,
                                    headers={"Authorization": f"Bearer {key}"})
                    status: int | None = res.status_code
                    try:
                        code = ((res.json() or {}).get("error") or {}).get("code", "")
                    except ValueError:
                        code = "(not json)"
                except requests.RequestException as exc:
                    status, code = None, type(exc).__name__
                    s = requests.Session()
                self.calls.append((t0, name, status, code))
            time.sleep(0.05)

    def __enter__(self) -> Prober:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(15)

    def labels(self, start: float, end: float) -> Counter[str]:
        return Counter(f"{n} {s if s is not None else 'no answer'} {c}".strip()
                       for t, n, s, c in self.calls if start <= t <= end)

    def bad(self) -> list[str]:
        """5xx other than a 503 with a clear code (the health check's 503 is its answer)."""
        return [f"{n} {s} {c}" for _, n, s, c in self.calls
                if s is not None and s >= 500 and not (
                    s == 503 and (c == "service_unavailable" or n == "healthz"))]


def run_fault(app: Flask, g: Gunicorn, name: str, fault: Callable[[], None],
              recover: Callable[[], None]) -> dict[str, Any]:
    with app.app_context():
        _, key = organizer()
        rnd, tokens = make_round("appraisal", tokens_per_category=TOKENS // 3)
        rid = rnd.id
        flat = [t for ts in tokens.values() for t in ts]
        variants = [valid_answers(rnd, variant=i) for i in range(7)]
        db.session.remove()
    random.shuffle(flat)
    items = [(t, variants[i % 7]) for i, t in enumerate(flat[:-1])]
    auth = {"Authorization": f"Bearer {key}"}

    with Prober(g.base, rid, key, flat[-1]) as prober:
        load = Load(g.base, items, threads=8, duration=LOAD_CAP_S, pause=0.03).start()
        time.sleep(FAULT_AT_S)
        t_down = time.monotonic()
        fault()
        time.sleep(DOWN_S)
        t_restart = time.monotonic()
        recover()
        t_up = time.monotonic()
        time.sleep(AFTER_S)
        attempts = load.stop()
    with app.app_context():
        db.engine.dispose()  # this process's pooled connections died with a database restart
    during = [a for a in attempts if t_down <= a.t0 <= t_up]
    after = [a for a in attempts if a.t0 > t_up + 1.0]

    result = audit(app, rid, attempts)
    diff_before = live_vs_sql(app, rid)
    res = requests.post(f"{g.base}/api/v1/rounds/{rid}/close", headers=auth, timeout=60)
    first_close = f"{res.status_code} {res.json().get('status') or res.json()['error']['code']}"
    rebuilt = ""
    if res.status_code != 200:
        assert res.status_code == 409 and res.json()["error"]["code"] == "tally_mismatch", res.text
        assert diff_before, "close refused although live tally and SQL agreed"
        cli = app.test_cli_runner().invoke(args=["tally", "rebuild", str(rid)])
        assert cli.exit_code == 0, cli.output
        rebuilt = cli.output.strip()
        assert live_vs_sql(app, rid) == []
        res = requests.post(f"{g.base}/api/v1/rounds/{rid}/close", headers=auth, timeout=60)
    assert res.status_code == 200 and res.json()["status"] == "closed", res.text
    with app.app_context():
        frozen = get_round(rid).result or {}
        db.session.remove()
    final = audit(app, rid, attempts)

    rows = [
        ("requests / tokens voted", f"{len(attempts)} / {len(final.sql_receipts)}"),
        ("2xx whose ballot is missing", len(final.missing)),
        ("ballots in SQL without a 2xx", final.unacked),
        ("answers while down", dict(Counter(a.label for a in during))),
        ("reads while down", dict(prober.labels(t_down, t_up))),
        ("answers after recovery (+1 s)", dict(Counter(a.label for a in after))),
        ("all answers", dict(result.answers)),
        ("5xx other than 503", len(bad_answers(attempts)) + len(prober.bad())),
        ("live == SQL before rebuild", "yes" if not diff_before else f"no: {diff_before[:2]}"),
        ("first close", first_close),
        ("tally rebuild", rebuilt or "not needed"),
        ("frozen result == SQL ballots", f"{frozen.get('ballots')} == {len(final.sql_receipts)}"),
    ]
    table(name, rows)
    assert not final.missing, f"{len(final.missing)} acknowledged ballots are not in SQL"
    assert not final.double_acks
    assert bad_answers(attempts) == [] and prober.bad() == [], (
        bad_answers(attempts), prober.bad())
    assert any(a.status == 201 for a in after), "no ballot accepted after recovery"
    assert frozen["ballots"] == len(final.sql_receipts)
    assert final.sql_spent == 0  # close forgets which slips were used
    # requests sent well after the fault and answered before the restart began: none accepted
    down_only = [a for a in attempts if t_down + 0.5 < a.t0 and a.t1 < t_restart]
    return {"during": during, "down_only": down_only, "attempts": attempts, "audit": final,
            "diff_before": diff_before}


def _server_log_problems(log: Path) -> list[str]:
    text = log.read_text(errors="replace") if log.exists() else ""
    # the app's "unhandled error" / "database error" (500s), and gunicorn's own
    # "Error handling request" (an exception that escaped the app, e.g. at teardown)
    return [line for line in text.splitlines() if "unhandled error" in line
            or "database error" in line or "Error handling request" in line]


def test_kill_9_gunicorn_worker_mid_load(tmp_path, redis_proc):
    app = fault_app(tmp_path, redis_proc.url)
    log = tmp_path / "gunicorn.log"
    with app.app_context():
        db_url = db.engine.url.render_as_string(hide_password=False)
    killed: list[int] = []
    with Gunicorn(db_url, redis_proc.url, workers=3, threads=8, log_path=log) as g:

        def fault() -> None:
            # three kills 0.7 s apart: more chances to catch a worker between its
            # SQL commit and its answer
            for i in range(3):
                killed.append(g.kill_worker())
                if i < 2:
                    time.sleep(0.7)

        def recover() -> None:
            g.wait_ready(30, workers=3)

        out = run_fault(app, g, "kill -9 of gunicorn workers mid-load (3 kills)", fault,
                        recover)
    during: list[Attempt] = out["during"]
    print(f"  killed worker pid {killed}; no-answer during the kill: "
          f"{sum(a.status is None for a in during)}")
    assert _server_log_problems(log) == []
    dispose(app)


def test_redis_killed_mid_round_and_restarted_empty(tmp_path, redis_proc):
    app = fault_app(tmp_path, redis_proc.url)
    log = tmp_path / "gunicorn.log"
    with app.app_context():
        db_url = db.engine.url.render_as_string(hide_password=False)
    with Gunicorn(db_url, redis_proc.url, workers=3, threads=8, log_path=log) as g:
        out = run_fault(app, g, "Redis killed (-9) mid-round, restarted empty",
                        redis_proc.kill, redis_proc.start)
    down_only: list[Attempt] = out["down_only"]
    # while Redis was down nothing could be claimed: no ballot accepted, 503s instead
    assert down_only and not any(a.status == 201 for a in down_only), \
        Counter(a.label for a in down_only)
    assert any(a.status == 503 for a in down_only)
    # the lazy rebuild healed the live tally without any command
    assert out["diff_before"] == [], out["diff_before"]
    assert _server_log_problems(log) == []
    dispose(app)


@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_postgres_stopped_mid_round_and_restarted(tmp_path, redis_proc, mode):
    reason = pgproc.unavailable()
    if reason:
        pytest.skip(reason)
    pg = pgproc.PostgresProcess()
    try:
        app = fault_app(tmp_path, redis_proc.url, pg.url)
        log = tmp_path / "gunicorn.log"
        with Gunicorn(pg.url, redis_proc.url, workers=3, threads=8, log_path=log) as g:
            out = run_fault(app, g, f"PostgreSQL stopped (-m {mode}) mid-round, restarted",
                            lambda: pg.stop(mode), pg.start)
        down_only: list[Attempt] = out["down_only"]
        # while the database was down, no ballot could be acknowledged: 503s instead
        assert down_only and not any(a.status == 201 for a in down_only), \
            Counter(a.label for a in down_only)
        assert any(a.status == 503 for a in down_only)
        problems = _server_log_problems(log)
        assert problems == [], problems[:5]
        dispose(app)
    finally:
        pg.destroy()
