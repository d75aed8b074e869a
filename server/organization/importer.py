"""Reading a roster (花名册) from CSV or .xlsx into checked rows, or row errors.

What is accepted
----------------
* ``.csv`` / ``.txt``: UTF-8 (with or without BOM), GB18030/GBK (what Chinese
  Excel writes for "CSV (逗号分隔)"), or UTF-16 with BOM (Excel "Unicode 文本",
  tab-separated). The delimiter (comma, tab or semicolon) is taken from the
  header line.
* ``.xlsx`` / ``.xlsm``: the first worksheet, read with openpyxl in read-only
  mode. Vertically merged cells (a branch name merged over all its members, as
  Chinese rosters are usually laid out) count for every row they cover.
* Old binary ``.xls`` (and encrypted workbooks) are refused with a hint to save
  as .xlsx or CSV.

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

Every value is stripped; runs of inner whitespace become one space, and a
Chinese name padded for alignment ("王　伟") loses its spaces. Row numbers in
errors are the ones Excel shows (header = row 1 when it is the first row).
Only file-level problems are checked here; checks against the database
(member numbers already used by someone else) are done by
:func:`server.organization.operations.import_roster`.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import re
import warnings
import zipfile
from collections.abc import Generator, Iterable
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

from server.core.errors import ApiError

MAX_ROWS = 20000  # data rows (people) in one file
MAX_BYTES = 20 * 1024 * 1024
MAX_ERRORS = 200  # listed row errors; the rest are counted
MAX_COLUMNS = 200  # cells looked at per row
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

_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff"))
_CJK_NAME = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_MERGE_REF = re.compile(rb"<(?:\w+:)?mergeCell\b[^>]*?\bref=\"([A-Z]+)(\d+):([A-Z]+)(\d+)\"")
_HEADER_NOISE = re.compile(r"[*＊]|[（(](?:必填|选填|可选|必须|非必填)[)）]")


@dataclass(frozen=True)
class RowError:
    """One problem, located as the user sees it in Excel.

    ``row`` is None for a problem with the whole file; ``column`` is the header
    text the file uses (e.g. 工号), None when no single column is at fault.
    """

    row: int | None
    column: str | None
    message: str
    field: str | None = None

    @property
    def text(self) -> str:
        if self.row is None:
            return self.message
        where = f"第{self.row}行"
        if self.column:
            where += f"“{self.column}”"
        return f"{where}：{self.message}"

    def __str__(self) -> str:
        return self.text

    def to_dict(self) -> dict[str, Any]:
        return {"row": self.row, "column": self.column, "field": self.field,
                "message": self.message, "text": self.text}


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


class _FileProblem(Exception):
    """The file as a whole cannot be read."""

    def __init__(self, message: str, row: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.row = row


# -- cleaning --------------------------------------------------------------

def clean_text(value: Any) -> str:
    """A cell as text: stripped, zero-width characters dropped, inner whitespace collapsed."""
    if value is None:
        return ""
    if isinstance(value, bool):
        text = "是" if value else "否"
    elif isinstance(value, int):
        text = str(value)
    elif isinstance(value, float):
        text = str(int(value)) if value.is_integer() else repr(value)
    elif isinstance(value, dt.datetime):
        text = value.date().isoformat() if value.time() == dt.time() else value.isoformat()
    elif isinstance(value, dt.date | dt.time):
        text = value.isoformat()
    else:
        text = str(value)
    return " ".join(text.translate(_ZERO_WIDTH).split())


def normalize_name(name: str) -> str:
    """A person's name for comparison: Chinese names lose alignment spaces (王　伟 → 王伟)."""
    name = clean_text(name)
    squeezed = name.replace(" ", "")
    if " " in name and _CJK_NAME.fullmatch(squeezed):
        return squeezed
    return name


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


# -- reading the file ------------------------------------------------------

def _kind(filename: str, data: bytes) -> str:
    suffix = PurePath(filename or "").suffix.lower()
    if data.startswith(b"\xd0\xcf\x11\xe0"):  # OLE2: .xls, or an encrypted .xlsx
        raise _FileProblem("不支持旧版 .xls 格式或加密的 Excel 文件，"
                           "请在 Excel 中“另存为” .xlsx（不设密码）或 CSV 后再导入")
    if suffix == ".xls":
        raise _FileProblem("不支持旧版 .xls 格式，请在 Excel 中“另存为” .xlsx 或 CSV 后再导入")
    if suffix in (".xlsx", ".xlsm"):
        if not data.startswith(b"PK"):
            raise _FileProblem("文件扩展名是 .xlsx，但内容不是有效的 Excel 文件")
        return "xlsx"
    if suffix in (".csv", ".txt"):
        # An .xlsx renamed to .csv is still read as what it is.
        return "xlsx" if data.startswith(b"PK\x03\x04") else "csv"
    shown = suffix or "（无扩展名）"
    raise _FileProblem(f"不支持的文件类型 {shown}，请上传 Excel（.xlsx）或 CSV（.csv）文件")


