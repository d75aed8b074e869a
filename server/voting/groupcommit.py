"""Group commit: many ballots, one SQL transaction, one fsync.

Request threads hand a checked ballot to this process's committer thread and
wait. The committer takes whatever has queued up while the previous commit
ran and:

1. holds those tokens in Redis (one script call per round: open? issued?
   spent? already in flight? the client's guessing limit), which also refuses
   replays and unknown tokens at once, without touching SQL;
2. lets the held ballots wait until their round's batch is mixed enough
   (voting/mixing.py: `BALLOT_MIX_K` tokens, or `BALLOT_MIX_WAIT_S`, or the
   round stops taking ballots), then records each such batch, shuffled, in one
   SQL transaction and commits;
3. counts the committed ballots and releases the other holds in Redis (one
   script call per round);

and only then wakes the request threads. So a 2xx still means "durably
committed" (promise 2), and a ballot costs no Redis or SQL round trip of its
own: both are shared by the batch.
"""

from __future__ import annotations

import functools
import logging
import os
import queue
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Protocol

import redis
from flask import Flask
from sqlalchemy import Connection, Engine, text

from server.core.db import db
from server.core.redis import get_redis, sync
from server.voting import livetally
from server.voting.comments import insert_comments
from server.voting.mixing import Mixer, shuffled

log = logging.getLogger(__name__)

MAX_BATCH = 128
# While ballots wait for their batch: how often the committer asks Redis whether
# their rounds still take ballots (a close or rebuild drains them at once).
STOP_POLL_S = 0.05
BENCH_FLUSH_S = 0.2  # with BENCH_ENDPOINTS: how often batch sizes go to Redis


class Outcome(Protocol):
    """Where the committer puts a ballot's outcome: a concurrent Future for a
    waiting thread (`GroupCommitter.submit`), or what voting/asgi.py awaits."""

    def done(self) -> bool: ...
    def set_result(self, result: str) -> None: ...
    def set_exception(self, exception: BaseException) -> None: ...


@dataclass
class Pending:
    """One checked ballot waiting for the committer, which resolves `future` with
    'ok', or why it was refused: 'busy', 'spent', 'unknown', 'limited', 'missing'
    (the round has no live state: rebuild it) or 'closed:<status>'."""

    round_id: int
    token_hash: str
    guess: tuple[str, int, int]  # the client's unknown-token limit (core/ratelimit.py)
    ballot_id: str
    receipt: str
    answers: str
    tally: str  # its tally fields packed (forms.answers.pack_fields), or its stored code
    future: Outcome
    comment: str | None = None  # stored apart from the ballot (voting/comments.py)
    category_id: int = 0  # from the token, set when the committer holds it
    legend: tuple[str, str] = ("", "")  # with a stored code: its form's keys (forms/codec.py)
    # A round scored per subject (voting/subject_scores.py): what is spent is this
    # marker of the token and the subject, not the token; `counter` is the subject's
    # count field, whose maximum is the category's turnout (livetally SETTLE_MANY).
    marker: str = ""
    counter: str = ""
    # A blind-signed token (voting/blind.py): its category, proven by its signature.
    # Its `tokens` row is written in the batch's transaction, before its spent row.
    admit_category: int = 0

    @property
    def spent_key(self) -> str:
        """What the spent-token row and the Redis spent set hold for this ballot."""
        return self.marker or self.token_hash


# ---- SQL ------------------------------------------------------------------------------

# psycopg placeholders with %b: the arrays travel in binary, so the JSON
# answers need no quoting (text-format array escaping cost more than the insert).
PG_BATCH = """
WITH input AS (
    SELECT * FROM unnest(%(hashes)b::text[], %(spent)b::text[], %(ids)b::text[],
                         %(receipts)b::text[], %(answers)b::text[], %(places)b::int[])
           AS i(token_hash, spent_key, ballot_id, receipt, answers, place)
), open_round AS (
    -- KEY SHARE on the round row: close() takes FOR UPDATE, so it waits for
    -- every batch that saw the round open, and later batches see it closed.
    SELECT id, rehearsal FROM rounds WHERE id = %(r)b AND status = 'open' FOR KEY SHARE
), spent AS (
    INSERT INTO spent_tokens (token_hash, round_id)
    SELECT i.spent_key, t.round_id
    FROM input i JOIN tokens t ON t.token_hash = i.token_hash AND t.round_id = %(r)b
    -- a rehearsal takes rehearsal tokens only, a real round real ones (rounds/rehearsal.py)
    JOIN open_round o ON o.rehearsal = t.rehearsal
    ON CONFLICT DO NOTHING
    RETURNING token_hash
), cast_ballots AS (
    INSERT INTO ballots (id, round_id, category_id, receipt, answers)
    SELECT i.ballot_id, t.round_id, t.category_id, i.receipt, i.answers
    FROM input i JOIN spent s ON s.token_hash = i.spent_key
    JOIN tokens t ON t.token_hash = i.token_hash
    ORDER BY i.place  -- an order of their own, not the spent tokens' (voting/mixing.py)
    RETURNING 1
)
SELECT token_hash FROM spent
"""

