"""Reading spreadsheets people upload (.xlsx or CSV) into rows of cells.

Shared by the roster import (server/organization/importer.py) and the points
import (server/points/importer.py); each of them finds its own header and
checks its own columns. What is read:

* ``.csv`` / ``.txt``: UTF-8 (with or without BOM), GB18030/GBK (what Chinese
  Excel writes for "CSV (逗号分隔)"), or UTF-16 with BOM (Excel "Unicode 文本",
  tab-separated). The delimiter (comma, tab or semicolon) is taken from the
  first non-empty line. An .xlsx renamed to .csv is read as what it is.
* ``.xlsx`` / ``.xlsm``: the first worksheet, read with openpyxl in read-only
  mode. Merged cells (a branch name merged over all its members, as Chinese
  rosters are usually laid out) count for every cell they cover.
* Old binary ``.xls`` (and encrypted workbooks) are refused with a hint to save
  as .xlsx or CSV.

Rows are numbered as Excel shows them (the first line is row 1), and at most
MAX_COLUMNS cells of a row are looked at. A file that cannot be read at all
raises :class:`FileProblem` with a Chinese message (and the line, when known).
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import re
import warnings
import zipfile
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

from server.core.spreadsheet import unescape
from server.core.text import display_text

__all__ = ["MAX_COLUMNS", "FileProblem", "RowError", "Rows", "clean_text", "csv_rows",
           "file_kind", "normalize_name", "read_rows", "xlsx_rows"]

MAX_COLUMNS = 200  # cells looked at per row

Rows = Generator[tuple[int, list[Any]], None, None]
"""(row number as Excel shows it, raw cell values) for every row of a sheet."""

_CJK_NAME = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_MERGE_REF = re.compile(rb"<(?:\w+:)?mergeCell\b[^>]*?\bref=\"([A-Z]+)(\d+):([A-Z]+)(\d+)\"")


class FileProblem(Exception):
    """The file as a whole cannot be read; ``message`` is for the user (Chinese),
    ``row`` the line where reading stopped, when known."""

    def __init__(self, message: str, row: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.row = row


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


# -- cleaning cells ------------------------------------------------------------

def clean_text(value: Any) -> str:
    """A cell as text, normalised as console input is (`display_text`: invisible and
    bidi control characters dropped, inner whitespace collapsed)."""
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
        text = unescape(str(value))  # our own exports' apostrophe before = + - @
    return display_text(text)


def normalize_name(name: str) -> str:
    """A person's name for comparison: Chinese names lose alignment spaces (王　伟 → 王伟)."""
    name = clean_text(name)
    squeezed = name.replace(" ", "")
    if " " in name and _CJK_NAME.fullmatch(squeezed):
        return squeezed
    return name


# -- reading the file ----------------------------------------------------------

def file_kind(filename: str, data: bytes) -> str:
    """"xlsx" or "csv", from the file name and the first bytes; FileProblem for
    anything else (.xls, encrypted workbooks, unknown extensions)."""
    suffix = PurePath(filename or "").suffix.lower()
    if data.startswith(b"\xd0\xcf\x11\xe0"):  # OLE2: .xls, or an encrypted .xlsx
        raise FileProblem("不支持旧版 .xls 格式或加密的 Excel 文件，"
                          "请在 Excel 中“另存为” .xlsx（不设密码）或 CSV 后再导入")
    if suffix == ".xls":
        raise FileProblem("不支持旧版 .xls 格式，请在 Excel 中“另存为” .xlsx 或 CSV 后再导入")
    if suffix in (".xlsx", ".xlsm"):
        if not data.startswith(b"PK"):
            raise FileProblem("文件扩展名是 .xlsx，但内容不是有效的 Excel 文件")
        return "xlsx"
    if suffix in (".csv", ".txt"):
        # An .xlsx renamed to .csv is still read as what it is.
        return "xlsx" if data.startswith(b"PK\x03\x04") else "csv"
    shown = suffix or "（无扩展名）"
    raise FileProblem(f"不支持的文件类型 {shown}，请上传 Excel（.xlsx）或 CSV（.csv）文件")


def read_rows(filename: str, data: bytes) -> Rows:
    """The rows of an .xlsx or CSV file (see the module docstring); FileProblem if the
    kind is refused, or later while iterating if the content cannot be read.
    Close the generator when stopping early (an .xlsx holds the workbook open)."""
    return xlsx_rows(data) if file_kind(filename, data) == "xlsx" else csv_rows(data)


def read_table(filename: str, data: bytes, max_bytes: int, too_big: str = "",
               max_rows: int | None = None, header_rows: int = 0
               ) -> list[tuple[int, list[str]]]:
    """Every row of an upload as (row number, cleaned cells): FileProblem if it is
    empty, over `max_bytes` (the message ends with `too_big`), or over `max_rows`
    rows of data (`header_rows` more are allowed above them)."""
    if not data or not data.strip():
        raise FileProblem("文件是空的，没有任何内容")
    if len(data) > max_bytes:
        raise FileProblem(f"文件超过 {max_bytes // (1024 * 1024)} MB{too_big}")
    reader = read_rows(filename, data)
    try:
        out: list[tuple[int, list[str]]] = []
        for n, cells in reader:
            if max_rows is not None and len(out) > max_rows + header_rows:
                raise FileProblem(f"超过 {max_rows} 行的上限", n)
            out.append((n, [clean_text(c) for c in cells]))
        return out
    finally:
        reader.close()


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
            raise FileProblem("文件内容不是文本，请上传 Excel（.xlsx）或 CSV 文件")
        return text
    assert bad is not None
    line = bad.object[: bad.start].count(b"\n") + 1
    raise FileProblem("文件编码无法识别（不是 UTF-8 或 GBK），"
                      "请在 Excel 中另存为“CSV UTF-8（逗号分隔）”后再导入", line)


def csv_rows(data: bytes) -> Rows:
    """The rows of a CSV file (encoding and delimiter detected), cells as strings."""
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
        raise FileProblem(f"CSV 格式错误，无法读取（{exc}）", number + 1) from None


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


def _open_workbook(data: bytes) -> Any:
    import openpyxl

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, TypeError) as exc:
        raise FileProblem(f"无法读取 Excel 文件，文件可能已损坏（{type(exc).__name__}）") from None
    except Exception as exc:  # openpyxl raises a variety of its own errors
        raise FileProblem(f"无法读取 Excel 文件（{type(exc).__name__}）") from None


def xlsx_rows(data: bytes) -> Rows:
    """The rows of the first worksheet of an .xlsx, cell values as openpyxl gives them,
    a merged range's value repeated in every cell it covers."""
    wb = _open_workbook(data)
    try:
        if not wb.worksheets:
            raise FileProblem("Excel 文件中没有工作表")
        ws = wb.worksheets[0]
        if not hasattr(ws, "iter_rows"):
            raise FileProblem("第一个工作表是图表，不是表格")
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
                    _fill_merged(cells, active)
                yield number, cells
    except FileProblem:
        raise
    except Exception as exc:  # a damaged sheet part
        raise FileProblem(
            f"无法读取 Excel 工作表，文件可能已损坏（{type(exc).__name__}）") from None
    finally:
        wb.close()


def _fill_merged(cells: list[Any], active: list[tuple[int, int, int, int, Any]]) -> None:
    """Put each active merged range's anchor value into its empty cells of this row."""
    for _top, left, _bottom, right, anchor in active:
        if anchor is None:
            continue
        if len(cells) < right:
            cells.extend([None] * (right - len(cells)))
        for i in range(left - 1, right):
            if cells[i] is None:
                cells[i] = anchor
