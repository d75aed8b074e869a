"""`pingyi user ...`: staff accounts (create, deactivate, reactivate) and API keys
(api-key, keys, revoke-key).

A branch secretary (支部书记, role ``secretary``) is scoped to one branch: it is
created with ``--branch`` (name or id), and sees and edits only that branch's
points (server/points/access.py). ``--branch`` is required for a secretary and
refused for the other roles, whose scope is the whole committee.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import click
from flask.cli import with_appcontext

from server.accounts import keys
from server.accounts.models import ROLES, User
from server.accounts.operations import create_user, deactivate_user, reactivate_user
from server.core.clock import china_time
from server.core.db import db
from server.core.errors import ApiError
from server.core.tabular import clean_text
from server.organization.models import Branch, Committee

user_cli = click.Group("user", help="Staff accounts (organizers, secretaries, committee).")

BRANCH_ROLES = ("secretary",)  # the roles scoped to one branch
MAX_ID = 2**31 - 1  # an INTEGER column on PostgreSQL


@user_cli.command("create")
@click.argument("username")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@click.option("--role", type=click.Choice(ROLES), default="organizer", show_default=True)
@click.option("--committee", "committee_name", help="committee name (default: the only one, "
              "or the branch's)")
@click.option("--branch", "branch_ref",
              help="branch (党支部) name or id: required for a secretary, who sees only it")
@click.option("--display-name", default="")
@with_appcontext
def create(username: str, password: str, role: str, committee_name: str | None,
           branch_ref: str | None, display_name: str) -> None:
    """Create a staff account with a hashed password."""
    committee = _committee(committee_name)
    branch = _branch_for(role, branch_ref, committee)
    if branch is not None:
        committee = branch.committee
    try:
        user = create_user(username, password, role=role,
                           committee_id=committee.id if committee else None,
                           branch_id=branch.id if branch else None,
                           display_name=display_name)
    except ApiError as err:
        db.session.rollback()
        raise click.ClickException(f"{err.message}（{err.code}）") from None
    where = f", {branch.committee.name}{branch.name}" if branch else ""
    click.echo(f"created {user.role} {user.username} (id {user.id}{where})")


@user_cli.command("api-key")
@click.argument("username")
@click.option("--name", default="cli", show_default=True, help="what the key is for")
@click.option("--expires", default="", help="stops working at this date (00:00 China time), "
              "e.g. 2027-01-01, or date and time; default: never")
@with_appcontext
def api_key(username: str, name: str, expires: str) -> None:
    """Print a new API key for USERNAME (shown once; only its SHA-256 is kept)."""
    user = _user(username)
    with _errors():
        click.echo(keys.create_key(user, name, keys.parse_expiry(expires))[1])


@user_cli.command("keys")
@click.argument("username")
@with_appcontext
def list_keys(username: str) -> None:
    """List USERNAME's API keys: id, state, name, created, expires (China time)."""
    user = _user(username)
    rows = keys.list_keys(user)
    if not rows:
        click.echo(f"{user.username} 没有 API 密钥")
    for key in rows:
        expires = china_time(key.expires_at) or "永不过期"
        click.echo(f"{key.id}\t{keys.STATE_LABELS[key.state()]}\t{key.name}\t"
                   f"创建 {china_time(key.created_at)}\t到期 {expires}")


@user_cli.command("revoke-key")
@click.argument("key_id", type=click.IntRange(1, MAX_ID))
@with_appcontext
def revoke_key(key_id: int) -> None:
    """Revoke API key KEY_ID (see `pingyi user keys`): it stops on the next request."""
    with _errors():
        key = keys.revoke_key(key_id, None)
    click.echo(f"revoked key {key.id} ({key.name}) of {key.user.username}")


@user_cli.command("deactivate")
@click.argument("username")
@with_appcontext
def deactivate(username: str) -> None:
    """Deactivate USERNAME: console sessions, API keys and mini-program sessions stop."""
    with _errors():
        user = deactivate_user(_user(username))
    click.echo(f"deactivated {user.username}")


@user_cli.command("reactivate")
@click.argument("username")
@with_appcontext
def reactivate(username: str) -> None:
    """Reactivate USERNAME (its unrevoked, unexpired keys work again)."""
    with _errors():
        user = reactivate_user(_user(username))
    click.echo(f"reactivated {user.username}")


def _user(username: str) -> User:
    user = db.session.execute(db.select(User).filter_by(username=username)).scalar_one_or_none()
    if user is None:
        raise click.ClickException(f"没有用户“{username}”")
    return user


@contextmanager
def _errors() -> Iterator[None]:
    """An ApiError as a command-line error (message and code), nothing changed."""
    try:
        yield
    except ApiError as err:
        db.session.rollback()
        raise click.ClickException(f"{err.message}（{err.code}）") from None


def _committee(name: str | None) -> Committee | None:
    """The named committee (error if missing), else the only one, else None."""
    if name:
        c = db.session.execute(
            db.select(Committee).filter_by(name=clean_text(name))).scalar_one_or_none()
        if c is None:
            raise click.ClickException(f"找不到党委“{name}”")
        return c
    all_ = db.session.execute(db.select(Committee).limit(2)).scalars().all()
    return all_[0] if len(all_) == 1 else None


def _branch_for(role: str, ref: str | None, committee: Committee | None) -> Branch | None:
    """The branch a new account is scoped to, checked against the role."""
    if role in BRANCH_ROLES and not ref:
        raise click.ClickException("书记账号须用 --branch 指定所在党支部（名称或编号）")
    if role not in BRANCH_ROLES and ref:
        raise click.ClickException(
            f"只有书记账号（secretary）按党支部限定范围，{role} 账号不能指定 --branch")
    return _branch(ref, committee) if ref else None


def _branch(ref: str, committee: Committee | None) -> Branch:
    """A branch by id or name, within COMMITTEE when given (else it must be unambiguous)."""
    text = clean_text(ref)
    by_id = int(text) if text.isdigit() and int(text) <= MAX_ID else -1
    found = list(db.session.execute(db.select(Branch).where(
        (Branch.name == text) | (Branch.id == by_id)).order_by(Branch.id)).scalars())
    if committee is not None:
        mine = [b for b in found if b.committee_id == committee.id]
        if not mine and found:
            raise click.ClickException(f"党支部“{ref}”不属于{committee.name}")
        found = mine
    if not found:
        where = committee.name if committee is not None else "系统中"
        raise click.ClickException(f"{where}没有党支部“{ref}”")
    if len(found) > 1:
        raise click.ClickException(
            f"有 {len(found)} 个党委都有党支部“{ref}”，请用 --committee 指定党委，或改用支部编号")
    return found[0]
