"""The printable paper ballot (纸质选票): a round's form as tables of boxes to tick or
cells to fill in, A4 portrait; a meeting's forms one after another.

Like the QR slips (tokens/slips.py) it carries nothing that maps to a person: no
serial, no number, no code; only the round, the voter category (entry is per
category) and the instructions. Every copy of a category's ballot is the same sheet.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from io import BytesIO
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import PageBreak, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from server.core.fonts import register_reportlab_cjk
from server.forms.sections import round_form
from server.paper.sheet import Choices, Grid, Part, Scores, parts

MARGIN = 14 * mm
USABLE = A4[0] - 2 * MARGIN
BOX = "□"
LINE = colors.HexColor("#606060")
HEAD_BG = colors.HexColor("#F2F2F2")
REMINDER = ("本票不记名、不编号。请用黑色或蓝色笔填写，填好后投入票箱。"
            "涂改、多选、漏填或无法辨认的选票按无效票处理。")


def _styles(font: str) -> dict[str, ParagraphStyle]:
    def style(name: str, size: float, align: int = 0) -> ParagraphStyle:
        return ParagraphStyle(name, fontName=font, fontSize=size, leading=size * 1.35,
                              alignment=align, wordWrap="CJK")

    return {"title": style("title", 16, TA_CENTER), "line": style("line", 10),
            "head": style("head", 9, TA_CENTER), "cell": style("cell", 9),
            "box": style("box", 12, TA_CENTER), "section": style("section", 11.5)}


def instruction(part: Part) -> str:
    """What the voter is told to do on this part of the sheet."""
    if isinstance(part, Choices):
        most = f"最多推荐 {part.high} 人" + (f"，至少推荐 {part.low} 人" if part.low else "")
        return (f"请在同意推荐的候选人后的“{BOX}”内划“✓”，{most}；"
                f"超过 {part.high} 人的选票为无效票。")
    if isinstance(part, Scores):
        places = f"，最多保留 {part.decimals} 位小数" if part.decimals else "，填写整数"
        return f"请在每一格内填写分数（不超过该项满分{places}），每格都须填写。"
    return f"请对每位测评对象的每项指标，在所选等次下的“{BOX}”内划“✓”，每项只能选一个等次。"


def _grid(part: Grid, st: dict[str, ParagraphStyle]) -> Table:
    head = [Paragraph("测评对象", st["head"]), Paragraph("测评指标", st["head"]),
            *(Paragraph(escape(label), st["head"]) for _, label in part.grades)]
    data: list[list[Any]] = [head]
    spans = []
    for who in part.subjects:
        top = len(data)
        name = escape(who.name) + (f"<br/><font size=7>{escape(who.note)}</font>"
                                   if who.note else "")
        for i, (_, label) in enumerate(part.criteria):
            data.append([Paragraph(name, st["cell"]) if i == 0 else "",
                         Paragraph(escape(label), st["cell"]),
                         *(Paragraph(BOX, st["box"]) for _ in part.grades)])
        if len(part.criteria) > 1:
            spans.append(("SPAN", (0, top), (0, len(data) - 1)))
    first, second = 34 * mm, 34 * mm
    rest = (USABLE - first - second) / max(1, len(part.grades))
    return _boxed(data, [first, second, *([rest] * len(part.grades))], spans)


def _choices(part: Choices, st: dict[str, ParagraphStyle]) -> Table:
    data: list[list[Any]] = [[Paragraph(h, st["head"]) for h in ("序号", "候选人", "职务",
                                                               "推荐")]]
    for i, who in enumerate(part.candidates, 1):
        data.append([Paragraph(str(i), st["head"]), Paragraph(escape(who.name), st["cell"]),
                     Paragraph(escape(who.note), st["cell"]), Paragraph(BOX, st["box"])])
    return _boxed(data, [16 * mm, 60 * mm, USABLE - 106 * mm, 30 * mm], [])


def _scores(part: Scores, st: dict[str, ParagraphStyle]) -> Table:
    head = [Paragraph("测评对象", st["head"]),
            *(Paragraph(f"{escape(label)}<br/><font size=7>（满分 {high:g}）</font>", st["head"])
              for _, label, _low, high in part.items)]
    data: list[list[Any]] = [head]
    for who in part.subjects:
        data.append([Paragraph(escape(who.name), st["cell"]), *("" for _ in part.items)])
    first = 36 * mm
    rest = (USABLE - first) / max(1, len(part.items))
    # each score row tall enough to write a number by hand
    return _boxed(data, [first, *([rest] * len(part.items))], [],
                  [None, *([11 * mm] * len(part.subjects))])


def _boxed(data: list[list[Any]], widths: list[float], spans: list[Any],
           heights: list[float | None] | None = None) -> Table:
    table = Table(data, colWidths=widths, rowHeights=heights, repeatRows=1, hAlign="LEFT")
    table.setStyle(TableStyle([
        ("GRID", (0, 0), (-1, -1), 0.6, LINE),
        ("BACKGROUND", (0, 0), (-1, 0), HEAD_BG),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("TOPPADDING", (0, 0), (-1, -1), 2.5),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2.5),
        *spans,
    ]))
    return table


DRAW: dict[str, Callable[[Any, dict[str, ParagraphStyle]], Table]] = {
    "grid": _grid, "choices": _choices, "scores": _scores}


def _story(rnd: Any, category: str, st: dict[str, ParagraphStyle]) -> list[Any]:
    out: list[Any] = [Paragraph(escape(rnd.title), st["title"]),
                      Paragraph("纸质选票", st["title"]), Spacer(0, 3 * mm),
                      Paragraph("参评类别：" + (escape(category) if category else
                                           "　".join(f"{BOX}{escape(c.name)}"
                                                    for c in rnd.categories)), st["line"]),
                      Paragraph(REMINDER, st["line"]), Spacer(0, 3 * mm)]
    for part in parts(round_form(rnd), rnd.subjects):
        if isinstance(part, Grid) and part.label:
            out.append(Paragraph(escape(part.label), st["section"]))
        out += [Paragraph(instruction(part), st["line"]), Spacer(0, 1.5 * mm),
                DRAW[part.kind](part, st), Spacer(0, 5 * mm)]
    return out


def paper_ballot_pdf(rounds: Sequence[Any], category: str = "", title: str = "") -> bytes:
    """The paper ballot of these rounds (one round, or a meeting's in order), each form
    from a new page; `category` names the voter category printed on it (empty: the
    round's categories, to tick)."""
    font = register_reportlab_cjk()
    st = _styles(font)
    story: list[Any] = []
    for i, rnd in enumerate(rounds):
        if i:
            story.append(PageBreak())
        story += _story(rnd, category, st)

    def footer(canvas: Any, doc: Any) -> None:
        canvas.saveState()
        canvas.setFont(font, 8)
        canvas.drawCentredString(A4[0] / 2, 8 * mm, f"第 {doc.page} 页")
        canvas.restoreState()

    buf = BytesIO()
    doc = SimpleDocTemplate(buf, pagesize=A4, leftMargin=MARGIN, rightMargin=MARGIN,
                            topMargin=MARGIN, bottomMargin=MARGIN,
                            title=title or (rounds[0].title + " 纸质选票"), author="评议")
    doc.build(story, onFirstPage=footer, onLaterPages=footer)
    return buf.getvalue()
