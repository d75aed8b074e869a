"""`pingyi points ...`: import a quarter, rebuild boards, close/publish periods,
the committee review (党委综评) and the annual star-rating record."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
from flask.cli import with_appcontext

from server.accounts.models import User
from server.core.db import db
from server.core.errors import ApiError
from server.core.files import write_private
from server.organization.models import Branch, Committee
from server.points import boards, export, periods
from server.points.calendar import Period, PeriodError, parse_period
from server.points.importer import PointsImportInvalid, import_points
from server.points.rulebook import all_rule_sets, rules_dir

points_cli = click.Group("points", help="Points ledger, leaderboards and star ratings.")


@dataclass
class CliActor:
    """Who acts when no --as user is given: an admin without an account (audit: no user)."""

    id: int | None = None
    role: str = "admin"
    committee_id: int | None = None
    branch_id: int | None = None
    display_name: str = "命令行"


def _fail(err: ApiError) -> click.ClickException:
    return click.ClickException(f"{err.message}（{err.code}）")


def _actor(username: str | None) -> Any:
    if not username:
        return CliActor()
    user = db.session.execute(db.select(User).filter_by(username=username)).scalar_one_or_none()
    if user is None:
        raise click.ClickException(f"没有用户 {username}")
    return user


def _committee(name: str | None) -> Committee:
    if name:
        found = db.session.execute(db.select(Committee).filter_by(name=name.strip())
                                   ).scalar_one_or_none()
        if found is None:
            raise click.ClickException(f"找不到党委“{name}”")
        return found
    all_ = db.session.execute(db.select(Committee).limit(2)).scalars().all()
    if len(all_) != 1:
        raise click.ClickException("有多个党委（或没有党委），请用 --committee 指定")
    return all_[0]


def _branch(committee: Committee, text: str) -> Branch:
    q = db.select(Branch).filter_by(committee_id=committee.id)
    found = (db.session.get(Branch, int(text)) if text.isdigit() else
             db.session.execute(q.filter_by(name=text.strip())).scalar_one_or_none())
    if found is None or found.committee_id != committee.id:
        raise click.ClickException(f"{committee.name}没有党支部“{text}”")
    return found


def _period(text: str) -> Period:
    try:
        return parse_period(text)
    except PeriodError:
        raise click.ClickException(f"期间“{text}”格式不正确，应为如 2026Q1 或 2026") from None


@points_cli.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--branch", "branch_name", required=True, help="branch name or id")
@click.option("--period", required=True, help="e.g. 2026Q1")
@click.option("--committee", "committee_name", help="committee name (default: the only one)")
@click.option("--approve", is_flag=True, help="the branch committee has approved the sheet")
@click.option("--approved-by", "approved_by", metavar="USERNAME",
              help="with --approve: who approved it, not the --as user (required with --as)")
@click.option("--dry-run", is_flag=True, help="check only, write nothing")
@click.option("--as", "username", help="act as this user (for the audit log)")
@with_appcontext
def import_cmd(file: Path, branch_name: str, period: str, committee_name: str | None,
               approve: bool, approved_by: str | None, dry_run: bool,
               username: str | None) -> None:
    """Import a quarter's points from .xlsx/.csv: all rows or none (exit 1 on any problem).

    With --approve and --as, --approved-by names the second branch committee member who
    approved the sheet; without --as the operator (no account) may approve alone."""
    if approved_by and not approve:
        raise click.ClickException("--approved-by 须与 --approve 一起使用")
    committee = _committee(committee_name)
    branch = _branch(committee, branch_name)
    try:
        report = import_points(_actor(username), branch.id, period, file.name, file.read_bytes(),
                               approve=approve, dry_run=dry_run, approver=approved_by)
    except PointsImportInvalid as err:
        db.session.rollback()
        click.echo(f"{file.name}：有 {err.count} 处问题，未导入任何数据", err=True)
        for problem in err.rows:
            click.echo(f"  {problem.text}", err=True)
        raise click.exceptions.Exit(1) from None
    except ApiError as err:
        db.session.rollback()
        if err.code == "approver_required":
            raise click.ClickException(f"{err.message}，请用 --approved-by 注明（{err.code}）"
                                       ) from None
        raise _fail(err) from None
    by = f"（审定人 {report.approved_by}）" if report.approved_by else ""
    state = ("检查通过（未写入）" if dry_run else
             f"已导入并审定{by}" if approve else "已导入，待审定")
    click.echo(f"{file.name}：{state}：{report.rows} 条，党员 {report.members} 人，"
               f"党小组 {report.groups} 个，分值合计 {report.total}")


@points_cli.command("rebuild")
@click.option("--committee", "committee_name", help="only this committee")
@click.option("--year", type=int, help="only this year")
@with_appcontext
def rebuild_cmd(committee_name: str | None, year: int | None) -> None:
    """Recompute the Redis leaderboards from the SQL ledger."""
    cid = _committee(committee_name).id if committee_name else None
    scopes = boards.scopes_with_entries(cid, year)
    failed = [s for s in scopes if not boards.rebuild(s)]
    click.echo(f"rebuilt {len(scopes) - len(failed)} of {len(scopes)} board scopes")
    if failed:
        raise click.ClickException("some scopes kept changing; run again: "
                                   + ", ".join(f"{s.tag}:{s.year}" for s in failed))


def _period_command(name: str, action: Any, help_text: str) -> None:
    @points_cli.command(name, help=help_text)
    @click.argument("period")
    @click.option("--committee", "committee_name", help="committee name (default: the only one)")
    @click.option("--as", "username", help="act as this user (for the audit log)")
    @with_appcontext
    def command(period: str, committee_name: str | None, username: str | None) -> None:
        committee = _committee(committee_name)
        per = _period(period)
        try:
            row = action(_actor(username), committee.id, per)
        except ApiError as err:
            db.session.rollback()
            raise _fail(err) from None
        extra = (f"，异议期至 {row.objection_until:%Y-%m-%d %H:%M} UTC"
                 if getattr(row, "objection_until", None) else "")
        click.echo(f"{committee.name} {per.label}：{periods.STATE_LABELS[row.state()]}{extra}")


_period_command("close", periods.close_period,
                "Close PERIOD (e.g. 2026Q1 or 2026): no new entries.")
_period_command("publish", periods.publish_period,
                "Publish a closed PERIOD: freeze its boards, start the objection window.")


@points_cli.command("review")
@click.argument("year", type=int)
@click.option("--committee", "committee_name", help="committee name (default: the only one)")
@click.option("--as", "username", help="act as this user (for the audit log)")
@with_appcontext
def review_cmd(year: int, committee_name: str | None, username: str | None) -> None:
    """党委综评: rate every party member for the closed YEAR."""
    committee = _committee(committee_name)
    try:
        n = periods.review_year(_actor(username), committee.id, year)
    except ApiError as err:
        db.session.rollback()
        raise _fail(err) from None
    unrated = periods.unrated_members(committee.id, year)
    note = f"，其中 {len(unrated)} 名没有积分记录，记为“未评定”" if unrated else ""
    click.echo(f"{committee.name} {year}年度：已评定 {n} 名党员{note}")


@points_cli.command("export-stars")
@click.argument("year", type=int)
@click.option("--committee", "committee_name", help="committee name (default: the only one)")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
@with_appcontext
def export_cmd(year: int, committee_name: str | None, output: Path) -> None:
    """Write the annual star-rating record (年度评星定级资料库) of YEAR as .xlsx."""
    committee = _committee(committee_name)
    try:
        year = periods.year_period(year).year
    except ApiError as err:
        raise _fail(err) from None
    rows = export.star_rows(committee.id, year)
    if not rows:
        raise click.ClickException(f"{year}年度尚未进行党委综评（pingyi points review {year}）")
    write_private(output, export.star_workbook(committee.name, year, rows))
    click.echo(f"{output}：{len(rows)} 名党员")


@points_cli.command("rules")
@with_appcontext
def rules_cmd() -> None:
    """Check and list the rule sets in config/points."""
    try:
        sets = all_rule_sets()
    except ApiError as err:
        raise _fail(err) from None
    click.echo(f"{rules_dir()}:")
    for rs in sets:
        who = "、".join(rs.committees) or "默认"
        items = len(rs.member.items) + len(rs.group.items)
        click.echo(f"  {rs.ref}\t{rs.name}\t适用：{who}\t项目 {items} 个\t"
                   f"异议期 {rs.objection_days} 天")
