"""Rewrite a round's rows of a table in random order, inside the caller's transaction.

While a round is open, the physical order of its ballots and spent tokens (SQLite
rowid; PostgreSQL ctid, xmin) follows their arrival and could pair them. Close
deletes the round's rows and inserts them again in an order drawn at random, all
in its own transaction, so every row gets the same xmin and a place that says
nothing about when it arrived.

The rows never leave the database. Each table already has a random key: a
ballot's and a comment's id are 128 bits from the OS CSPRNG (secrets.token_hex),
a spent token's key is the sha256 of a token of 128 random bits. The rows are
copied, sorted by that key, into a temporary table (so no scratch copy is ever
in arrival order), deleted, and inserted again in key order. Key order is as
random as a fresh shuffle (the keys were drawn independently of when a ballot
arrived), and inserting in the primary key's own order fills its B-tree from
left to right instead of at random places (100,000 ballots: 2.6 s -> see
docs/deploy.md).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, text

# Tables close rewrites, with every column they have (a column left out would be
# lost); the first is the table's random primary key.
BALLOTS = ("ballots", ("id", "round_id", "category_id", "receipt", "answers"))
SPENT_TOKENS = ("spent_tokens", ("token_hash", "round_id"))
COMMENTS = ("ballot_comments", ("id", "round_id", "body"))
_TABLES = {BALLOTS, SPENT_TOKENS, COMMENTS}

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
    if conn.dialect.name == "postgresql":
        conn.execute(text(f"SET LOCAL work_mem = '{SORT_MEMORY}'"))
    scratch = f"shuffle_{table}"
    params = {"r": round_id}
    # The names are the constants above, never input.
    conn.execute(text(
        f"CREATE TEMPORARY TABLE {scratch} AS "  # noqa: S608
        f"SELECT {cols} FROM {table} WHERE round_id = :r ORDER BY {key}"), params)
    conn.execute(text(f"DELETE FROM {table} WHERE round_id = :r"), params)  # noqa: S608
    conn.execute(text(
        f"INSERT INTO {table} ({cols}) "  # noqa: S608
        f"SELECT {cols} FROM {scratch} ORDER BY {key}"))
    conn.execute(text(f"DROP TABLE {scratch}"))
