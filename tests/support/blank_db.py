"""An app over an EMPTY database (no tables, no alembic_version), for tests that build the
schema with `pingyi db upgrade` rather than create_all (upgrades, doctor)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask
from sqlalchemy import MetaData, text

from server.core.db import db
from tests.conftest import cluster_mode, make_app
from tests.support.schema import forget_schema


def drop_everything(app: Flask) -> None:
    """Every table gone (PostgreSQL: the public schema recreated)."""
    forget_schema(app)
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            db.session.execute(text("DROP SCHEMA public CASCADE"))
            db.session.execute(text("CREATE SCHEMA public"))
            db.session.commit()
        else:
            db.session.remove()
            meta = MetaData()
            meta.reflect(db.engine)
            meta.drop_all(db.engine)
        db.session.remove()


def blank_app(request: pytest.FixtureRequest, tmp_path: Path, redis_url: str,
              **extra: Any) -> Flask:
    """make_app with Redis flushed and SQL emptied (the `app` fixture's, minus create_all)."""
    if cluster_mode(request.config):
        cluster = request.getfixturevalue("redis_cluster")
        cluster.flush()
        app = make_app(tmp_path, "", REDIS_CLUSTER_NODES=cluster.nodes, **extra)
    else:
        redis.Redis.from_url(redis_url).flushdb()
        app = make_app(tmp_path, redis_url, **extra)
    drop_everything(app)
    return app


def migrated_app(request: pytest.FixtureRequest, tmp_path: Path, redis_url: str,
                 **extra: Any) -> Flask:
    """blank_app with the schema built by `pingyi db upgrade`, as a deployment has it."""
    app = blank_app(request, tmp_path, redis_url, **extra)
    result = app.test_cli_runner().invoke(args=["db", "upgrade"])
    assert result.exit_code == 0, (result.output, result.exception)
    return app
