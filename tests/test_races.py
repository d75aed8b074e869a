"""Promises 1, 2 and 4 under races, over real HTTP against gunicorn (3 worker processes).

* same token, 50 at once, 100 trials: exactly one accepted each time (long part;
  tests/test_concurrency.py keeps 10 trials in the quick part);
* close racing 200 in-flight ballots: every 2xx ballot is in the frozen result,
  no ballot is in SQL without a 2xx, nothing is accepted after the close answered;
* open/close/publish fired concurrently from gunicorn workers, threads of this
  process and (long part) `pingyi` CLI processes: one consistent final state,
  status never goes back, the result is frozen once, one audit entry per change.

Long parts carry `@pytest.mark.faults` (run with `pytest -m faults` or RUN_FAULTS=1).
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from flask import Flask
from sqlalchemy import text

from server.core.db import db
from server.roundbase.models import STATUSES
from server.roundbase.reads import get_round
from server.rounds.operations import close_round, open_round, publish_round
from server.voting import livetally
from tests.factories import make_round, organizer, valid_answers
from tests.support.faults import Attempt, Gunicorn, audit, submit, table
from tests.support.gunicorn import ROOT

RANK = {s: i for i, s in enumerate(STATUSES)}  # draft < open < closing < closed < published


def _db_url(app: Flask) -> str:
    with app.app_context():
        return db.engine.url.render_as_string(hide_password=False)


def _round(app: Flask, n_tokens: int, open_it: bool = True) -> tuple[int, list[str], list[Any]]:
    with app.app_context():
        rnd, tokens = make_round("appraisal", open_it=open_it,
                                 tokens_per_category=-(-n_tokens // 3))
        flat = [t for ts in tokens.values() for t in ts]
        random.shuffle(flat)
        answers = [valid_answers(rnd, variant=i) for i in range(5)]
        rid = rnd.id
        db.session.remove()
    return rid, flat, [answers[i % 5] for i in range(len(flat))]


# ---- same token, 50 racers ------------------------------------------------------------------

RACERS = 50


def same_token_race(base: str, token: str, answers: Any) -> list[Attempt]:
    barrier = threading.Barrier(RACERS)
    out: list[Attempt] = []
    lock = threading.Lock()

    def fire() -> None:
        s = requests.Session()
        barrier.wait()
        a = submit(s, base, token, answers)
        with lock:
            out.append(a)

    threads = [threading.Thread(target=fire) for _ in range(RACERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return out


@pytest.mark.faults
def test_same_token_race_100_trials(app):
    trials = 100
    rid, flat, answers = _round(app, trials)
    exact, labels = 0, Counter()
    all_attempts: list[Attempt] = []
    with Gunicorn(_db_url(app), app.config["REDIS_URL"], workers=3, threads=20) as g:
        for token, ans in zip(flat[:trials], answers, strict=False):
            got = same_token_race(g.base, token, ans)
            all_attempts += got
            labels.update(a.label for a in got)
            exact += sum(a.status == 201 for a in got) == 1
    result = audit(app, rid, all_attempts)
    table("same-token race", [
        ("trials x racers", f"{trials} x {RACERS}"),
        ("trials with exactly 1 accepted", f"{exact}/{trials}"),
        ("answers", dict(labels)),
        ("ballots in SQL", len(result.sql_receipts)),
        ("2xx receipts missing from SQL", len(result.missing)),
    ])
    assert exact == trials
    assert set(labels) <= {"201", "409 token_spent", "409 token_in_use"}, labels
    assert not result.missing and not result.double_acks
    assert result.sql_receipts == set(result.acked.values())
    assert result.sql_spent == trials


# ---- close racing in-flight ballots -----------------------------------------------------------


@dataclass
class CloseRace:
    accepted: int
    refused: int
    after_close_accepted: int
    late_refused: int
    counted: int
    labels: Counter[str]


def close_race(app: Flask, base: str, auth: dict[str, str], n: int = 200, late: int = 20,
               spread: float = 1.0) -> CloseRace:
    """`n` voters fire over `spread` seconds; the close goes out once 20% have answered."""
    rid, flat, answers = _round(app, n + late)
    attempts: list[Attempt | None] = [None] * n
    answered = [0]
    lock = threading.Lock()
    trigger = threading.Event()
    start = threading.Barrier(n + 1)
    rng = random.Random()
    delays = [rng.uniform(0, spread) for _ in range(n)]

    def voter(i: int) -> None:
        s = requests.Session()
        start.wait()
        time.sleep(delays[i])
        a = submit(s, base, flat[i], answers[i])
        attempts[i] = a
        with lock:
            answered[0] += 1
            if answered[0] >= n * 0.2:
                trigger.set()

    threads = [threading.Thread(target=voter, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    start.wait()
    assert trigger.wait(60)
    t0 = time.monotonic()
    res = requests.post(f"{base}/api/v1/rounds/{rid}/close", headers=auth, timeout=60)
    t1 = time.monotonic()
    for t in threads:
        t.join(60)
    assert res.status_code == 200 and res.json()["status"] == "closed", res.text
    done = [a for a in attempts if a is not None]
    assert len(done) == n

    # a wave of fresh tokens after the close answered: all refused
    s = requests.Session()
    late_attempts = [submit(s, base, tok, ans)
                     for tok, ans in zip(flat[n:n + late], answers[n:n + late], strict=True)]
    result = audit(app, rid, done + late_attempts)
    with app.app_context():
        rnd = get_round(rid)
        frozen = rnd.result or {}
        live = livetally.read_turnout(rid)
        db.session.remove()

    labels = Counter(a.label for a in done)
    after = [a for a in done if a.status == 201 and a.t0 > t1]
    assert set(labels) <= {"201", "409 round_closed"}, labels
    assert [a.label for a in late_attempts] == ["409 round_closed"] * late
    # every 2xx is counted, and SQL holds no ballot without a 2xx
    assert not result.missing and result.unacked == 0 and not result.double_acks
    assert result.sql_receipts == set(result.acked.values())
    assert frozen["ballots"] == len(result.acked)
    assert result.sql_spent == 0  # close forgets which slips were used
    assert sum(live.values()) == frozen["ballots"]
    assert not after, f"{len(after)} ballots sent after the close answered were accepted"
    race_window = [a for a in done if a.t0 <= t1 and a.t1 >= t0]
    return CloseRace(accepted=labels["201"], refused=labels["409 round_closed"],
                     after_close_accepted=len(after), late_refused=late,
                     counted=frozen["ballots"], labels=Counter(a.label for a in race_window))


def _close_race_trials(app: Flask, trials: int, tries: int = 0) -> None:
    """`trials` races; then up to `tries` more until one refused a ballot (a run whose
    ballots all finished before the close tested nothing)."""
    with app.app_context():
        _, key = organizer()
    auth = {"Authorization": f"Bearer {key}"}
    runs: list[CloseRace] = []
    with Gunicorn(_db_url(app), app.config["REDIS_URL"], workers=3, threads=20) as g:
        for _ in range(trials):
            runs.append(close_race(app, g.base, auth))
        while tries and not any(r.refused for r in runs):
            runs.append(close_race(app, g.base, auth))
            tries -= 1
    table(f"close racing 200 in-flight ballots ({len(runs)} trial(s))", [
        ("accepted (2xx) per trial", [r.accepted for r in runs]),
        ("refused round_closed per trial", [r.refused for r in runs]),
        ("in flight during the close", [dict(r.labels) for r in runs]),
        ("2xx not counted in the frozen result", 0),
        ("ballots in SQL without a 2xx", 0),
        ("accepted after the close answered", sum(r.after_close_accepted for r in runs)),
        ("fresh tokens after close accepted", f"0/{sum(r.late_refused for r in runs)}"),
    ])
    # the close must really have raced ballots: some in, some out
    assert sum(r.accepted for r in runs) > 0 and sum(r.refused for r in runs) > 0


def test_close_racing_200_inflight_ballots(app):
    _close_race_trials(app, 1, tries=2)


@pytest.mark.faults
def test_close_racing_200_inflight_ballots_10_trials(app):
    _close_race_trials(app, 10)


# ---- lifecycle storm ----------------------------------------------------------------------------


@dataclass
class Call:
    round_id: int
    actor: str
    action: str
    t0: float
    t1: float
    status: int | None
    state: str          # the round's status in a 200 answer, else the error code
    closed_at: str | None = None
    published_at: str | None = None


ANSWERS_200 = {
    "open": {"open", "closing", "closed", "published"},
    "close": {"closed", "published"},
    "publish": {"published"},
}
ALLOWED_409 = {
    "open": {"round_already_closed"},
    "close": {"round_not_open"},
    "publish": {"round_not_closed"},
}


def _http_actor(base: str, auth: dict[str, str], rid: int, actions: list[str],
                calls: list[Call], lock: threading.Lock) -> None:
    s = requests.Session()
    for i, action in enumerate(actions):
        time.sleep(random.uniform(0.05, 0.3) if i == 1 else random.uniform(0, 0.1))
        t0 = time.monotonic()
        try:
            res = s.post(f"{base}/api/v1/rounds/{rid}/{action}", headers=auth, timeout=60)
            body = res.json()
            status: int | None = res.status_code
        except (requests.RequestException, ValueError) as exc:
            body, status = {"error": {"code": type(exc).__name__}}, None
        state = body.get("status") or (body.get("error") or {}).get("code", "?")
        with lock:
            calls.append(Call(rid, "http", action, t0, time.monotonic(), status, state,
                              body.get("closed_at"), body.get("published_at")))


def _thread_actor(app: Flask, rid: int, actions: list[str], calls: list[Call],
                  lock: threading.Lock) -> None:
    from server.core.errors import ApiError

    ops = {"open": open_round, "close": close_round, "publish": publish_round}
    for i, action in enumerate(actions):
        time.sleep(random.uniform(0.05, 0.3) if i == 1 else random.uniform(0, 0.1))
        t0 = time.monotonic()
        with app.app_context():
            try:
                rnd = ops[action](get_round(rid))
                status, state = 200, rnd.status
                closed = rnd.closed_at.isoformat() if rnd.closed_at else None
                published = rnd.published_at.isoformat() if rnd.published_at else None
            except ApiError as err:
                db.session.rollback()
                status, state, closed, published = err.status, err.code, None, None
            except Exception as exc:  # noqa: BLE001 - recorded and asserted on below
                db.session.rollback()
                status, state, closed, published = 500, type(exc).__name__, None, None
            finally:
                db.session.remove()
        with lock:
            calls.append(Call(rid, "thread", action, t0, time.monotonic(), status, state,
                              closed, published))


def _cli_actor(env: dict[str, str], rid: int, actions: list[str], calls: list[Call],
               lock: threading.Lock) -> None:
    for action in actions:
        t0 = time.monotonic()
        res = subprocess.run([sys.executable, "-c", "from server.cli import main; main()",
                              "round", action, str(rid)], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=120)
        out = (res.stdout + res.stderr).strip()
        if res.returncode == 0:
            status, state = 200, out.split(" is ", 1)[1].split(":")[0].split()[0]
        elif "Error: " in out and ":" in out.split("Error: ", 1)[1]:
            status, state = 409, out.split("Error: ", 1)[1].split(":")[0]
        else:
            status, state = 500, out[-300:]
        with lock:
            calls.append(Call(rid, "cli", action, t0, time.monotonic(), status, state))


def _voters(base: str, rid: int, items: list[tuple[str, Any]], until: float,
            attempts: list[Attempt], lock: threading.Lock) -> None:
    """Vote each token, retrying round_not_open until `until`."""
    s = requests.Session()
    todo = list(items)
    while todo and time.monotonic() < until:
        token, ans = todo.pop(0)
        a = submit(s, base, token, ans)
        with lock:
            attempts.append(a)
        if a.code == "round_not_open":
            todo.append((token, ans))
            time.sleep(0.02)


def lifecycle_storm(app: Flask, rounds: int, http_actors: int, thread_actors: int,
                    cli_actors: int, steps: int, voters: int) -> dict[str, Any]:
    with app.app_context():
        _, key = organizer()
    auth = {"Authorization": f"Bearer {key}"}
    made = [_round(app, voters, open_it=False) for _ in range(rounds)]
    calls: list[Call] = []
    attempts: list[Attempt] = []
    lock = threading.Lock()
    db_url = _db_url(app)
    env = {**os.environ, "DATABASE_URL": db_url, "REDIS_URL": app.config["REDIS_URL"],
           "SECRET_KEY": "test-secret", "LOG_LEVEL": "WARNING"}
    rng = random.Random()

    def plan(n: int = steps) -> list[str]:
        # open first (then a pause: voters get a window), then biased forward, repeated
        return ["open"] + [rng.choice(["open", "close", "close", "publish"])
                           for _ in range(n - 1)]

    with Gunicorn(db_url, app.config["REDIS_URL"], workers=3, threads=12) as g:
        threads = []
        for rid, flat, answers in made:
            threads += [threading.Thread(target=_http_actor,
                                         args=(g.base, auth, rid, plan(), calls, lock))
                        for _ in range(http_actors)]
            threads += [threading.Thread(target=_thread_actor, args=(app, rid, plan(), calls, lock))
                        for _ in range(thread_actors)]
            threads += [threading.Thread(target=_cli_actor,
                                         args=(env, rid, plan(3), calls, lock))
                        for _ in range(cli_actors)]
            threads.append(threading.Thread(target=_voters, args=(
                g.base, rid, list(zip(flat, answers, strict=True)), time.monotonic() + 20,
                attempts, lock)))
        random.shuffle(threads)
        for t in threads:
            t.start()
        for t in threads:
            t.join(180)
        assert not any(t.is_alive() for t in threads)

    problems: list[str] = []
    finals: Counter[str] = Counter()
    mirror: Counter[str] = Counter()
    for rid, _, _ in made:
        problems += _check_round(app, rid, [c for c in calls if c.round_id == rid], attempts,
                                 mirror)
        with app.app_context():
            finals[get_round(rid).status] += 1
            db.session.remove()
    codes = Counter(f"{c.action} {c.status} {c.state}" for c in calls)
    table(f"lifecycle storm: {rounds} rounds", [
        ("actors per round", f"{http_actors} http (3 gunicorn workers), {thread_actors} threads, "
                             f"{cli_actors} CLI processes; {steps} actions each"),
        ("lifecycle calls", len(calls)),
        ("answers", dict(sorted(codes.items()))),
        ("ballots: answers", dict(Counter(a.label for a in attempts))),
        ("final states", dict(finals)),
        ("Redis status mirror vs SQL", dict(mirror)),
        ("inconsistencies", len(problems)),
    ])
    assert not problems, "\n".join(problems[:30])
    return {"calls": len(calls), "finals": finals}


def _check_round(app: Flask, rid: int, calls: list[Call], attempts: list[Attempt],
                 mirror: Counter[str]) -> list[str]:
    p: list[str] = []
    for c in calls:
        if c.status == 200:
            # open may answer a later status (a close raced it after it opened the round)
            if c.state not in ANSWERS_200[c.action]:
                p.append(f"round {rid}: {c.actor} {c.action} answered status {c.state}")
        elif c.status == 409:
            if c.state not in ALLOWED_409[c.action]:
                p.append(f"round {rid}: {c.actor} {c.action} refused with {c.state}")
        else:
            p.append(f"round {rid}: {c.actor} {c.action} got {c.status} {c.state}")
    # what a call saw, as a lower bound on the status at that moment
    def seen(c: Call) -> int:
        if c.status == 200:
            return RANK.get(c.state, 0)
        return {"round_already_closed": RANK["closing"], "round_not_closed": 0,
                "round_not_open": 0}.get(c.state, 0)

    def upper(c: Call) -> int:
        """An upper bound on the status when the call started (a refusal says 'not yet')."""
        if c.status == 200:
            return RANK.get(c.state, RANK["published"])
        if c.state == "round_not_open":
            return RANK["draft"]
        if c.state == "round_not_closed":
            return RANK["closing"]
        return RANK["published"]

    ordered = sorted(calls, key=lambda c: c.t0)
    for a in ordered:
        for b in ordered:
            if b.t0 > a.t1 and upper(b) < seen(a):
                p.append(f"round {rid}: went back: {a.actor} {a.action} saw {a.state}, then "
                         f"{b.actor} {b.action} (started later) saw {b.state}")
    closed_ats = {c.closed_at.removesuffix("+00:00") for c in calls if c.closed_at}
    published_ats = {c.published_at.removesuffix("+00:00") for c in calls if c.published_at}
    if len(closed_ats) > 1 or len(published_ats) > 1:
        p.append(f"round {rid}: closed_at {closed_ats} / published_at {published_ats} changed")

    with app.app_context():
        rnd = get_round(rid)
        status, result = rnd.status, rnd.result
        entries = db.session.execute(text(
            "SELECT id, action FROM audit_log WHERE target = :t ORDER BY id"),
            {"t": f"round:{rid}"}).all()
        has_state = livetally.has_state(rid)
        redis_status = livetally.get_redis().hget(livetally.keys(rid).state, "status")
        live_turnout = sum(livetally.read_turnout(rid).values()) if has_state else None
        db.session.remove()
    mine = [a for a in attempts if a.token.startswith(f"{rid}.")]
    result_audit = audit(app, rid, mine)
    if status not in STATUSES or status == "closing":
        p.append(f"round {rid}: final status {status}")
    if any(seen(c) > RANK[status] for c in calls):
        p.append(f"round {rid}: final status {status} is behind what a call saw")
    actions = Counter(a for _, a in entries)
    want = {"round.open": int(RANK[status] >= RANK["open"]),
            "round.close": int(RANK[status] >= RANK["closed"]),
            "round.publish": int(status == "published"),
            "round.close_refused": 0, "round.publish_refused": 0}
    for action, n in want.items():
        if actions[action] != n:
            p.append(f"round {rid}: {actions[action]} audit entries {action}, want {n} "
                     f"(status {status})")
    order = [a for _, a in entries if a in ("round.open", "round.close", "round.publish")]
    if order != sorted(order, key=["round.open", "round.close", "round.publish"].index):
        p.append(f"round {rid}: audit order {order}")
    if result_audit.missing or result_audit.double_acks:
        p.append(f"round {rid}: {len(result_audit.missing)} 2xx ballots missing from SQL")
    if result_audit.sql_receipts != set(result_audit.acked.values()):
        p.append(f"round {rid}: SQL holds {len(result_audit.sql_receipts)} ballots, "
                 f"{len(result_audit.acked)} were acknowledged")
    if RANK[status] >= RANK["closed"]:
        if result is None or result["ballots"] != len(result_audit.sql_receipts):
            p.append(f"round {rid}: frozen result {result and result['ballots']} != SQL "
                     f"{len(result_audit.sql_receipts)}")
    elif result is not None:
        p.append(f"round {rid}: a result before close")
    # The Redis mirror may lag (SQL decides every ballot), but it must never let
    # ballots through to SQL for a round that is not open, nor refuse an open one.
    mirror["equal" if redis_status == status else f"{redis_status} for {status}"] += 1
    if has_state and (redis_status == "open") != (status == "open"):
        p.append(f"round {rid}: Redis says {redis_status!r}, SQL {status}")
    if has_state and live_turnout != len(result_audit.sql_receipts):
        p.append(f"round {rid}: Redis turnout {live_turnout} != SQL "
                 f"{len(result_audit.sql_receipts)}")
    late = [a for a in mine if a.status == 201 and RANK[status] >= RANK["closed"]
            and any(c.status == 200 and RANK.get(c.state, 0) >= RANK["closed"]
                    and c.t1 < a.t0 for c in calls)]
    if late:
        p.append(f"round {rid}: {len(late)} ballots accepted after a close had answered")
    json.dumps(result)  # the frozen result is plain JSON
    return p


def test_lifecycle_storm(app):
    lifecycle_storm(app, rounds=3, http_actors=4, thread_actors=2, cli_actors=0, steps=6,
                    voters=12)


@pytest.mark.faults
def test_lifecycle_storm_long(app):
    lifecycle_storm(app, rounds=12, http_actors=5, thread_actors=2, cli_actors=1, steps=8,
                    voters=15)
