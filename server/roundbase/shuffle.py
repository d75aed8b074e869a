"""Rewrite a round's rows of a table in random order, inside the caller's transaction.

While a round is open, the physical order of its ballots and comments (SQLite
rowid; PostgreSQL ctid, xmin) follows their arrival, and with it the spent tokens
written in the same transactions. Close deletes the round's rows and inserts them
again in an order drawn at random, all in its own transaction, so every row gets
the same xmin and a place that says nothing about when it arrived (and deletes
the spent tokens: rounds/operations.py). Session-QR claims are rewritten alike:
their order is the order in which WeChat identities claimed. After the commit,
scrub.py removes the old row images the engine still keeps.

The rows never leave the database. Each table already has a random key: a
ballot's and a comment's id are 128 bits from the OS CSPRNG (codec.new_ballot_id).
Key order is as random as a fresh shuffle (the keys were drawn independently of
when a ballot arrived), and inserting in the primary key's own order fills its
B-tree from left to right instead of at random places.

PostgreSQL does it in one statement: the DELETE ... RETURNING feeds a sort, and
the INSERT takes the sorted rows, so no scratch copy is ever written (the sort
stays in memory, see SORT_MEMORY). The rows it inserts are the rows it deleted,
unchanged, while close holds the round row: their foreign keys were checked when
they were first written and cannot have gone stale, so when the database role may
(superuser, or PostgreSQL 15's `GRANT SET ON PARAMETER session_replication_role`)
the rewrite skips re-checking them row by row (100,000 ballots: 3.1 -> 1.7 s).
Without that grant it checks them, slower and just as correct.
SQLite copies through a sorted temporary table (it allows no DELETE in a WITH).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

log = logging.getLogger(__name__)

# Tables close rewrites, with every column they have (a column left out would be
# lost); the first is the table's random primary key.
BALLOTS = ("ballots", ("id", "round_id", "category_id", "receipt", "answers"))
COMMENTS = ("ballot_comments", ("id", "round_id", "body"))
CLAIMS = ("session_claims", ("claim_hash", "round_id"))  # an HMAC: as random as an id
_TABLES = {BALLOTS, COMMENTS, CLAIMS}

# PostgreSQL sorts in memory up to work_mem, beyond it in temporary files as runs of
# rows that arrived together: raised for this transaction, 100,000 ballots take
# about 110 MB. (SQLite keeps its sorts and temporary tables in memory:
# temp_store=MEMORY on every connection, server/core/db.py.)
SORT_MEMORY = "256MB"


def rewrite_in_random_order(conn: Connection, table: str, columns: Sequence[str],
                            round_id: int) -> None:
    """Delete the round's rows of `table` and insert them again in a random order, on
    `conn` (the session's connection, in its transaction)."""
    if (table, tuple(columns)) not in _TABLES:
        raise ValueError(f"not a table close rewrites: {table}")
    cols, key = ", ".join(columns), columns[0]
    params = {"r": round_id}
    # The names are the constants above, never input.
    if conn.dialect.name == "postgresql":
        conn.execute(text(f"SET LOCAL work_mem = '{SORT_MEMORY}'"))
        trusted = _skip_rechecks(conn)
        try:
            conn.execute(text(
                f"WITH old AS (DELETE FROM {table} WHERE round_id = :r "  # noqa: S608
                f"RETURNING {cols}) "
                f"INSERT INTO {table} ({cols}) SELECT {cols} FROM old ORDER BY {key}"), params)
        finally:
            if trusted:
                conn.execute(text("SET LOCAL session_replication_role = origin"))
        return
    scratch = f"shuffle_{table}"
    conn.execute(text(
        f"CREATE TEMPORARY TABLE {scratch} AS "  # noqa: S608
        f"SELECT {cols} FROM {table} WHERE round_id = :r ORDER BY {key}"), params)
    conn.execute(text(f"DELETE FROM {table} WHERE round_id = :r"), params)  # noqa: S608
    conn.execute(text(
        f"INSERT INTO {table} ({cols}) "  # noqa: S608
        f"SELECT {cols} FROM {scratch} ORDER BY {key}"))
    conn.execute(text(f"DROP TABLE {scratch}"))


def _skip_rechecks(conn: Connection) -> bool:
    """Turn off trigger-based checks (the foreign keys) for this transaction when the
    role may; True if they are off. A refusal leaves the transaction as it was."""
    savepoint = conn.begin_nested()
    try:
        conn.execute(text("SET LOCAL session_replication_role = replica"))
    except DBAPIError:
        savepoint.rollback()
        log.info("close rewrite checks foreign keys row by row: the database role may "
                 "not set session_replication_role (see docs/deploy.md)")
        return False
    savepoint.commit()
    return True
