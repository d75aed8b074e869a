"""An empty database with the models' schema for every test, built once and emptied between tests.

Dropping and recreating the schema for each test cost 0.3-0.6 s on SQLite and 1-2 s on
PostgreSQL. Instead:

* SQLite: the schema is built once per process into a template file, and each test's
  database receives a copy of it (sqlite3's backup API, which works whatever the target
  file holds and keeps the target's file mode).
* PostgreSQL: the schema is built once per database; later tests delete the rows of the
  tables that have any (children first) and restart the sequences that were used, so ids
  start at 1 as on a new schema. (TRUNCATE costs ~25 ms a table whatever it holds: 0.8 s
  for all of them; this costs ~15 ms.) The schema's fingerprint (tables and their column
  counts) is compared first: a test that dropped it, ran the migrations (alembic_version
  appears) or built an older one gets it rebuilt.
"""

from __future__ import annotations

import atexit
import shutil
import sqlite3
import tempfile
from pathlib import Path

from flask import Flask
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from server.core.db import db

Fingerprint = tuple[tuple[str, int], ...]

_built: dict[str, Fingerprint] = {}  # PostgreSQL URL -> the schema create_all left there
_template: Path | None = None  # SQLite file holding the models' schema and no rows

_PG_TABLES = text("""
    SELECT c.relname, count(a.attnum) FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
    JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
    WHERE c.relkind IN ('r', 'p') GROUP BY c.relname ORDER BY c.relname""")
_USED_SEQUENCES = text(
    "SELECT sequencename FROM pg_sequences WHERE schemaname = 'public' AND last_value IS NOT NULL")


def empty_schema(app: Flask) -> None:
    """The app's database holds the models' schema and no rows."""
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            _postgres(app)
        else:
            _sqlite(str(db.engine.url.database))


def forget_schema(app: Flask) -> None:
    """Say that the schema of the app's database was changed: the next test rebuilds it."""
    with app.app_context():
        _built.pop(db.engine.url.render_as_string(hide_password=False), None)


def _fingerprint(conn: Connection) -> Fingerprint:
    return tuple((name, int(n)) for name, n in conn.execute(_PG_TABLES))


def _postgres(app: Flask) -> None:
    url = db.engine.url.render_as_string(hide_password=False)
    with db.engine.connect() as conn:
        conn.execute(text("SET lock_timeout = '30s'"))  # a leaked session fails, not hangs
        found = _fingerprint(conn)
        if found and _built.get(url) == found:
            _delete_rows(conn, [name for name, _ in found])
            return
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
        conn.commit()
    db.create_all()
    with db.engine.connect() as conn:
        _built[url] = _fingerprint(conn)


def _delete_rows(conn: Connection, tables: list[str]) -> None:
    filled = {name for (name,) in conn.execute(text(" UNION ALL ".join(
        f"SELECT '{name}' WHERE EXISTS (SELECT 1 FROM \"{name}\")"  # noqa: S608
        for name in tables)))}
    try:
        for table in reversed(db.metadata.sorted_tables):  # children before parents
            if table.name in filled:
                conn.execute(table.delete())
    except IntegrityError:  # rows that refer to each other: let PostgreSQL sort it out
        conn.rollback()
        names = ", ".join(f'"{name}"' for name in tables)
        conn.execute(text(f"TRUNCATE {names} CASCADE"))
    for (sequence,) in conn.execute(_USED_SEQUENCES).all():
        conn.execute(text(f'ALTER SEQUENCE "{sequence}" RESTART'))
    conn.commit()


def _sqlite(path: str) -> None:
    db.session.remove()
    db.engine.dispose()
    source = sqlite3.connect(_sqlite_template())
    target = sqlite3.connect(path)
    try:
        source.backup(target)
    finally:
        target.close()
        source.close()


def _sqlite_template() -> Path:
    global _template
    if _template is None:
        folder = Path(tempfile.mkdtemp(prefix="pingyi-schema-"))
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        engine = create_engine(f"sqlite:///{folder / 'schema.sqlite3'}")
        db.metadata.create_all(engine)
        engine.dispose()
        _template = folder / "schema.sqlite3"
    return _template
