"""pingyi (评议): anonymous QR-coded appraisal voting and points leaderboards."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from flask import Flask

ROOT = Path(__file__).resolve().parent.parent


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Application factory: settings, then every subsystem's init_app."""
    from server.core.files import private_umask

    private_umask()  # the database, secrets, logs and exports: owner only
    app = Flask(__name__, instance_path=str(ROOT / "instance"), instance_relative_config=True)
    from server.core.config import load_settings

    overrides = dict(test_config or {})
    if "INSTANCE_PATH" in overrides:
        app.instance_path = str(overrides.pop("INSTANCE_PATH"))
    app.config.update(load_settings(app.instance_path, overrides))
    app.config.setdefault("MIGRATIONS_DIR", ROOT / "migrations")
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    app.config["JSON_AS_ASCII"] = False
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    logging.basicConfig(level=app.config["LOG_LEVEL"])
    # one INFO line per autogenerate plugin, each time a command loads migrations
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)

    import server.models  # noqa: F401  (register every table)
    from server.core import api as core_api
    from server.core import auth, db, errors, health, redis, security

    db.init_app(app)
    redis.init_app(app)
    errors.init_app(app)
    auth.init_app(app)
    security.init_app(app)
    core_api.init_app(app)
    health.init_app(app)

    from server import accounts, console, forms, organization, results, rounds, tokens, voting

    accounts.init_app(app)
    forms.init_app(app)
    voting.init_app(app)
    tokens.init_app(app)
    rounds.init_app(app)
    results.init_app(app)
    organization.init_app(app)
    console.init_app(app)

    from server import points

    points.init_app(app)
    from server import assessment

    assessment.init_app(app)
    from server import paper

    paper.init_app(app)
    from server import meetings

    meetings.init_app(app)
    import bot  # the leaderboard bot (bot/)

    bot.init_app(app)

    from server import miniprogram

    miniprogram.init_app(app)

    from server import cli

    cli.init_app(app)

    # Configure the ORM mappers now, not in the first request of each worker.
    from sqlalchemy.orm import configure_mappers

    configure_mappers()
    return app