# A blind-signed token's row, with the round's rehearsal mark (as issuing writes it).
ADMIT_ROW = (
    "INSERT INTO tokens (token_hash, round_id, category_id, rehearsal) "
    "SELECT :h, :r, :c, rehearsal FROM rounds WHERE id = :r "
    "ON CONFLICT DO NOTHING"
)

SQLITE_SPENT = (
    "INSERT INTO spent_tokens (token_hash, round_id) "
    "SELECT :k, round_id FROM tokens WHERE token_hash = :h AND round_id = :r "
    "AND EXISTS (SELECT 1 FROM rounds WHERE id = :r AND status = 'open' "
    "AND rehearsal = tokens.rehearsal) "
    "ON CONFLICT DO NOTHING"
)
SQLITE_BALLOT = (
    "INSERT INTO ballots (id, round_id, category_id, receipt, answers) "
    "SELECT :id, round_id, category_id, :receipt, :answers FROM tokens WHERE token_hash = :h"
)


def _record_pg(conn: Connection, round_id: int, items: list[Pending]) -> set[str]:
    # The driver's own cursor, inside SQLAlchemy's transaction on this connection.
    with conn.connection.dbapi_connection.cursor() as cur:  # type: ignore[union-attr]
        cur.execute(PG_BATCH, {
            "r": round_id,
            "hashes": [p.token_hash for p in items],
            "spent": [p.spent_key for p in items],
            "ids": [p.ballot_id for p in items],
            "receipts": [p.receipt for p in items],
            "answers": [p.answers for p in items],
            "places": shuffled(list(range(len(items)))),
        })
        return {h for (h,) in cur.fetchall()}


def _record_sqlite(conn: Connection, round_id: int, items: list[Pending]) -> set[str]:
    accepted = [p for p in items
                if conn.execute(text(SQLITE_SPENT), {"h": p.token_hash, "k": p.spent_key,
                                                     "r": round_id}).rowcount == 1]
    for p in shuffled(accepted):  # an order of their own, not the spent tokens'
        conn.execute(text(SQLITE_BALLOT), {"id": p.ballot_id, "receipt": p.receipt,
                                           "answers": p.answers, "h": p.token_hash})
    return {p.spent_key for p in accepted}


def _why_refused(conn: Connection, round_id: int, hashes: list[str]) -> dict[str, str]:
    """For ballots the batch did not take (by spent key): 'closed:<status>', 'spent' or
    'unknown'."""
    status = conn.execute(text("SELECT status FROM rounds WHERE id = :r"),
                          {"r": round_id}).scalar() or "missing"
    if status != "open":
        return dict.fromkeys(hashes, f"closed:{status}")
    out: dict[str, str] = {}
    for h in hashes:
        spent = conn.execute(text("SELECT 1 FROM spent_tokens WHERE token_hash = :h"),
                             {"h": h}).first()
        out[h] = "spent" if spent else "unknown"
    return out


# ---- the committer thread --------------------------------------------------------------


