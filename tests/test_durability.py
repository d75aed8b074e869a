"""Promise 2's footing: the settings that make a committed ballot survive a crash."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from server.core.config import load_settings
from server.core.db import db


def test_database_commits_are_durable(app):
    with app.app_context(), db.engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            assert conn.execute(text("SHOW synchronous_commit")).scalar() == "on"
            assert conn.execute(text("SHOW fsync")).scalar() == "on"
        else:
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert conn.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL


def test_shared_database_needs_an_explicit_secret_key(tmp_path, monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://db.example/pingyi")
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        load_settings(str(tmp_path))
    monkeypatch.setenv("SECRET_KEY", "shared-by-all-hosts")
    assert load_settings(str(tmp_path))["SECRET_KEY"] == "shared-by-all-hosts"
