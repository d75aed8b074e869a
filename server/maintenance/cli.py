"""`pingyi backup FILE`, `pingyi restore FILE`, `pingyi doctor`, `pingyi settings docs`."""

from __future__ import annotations

from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from server.core import settings_docs
from server.maintenance.backup import BackupError, read_header, restore_backup, write_backup
from server.maintenance.doctor import FAIL, run_checks, summary


def _fail(err: BackupError) -> click.ClickException:
    return click.ClickException(f"{err.code}: {err.message}")


@click.command("backup")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@with_appcontext
def backup_cmd(file: Path) -> None:
    """Back up the SQL database to FILE (mode 0600; Redis needs no backup)."""
    try:
        meta = write_backup(file)
    except BackupError as err:
        raise _fail(err) from None
    click.echo(f"备份完成：{file}（{meta['kind']}，表结构 {meta['revision']}，"
               f"{meta['rounds']} 个测评，{meta['ballots']} 张选票，时间 {meta['taken_at']}）")


@click.command("restore")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--yes", is_flag=True, help="do not ask for confirmation")
@with_appcontext
def restore_cmd(file: Path, yes: bool) -> None:
    """Replace the SQL database with the backup in FILE, then rebuild Redis from it.

    Stop the web hosts and the scheduler first. Everything written after the backup
    was taken is lost, including ballots: their slips can vote again.
    """
    try:
        header = read_header(file)
        if not yes:
            click.confirm(f"用 {header.taken_at} 的备份替换当前数据库？此后写入的数据（包括选票）"
                          "将丢失", abort=True)
        meta = restore_backup(file)
    except BackupError as err:
        raise _fail(err) from None
    click.echo(f"已恢复 {meta['taken_at']} 的备份（表结构 {meta['revision']}，"
               f"{meta['rounds']} 个测评，{meta['ballots']} 张选票）。"
               "该时间之后确认的选票不在其中，那些选票的票证可以重新投票。")
    click.echo(f"已按数据库重建 Redis：{meta['rebuilt_rounds']} 个测评，"
               f"{meta['rebuilt_boards']} 个积分榜。如果代码比备份新，请运行 pingyi db upgrade。")


@click.command("doctor")
@click.option("--timeout", default=5.0, show_default=True, help="seconds per network check")
@with_appcontext
def doctor_cmd(timeout: float) -> None:
    """Check this deployment: settings, database, Redis, clocks, fonts, WeChat.

    One line per finding, 正常 / 警告 / 异常 with what to do; exit status 1 when
    anything is 异常 (for monitoring).
    """
    lines = run_checks(current_app._get_current_object(), timeout)  # type: ignore[attr-defined]  # LocalProxy's method, hidden from mypy
    for line in lines:
        click.echo(str(line))
    click.echo(summary(lines))
    if any(line.status == FAIL for line in lines):
        raise click.exceptions.Exit(1)


@click.group("settings")
def settings_cli() -> None:
    """The settings (server/core/settings.py)."""


@settings_cli.command("docs")
@click.option("--check", is_flag=True, help="only tell whether the docs' tables are current")
def settings_docs_cmd(check: bool) -> None:
    """Rewrite the settings tables in README.md and docs/ from the settings' declarations."""
    if check:
        stale = settings_docs.stale()
        if stale:
            raise click.ClickException("settings tables out of date in " + ", ".join(stale)
                                       + " (pingyi settings docs)")
        click.echo("settings tables current")
        return
    changed = settings_docs.write()
    click.echo("rewrote " + ", ".join(changed) if changed else "settings tables current")
