"""`pingyi org ...`: the organisation tree."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from flask.cli import with_appcontext

from server.core.db import db
from server.core.errors import ApiError
from server.core.tabular import clean_text
from server.organization.importer import RosterInvalid
from server.organization.models import Committee
from server.organization.operations import ensure_committee, import_roster, org_tree

org_cli = click.Group("org", help="Committee, branches, party groups and members.")


@org_cli.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--committee", "committee_name", required=True,
              help="committee (党委) name; created if missing")
@click.option("--dry-run", is_flag=True, help="check the file and show the counts, write nothing")
@with_appcontext
def import_cmd(file: Path, committee_name: str, dry_run: bool) -> None:
    """Import a roster (.xlsx or .csv): all rows or none.

    Columns: 支部, 党小组, 姓名, 工号 (or 编号/党员编号), 职务, 政治面貌 (or 是否党员).
    On any problem every bad row is listed with its row number and column, nothing
    is written and the exit code is 1.
    """
    data = file.read_bytes()
    try:
        # The committee is only flushed: it is committed together with the
        # import, and a failed import or a dry run leaves no empty committee.
        committee = ensure_committee(committee_name, commit=False)
        report = import_roster(committee.id, file.name, data, dry_run=dry_run)
    except RosterInvalid as err:
        db.session.rollback()
        click.echo(f"{file.name}：有 {err.count} 处问题，未导入任何数据", err=True)
        for problem in err.rows:
            click.echo(f"  {problem.text}", err=True)
        raise click.exceptions.Exit(1) from None
    except ApiError as err:
        db.session.rollback()
        raise click.ClickException(f"{err.message}（{err.code}）") from None
    if dry_run:
        db.session.rollback()
    for line in report.lines():
        click.echo(line)


@org_cli.command("show")
@click.option("--committee", "committee_name", required=True, help="committee (党委) name")
@click.option("--members/--no-members", default=True, show_default=True,
              help="list the people, not only the branches and groups")
@with_appcontext
def show_cmd(committee_name: str, members: bool) -> None:
    """Print the committee's branches, party groups and members."""
    committee = db.session.execute(
        db.select(Committee).filter_by(name=clean_text(committee_name))).scalar_one_or_none()
    if committee is None:
        raise click.ClickException(f"找不到党委“{committee_name}”")
    for line in format_tree(org_tree(committee.id), members=members):
        click.echo(line)


def _person(m: dict[str, Any]) -> str:
    parts = [m["member_no"], m["name"]]
    if m["title"]:
        parts.append(m["title"])
    if not m["is_party_member"]:
        parts.append("［群众］")
    return "  ".join(parts)


def format_tree(tree: dict[str, Any], members: bool = True) -> list[str]:
    """The tree from org_tree() as indented text lines."""
    c = tree["counts"]
    others = c["members"] - c["party_members"]
    lines = [f"{tree['name']}：{c['branches']} 个支部，{c['groups']} 个党小组，"
             f"{c['members']} 人（党员 {c['party_members']} 人，群众 {others} 人）"]
    for branch in tree["branches"]:
        lines.append(f"  {branch['name']}：{branch['member_count']} 人")
        sections = [(g["name"], g["members"]) for g in branch["groups"]]
        if branch["ungrouped"]:
            sections.append(("（未分党小组）", branch["ungrouped"]))
        for name, people in sections:
            lines.append(f"    {name}：{len(people)} 人")
            if members:
                lines.extend(f"      {_person(m)}" for m in people)
    return lines
