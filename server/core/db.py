"""SQLAlchemy: one `db` object; SQLite gets WAL with full fsync, PostgreSQL a pool."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from flask import Flask
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import CursorResult, Executable, MetaData, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from server.core.files import private_sqlite

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

db = SQLAlchemy(metadata=MetaData(naming_convention=NAMING))
migrate = Migrate()


def changed_rows(statement: Executable, params: Mapping[str, Any] | None = None) -> int:
    """`db.session.execute(statement, params).rowcount`: the rows an UPDATE, DELETE or
    INSERT matched. Session.execute is typed as returning a Result; for these
    statements it is a CursorResult, which has the count."""
    return cast(CursorResult[Any], db.session.execute(statement, params)).rowcount


def engine_options(url: str, pool_size: int = 10, max_overflow: int = 5) -> dict[str, Any]:
    """Per-process pool: web workers x (pool_size + max_overflow) must fit max_connections."""
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": 30, "check_same_thread": False}}
    # No pre-ping: it costs a round trip per checkout on the ballot path; a dead
    # connection fails its statement (503) and is replaced on the next checkout.
    return {
        "pool_size": pool_size,
        "max_overflow": max_overflow,
        "pool_recycle": 1800,
        "pool_timeout": 5,
    }


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # WAL lets readers run beside the writer; synchronous=FULL makes every
    # commit durable (promise 2: a 2xx means the ballot survives a power cut).
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    # Deleted rows are overwritten with zeros: close rewrites ballots and spent
    # tokens in random order, and the old cells must not survive in free pages.
    cur.execute("PRAGMA secure_delete=ON")
    # Sorts and temporary tables stay in memory, never in files: close copies a
    # round's ballots into a temporary table to rewrite them (server/roundbase/shuffle.py).
    cur.execute("PRAGMA temp_store=MEMORY")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def _postgres_session(dbapi_conn: Any, _record: Any) -> None:
    # A 2xx must mean "on disk" even if the server's default was relaxed.
    with dbapi_conn.cursor() as cur:
        cur.execute("SET synchronous_commit TO on")
    dbapi_conn.commit()


def init_app(app: Flask) -> None:
    url = app.config["DATABASE_URL"]
    private_sqlite(url)
    app.config["SQLALCHEMY_DATABASE_URI"] = url
    app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", engine_options(
        url, app.config["DB_POOL_SIZE"], app.config["DB_MAX_OVERFLOW"]))
    db.init_app(app)
    migrate.init_app(app, db, directory=str(app.config["MIGRATIONS_DIR"]), render_as_batch=True,
                     compare_type=True)
    with app.app_context():
        event.listen(db.engine, "connect",
                     _sqlite_pragmas if url.startswith("sqlite") else _postgres_session)

    @app.teardown_appcontext
    def _end_session(exc: BaseException | None) -> None:
        # Runs before Flask-SQLAlchemy's own teardown (registered earlier). When the
        # database ended the connection after the answer was ready (a restart), the
        # closing rollback fails, and a teardown error would become a bare 500 from
        # gunicorn: the failed rollback invalidated the connection, so a second
        # close only hands it back to the pool.
        try:
            db.session.remove()
        except DBAPIError:
            db.session.remove()


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"
