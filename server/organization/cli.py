"""`pingyi org ...`: the organisation tree."""

from __future__ import annotations

import click

org_cli = click.Group("org", help="Committee, branches, party groups and members.")
