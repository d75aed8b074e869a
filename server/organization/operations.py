"""Committees, the roster import (花名册导入) and the organisation tree.

Roster import: all or nothing
-----------------------------
:func:`import_roster` reads the file (:mod:`server.organization.importer`),
checks every row against the file and the database, and only when there is no
problem at all writes branches, party groups and members in one transaction.
Any problem raises :class:`RosterInvalid` (code ``roster_invalid``, 422) whose
``rows`` lists every problem with its Excel row number and column; nothing is
written then. ``dry_run`` does the same checks and counts and writes nothing.

Update semantics (the 工号/编号 is a person's identity within a committee)
---------------------------------------------------------------------------
* A member_no not yet in the committee: a new member is created.
* A member_no already in the committee with the same name (compared after
  trimming alignment spaces, 王　伟 = 王伟): the same person, updated in place:
  - branch: set to the file's branch (a person can move branch);
  - party group: set from the 党小组 column (an empty cell means "no group");
    if the file has no 党小组 column the group is kept when the branch is
    unchanged and cleared when the person moved branch;
  - title: set from the 职务 column (an empty cell clears it); kept if the file
    has no 职务 column;
  - party membership: set when the 政治面貌/是否党员 cell is filled, else kept
    (new members default to party members).
  A member whose values are already what the file says is counted as unchanged,
  so importing the same file twice changes nothing the second time.
* A member_no already in the committee under a different name is an error for
  that row (a typo, or a reused number): rename the person first if it really
  is a change of name.
* Nobody is deleted or moved out: people absent from the file are left as they
  are, and so are branches and groups absent from the file.
* Branches and party groups are matched by exact name (after whitespace is
  trimmed) and created when missing, in the order they first appear in the file.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import insert, update
from sqlalchemy.exc import IntegrityError

from server.core import audit
from server.core.db import db
from server.core.errors import ApiError
from server.organization.importer import (
    RosterInvalid,
    RosterRow,
    clean_text,
    normalize_name,
    parse_roster,
)
from server.organization.models import Branch, Committee, Member, PartyGroup

__all__ = ["ImportReport", "RosterInvalid", "ensure_committee", "import_roster", "org_tree"]


@dataclass
class ImportReport:
    """What an import did (or, for a dry run, would do)."""

    committee_id: int
    committee_name: str
    filename: str
    rows: int = 0
    branches_created: int = 0
    groups_created: int = 0
    members_created: int = 0
    members_updated: int = 0
    members_unchanged: int = 0
    dry_run: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def lines(self) -> list[str]:
        head = "试导入（未写入任何数据）" if self.dry_run else "导入完成"
        return [
            f"{head}：{self.filename} → {self.committee_name}",
            f"  人员行数：{self.rows}",
            f"  新建支部：{self.branches_created}",
            f"  新建党小组：{self.groups_created}",
            f"  新增人员：{self.members_created}",
            f"  更新人员：{self.members_updated}",
            f"  未变化人员：{self.members_unchanged}",
        ]


@dataclass
class _Target:
    """The state a row asks for, by names (so a dry run needs no writes)."""

    row: RosterRow
    member: Member | None
    branch: str
    group: str
    title: str
    is_party_member: bool
    changed: bool


def _committee_or_404(committee_id: int) -> Committee:
    committee = db.session.get(Committee, committee_id)
    if committee is None:
        raise ApiError("committee_not_found", "找不到该党委", "no such committee", 404,
                       "committee")
    return committee


def ensure_committee(name: str, *, commit: bool = True) -> Committee:
    """The committee called NAME, created if missing.

    With ``commit=False`` a new committee is only flushed (it has an id) and is
    committed with whatever the caller does next, or discarded by a rollback.
    """
    name = clean_text(name)
    if not name or len(name) > 100:
        raise ApiError("invalid_committee_name", "党委名称不能为空且不超过 100 个字",
                       "committee name must be 1-100 characters", 422, "committee")
    query = db.select(Committee).filter_by(name=name)
    committee = db.session.execute(query).scalar_one_or_none()
    if committee is not None:
        return committee
    committee = Committee(name=name)
    db.session.add(committee)
    try:
        if commit:
            db.session.commit()
        else:
            db.session.flush()
    except IntegrityError:  # created meanwhile by someone else
        db.session.rollback()
        committee = db.session.execute(query).scalar_one()
    return committee


def import_roster(committee_id: int, filename: str, data: bytes, dry_run: bool = False,
                  *, user: Any | None = None) -> ImportReport:
    """Import a roster file into the committee, all or nothing (see the module docstring).

    Raises RosterInvalid (422, ``rows``: the problems) and writes nothing if
    the file has any problem; ApiError 404 for an unknown committee, 409 if the
    tree was changed concurrently while writing.
    """
    committee = _committee_or_404(committee_id)
    roster = parse_roster(filename, data)
    cid = committee.id

    branches = {b.name: b for b in db.session.execute(
        db.select(Branch).filter_by(committee_id=cid)).scalars()}
    branch_name = {b.id: b.name for b in branches.values()}
    groups: dict[tuple[str, str], PartyGroup] = {}
    for g in db.session.execute(
            db.select(PartyGroup).join(Branch).where(Branch.committee_id == cid)).scalars():
        groups[(branch_name[g.branch_id], g.name)] = g
    group_name = {g.id: g.name for g in groups.values()}
    members = {m.member_no: m for m in db.session.execute(
        db.select(Member).filter_by(committee_id=cid)).scalars()}

    targets: list[_Target] = []
    for row in roster.rows:
        member = members.get(row.member_no)
        if member is None:
            targets.append(_Target(row, None, row.branch, row.group, row.title,
                                   True if row.is_party_member is None else row.is_party_member,
                                   True))
            continue
        if normalize_name(member.name) != row.name:
            label = roster.label("member_no")
            roster.add_error(row.row, "member_no",
                             f"“{row.member_no}”已是“{member.name}”的{label}，"
                             f"与本行姓名“{row.name}”不一致（如确为同一人改名，请先在系统中修改姓名）")
            continue
        old_branch = branch_name[member.branch_id]
        old_group = group_name.get(member.group_id, "") if member.group_id else ""
        if roster.has("group"):
            group = row.group
        else:
            group = old_group if old_branch == row.branch else ""
        title = row.title if roster.has("title") else member.title
        party = member.is_party_member if row.is_party_member is None else row.is_party_member
        changed = (old_branch, old_group, member.title, member.is_party_member) != (
            row.branch, group, title, party)
        targets.append(_Target(row, member, row.branch, group, title, party, changed))

    if not roster.ok:
        raise RosterInvalid(roster.errors, roster.error_count)

    new_branches = list(dict.fromkeys(t.branch for t in targets if t.branch not in branches))
    new_groups = list(dict.fromkeys((t.branch, t.group) for t in targets
                                    if t.group and (t.branch, t.group) not in groups))
    report = ImportReport(
        committee_id=cid, committee_name=committee.name, filename=filename,
        rows=len(targets), branches_created=len(new_branches), groups_created=len(new_groups),
        members_created=sum(t.member is None for t in targets),
        members_updated=sum(t.member is not None and t.changed for t in targets),
        members_unchanged=sum(not t.changed for t in targets), dry_run=dry_run,
    )
    if dry_run:
        return report

    try:
        for name in new_branches:
            branches[name] = Branch(committee_id=cid, name=name)
            db.session.add(branches[name])
        db.session.flush()
        for bname, gname in new_groups:
            groups[(bname, gname)] = PartyGroup(branch_id=branches[bname].id, name=gname)
            db.session.add(groups[(bname, gname)])
        db.session.flush()
        new_members: list[dict[str, Any]] = []
        changed_members: list[dict[str, Any]] = []
        for t in targets:
            if not t.changed:
                continue
            branch_id = branches[t.branch].id
            group_id = groups[(t.branch, t.group)].id if t.group else None
            if t.member is None:
                new_members.append({"committee_id": cid, "branch_id": branch_id,
                                    "group_id": group_id, "member_no": t.row.member_no,
                                    "name": t.row.name, "title": t.title,
                                    "is_party_member": t.is_party_member})
            else:
                changed_members.append({"id": t.member.id, "branch_id": branch_id,
                                        "group_id": group_id, "title": t.title,
                                        "is_party_member": t.is_party_member})
        # Bulk statements: thousands of rows without thousands of ORM events.
        if new_members:
            db.session.execute(insert(Member), new_members)
        if changed_members:
            db.session.execute(update(Member), changed_members)
        audit.record(user, "org.import", f"committee:{cid}",
                     f"{filename}: {report.rows} 行，新建支部 {report.branches_created}，"
                     f"新建党小组 {report.groups_created}，新增人员 {report.members_created}，"
                     f"更新人员 {report.members_updated}")
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise ApiError("roster_conflict", "导入时组织数据被同时修改，未导入任何数据，请重试",
                       "the organisation changed while importing; nothing was imported", 409,
                       ) from None
    except BaseException:
        db.session.rollback()
        raise
    return report


def _natural(text: str) -> list[Any]:
    return [(0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"(\d+)", text) if p]


def _member_dict(m: Member) -> dict[str, Any]:
    return {"id": m.id, "member_no": m.member_no, "name": m.name, "title": m.title,
            "is_party_member": m.is_party_member}


def org_tree(committee_id: int) -> dict[str, Any]:
    """The committee as nested dicts for display.

    ``{"id", "name", "counts": {branches, groups, members, party_members},
    "branches": [{"id", "name", "member_count", "party_member_count",
    "groups": [{"id", "name", "members": [...]}], "ungrouped": [...]}]}``;
    branches and groups in creation order (the order of the imported file),
    members by member_no (numbers compared as numbers).
    """
    committee = _committee_or_404(committee_id)
    cid = committee.id
    branches = db.session.execute(
        db.select(Branch).filter_by(committee_id=cid).order_by(Branch.id)).scalars().all()
    groups = db.session.execute(
        db.select(PartyGroup).join(Branch).where(Branch.committee_id == cid)
        .order_by(PartyGroup.id)).scalars().all()
    members = db.session.execute(
        db.select(Member).filter_by(committee_id=cid)).scalars().all()
    members = sorted(members, key=lambda m: (_natural(m.member_no), m.id))

    out_branches: dict[int, dict[str, Any]] = {
        b.id: {"id": b.id, "name": b.name, "member_count": 0, "party_member_count": 0,
               "groups": [], "ungrouped": []} for b in branches}
    out_groups: dict[int, dict[str, Any]] = {}
    for g in groups:
        out_groups[g.id] = {"id": g.id, "name": g.name, "members": []}
        out_branches[g.branch_id]["groups"].append(out_groups[g.id])
    for m in members:
        branch = out_branches[m.branch_id]
        branch["member_count"] += 1
        branch["party_member_count"] += int(m.is_party_member)
        if m.group_id is not None and m.group_id in out_groups:
            out_groups[m.group_id]["members"].append(_member_dict(m))
        else:
            branch["ungrouped"].append(_member_dict(m))
    return {
        "id": cid,
        "name": committee.name,
        "counts": {
            "branches": len(branches),
            "groups": len(groups),
            "members": len(members),
            "party_members": sum(m.is_party_member for m in members),
        },
        "branches": list(out_branches.values()),
    }