class GroupCommitter:
    """One per app; starts its thread lazily in each (forked) worker process."""

    def __init__(self, app: Flask) -> None:
        self._app = app
        self._queue: queue.SimpleQueue[Pending] = queue.SimpleQueue()
        self._mixer: Mixer[Pending] = Mixer()
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._polled = self._flushed = 0.0
        # with BENCH_ENDPOINTS: per round, how many batches of each size were written
        self._sizes: defaultdict[int, Counter[int]] = defaultdict(Counter)

    def submit(self, item: Pending, timeout: float) -> str:
        """Queue a ballot; return 'ok' once committed, else the reason it was refused."""
        future = item.future
        if not isinstance(future, Future):
            raise TypeError("submit() waits on a concurrent Future")
        self.enqueue(item)
        return future.result(timeout=timeout)

    def enqueue(self, item: Pending) -> None:
        """Queue a ballot without waiting (voting/asgi.py awaits its outcome)."""
        self._ensure_thread()
        self._queue.put(item)

    def start(self) -> None:
        """Start this process's committer now rather than with its first ballot."""
        self._ensure_thread()

    def _ensure_thread(self) -> None:
        if self._pid == os.getpid():
            return
        with self._lock:  # a forked worker starts its own committer
            if self._pid != os.getpid():
                self._queue = queue.SimpleQueue()
                self._mixer = Mixer()
                threading.Thread(target=self._run, name="group-commit", daemon=True).start()
                self._pid = os.getpid()

    def _run(self) -> None:
        with self._app.app_context():
            engine = db.engine
            while True:
                self._one_batch(engine)

    def _one_batch(self, engine: Engine) -> None:
        config = self._app.config
        k, wait_s = config["BALLOT_MIX_K"], config["BALLOT_MIX_WAIT_S"]
        batch = self._take(wait_s)
        if batch:
            try:
                held = _hold(_by_round(batch), config["TOKEN_CLAIM_TTL_S"])
            except Exception as exc:  # noqa: BLE001 - hand every failure to the waiters
                _fail(batch, exc)
            else:
                now = time.monotonic()
                for round_id, items in held.items():
                    self._mixer.add(round_id, items, now)
        due = self._mixer.due(time.monotonic(), k, wait_s, self._stopped())
        if due:
            try:
                _write(engine, due)
            except Exception as exc:  # noqa: BLE001 - hand every failure to the waiters
                _fail([p for items in due.values() for p in items], exc)
            if config.get("BENCH_ENDPOINTS"):
                for round_id, items in due.items():
                    self._sizes[round_id][len(items)] += 1
        if self._sizes:
            self._flush_sizes()

    def _take(self, wait_s: float) -> list[Pending]:
        """What has queued up (at most what fits a batch with the waiting ballots);
        blocks until a ballot comes, a waiting ballot is due, or it is time to ask
        whether their rounds stopped (then possibly nothing)."""
        due = self._mixer.next_due(wait_s)
        timeout = None
        if due is not None:
            timeout = min(max(0.0, due - time.monotonic()), STOP_POLL_S)
        elif self._sizes:
            timeout = BENCH_FLUSH_S
        try:
            batch = [self._queue.get(timeout=timeout)]
        except queue.Empty:
            return []
        room = max(1, MAX_BATCH - self._mixer.waiting())
        while len(batch) < room:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return batch

    def _stopped(self) -> frozenset[int]:
        """Rounds with waiting ballots that no longer take ballots (Redis status not
        'open': a close or a rebuild waits for them), asked at most every STOP_POLL_S."""
        rounds = self._mixer.rounds()
        now = time.monotonic()
        if not rounds or now - self._polled < STOP_POLL_S:
            return frozenset()
        self._polled = now
        try:
            pipe = get_redis().pipeline(transaction=False)
            for round_id in rounds:
                pipe.hget(livetally.keys(round_id).state, "status")
            states = [s.decode() if isinstance(s, bytes) else s for s in pipe.execute()]
        except redis.RedisError:
            return frozenset()  # their wait ends anyway; the commit then says what failed
        return frozenset(r for r, status in zip(rounds, states, strict=True)
                         if status != "open")

    def _flush_sizes(self) -> None:
        """Add the written batches' sizes to Redis (`batch_sizes`), now and then."""
        now = time.monotonic()
        if now - self._flushed < BENCH_FLUSH_S:
            return
        self._flushed = now
        sizes, self._sizes = self._sizes, defaultdict(Counter)
        try:
            pipe = get_redis().pipeline(transaction=False)
            for round_id, counts in sizes.items():
                for size, n in counts.items():
                    pipe.hincrby(_sizes_key(round_id), str(size), n)
            pipe.execute()
        except redis.RedisError as exc:
            log.warning("batch sizes not recorded: %s", type(exc).__name__)


def _sizes_key(round_id: int) -> str:
    return f"{livetally.tag(round_id)}:bench:batches"


def batch_sizes(round_id: int) -> dict[int, int]:
    """With BENCH_ENDPOINTS: {batch size: how many batches} the round's ballots were
    written in, all processes (each adds its own within BENCH_FLUSH_S)."""
    sizes = sync(get_redis().hgetall(_sizes_key(round_id)))
    return {int(size): int(n) for size, n in sizes.items()}


