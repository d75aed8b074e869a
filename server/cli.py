"""The `pingyi` command: one Flask CLI group; server/app.py attaches a sub-group per area."""

from __future__ import annotations

import click
from flask.cli import FlaskGroup

from server.app import create_app


@click.group(cls=FlaskGroup, create_app=create_app)
def main() -> None:
    """pingyi (评议): anonymous appraisal voting and points leaderboards."""
