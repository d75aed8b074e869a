"""Reading a roster (花名册) from CSV or .xlsx into checked rows, or row errors.

What is accepted
----------------
``.xlsx`` (first worksheet; merged cells count for every row they cover) and
CSV in UTF-8, GBK or UTF-16, read by :mod:`server.core.tabular`, which also
refuses old ``.xls`` files with a hint.

Layout
------
One header row, then one row per person. Title rows above the header
("XX党委党员花名册") are skipped: the header is the first of the first ten
non-empty rows that names at least two known columns. Unknown columns (序号,
性别, 备注, ...) are ignored, as are rows whose known columns are all empty.
Column names (surrounding spaces, ``*`` and a trailing "（必填）" are ignored):

=========  ========  =================================================
field      required  header names
=========  ========  =================================================
branch     yes       支部, 党支部, 所在支部, 所属支部, 支部名称
group      no        党小组, 小组, 所在党小组, 所属党小组, 党小组名称
name       yes       姓名, 名字
member_no  yes       编号, 工号, 党员编号, 员工编号, 职工编号, 人员编号
title      no        职务, 岗位, 职位, 职务/岗位, 职务岗位
party      no        政治面貌, 是否党员
=========  ========  =================================================

Every value is normalised as console input is (server/core/text.py's
display_text: invisible and bidi control characters such as U+202E dropped,
runs of inner whitespace made one space), and a
Chinese name padded for alignment ("王　伟") loses its spaces. Row numbers in
errors are the ones Excel shows (header = row 1 when it is the first row).
Only file-level problems are checked here; checks against the database
(member numbers already used by someone else) are done by
:func:`server.organization.operations.import_roster`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from server.core.errors import ApiError
from server.core.tabular import (
    FileProblem,
    RowError,
    clean_text,
    normalize_name,
    read_rows,
)

__all__ = ["FIELDS", "HEADER_ALIASES", "MAX_BYTES", "MAX_ERRORS", "MAX_ROWS",
           "Roster", "RosterInvalid", "RosterRow", "RowError", "clean_text", "normalize_name",
           "parse_party", "parse_roster"]

MAX_ROWS = 20000  # data rows (people) in one file
MAX_BYTES = 20 * 1024 * 1024
MAX_ERRORS = 200  # listed row errors; the rest are counted
HEADER_SEARCH = 10  # non-empty rows searched for the header

# field -> (label used in messages, max length, required)
FIELDS: dict[str, tuple[str, int | None, bool]] = {
    "branch": ("支部", 100, True),
    "group": ("党小组", 100, False),
    "name": ("姓名", 60, True),
    "member_no": ("工号", 40, True),
    "title": ("职务", 100, False),
    "party": ("政治面貌", None, False),
}

HEADER_ALIASES: dict[str, tuple[str, ...]] = {
    "branch": ("支部", "党支部", "所在支部", "所属支部", "支部名称", "所在党支部", "所属党支部",
               "branch"),
    "group": ("党小组", "小组", "所在党小组", "所属党小组", "党小组名称", "group", "partygroup"),
    "name": ("姓名", "名字", "name"),
    "member_no": ("编号", "工号", "党员编号", "员工编号", "职工编号", "人员编号", "memberno",
                  "member_no", "no"),
    "title": ("职务", "岗位", "职位", "职务/岗位", "职务（岗位）", "职务岗位", "title"),
    "party": ("政治面貌", "是否党员", "party"),
}

_PARTY_YES = {"中共党员", "中国共产党党员", "共产党员", "党员", "中共预备党员", "预备党员",
              "是", "Y", "YES", "TRUE", "1", "√", "✓", "✔"}
_PARTY_NO = {"群众", "否", "非党员", "非中共党员", "共青团员", "中国共产主义青年团团员", "团员",
             "无党派人士", "无党派", "民主党派", "N", "NO", "FALSE", "0", "×", "✗"}
_DEMOCRATIC_PARTIES = ("民革", "民盟", "民建", "民进", "农工", "致公", "九三", "台盟")

_HEADER_NOISE = re.compile(r"[*＊]|[（(](?:必填|选填|可选|必须|非必填)[)）]")


class RosterInvalid(ApiError):
    """The roster has errors; nothing was written. ``rows`` lists them."""

    def __init__(self, rows: list[RowError], count: int | None = None) -> None:
        n = len(rows) if count is None else count
        first = rows[0].text if rows else ""
        super().__init__(
            "roster_invalid",
            f"花名册有 {n} 处问题，未导入任何数据。{first}" if n > 1 else
            f"花名册有问题，未导入任何数据：{first}",
            f"the roster has {n} problem(s); nothing was imported",
            422,
        )
        self.rows = rows
        self.count = n  # all problems, also those left out of a capped list

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        out["rows"] = [r.to_dict() for r in self.rows]
        out["count"] = self.count
        return out


@dataclass
class RosterRow:
    """One person as read from the file (values already cleaned and checked)."""

    row: int
    branch: str
    group: str  # "" when empty or the file has no 党小组 column
    name: str
    member_no: str
    title: str  # "" when empty or the file has no 职务 column
    is_party_member: bool | None  # None: not given


@dataclass
class Roster:
    """The parse result: good rows, and errors (``ok`` is False if there are any)."""

    filename: str
    rows: list[RosterRow] = field(default_factory=list)
    columns: dict[str, str] = field(default_factory=dict)  # field -> header text used
    header_row: int | None = None
    _errors: list[RowError] = field(default_factory=list)
    _error_count: int = 0

    @property
    def ok(self) -> bool:
        return self._error_count == 0

    @property
    def errors(self) -> list[RowError]:
        """The errors in row order (file-level first), at most MAX_ERRORS of them,
        plus a note of how many were left out."""
        listed = sorted(self._errors, key=lambda e: -1 if e.row is None else e.row)
        hidden = self._error_count - len(listed)
        if hidden > 0:
            listed.append(RowError(None, None, f"另有 {hidden} 处问题未列出"))
        return listed

    @property
    def error_count(self) -> int:
        return self._error_count

    def has(self, fld: str) -> bool:
        return fld in self.columns

    def label(self, fld: str) -> str:
        return self.columns.get(fld) or FIELDS[fld][0]

    def add_error(self, row: int | None, fld: str | None, message: str,
                  column: str | None = None) -> None:
        self._error_count += 1
        if len(self._errors) < MAX_ERRORS:
            col = column if column is not None else (self.label(fld) if fld else None)
            self._errors.append(RowError(row, col, message, fld))


def _norm_header(value: str) -> str:
    text = _HEADER_NOISE.sub("", clean_text(value))
    return text.replace(" ", "").replace("：", "").replace(":", "").lower()


_HEADER_INDEX: dict[str, str] = {
    _norm_header(alias): fld for fld, aliases in HEADER_ALIASES.items() for alias in aliases
}


def parse_party(value: str) -> bool | None:
    """中共党员/预备党员/是 → True, 群众/否/共青团员/民主党派 → False, unknown → None."""
    key = value.replace(" ", "").upper()
    if key in _PARTY_YES:
        return True
    if key in _PARTY_NO or key.startswith(_DEMOCRATIC_PARTIES):
        return False
    return None


# -- parsing ---------------------------------------------------------------

def _header_fields(cells: list[str]) -> int:
    return len({_HEADER_INDEX[h] for h in map(_norm_header, cells) if h in _HEADER_INDEX})


def _read_header(roster: Roster, number: int, cells: list[str]) -> dict[str, int] | None:
    """Map fields to column indexes; None (with an error) if the header is unusable."""
    positions: dict[str, int] = {}
    usable = True
    for idx, raw in enumerate(cells):
        fld = _HEADER_INDEX.get(_norm_header(raw))
        if fld is None:
            continue
        if fld in positions:
            first = cells[positions[fld]]
            roster.add_error(number, fld,
                             f"与“{first}”列重复（都表示{FIELDS[fld][0]}），请只保留一列",
                             column=raw)
            usable = False
            continue
        positions[fld] = idx
        roster.columns[fld] = raw
    missing = [f for f, (_label, _n, required) in FIELDS.items()
               if required and f not in positions]
    if missing:
        parts = []
        for fld in missing:
            others = [a for a in HEADER_ALIASES[fld] if a != FIELDS[fld][0] and not a.isascii()]
            alt = "、".join(f"“{a}”" for a in others[:3])
            parts.append(f"“{FIELDS[fld][0]}”" + (f"（也可写作{alt}）" if alt else ""))
        roster.add_error(number, None, "表头缺少必填列" + "、".join(parts))
        usable = False
    return positions if usable else None


def _check_row(roster: Roster, number: int, values: dict[str, str],
               seen: dict[str, int]) -> RosterRow | None:
    bad = False
    for fld, (_label, max_len, required) in FIELDS.items():
        value = values.get(fld, "")
        if not value:
            if required and roster.has(fld):
                roster.add_error(number, fld, "不能为空")
                bad = True
            continue
        if max_len is not None and len(value) > max_len:
            roster.add_error(number, fld, f"不能超过 {max_len} 个字（现有 {len(value)} 个字）")
            bad = True
    party: bool | None = None
    if values.get("party"):
        party = parse_party(values["party"])
        if party is None:
            roster.add_error(number, "party", f"无法识别“{values['party'][:20]}”，"
                             "请填写“中共党员”“预备党员”或“群众”（或“是”/“否”）")
            bad = True
    member_no = values.get("member_no", "")
    if member_no:
        if member_no in seen:
            roster.add_error(number, "member_no", f"与第{seen[member_no]}行重复")
            bad = True
        else:
            seen[member_no] = number
    if bad:
        return None
    return RosterRow(row=number, branch=values["branch"], group=values.get("group", ""),
                     name=values["name"], member_no=member_no,
                     title=values.get("title", ""), is_party_member=party)


def _parse_table(roster: Roster, table: Iterable[tuple[int, list[Any]]]) -> None:
    positions: dict[str, int] | None = None
    candidates: list[tuple[int, list[str]]] = []  # non-empty rows before the header
    seen: dict[str, int] = {}
    data_rows = 0
    for number, raw in table:
        if positions is None:
            cells = [clean_text(c) for c in raw]
            if not any(cells):
                continue
            candidates.append((number, cells))
            if _header_fields(cells) >= 2 or len(candidates) >= HEADER_SEARCH:
                good = [c for c in candidates if _header_fields(c[1]) >= 2]
                roster.header_row, header = good[0] if good else candidates[0]
                positions = _read_header(roster, roster.header_row, header)
                if positions is None:
                    return
            continue
        values = {f: clean_text(raw[i]) if i < len(raw) else "" for f, i in positions.items()}
        if not any(values.values()):
            continue  # a blank row, or a template row with only 序号 filled in
        data_rows += 1
        if data_rows > MAX_ROWS:
            roster.add_error(None, None, f"人员超过 {MAX_ROWS} 行的上限，请拆分成多个文件分批导入")
            return
        if "name" in values:
            values["name"] = normalize_name(values["name"])
        row = _check_row(roster, number, values, seen)
        if row is not None:
            roster.rows.append(row)
    if roster.header_row is None:
        if not candidates:
            roster.add_error(None, None, "文件是空的，没有任何内容")
            return
        roster.header_row, header = candidates[0]
        if _read_header(roster, roster.header_row, header) is None:
            return
    if data_rows == 0:
        roster.add_error(None, None, "文件中只有表头，没有人员数据")


def parse_roster(filename: str, data: bytes) -> Roster:
    """Read and check a roster file; see the module docstring for the format.

    Never raises for a bad file: problems are in ``Roster.errors`` (``ok`` is
    False), and ``Roster.rows`` then holds only the rows that passed.
    """
    roster = Roster(filename=filename)
    if not data or not data.strip():
        roster.add_error(None, None, "文件是空的，没有任何内容")
        return roster
    if len(data) > MAX_BYTES:
        roster.add_error(None, None, f"文件超过 {MAX_BYTES // (1024 * 1024)} MB，请拆分后分批导入")
        return roster
    try:
        table = read_rows(filename, data)
        try:
            _parse_table(roster, table)
        finally:
            table.close()  # an .xlsx is closed even when parsing stopped early
    except FileProblem as problem:
        roster.add_error(problem.row, None, problem.message)
    return roster
