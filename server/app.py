"""The composition root: the application factory wires every feature, the bot
and the `pingyi` command groups together. Nothing below imports this module."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy.orm import configure_mappers

import bot  # the leaderboard bot (bot/)
import server.models  # noqa: F401  (register every table)
from bot.cli import bot_cli
from server import (
    accounts,
    assessment,
    console,
    forms,
    meetings,
    miniprogram,
    organization,
    paper,
    points,
    results,
    rounds,
    tokens,
    voting,
)
from server.accounts.cli import user_cli
from server.core import api as core_api
from server.core import auth, db, errors, health, redis, security
from server.core.config import load_settings
from server.core.files import private_umask
from server.demo.cli import demo_cli
from server.maintenance.cli import backup_cmd, doctor_cmd, restore_cmd, settings_cli
from server.organization.cli import org_cli
from server.points.cli import points_cli
from server.rounds.cli import round_cli, tally_cli

ROOT = Path(__file__).resolve().parent.parent


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Application factory: settings, then every subsystem's init_app."""
    private_umask()  # the database, secrets, logs and exports: owner only
    app = Flask("server", instance_path=str(ROOT / "instance"), instance_relative_config=True)
    overrides = dict(test_config or {})
    if "INSTANCE_PATH" in overrides:
        app.instance_path = str(overrides.pop("INSTANCE_PATH"))
    app.config.update(load_settings(app.instance_path, overrides))
    app.config.setdefault("MIGRATIONS_DIR", ROOT / "migrations")
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    app.config["JSON_AS_ASCII"] = False
    app.json.ensure_ascii = False  # type: ignore[attr-defined]  # DefaultJSONProvider's
    logging.basicConfig(level=app.config["LOG_LEVEL"])
    # one INFO line per autogenerate plugin, each time a command loads migrations
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)

    for core_part in (db, redis, errors, auth, security, core_api, health):
        core_part.init_app(app)
    for feature in (accounts, forms, voting, tokens, rounds, results, organization, console,
                    points, assessment, paper, meetings, bot, miniprogram):
        feature.init_app(app)
    for group in (user_cli, org_cli, round_cli, tally_cli, points_cli, bot_cli, demo_cli,
                  backup_cmd, restore_cmd, doctor_cmd, settings_cli):
        app.cli.add_command(group)

    # Configure the ORM mappers now, not in the first request of each worker.
    configure_mappers()
    return app
