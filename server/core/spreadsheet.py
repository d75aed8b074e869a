"""The one spreadsheet writer: every .xlsx and .csv the project hands out is made here.

A cell of text that starts with = + - @, a tab, CR or LF (or their full-width
forms, which some spreadsheet programs normalise) would be run as a formula or a
DDE call when the file is opened; such text gets a leading apostrophe (OWASP's
CSV-injection advice), and in a workbook every text cell is stored as text,
never as a formula. tests/test_guarded_writer.py checks that no other module
creates a workbook or a CSV writer.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from io import BytesIO, StringIO
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from openpyxl import Workbook

FORMULA_START = tuple("=+-@\t\r\n") + tuple("＝＋－＠")


class Figure(str):
    """A number the caller formatted itself (e.g. "-1.50"): written as it is."""


def safe_text(value: str) -> str:
    """Text that no spreadsheet will evaluate: a leading formula character is escaped
    with an apostrophe."""
    if isinstance(value, Figure):
        return value
    return "'" + value if value.startswith(FORMULA_START) else value


def unescape(text: str) -> str:
    """Text as written before `safe_text` (a file of ours read back, e.g. the points
    import template filled in)."""
    return text[1:] if text[:1] == "'" and text[1:].startswith(FORMULA_START) else text


def workbook() -> Workbook:
    """A new workbook; write it out with `xlsx_bytes` (which guards every cell)."""
    from openpyxl import Workbook

    return Workbook()


def xlsx_bytes(wb: Workbook) -> bytes:
    """The workbook as .xlsx bytes, every text cell escaped and stored as text."""
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                if isinstance(cell.value, str):
                    cell.value = safe_text(cell.value)
                    cell.data_type = "s"  # never a formula, whatever the text
    if wb.properties.title:
        wb.properties.title = safe_text(wb.properties.title)
    out = BytesIO()
    wb.save(out)
    return out.getvalue()


def csv_bytes(rows: Iterable[Iterable[Any]]) -> bytes:
    """Rows as CSV, UTF-8 with a BOM (so Excel on Windows reads the Chinese), CRLF lines;
    text is escaped, numbers and None ("") are written as they are."""
    out = StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    for row in rows:
        w.writerow(["" if v is None else safe_text(v) if isinstance(v, str) else v
                    for v in row])
    return ("\ufeff" + out.getvalue()).encode("utf-8")
