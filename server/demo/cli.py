"""`pingyi demo ...`: seed a demonstration organisation and rounds."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from server.demo.seed import seed_demo

demo_cli = click.Group("demo", help="Demonstration data for `make run`.")


@demo_cli.command("seed")
@click.option("--base-url", default="http://127.0.0.1:5000", show_default=True,
              help="where phones will reach the server (goes into the QR codes)")
@with_appcontext
def seed(base_url: str) -> None:
    """Create the demo (once) and print where to go."""
    info = seed_demo(base_url)
    base = base_url.rstrip("/")
    click.echo("")
    click.echo("pingyi demo is ready")
    click.echo(f"  organizer console : {base}/console/  (user {info['user']}, "
               f"password {info['password']}; demo only)")
    for rid, title, status in info["rounds"]:
        click.echo(f"  round {rid} [{status}] {title}")
        click.echo(f"      projector     : {base}/console/rounds/{rid}/projector")
    click.echo("  designed forms (测评表):")
    for fid, name in info["forms"]:
        click.echo(f"      form {fid} {name}  ({base}/api/v1/forms/{fid})")
    click.echo("  printed slips     :")
    for path in info["slips"]:
        click.echo(f"      {path}")
    click.echo("  sample voting links (open on a phone or in a browser):")
    for url in info["samples"][:6]:
        click.echo(f"      {url}")
    click.echo(f"  API description   : {base}/api/v1/openapi.json")
    click.echo("")
