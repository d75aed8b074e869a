"""`pingyi demo ...`: seed a demonstration organisation and rounds."""

from __future__ import annotations

import click

demo_cli = click.Group("demo", help="Demonstration data for `make run`.")
