"""Group commit: many ballots, one SQL transaction, one fsync.

Request threads hand a claimed ballot to this process's committer thread and
wait. The committer takes whatever has queued up while the previous commit
ran (no artificial delay: at low load a batch is one ballot), records the
batch per round in one transaction, commits, counts the accepted ballots in
Redis with one pipeline, and only then wakes the request threads. So a 2xx
still means "durably committed" (promise 2), with the commit cost shared.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from collections import defaultdict
from concurrent.futures import Future
from dataclasses import dataclass, field

import redis
from flask import Flask
from sqlalchemy import Connection, Engine, text

from server.core.db import db
from server.core.redis import get_redis
from server.voting import livetally
from server.voting.comments import insert_comments

log = logging.getLogger(__name__)

MAX_BATCH = 128


@dataclass
class Pending:
    """One claimed ballot waiting for its commit; `outcome` is set by the committer."""

    round_id: int
    token_hash: str
    category_id: int
    ballot_id: str
    receipt: str
    answers: str
    fields: dict[str, int]
    comment: str | None = None  # stored apart from the ballot (voting/comments.py)
    future: Future[str] = field(default_factory=Future)


# ---- SQL ------------------------------------------------------------------------------

# psycopg placeholders with %b: the arrays travel in binary, so the JSON
# answers need no quoting (text-format array escaping cost more than the insert).
PG_BATCH = """
WITH input AS (
    SELECT * FROM unnest(%(hashes)b::text[], %(ids)b::text[], %(receipts)b::text[],
                         %(answers)b::text[]) AS i(token_hash, ballot_id, receipt, answers)
), open_round AS (
    -- KEY SHARE on the round row: close() takes FOR UPDATE, so it waits for
    -- every batch that saw the round open, and later batches see it closed.
    SELECT id FROM rounds WHERE id = %(r)b AND status = 'open' FOR KEY SHARE
), spent AS (
    INSERT INTO spent_tokens (token_hash, round_id)
    SELECT t.token_hash, t.round_id
    FROM input i JOIN tokens t ON t.token_hash = i.token_hash AND t.round_id = %(r)b
    CROSS JOIN open_round
    ON CONFLICT DO NOTHING
    RETURNING token_hash
), cast_ballots AS (
    INSERT INTO ballots (id, round_id, category_id, receipt, answers)
    SELECT i.ballot_id, t.round_id, t.category_id, i.receipt, i.answers
    FROM input i JOIN spent s ON s.token_hash = i.token_hash
    JOIN tokens t ON t.token_hash = i.token_hash
    RETURNING 1
)
SELECT token_hash FROM spent
"""

SQLITE_SPENT = (
    "INSERT INTO spent_tokens (token_hash, round_id) "
    "SELECT token_hash, round_id FROM tokens WHERE token_hash = :h AND round_id = :r "
    "AND EXISTS (SELECT 1 FROM rounds WHERE id = :r AND status = 'open') "
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
            "ids": [p.ballot_id for p in items],
            "receipts": [p.receipt for p in items],
            "answers": [p.answers for p in items],
        })
        return {h for (h,) in cur.fetchall()}


def _record_sqlite(conn: Connection, round_id: int, items: list[Pending]) -> set[str]:
    accepted: set[str] = set()
    for p in items:
        if conn.execute(text(SQLITE_SPENT), {"h": p.token_hash, "r": round_id}).rowcount == 1:
            conn.execute(text(SQLITE_BALLOT), {"id": p.ballot_id, "receipt": p.receipt,
                                               "answers": p.answers, "h": p.token_hash})
            accepted.add(p.token_hash)
    return accepted


def _why_refused(conn: Connection, round_id: int, hashes: list[str]) -> dict[str, str]:
    """For ballots the batch did not take: 'closed:<status>', 'spent' or 'unknown'."""
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
        self._lock = threading.Lock()
        self._pid: int | None = None

    def submit(self, item: Pending, timeout: float) -> str:
        """Queue a ballot; return 'ok' once committed, else the reason it was refused."""
        self._ensure_thread()
        self._queue.put(item)
        return item.future.result(timeout=timeout)

    def _ensure_thread(self) -> None:
        if self._pid == os.getpid():
            return
        with self._lock:  # a forked worker starts its own committer
            if self._pid != os.getpid():
                self._queue = queue.SimpleQueue()
                threading.Thread(target=self._run, name="group-commit", daemon=True).start()
                self._pid = os.getpid()

    def _run(self) -> None:
        with self._app.app_context():
            engine = db.engine
            while True:
                self._one_batch(engine)

    def _one_batch(self, engine: Engine) -> None:
        batch = [self._queue.get()]
        while len(batch) < MAX_BATCH:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                break
        try:
            self._commit(engine, batch)
        except Exception as exc:  # noqa: BLE001 - hand every failure to the waiters
            for p in batch:
                if not p.future.done():
                    p.future.set_exception(exc)

    def _commit(self, engine: Engine, batch: list[Pending]) -> None:
        by_round: dict[int, list[Pending]] = defaultdict(list)
        for p in batch:
            by_round[p.round_id].append(p)
        outcomes: dict[str, str] = {}
        with engine.begin() as conn:
            record = _record_pg if conn.dialect.name == "postgresql" else _record_sqlite
            for round_id, items in by_round.items():
                accepted = record(conn, round_id, items)
                insert_comments(conn, round_id, [p.comment for p in items
                                                 if p.comment and p.token_hash in accepted])
                refused = [p.token_hash for p in items if p.token_hash not in accepted]
                outcomes.update(dict.fromkeys(accepted, "ok"))
                if refused:
                    outcomes.update(_why_refused(conn, round_id, refused))
        # Committed. Count in Redis (one round trip), then answer the requests.
        try:
            pipe = get_redis().pipeline(transaction=False)
            for p in batch:
                outcome = outcomes.get(p.token_hash, "unknown")
                if outcome == "ok":
                    livetally.commit(p.round_id, p.token_hash, p.category_id, p.fields, pipe)
                else:
                    livetally.release(p.round_id, p.token_hash, outcome == "spent", pipe)
            pipe.execute()
        except redis.RedisError as exc:
            log.warning("ballots stored but live tally not updated: %s", type(exc).__name__)
        for p in batch:
            p.future.set_result(outcomes.get(p.token_hash, "unknown"))
