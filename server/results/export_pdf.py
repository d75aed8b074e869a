"""The report as a PDF (A4 landscape, CJK font embedded via server/core/fonts.py)."""

from __future__ import annotations

from io import BytesIO
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER, TA_LEFT, TA_RIGHT
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import (
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    TableStyle,
)
from reportlab.platypus import (
    Table as PdfTable,
)

from server.core.fonts import register_reportlab_cjk
from server.results.report import Report, Section, Table, format_value

PAGE = landscape(A4)
MARGIN = 12 * mm
USABLE = PAGE[0] - 2 * MARGIN
UNIT = 2.5 * mm  # one Excel width unit, before shrinking a wide table to the page
RED = colors.HexColor("#C8161D")
HEAD_BG = colors.HexColor("#F2DCDB")
LINE = colors.HexColor("#808080")
TOTAL_BG = colors.HexColor("#F2F2F2")


def _styles(font: str) -> dict[str, ParagraphStyle]:
    def style(name: str, size: float, align: int = TA_LEFT, color: Any = colors.black,
              leading: float | None = None) -> ParagraphStyle:
        return ParagraphStyle(name, fontName=font, fontSize=size, leading=leading or size * 1.3,
                              alignment=align, textColor=color, wordWrap="CJK")

    return {
        "title": style("title", 18, TA_CENTER, leading=26),
        "subtitle": style("subtitle", 9.5, TA_CENTER, colors.HexColor("#595959")),
        "heading": style("heading", 13, color=RED, leading=18),
        "caption": style("caption", 10, leading=14),
        "head": style("head", 9, TA_CENTER),
        "cell": style("cell", 9),
        "num": style("num", 9, TA_RIGHT),
        "center": style("center", 9, TA_CENTER),
        "line": style("line", 9.5, leading=14),
    }


def _table(table: Table, st: dict[str, ParagraphStyle]) -> PdfTable:
    width = len(table.columns)
    nhead = len(table.header)
    data: list[list[Any]] = [["" for _ in range(width)] for _ in range(nhead)]
    spans = []
    for r, c, head in table.placed_header():
        data[r][c] = Paragraph(escape(head.text), st["head"])
        if head.cols > 1 or head.rows > 1:
            spans.append(("SPAN", (c, r), (c + head.cols - 1, r + head.rows - 1)))
    for values in table.rows:
        row = []
        for value, column in zip(values, table.columns, strict=True):
            numeric = column.fmt not in ("text", "center") and not isinstance(value, str)
            text = escape(format_value(value, column.fmt))
            kind = "num" if numeric else "center" if column.fmt == "center" else "cell"
            row.append(Paragraph(text, st[kind]))
        data.append(row)
    natural = [c.width * UNIT for c in table.columns]
    scale = min(1.0, USABLE / sum(natural))
    out = PdfTable(data, colWidths=[w * scale for w in natural], repeatRows=nhead, hAlign="LEFT")
    out.setStyle(TableStyle([
        ("GRID", (0, 0), (-1, -1), 0.5, LINE),
        ("BACKGROUND", (0, 0), (-1, nhead - 1), HEAD_BG),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("TOPPADDING", (0, 0), (-1, -1), 2.5),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
        ("LEFTPADDING", (0, 0), (-1, -1), 3),
        ("RIGHTPADDING", (0, 0), (-1, -1), 3),
        *spans,
        # the CJK font has no bold face: total rows are shaded instead
        *(("BACKGROUND", (0, nhead + i), (-1, nhead + i), TOTAL_BG) for i in table.bold_rows),
    ]))
    return out


def _section(section: Section, st: dict[str, ParagraphStyle]) -> list[Any]:
    flow: list[Any] = [Paragraph(escape(section.heading), st["heading"]), Spacer(1, 2 * mm)]
    for table in section.tables:
        if table.title:
            flow.append(Paragraph(escape(table.title), st["caption"]))
            flow.append(Spacer(1, 1.2 * mm))
        flow.append(_table(table, st))
        flow.append(Spacer(1, 3 * mm))
    flow += [Paragraph(escape(line), st["line"]) for line in section.lines]
    flow.append(Spacer(1, 5 * mm))
    small = sum(len(t.rows) + len(t.header) for t in section.tables) <= 24
    return [KeepTogether(flow)] if small else flow


def render_pdf(report: Report) -> bytes:
    font = register_reportlab_cjk()
    st = _styles(font)
    buf = BytesIO()

    def footer(canvas: Any, doc: Any) -> None:
        canvas.saveState()
        canvas.setFont(font, 8)
        canvas.setFillColor(colors.HexColor("#808080"))
        canvas.drawString(MARGIN, 8 * mm, report.footer)
        canvas.drawRightString(PAGE[0] - MARGIN, 8 * mm, f"{report.title}　第 {doc.page} 页")
        canvas.restoreState()

    doc = SimpleDocTemplate(buf, pagesize=PAGE, leftMargin=MARGIN, rightMargin=MARGIN,
                            topMargin=12 * mm, bottomMargin=14 * mm, title=report.title,
                            author="评议", subject=report.subtitle)
    story: list[Any] = [Paragraph(escape(report.title), st["title"]),
                        Paragraph(escape(report.subtitle), st["subtitle"]), Spacer(1, 5 * mm)]
    # On paper the short 有效性 section follows the summary; the details come after.
    sections = report.sections
    if len(sections) > 2:
        sections = [sections[0], sections[-1], *sections[1:-1]]
    for section in sections:
        story += _section(section, st)
    doc.build(story, onFirstPage=footer, onLaterPages=footer)
    return buf.getvalue()
