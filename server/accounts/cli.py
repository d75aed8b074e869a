"""`pingyi user ...`: staff accounts and API keys."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from server.accounts.models import ROLES, User
from server.accounts.operations import create_user, new_api_key
from server.core.db import db
from server.core.errors import ApiError
from server.organization.models import Committee

user_cli = click.Group("user", help="Staff accounts (organizers, secretaries, committee).")


@user_cli.command("create")
@click.argument("username")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@click.option("--role", type=click.Choice(ROLES), default="organizer", show_default=True)
@click.option("--committee", "committee_name", help="committee name (default: the only one)")
@click.option("--display-name", default="")
@with_appcontext
def create(username: str, password: str, role: str, committee_name: str | None,
           display_name: str) -> None:
    """Create a staff account with a hashed password."""
    committee = _committee(committee_name)
    try:
        user = create_user(username, password, role=role,
                           committee_id=committee.id if committee else None,
                           display_name=display_name)
    except ApiError as err:
        raise click.ClickException(f"{err.code}: {err.message_en}") from None
    click.echo(f"created {user.role} {user.username} (id {user.id})")


@user_cli.command("api-key")
@click.argument("username")
@click.option("--name", default="cli")
@with_appcontext
def api_key(username: str, name: str) -> None:
    """Print a new API key for USERNAME (shown once)."""
    user = db.session.execute(db.select(User).filter_by(username=username)).scalar_one_or_none()
    if user is None:
        raise click.ClickException(f"no user {username!r}")
    click.echo(new_api_key(user, name))


def _committee(name: str | None) -> Committee | None:
    if name:
        c = db.session.execute(db.select(Committee).filter_by(name=name)).scalar_one_or_none()
        if c is None:
            raise click.ClickException(f"no committee {name!r}")
        return c
    all_ = db.session.execute(db.select(Committee)).scalars().all()
    return all_[0] if len(all_) == 1 else None
