"""Importing a quarter's points from Excel (.xlsx) or CSV: every row or none.

One header row (title rows above it are skipped), then one row per entry:

=========  ========  =================================================
field      required  header names
=========  ========  =================================================
member_no  one of    工号, 编号, 党员编号, 员工编号, 职工编号, 人员编号
name       these     姓名 (checked against 工号; alone it must be unique)
group      three     党小组 (a party-group row, when 工号 and 姓名 are empty)
item       yes       项目, 积分项目, 考评项目, 项目名称, 考评内容 (label or key)
points     no        分值, 积分, 得分, 分数 (empty: the item's standard points;
                     deductions as the amount deducted, with or without a minus)
reason     no        事由, 积分事由, 原因, 说明 (empty: "<period> 积分导入")
evidence   no        佐证, 佐证材料, 证明材料, 备注
=========  ========  =================================================

Every row is checked against the branch's roster, the year's rules, the item
and category caps (counting what is approved plus the rows above it in the
file) and the period; identical rows, and a file imported before, are refused.
Any problem raises `PointsImportInvalid` listing every bad row; nothing is
written. With `approve` the rows are entered as approved (支委会审定 already
done on paper), else as pending; the upload then names who approved the sheet,
a second person: 422 approver_required without one, 409 self_approval when it
is the uploader (unless the rule set has allow_self_approval), 422
invalid_approver when that account may not approve the branch. An operator's
CLI import without an account (`--as` absent) may approve alone, audited so.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from server.core import audit
from server.core.db import db
from server.core.errors import ApiError, error_kind
from server.core.tabular import (  # shared with the roster import: merged cells, GBK CSV
    FileProblem,
    RowError,
    normalize_name,
    read_table,
)
from server.organization.models import Member, PartyGroup
from server.points import boards, periods
from server.points.access import load_approver, load_branch, require_approver, require_keeper
from server.points.amounts import fmt
from server.points.models import PointsEntry
from server.points.operations import (
    REASON_MAX,
    Draft,
    cap_check,
    new_entry,
    parse_period_field,
    parse_points,
)
from server.points.rulebook import rules_for_committee
from server.points.rules import entry_problem

MAX_BYTES = 10 * 1024 * 1024
MAX_ROWS = 5000
MAX_LISTED = 200
HEADER_SEARCH = 10

LABELS = {"member_no": "工号", "name": "姓名", "group": "党小组", "item": "项目",
          "points": "分值", "reason": "事由", "evidence": "佐证材料"}
ALIASES = {
    "member_no": ("工号", "编号", "党员编号", "员工编号", "职工编号", "人员编号"),
    "name": ("姓名", "党员姓名"),
    "group": ("党小组", "小组", "党小组名称"),
    "item": ("项目", "积分项目", "考评项目", "项目名称", "考评内容", "积分内容"),
    "points": ("分值", "积分", "得分", "分数", "积分分值"),
    "reason": ("事由", "积分事由", "原因", "说明", "加减分事由"),
    "evidence": ("佐证", "佐证材料", "证明材料", "备注"),
}
_HEADER = {"".join(a.split()): f for f, names in ALIASES.items() for a in names}


class PointsImportInvalid(ApiError):
    """The sheet has problems; nothing was written. `rows` lists them."""

    def __init__(self, rows: list[RowError], count: int) -> None:
        first = rows[0].text if rows else ""
        super().__init__("import_invalid",
                         f"积分表有 {count} 处问题，未导入任何数据。{first}",
                         f"the sheet has {count} problem(s); nothing was imported", 422)
        self.rows, self.count = rows, count

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "rows": [r.to_dict() for r in self.rows],
                "count": self.count}


@dataclass
class ImportReport:
    filename: str
    period: str
    rows: int = 0
    members: int = 0
    groups: int = 0
    total_x10: int = 0
    approved: bool = False
    approved_by: str | None = None  # the approver's username (None: an account-less operator)
    dry_run: bool = False
    entry_ids: list[int] = field(default_factory=list)

    @property
    def total(self) -> str:
        return fmt(self.total_x10, signed=True)


@dataclass
class _Problems:
    items: list[RowError] = field(default_factory=list)
    count: int = 0

    def add(self, row: int | None, fld: str | None, message: str) -> None:
        self.count += 1
        if len(self.items) < MAX_LISTED:
            self.items.append(RowError(row, LABELS.get(fld or "", None), message, fld))


def _table(filename: str, data: bytes) -> list[tuple[int, list[str]]]:
    return read_table(filename, data, MAX_BYTES, "，请拆分后分批导入")


def _header(table: list[tuple[int, list[str]]], problems: _Problems
            ) -> tuple[int, dict[str, int]] | None:
    seen = [(n, cells) for n, cells in table if any(cells)][:HEADER_SEARCH]
    for number, cells in seen:
        found: dict[str, int] = {}
        for i, text in enumerate(cells):
            fld = _HEADER.get("".join(text.replace("*", "").split()))
            if fld and fld not in found:
                found[fld] = i
        if "item" in found and {"member_no", "name", "group"} & set(found):
            return number, found
    problems.add(seen[0][0] if seen else None, None,
                 "找不到表头：需要“项目”列，以及“工号”“姓名”或“党小组”列")
    return None


APPROVER_REQUIRED = error_kind(
    "approver_required", "导入即审定须注明审定人：由录入人以外的支委会成员审定",
    "an approved import names who approved it (not the uploader)", 422, "approver")
SELF_APPROVAL = error_kind(
    "self_approval", "导入即审定须由录入人以外的支委会成员审定，上传人不能审定自己导入的积分"
    "（只有一人的支部可在积分规则中设 allow_self_approval = true）",
    "the uploader cannot approve the sheet (rule set: allow_self_approval)", 409, "approver")


def _approver(user: Any, branch: Any, rules: Any, value: Any) -> Any:
    """Who approved the sheet (支委会审定 on paper): a second approver of the branch; the
    uploader alone only if the rule set allows it or it is an operator without an account."""
    if value is None or (isinstance(value, str) and not value.strip()):
        if rules.allow_self_approval or getattr(user, "id", None) is None:
            return user
        raise APPROVER_REQUIRED
    approver = load_approver(branch, value)
    if approver.id == getattr(user, "id", None) and not rules.allow_self_approval:
        raise SELF_APPROVAL
    return approver


def _who(user: Any) -> str:
    return getattr(user, "username", None) or f"{user.display_name}（无账号）"


def import_points(user: Any, branch_id: Any, period: Any, filename: str, data: bytes,
                  approve: bool = False, dry_run: bool = False,
                  approver: Any = None) -> ImportReport:
    """Check and write a sheet; `approver` (a user, username or id) approved it on paper."""
    require_keeper(user)
    if approve:
        require_approver(user)
    branch = load_branch(user, branch_id)
    per = parse_period_field(period)
    periods.ensure_open(branch.committee_id, per)
    rules = rules_for_committee(branch.committee_id, per.year)
    decider = _approver(user, branch, rules, approver) if approve else None
    batch = hashlib.sha256(data).hexdigest()[:16]
    if db.session.execute(db.select(PointsEntry.id).filter_by(
            branch_id=branch.id, import_batch=batch)).first():
        raise ApiError("import_duplicate", "这个文件已经导入过，不能重复导入",
                       "this file was imported before", 409, "file")
    problems = _Problems()
    try:
        table = _table(filename, data)
    except FileProblem as exc:
        problems.add(exc.row, None, exc.message)
        raise PointsImportInvalid(problems.items, problems.count) from None
    found = _header(table, problems)
    if found is None:
        raise PointsImportInvalid(problems.items, problems.count)
    header_row, cols = found

    members = list(db.session.execute(db.select(Member).filter_by(branch_id=branch.id)).scalars())
    by_no = {m.member_no: m for m in members}
    by_name: dict[str, list[Member]] = defaultdict(list)
    for m in members:
        by_name[normalize_name(m.name)].append(m)
    groups = {g.name: g for g in db.session.execute(
        db.select(PartyGroup).filter_by(branch_id=branch.id)).scalars()}

    drafts: list[tuple[int, Draft]] = []
    seen: dict[tuple[Any, ...], int] = {}
    added: dict[tuple[Any, ...], int] = defaultdict(int)  # earlier rows, per cap bucket
    for number, cells in table:
        if number <= header_row:
            continue
        values = {f: (cells[i] if i < len(cells) else "") for f, i in cols.items()}
        if not any(values.values()):
            continue
        if len(drafts) + problems.count >= MAX_ROWS:
            problems.add(None, None, f"超过 {MAX_ROWS} 行的上限，请拆分成多个文件")
            break
        draft = _row(number, values, per, rules, branch, by_no, by_name, groups, filename,
                     problems)
        if draft is None:
            continue
        key = (draft.subject_kind, draft.subject.id, draft.item.key, draft.points_x10,
               draft.reason, draft.evidence)
        if key in seen:
            problems.add(number, None, f"与第{seen[key]}行重复")
            continue
        seen[key] = number
        item_bucket = (draft.subject_kind, draft.subject.id, "item", draft.item.key)
        cat_bucket = (draft.subject_kind, draft.subject.id, "category", draft.item.category)
        try:
            cap_check(draft, draft.item, rules, extra_item=added[item_bucket],
                      extra_category=added[cat_bucket])
        except ApiError as err:
            problems.add(number, "points", err.message)
            continue
        added[item_bucket] += draft.points_x10
        added[cat_bucket] += draft.points_x10
        drafts.append((number, draft))
    if problems.count:
        raise PointsImportInvalid(problems.items, problems.count)
    if not drafts:
        raise PointsImportInvalid([RowError(None, None, "文件中只有表头，没有积分数据")], 1)

    report = ImportReport(filename=filename, period=per.code, rows=len(drafts),
                          members=len({d.subject.id for _, d in drafts
                                       if d.subject_kind == "member"}),
                          groups=len({d.subject.id for _, d in drafts
                                      if d.subject_kind == "group"}),
                          total_x10=sum(d.points_x10 for _, d in drafts),
                          approved=approve, dry_run=dry_run,
                          approved_by=getattr(decider, "username", None))
    if dry_run:
        return report
    status = "approved" if approve else "pending"
    entries = [new_entry(d, user, "import", status, approver=decider, import_batch=batch)
               for _, d in drafts]
    db.session.flush()
    report.entry_ids = [e.id for e in entries]
    approval = f", entered by {_who(user)}, approved by {_who(decider)}" if decider else ""
    audit.record(user, "points.import", f"branch:{branch.id}",
                 f"{filename}: {len(entries)} rows, {per.code}, {status}{approval}")
    db.session.commit()
    if approve:
        boards.apply(entries)
    return report


def _row(number: int, values: dict[str, str], per: Any, rules: Any, branch: Any,
         by_no: dict[str, Member], by_name: dict[str, list[Member]],
         groups: dict[str, PartyGroup], filename: str, problems: _Problems) -> Draft | None:
    before = problems.count
    subject: Member | PartyGroup | None = None
    kind = "member"
    no, name, group = values.get("member_no", ""), values.get("name", ""), values.get("group", "")
    if no:
        subject = by_no.get(no)
        if subject is None:
            problems.add(number, "member_no", f"工号“{no}”不在{branch.name}的名单中")
        elif name and normalize_name(name) != normalize_name(subject.name):
            problems.add(number, "name", f"姓名与工号不符：工号{no}是{subject.name}")
            subject = None
    elif name:
        found = by_name.get(normalize_name(name), [])
        if len(found) == 1:
            subject = found[0]
        else:
            problems.add(number, "name", f"{branch.name}中没有“{name}”" if not found else
                         f"{branch.name}有 {len(found)} 个“{name}”，请填写工号")
    elif group:
        kind = "group"
        subject = groups.get(group)
        if subject is None:
            problems.add(number, "group", f"{branch.name}没有党小组“{group}”")
    else:
        problems.add(number, "member_no", "请填写工号、姓名或党小组")
    if isinstance(subject, Member) and not subject.is_party_member:
        problems.add(number, "name", f"{subject.name}不是党员，不参加党员积分")
        subject = None

    scheme = rules.scheme(kind)
    item = scheme.find_item(values.get("item", ""))
    if not values.get("item"):
        problems.add(number, "item", "请填写积分项目")
    elif item is None:
        problems.add(number, "item", f"没有积分项目“{values['item']}”（{scheme.label}）")

    magnitude = None
    if item is not None:
        try:
            magnitude = parse_points(values.get("points", ""), item)
            problem = entry_problem(item, magnitude)  # type: ignore[arg-type]  # None only for no item
            if problem:
                problems.add(number, "points", problem)
        except ApiError as err:
            problems.add(number, "points", err.message)
    reason = " ".join(values.get("reason", "").split()) or f"{per.label}积分导入"
    evidence = " ".join(values.get("evidence", "").split())
    if len(reason) > REASON_MAX:
        problems.add(number, "reason", f"事由不能超过 {REASON_MAX} 个字")
    if len(evidence) > 500:
        problems.add(number, "evidence", "佐证材料不能超过 500 个字")
    if problems.count > before or subject is None or item is None or magnitude is None:
        return None
    return Draft(subject=subject, subject_kind=kind, item=item, rules=rules, period=per,
                 points_x10=0 if item.is_veto else item.signed(magnitude), reason=reason,
                 evidence=evidence)
