"""The `pingyi` command: one Flask CLI group with a sub-group per area."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import FlaskGroup


def init_app(app: Flask) -> None:
    """Attach every feature's CLI group."""
    from bot.cli import bot_cli
    from server.accounts.cli import user_cli
    from server.demo.cli import demo_cli
    from server.maintenance.cli import backup_cmd, doctor_cmd, restore_cmd, settings_cli
    from server.organization.cli import org_cli
    from server.points.cli import points_cli
    from server.rounds.cli import round_cli, tally_cli

    for group in (user_cli, org_cli, round_cli, tally_cli, points_cli, bot_cli, demo_cli,
                  backup_cmd, restore_cmd, doctor_cmd, settings_cli):
        app.cli.add_command(group)


def _create_app() -> Flask:
    from server import create_app

    return create_app()


@click.group(cls=FlaskGroup, create_app=_create_app)
def main() -> None:
    """pingyi (评议): anonymous appraisal voting and points leaderboards."""