def _by_round(batch: list[Pending]) -> dict[int, list[Pending]]:
    by_round: dict[int, list[Pending]] = defaultdict(list)
    for p in batch:
        by_round[p.round_id].append(p)
    return by_round


def _fail(items: list[Pending], exc: BaseException) -> None:
    for p in items:
        if not p.future.done():
            p.future.set_exception(exc)


def _write(engine: Engine, due: dict[int, list[Pending]]) -> None:
    """Record the due batches in one SQL transaction, settle them in Redis and
    answer their ballots."""
    try:
        outcomes = _record(engine, due)
    except BaseException:
        _settle(due, {})  # give the holds back before failing the batch
        raise
    _settle(due, outcomes)
    for items in due.values():
        for p in items:
            if not p.future.done():
                p.future.set_result(outcomes.get(id(p), "unknown"))


def _hold(by_round: dict[int, list[Pending]], hold_s: int) -> dict[int, list[Pending]]:
    """Hold the batch's tokens in Redis; answer the ballots that cannot be held.

    Returns the held ballots per round (their category set from the token). A
    Redis failure fails the whole batch (the request threads answer 503).
    """
    rounds = list(by_round)
    replies = _per_round([
        functools.partial(livetally.claim_many, round_id,
                          [livetally.Claim(p.token_hash, p.guess, p.marker)
                           for p in by_round[round_id]],
                          hold_s)
        for round_id in rounds])
    held: dict[int, list[Pending]] = {}
    for round_id, reply in zip(rounds, replies, strict=True):
        for p, answer in zip(by_round[round_id], reply, strict=True):
            answer = answer.decode() if isinstance(answer, bytes) else answer
            if answer.startswith("ok:"):
                p.category_id = int(answer[3:])
                held.setdefault(round_id, []).append(p)
            else:
                p.future.set_result(answer)
    return held


def _record(engine: Engine, held: dict[int, list[Pending]]) -> dict[int, str]:
    """One SQL transaction for the held ballots: {id(pending): outcome}."""
    outcomes: dict[int, str] = {}
    with engine.begin() as conn:
        record = _record_pg if conn.dialect.name == "postgresql" else _record_sqlite
        for round_id, items in held.items():
            admitted = [{"h": p.token_hash, "r": round_id, "c": p.admit_category}
                        for p in items if p.admit_category]
            if admitted:
                conn.execute(text(ADMIT_ROW), admitted)
            accepted = record(conn, round_id, items)
            insert_comments(conn, round_id, shuffled([p.comment for p in items
                                                      if p.comment and p.spent_key in accepted]))
            refused = [p.spent_key for p in items if p.spent_key not in accepted]
            why = _why_refused(conn, round_id, refused) if refused else {}
            for p in items:
                outcomes[id(p)] = "ok" if p.spent_key in accepted else why[p.spent_key]
    return outcomes


def _settle(held: dict[int, list[Pending]], outcomes: dict[int, str]) -> None:
    """Count the committed ballots in Redis and release every other hold.

    After the commit a Redis failure loses nothing (the ballots are in SQL and
    a rebuild counts them), so it is logged, not raised.
    """
    calls = []
    for round_id, items in held.items():
        settle = []
        for p in items:
            outcome = outcomes.get(id(p), "")
            mode = "c" if outcome == "ok" else "s" if outcome == "spent" else "r"
            settle.append(livetally.Settle(p.token_hash, mode, p.category_id,
                                           p.tally if mode == "c" else "", p.marker,
                                           p.counter))
        legend = next((p.legend for p in items if p.legend[0]), ("", ""))
        calls.append(functools.partial(livetally.settle_many, round_id, settle, legend=legend))
    try:
        _per_round(calls)
    except redis.RedisError as exc:
        log.warning("live tally not updated after a commit: %s", type(exc).__name__)


def _per_round(calls: Sequence[Callable[..., Any]]) -> list[Any]:
    """Run one script call per round: directly when the batch has one round (the
    usual case: a pipeline of scripts asks SCRIPT EXISTS first, one more round
    trip), else in one pipeline. Each call takes the client as `client=`."""
    if len(calls) == 1:
        return [calls[0]()]
    pipe = get_redis().pipeline(transaction=False)
    for call in calls:
        call(client=pipe)
    return pipe.execute()
