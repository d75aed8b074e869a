"""The report as an Excel workbook in the layout organizers hand to the party committee:
a title block, merged header cells, thin borders, set column widths, A4 landscape."""

from __future__ import annotations

from typing import Any

from openpyxl import Workbook
from openpyxl.cell.cell import Cell
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from server.core.spreadsheet import workbook, xlsx_bytes
from server.results.report import DASH, Report, Section, Table

THIN = Side(style="thin", color="808080")
BOX = Border(left=THIN, right=THIN, top=THIN, bottom=THIN)
HEAD_FILL = PatternFill("solid", fgColor="F2DCDB")
FONT = "宋体"
NUMBER_FORMATS = {"int": "0", "dec2": "0.00", "pct": "0.00%"}


def _put(ws: Worksheet, row: int, col: int, value: Any, fmt: str = "text") -> Cell:
    """Write one value: text (escaped against formulas by `xlsx_bytes`), numbers rounded
    as shown, with their format."""
    cell = ws.cell(row=row, column=col)
    if value is None:
        cell.value = DASH
    elif isinstance(value, str):
        cell.value = value
    else:
        cell.value = shown_number(value, fmt)
        cell.number_format = NUMBER_FORMATS.get(fmt, "General")
    return cell


def shown_number(value: float, fmt: str) -> float | int:
    """The number as the cell shows it: a 2-decimal score as round(x, 2), a percentage
    (37.5 meaning 37.5%) as the fraction of its 2-decimal percent (0.375, never
    0.07690000000000001), a count as an int."""
    if fmt == "pct":
        return round(value / 100, 4)
    if fmt == "dec2":
        return round(value, 2)
    if fmt == "int":
        return int(value)
    return round(value, 4) if isinstance(value, float) else value


def _banner(ws: Worksheet, row: int, width: int, text: str, size: int, bold: bool = True,
            color: str = "000000", height: float | None = None) -> None:
    cell = _put(ws, row, 1, text)
    cell.font = Font(name=FONT, size=size, bold=bold, color=color)
    cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
    if width > 1:
        ws.merge_cells(start_row=row, start_column=1, end_row=row, end_column=width)
    if height:
        ws.row_dimensions[row].height = height


def _table(ws: Worksheet, top: int, table: Table) -> tuple[int, int]:
    """Draw a table from row `top`; returns (next free row, first data row)."""
    width = len(table.columns)
    row = top
    if table.title:
        cell = _put(ws, row, 1, table.title)
        cell.font = Font(name=FONT, size=11, bold=True)
        cell.alignment = Alignment(vertical="center")
        if width > 1:
            ws.merge_cells(start_row=row, start_column=1, end_row=row, end_column=width)
        ws.row_dimensions[row].height = 20
        row += 1
    for r in range(len(table.header)):
        for c in range(width):  # borders and fill on every header cell, merged or not
            cell = ws.cell(row=row + r, column=1 + c)
            cell.border = BOX
            cell.fill = HEAD_FILL
        ws.row_dimensions[row + r].height = 30 if len(table.header) == 1 else 22
    for r, c, head in table.placed_header():
        cell = _put(ws, row + r, 1 + c, head.text)
        cell.font = Font(name=FONT, size=10, bold=True)
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
        if head.cols > 1 or head.rows > 1:
            ws.merge_cells(start_row=row + r, start_column=1 + c,
                           end_row=row + r + head.rows - 1, end_column=c + head.cols)
    row += len(table.header)
    first_data = row
    for i, values in enumerate(table.rows):
        for c, (value, column) in enumerate(zip(values, table.columns, strict=True)):
            cell = _put(ws, row, 1 + c, value, column.fmt)
            cell.border = BOX
            cell.font = Font(name=FONT, size=10, bold=i in table.bold_rows)
            numeric = column.fmt not in ("text", "center") and not isinstance(value, str)
            align = "right" if numeric else "center" if column.fmt == "center" else "left"
            cell.alignment = Alignment(horizontal=align, vertical="center", wrap_text=not numeric)
        ws.row_dimensions[row].height = 18
        row += 1
    return row + 1, first_data


def _sheet(wb: Workbook, report: Report, section: Section) -> None:
    ws = wb.create_sheet(section.name)
    ncols = max(len(t.columns) for t in section.tables)
    widths = [max(t.columns[i].width for t in section.tables if i < len(t.columns))
              for i in range(ncols)]
    for i, w in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(i)].width = w
    _banner(ws, 1, ncols, report.title, 16, height=30)
    _banner(ws, 2, ncols, section.heading, 13, height=22)
    _banner(ws, 3, ncols, report.subtitle, 10, bold=False, color="595959", height=18)
    row = 5
    for n, table in enumerate(section.tables):
        header_top = row + (1 if table.title else 0)
        row, first_data = _table(ws, row, table)
        if n == 0:
            ws.freeze_panes = ws.cell(row=first_data, column=1)
            if len(section.tables) == 1:
                ws.print_title_rows = f"{header_top}:{first_data - 1}"
    for line in section.lines:
        cell = _put(ws, row, 1, line)
        cell.font = Font(name=FONT, size=10)
        cell.alignment = Alignment(wrap_text=True, vertical="top")
        if ncols > 1:
            ws.merge_cells(start_row=row, start_column=1, end_row=row, end_column=ncols)
        chars_per_line = max(20, int(sum(widths) / 2))
        ws.row_dimensions[row].height = 16 * (1 + len(line) // chars_per_line)
        row += 1

    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_options.horizontalCentered = True
    ws.page_margins.left = ws.page_margins.right = 0.4
    ws.page_margins.top = ws.page_margins.bottom = 0.6
    ws.oddFooter.center.text = "第 &P 页，共 &N 页"
    ws.oddFooter.center.size = 9


def render_xlsx(report: Report) -> bytes:
    wb = workbook()
    wb.remove(wb.active)
    for section in report.sections:
        _sheet(wb, report, section)
    wb.properties.title = report.title
    wb.properties.creator = "评议"
    return xlsx_bytes(wb)