def _decode(data: bytes) -> str:
    if data.startswith(codecs.BOM_UTF8):
        candidates = [("utf-8", data[len(codecs.BOM_UTF8):])]
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        candidates = [("utf-16", data)]
    else:
        candidates = [("utf-8", data), ("gb18030", data)]
    bad: UnicodeDecodeError | None = None
    for encoding, raw in candidates:
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError as exc:
            bad = exc
            continue
        if "\x00" in text:
            raise _FileProblem("文件内容不是文本，请上传 Excel（.xlsx）或 CSV 文件")
        return text
    assert bad is not None
    line = bad.object[: bad.start].count(b"\n") + 1
    raise _FileProblem("文件编码无法识别（不是 UTF-8 或 GBK），"
                       "请在 Excel 中另存为“CSV UTF-8（逗号分隔）”后再导入", line)


def _csv_rows(data: bytes) -> Generator[tuple[int, list[Any]], None, None]:
    text = _decode(data)
    first = next((ln for ln in text.splitlines() if ln.strip()), "")
    delimiter = max(",\t;", key=first.count) if first else ","
    if first and not first.count(delimiter):
        delimiter = ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    number = 0
    try:
        for number, cells in enumerate(reader, start=1):
            yield number, cells[:MAX_COLUMNS]
    except csv.Error as exc:
        raise _FileProblem(f"CSV 格式错误，无法读取（{exc}）", number + 1) from None


def _col_index(letters: bytes) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + (ch - 64)
    return n


def _merged_ranges(wb: Any, ws: Any) -> list[tuple[int, int, int, int]]:
    """Merged ranges of the sheet as (min_row, min_col, max_row, max_col), 1-based.

    read-only worksheets do not expose merged cells, so they are read from the
    sheet's XML; if openpyxl's internals ever change this quietly returns [].
    """
    try:
        with wb._archive.open(ws._worksheet_path) as src:
            xml = src.read()
    except Exception:  # best effort only
        return []
    out = []
    for c1, r1, c2, r2 in _MERGE_REF.findall(xml):
        top, left, bottom, right = int(r1), _col_index(c1), int(r2), _col_index(c2)
        if bottom > top or right > left:
            out.append((top, min(left, MAX_COLUMNS), bottom, min(right, MAX_COLUMNS)))
    out.sort()
    return out


def _xlsx_rows(data: bytes) -> Generator[tuple[int, list[Any]], None, None]:
    import openpyxl

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, TypeError) as exc:
        raise _FileProblem(f"无法读取 Excel 文件，文件可能已损坏（{type(exc).__name__}）") from None
    except Exception as exc:  # openpyxl raises a variety of its own errors
        raise _FileProblem(f"无法读取 Excel 文件（{type(exc).__name__}）") from None
    try:
        if not wb.worksheets:
            raise _FileProblem("Excel 文件中没有工作表")
        ws = wb.worksheets[0]
        if not hasattr(ws, "iter_rows"):
            raise _FileProblem("第一个工作表是图表，不是表格")
        ws.reset_dimensions()  # some writers record a wrong size; read what is there
        merges = _merged_ranges(wb, ws)
        pending = 0  # index into merges of the next range to start
        active: list[tuple[int, int, int, int, Any]] = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rows = ws.iter_rows(min_row=1, values_only=True)
            for number, values in enumerate(rows, start=1):
                cells = list(values[:MAX_COLUMNS])
                while pending < len(merges) and merges[pending][0] <= number:
                    top, left, bottom, right = merges[pending]
                    pending += 1
                    if top == number:
                        anchor = cells[left - 1] if left - 1 < len(cells) else None
                        active.append((top, left, bottom, right, anchor))
                if active:
                    active = [m for m in active if m[2] >= number]
                    for _top, left, _bottom, right, anchor in active:
                        if anchor is None:
                            continue
                        if len(cells) < right:
                            cells.extend([None] * (right - len(cells)))
                        for i in range(left - 1, right):
                            if cells[i] is None:
                                cells[i] = anchor
                yield number, cells
    except _FileProblem:
        raise
    except Exception as exc:  # a damaged sheet part
        raise _FileProblem(
            f"无法读取 Excel 工作表，文件可能已损坏（{type(exc).__name__}）") from None
    finally:
        wb.close()


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
        kind = _kind(filename, data)
        table = _xlsx_rows(data) if kind == "xlsx" else _csv_rows(data)
        try:
            _parse_table(roster, table)
        finally:
            table.close()  # an .xlsx is closed even when parsing stopped early
    except _FileProblem as problem:
        roster.add_error(problem.row, None, problem.message)
    return roster
