"""Where the database's schema stands against the migrations of this release."""

from __future__ import annotations

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask
from sqlalchemy.engine import Connection


def head_revisions(app: Flask) -> set[str]:
    """The head revision(s) of this release's migrations/ (one, unless a merge is missing)."""
    config = Config()
    config.set_main_option("script_location", str(app.config["MIGRATIONS_DIR"]))
    return set(ScriptDirectory.from_config(config).get_heads())


def current_revisions(conn: Connection) -> set[str]:
    """The revision(s) the database is at; empty for a database never migrated."""
    return set(MigrationContext.configure(conn).get_current_heads())
