"""`pingyi round ...` and `pingyi tally ...`."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from server.core.db import db
from server.core.errors import ApiError
from server.roundbase.models import Round
from server.roundbase.reads import get_round
from server.rounds.operations import close_due, close_round, open_round, publish_round
from server.rounds.rehearsal import open_rehearsal, purge_rehearsal
from server.voting.rebuild import rebuild

round_cli = click.Group("round", help="Voting rounds: list, open, close, publish.")
tally_cli = click.Group("tally", help="Live tallies in Redis.")


def _fail(err: ApiError) -> click.ClickException:
    return click.ClickException(f"{err.code}: {err.message_en}")


@round_cli.command("list")
@with_appcontext
def list_rounds() -> None:
    """List rounds with their status."""
    for rnd in db.session.execute(db.select(Round).order_by(Round.id)).scalars():
        click.echo(f"{rnd.id}\t{rnd.status}\t{rnd.kind}\t{rnd.title}")


@round_cli.command("open")
@click.argument("round_id", type=int)
@with_appcontext
def open_cmd(round_id: int) -> None:
    """Open ROUND_ID for voting (idempotent)."""
    try:
        rnd = open_round(get_round(round_id))
    except ApiError as err:
        raise _fail(err) from None
    click.echo(f"round {rnd.id} is {rnd.status}")


@round_cli.command("close")
@click.argument("round_id", type=int)
@with_appcontext
def close_cmd(round_id: int) -> None:
    """Close ROUND_ID: recount from SQL, compare with the live tally, freeze."""
    try:
        rnd = close_round(get_round(round_id), reason="cli")
    except ApiError as err:
        raise _fail(err) from None
    ballots = (rnd.result or {}).get("ballots", 0)
    click.echo(f"round {rnd.id} is {rnd.status}: {ballots} ballots counted")


@round_cli.command("publish")
@click.argument("round_id", type=int)
@with_appcontext
def publish_cmd(round_id: int) -> None:
    """Publish the frozen results of ROUND_ID."""
    try:
        rnd = publish_round(get_round(round_id))
    except ApiError as err:
        raise _fail(err) from None
    click.echo(f"round {rnd.id} is {rnd.status}")


@round_cli.command("rehearse")
@click.argument("round_id", type=int)
@with_appcontext
def rehearse_cmd(round_id: int) -> None:
    """Open the draft ROUND_ID as a rehearsal (演练): rehearsal slips only, never published."""
    try:
        rnd = open_rehearsal(get_round(round_id))
    except ApiError as err:
        raise _fail(err) from None
    click.echo(f"round {rnd.id} is {rnd.status} (rehearsal)")


@round_cli.command("purge")
@click.argument("round_id", type=int)
@with_appcontext
def purge_cmd(round_id: int) -> None:
    """Purge the rehearsal ROUND_ID: delete its ballots, slips and live state; back to draft."""
    try:
        rnd = purge_rehearsal(get_round(round_id))
    except ApiError as err:
        raise _fail(err) from None
    click.echo(f"round {rnd.id} is {rnd.status}: rehearsal data purged")


@round_cli.command("close-due")
@with_appcontext
def close_due_cmd() -> None:
    """Close every open round whose deadline has passed (run from cron)."""
    ids = close_due()
    click.echo(f"closed {len(ids)} round(s){': ' + ', '.join(map(str, ids)) if ids else ''}")


@tally_cli.command("rebuild")
@click.argument("round_ids", type=int, nargs=-1)
@click.option("--all", "all_rounds", is_flag=True, help="every round that is not a draft")
@with_appcontext
def rebuild_cmd(round_ids: tuple[int, ...], all_rounds: bool) -> None:
    """Recreate the Redis live state of rounds from SQL."""
    ids = list(round_ids)
    if all_rounds:
        ids = list(db.session.execute(
            db.select(Round.id).where(Round.status != "draft").order_by(Round.id)).scalars())
    if not ids:
        raise click.UsageError("give round ids or --all")
    for rid in ids:
        try:
            get_round(rid)
        except ApiError as err:
            raise _fail(err) from None
        summary = rebuild(rid)
        click.echo(f"round {rid}: rebuilt, {summary['ballots']} ballots, "
                   f"{summary['unspent']} unspent tokens")
