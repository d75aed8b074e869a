"""After close commits: the database's own files keep no image of a row as it was
stored while the round was open.

Close rewrites the round's ballots, comments and session claims in random order
and deletes its spent tokens (shuffle.py), in its transaction. What that leaves
behind depends on the engine:

SQLite: `secure_delete` (server/core/db.py) overwrote the old cells with zeros in
the same transaction; the old page images are still in the -wal file until a
checkpoint, which runs at once (TRUNCATE: the -wal file is emptied).

PostgreSQL keeps far more. The old tuples stay in their pages, dead, with their
transaction ids (xmin pairs a ballot with its comment and its spent token) until a
VACUUM, and a plain VACUUM only marks their space free: the bytes stay until reused.
The indexes keep every key with its old heap position (the spent-token index held
each token hash with its place in arrival order). And pg_wal holds every insert.
So, in a thread of its own after close returns:

1. `VACUUM (FULL)` of each table close rewrote, and of `blind_keys` (whose private
   keys close set to NULL: the old values stay in its TOAST file otherwise): the live
   rows are copied into a new file, the indexes rebuilt from them, and the old files
   unlinked at the next checkpoint. It holds an ACCESS EXCLUSIVE lock on one table at
   a time, for as long as copying that whole table takes (every round ever held, not
   just this one): other rounds' ballots wait for it (docs/deploy.md §8 gives the
   figures). A lock it cannot get within LOCK_TIMEOUT is retried, so a long reader
   never holds the ballot path behind a queued VACUUM FULL.
2. `pg_switch_wal()` ends the WAL segment holding the round's records, and
   `CHECKPOINT` makes every older segment unnecessary: the server removes them
   (and, with `wal_recycle = off`, unlinks instead of renaming them to be reused
   with their old bytes). Archived WAL, replicas and backups are outside the
   server's reach: docs/deploy.md says what the operator must do about them.

A step the database role may not take (VACUUM FULL needs the table's owner,
pg_switch_wal and CHECKPOINT a superuser or the grants in docs/deploy.md) is
logged and skipped; the close has succeeded whatever happens here.
"""

from __future__ import annotations

import logging
import threading
import time

from sqlalchemy import Connection, Engine, create_engine
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.pool import NullPool

log = logging.getLogger(__name__)

REWRITTEN = ("ballots", "ballot_comments", "spent_tokens", "session_claims")
# blind_keys too: close sets the round's private keys to NULL, but the old values (TOAST,
# being long) stay in its TOAST file, unsealable with SECRET_KEY, until a VACUUM FULL.
SCRUBBED = (*REWRITTEN, "blind_keys")
POSTGRES = (*(f"VACUUM (FULL) {t}" for t in SCRUBBED), "SELECT pg_switch_wal()", "CHECKPOINT")
SQLITE = ("PRAGMA wal_checkpoint(TRUNCATE)",)
LOCK_TIMEOUT = "2s"  # each try's wait for a table's lock, while ballots queue behind it
LOCK_TRIES = 30

_threads: list[threading.Thread] = []
_lock = threading.Lock()


def scrub_after_close(engine: Engine) -> None:
    """SQLite: checkpoint now. PostgreSQL: start the steps above in the background on a
    connection of their own (`wait_for_scrub` waits for them)."""
    if engine.dialect.name == "sqlite":
        _run(engine, SQLITE)
        return
    own = create_engine(engine.url, poolclass=NullPool)
    thread = threading.Thread(target=_run, args=(own, POSTGRES, True), name="close-scrub",
                              daemon=True)
    with _lock:
        _threads[:] = [t for t in _threads if t.is_alive()] + [thread]
    thread.start()


def wait_for_scrub(timeout: float | None = None) -> bool:
    """Wait for the scrubs earlier closes started in this process; True if none is left."""
    with _lock:
        pending = list(_threads)
    for thread in pending:
        thread.join(timeout)
    return not any(t.is_alive() for t in pending)


def _run(engine: Engine, statements: tuple[str, ...], own: bool = False) -> None:
    try:
        with engine.connect() as conn:
            if engine.dialect.name != "sqlite":  # VACUUM runs outside a transaction
                conn = conn.execution_options(isolation_level="AUTOCOMMIT")
                conn.exec_driver_sql(f"SET lock_timeout = '{LOCK_TIMEOUT}'")
            for statement in statements:
                _step(conn, statement)
    except Exception as exc:  # noqa: BLE001 - the close itself has succeeded
        log.warning("could not scrub pre-close row images: %s", type(exc).__name__)
    finally:
        if own:
            engine.dispose()


def _step(conn: Connection, statement: str) -> None:
    for _ in range(LOCK_TRIES):
        try:
            conn.exec_driver_sql(statement)
            return
        except OperationalError as exc:
            if getattr(exc.orig, "sqlstate", None) != "55P03":  # not lock_not_available
                raise
            time.sleep(0.5)
        except DBAPIError as exc:  # e.g. the role may not: the other steps still run
            log.warning("close scrub skipped %r: %s", statement.split()[-1],
                        type(exc.orig).__name__)
            return
    log.warning("close scrub gave up %r: its lock stayed taken", statement)
