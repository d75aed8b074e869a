"""Reading an imported sheet of scores (e.g. 年度业绩考核): every row or none.

One header row (title rows above it are skipped) with 工号 and/or 姓名 and 分数;
each row names a member of the committee's roster. A row is matched by 工号 (and
its 姓名, when given, must agree); a row with only a 姓名 is matched when that name
is unique in the committee's roster (the result says so), never guessed
otherwise. Any problem raises `SheetInvalid` listing every bad row by its row
number; nothing is saved.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from server.core.db import db
from server.core.errors import ApiError
from server.core.tabular import FileProblem, RowError, normalize_name, read_table
from server.organization.models import Member

MAX_BYTES = 2 * 1024 * 1024
MAX_ROWS = 5000
MAX_LISTED = 200
MAX_SCORE = 1000
HEADER_SEARCH = 10
LABELS = {"member_no": "工号", "name": "姓名", "score": "分数"}
ALIASES = {
    "member_no": ("工号", "编号", "员工编号", "职工编号", "人员编号", "党员编号"),
    "name": ("姓名", "名字"),
    "score": ("分数", "得分", "成绩", "考核得分", "业绩考核得分", "考核分数"),
}
_HEADER = {a: f for f, names in ALIASES.items() for a in names}
_SCORE = re.compile(r"\d{1,4}(\.\d{1,4})?")


class SheetInvalid(ApiError):
    """The sheet has problems; nothing was saved. `rows` lists them."""

    def __init__(self, rows: list[RowError], count: int) -> None:
        first = rows[0].text if rows else ""
        super().__init__("sheet_invalid", f"成绩表有 {count} 处问题，未导入任何数据。{first}",
                         f"the sheet has {count} problem(s); nothing was imported", 422,
                         "file")
        self.rows, self.count = rows, count

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "rows": [r.to_dict() for r in self.rows],
                "count": self.count}


@dataclass(frozen=True)
class SheetRow:
    row: int
    member: Member
    score: str  # the exact decimal as written
    matched_by: str  # "member_no" or "name"


class _Problems:
    def __init__(self) -> None:
        self.items: list[RowError] = []
        self.count = 0

    def add(self, row: int | None, fld: str | None, message: str) -> None:
        self.count += 1
        if len(self.items) < MAX_LISTED:
            self.items.append(RowError(row, LABELS.get(fld or ""), message, fld))

    def fail(self) -> SheetInvalid:
        return SheetInvalid(self.items, self.count)


def _table(filename: str, data: bytes) -> list[tuple[int, list[str]]]:
    return read_table(filename, data, MAX_BYTES, max_rows=MAX_ROWS, header_rows=HEADER_SEARCH)


def _header(table: list[tuple[int, list[str]]]) -> tuple[int, dict[str, int]] | None:
    for number, cells in [(n, c) for n, c in table if any(c)][:HEADER_SEARCH]:
        found: dict[str, int] = {}
        for i, text in enumerate(cells):
            fld = _HEADER.get("".join(text.replace("*", "").split()))
            if fld and fld not in found:
                found[fld] = i
        if "score" in found and {"member_no", "name"} & set(found):
            return number, found
    return None


def read_sheet(committee_id: int, filename: str, data: bytes) -> list[SheetRow]:
    """The sheet's rows matched to the committee's roster, or SheetInvalid."""
    problems = _Problems()
    try:
        table = _table(filename, data)
    except FileProblem as exc:
        problems.add(exc.row, None, exc.message)
        raise problems.fail() from None
    found = _header(table)
    if found is None:
        problems.add(None, None, "找不到表头：需要“分数”列，以及“工号”或“姓名”列")
        raise problems.fail()
    header_row, cols = found
    members = list(db.session.execute(
        db.select(Member).filter_by(committee_id=committee_id)).scalars())
    by_no = {m.member_no: m for m in members}
    by_name: dict[str, list[Member]] = defaultdict(list)
    for m in members:
        by_name[normalize_name(m.name)].append(m)

    out: list[SheetRow] = []
    seen: dict[int, int] = {}
    for number, cells in table:
        if number <= header_row:
            continue
        values = {f: (cells[i] if i < len(cells) else "") for f, i in cols.items()}
        if not any(values.values()):
            continue
        before = problems.count
        member, how = _member(number, values, by_no, by_name, problems)
        score = values.get("score", "")
        if not score:
            problems.add(number, "score", "请填写分数")
        elif not _SCORE.fullmatch(score) or float(score) > MAX_SCORE:
            problems.add(number, "score",
                         f"分数“{score[:20]}”不是 0 到 {MAX_SCORE} 之间的数（最多四位小数）")
        if member is not None and member.id in seen:
            problems.add(number, "member_no" if how == "member_no" else "name",
                         f"{member.name}（工号{member.member_no}）与第{seen[member.id]}行重复")
        if problems.count > before or member is None:
            continue
        seen[member.id] = number
        out.append(SheetRow(number, member, score, how))
    if problems.count:
        raise problems.fail()
    if not out:
        problems.add(None, None, "文件中只有表头，没有成绩数据")
        raise problems.fail()
    return out


def _member(number: int, values: dict[str, str], by_no: dict[str, Member],
            by_name: dict[str, list[Member]], problems: _Problems
            ) -> tuple[Member | None, str]:
    no, name = values.get("member_no", ""), values.get("name", "")
    if no:
        member = by_no.get(no)
        if member is None:
            problems.add(number, "member_no", f"工号“{no[:40]}”不在本党委花名册中")
        elif name and normalize_name(name) != normalize_name(member.name):
            problems.add(number, "name", f"姓名与工号不符：工号{no}是{member.name}")
            member = None
        return member, "member_no"
    if not name:
        problems.add(number, "member_no", "请填写工号或姓名")
        return None, ""
    found = by_name.get(normalize_name(name), [])
    if len(found) == 1:
        return found[0], "name"
    problems.add(number, "name", f"花名册中没有“{name[:40]}”" if not found else
                 f"花名册中有 {len(found)} 个“{name[:40]}”，请填写工号")
    return None, ""
