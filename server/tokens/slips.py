"""Printable voting slips: an A4 PDF of QR-coded slips with dashed cut lines.

Every slip carries the round title, the voter category, the QR code of its
voting URL, short instructions and the token itself (for typing in by hand).
Nothing else: no serial number or any other mark that could tie a slip to the
person it is handed to. The page footer has the page number only.

Built for bulk: the parts that are the same on every slip are drawn once into
a PDF form XObject and placed by reference; each QR code is one filled path
of horizontal runs written straight into the page stream (no images).
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from reportlab import rl_config
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas

from server.core.fonts import register_reportlab_cjk
from server.tokens.qr import BORDER, qr_row_bytes

INSTRUCTIONS = (
    "请使用微信扫一扫，扫描二维码进行无记名投票。"
    "每张选票只能投票一次，请妥善保管，勿转交他人。"
)
CATEGORY_LABEL = "参评类别："
CODE_LABEL = "投票码"
CUT_HINT = "沿虚线剪开"
MONO = "Courier"

PAGE_W, PAGE_H = A4
MARGIN_X = 10 * mm
MARGIN_TOP = 14 * mm
MARGIN_BOTTOM = 12 * mm
PAD = 5 * mm  # text inset from the cut lines
QR_BOX_MAX = 46 * mm  # room for the QR code including its 4-module quiet zone
QR_BOX_MIN = 25 * mm
# Module sizes and QR positions snap to a 1/150 inch grid (0.48 pt), so that
# every module is a whole number of dots at 150/300/600/1200 dpi: uniform
# module widths on paper and crisp edges on screen (uneven, anti-aliased
# modules measurably hurt zbar's detection on a 150 dpi raster). A version-4
# code (our URLs) gets 1.016 mm modules: 33.5 mm, 41.7 mm with quiet zone.
GRID = 72 / 150
MAX_PER_PAGE = 10

GREY = (0.35, 0.35, 0.35)
REHEARSAL_RED = (0.78, 0.12, 0.12)
REHEARSAL_PALE = (0.97, 0.8, 0.8)
REHEARSAL_MARK = "演练"
REHEARSAL_BAND = "演练票 — 不计入正式结果"
CUT_GREY = (0.55, 0.55, 0.55)

# Line-breaking: keep Latin words and numbers whole; closing punctuation never
# starts a line, opening punctuation never ends one.
_UNITS = re.compile(r"[A-Za-z0-9_.\-/:@#%+]+|\s+|.", re.S)
_NO_LINE_START = set("，。、；：！？）》」』】〕”’…,.;:!?)%·")
_NO_LINE_END = set("（《「『【〔“‘(")


def _wrap(text: str, font: str, size: float, width: float) -> list[str]:
    lines: list[str] = []
    line = ""
    for unit in _UNITS.findall(text):
        if not line and unit.isspace():
            continue
        trial = line + unit
        if stringWidth(trial, font, size) <= width or not line or unit in _NO_LINE_START:
            if not line and stringWidth(unit, font, size) > width and len(unit) > 1:
                # one word wider than the line: break it anywhere
                for ch in unit:
                    if line and stringWidth(line + ch, font, size) > width:
                        lines.append(line)
                        line = ""
                    line += ch
                continue
            line = trial
            continue
        carry = ""
        while line and line[-1] in _NO_LINE_END:
            carry, line = line[-1] + carry, line[:-1]
        if line.strip():
            lines.append(line.rstrip())
        line = (carry + unit).lstrip()
    if line.strip():
        lines.append(line.rstrip())
    return lines or [""]


def _ellipsize(text: str, font: str, size: float, width: float) -> str:
    if stringWidth(text, font, size) <= width:
        return text
    while text and stringWidth(text + "…", font, size) > width:
        text = text[:-1]
    return text + "…"


def _fit(text: str, font: str, width: float, sizes: list[float], max_lines: int,
         last_resort_lines: int) -> tuple[float, list[str]]:
    """The largest size at which `text` fits in `max_lines`; else the smallest size,
    `last_resort_lines` lines, the last one cut short with an ellipsis."""
    for size in sizes:
        lines = _wrap(text, font, size, width)
        if len(lines) <= max_lines:
            return size, lines
    size = sizes[-1]
    lines = _wrap(text, font, size, width)
    if len(lines) > last_resort_lines:
        rest = "".join(lines[last_resort_lines - 1:])
        lines = lines[:last_resort_lines - 1] + [_ellipsize(rest, font, size, width)]
    return size, lines


def _sizes(hi: float, lo: float) -> list[float]:
    return [hi - 0.5 * i for i in range(int((hi - lo) / 0.5) + 1)]


@dataclass(frozen=True)
class _Geometry:
    cols: int
    rows: int
    slip_w: float
    slip_h: float
    qr_x: float  # quiet-zone box, slip coordinates
    qr_y: float
    qr_box: float
    text_x: float  # right-hand column
    text_w: float
    token_y: float  # baseline of the token's last line
    token_size: float
    token_lines: int


def _module(box: float, modules: int) -> float:
    """The largest grid-aligned module size fitting `modules` (quiet zone included) in box."""
    return math.floor(box / modules / GRID) * GRID


def _grid(per_page: int) -> tuple[int, int, float, float]:
    """(columns, rows, slip width, slip height) for `per_page` slips on a page."""
    if not 1 <= per_page <= MAX_PER_PAGE:
        raise ValueError(f"per_page must be between 1 and {MAX_PER_PAGE}")
    cols = 1 if per_page == 1 else 2
    rows = math.ceil(per_page / cols)
    return (cols, rows, (PAGE_W - 2 * MARGIN_X) / cols,
            (PAGE_H - MARGIN_TOP - MARGIN_BOTTOM) / rows)


def slip_cells(per_page: int = 8) -> list[tuple[float, float, float, float]]:
    """(left, top, right, bottom) of each slip on a page, in reading order, in points
    from the page's top left corner: the rectangles the cut lines go around."""
    cols, _rows, w, h = _grid(per_page)
    return [(MARGIN_X + (i % cols) * w, MARGIN_TOP + (i // cols) * h,
             MARGIN_X + (i % cols + 1) * w, MARGIN_TOP + (i // cols + 1) * h)
            for i in range(per_page)]


def _draw_static(c: Canvas, font: str, title: str, category: str, per_page: int,
                 token_len: int, qr_n: int, rehearsal: bool = False) -> _Geometry:
    """Draw the common part of a slip into the form 'slip'; return where the rest goes."""
    cols, rows, slip_w, slip_h = _grid(per_page)
    inner_w = slip_w - 2 * PAD

    title_size, title_lines = _fit(title.strip(), font, inner_w, _sizes(12, 8), 2, 3)
    cat_size, cat_lines = _fit(CATEGORY_LABEL + category.strip(), font, inner_w,
                               _sizes(9.5, 7), 1, 1)
    title_lead = title_size * 1.25
    cat_lead = cat_size * 1.3

    c.beginForm("slip", 0, 0, slip_w, slip_h)
    c.setFillColorRGB(0, 0, 0)
    y = slip_h - 4 * mm
    c.setFont(font, title_size)
    for line in title_lines:
        y -= title_size
        c.drawCentredString(slip_w / 2, y, line)
        y -= title_lead - title_size
    y -= 1 * mm
    c.setFont(font, cat_size)
    c.setFillColorRGB(*GREY)
    for line in cat_lines:
        y -= cat_size
        c.drawCentredString(slip_w / 2, y, line)
        y -= cat_lead - cat_size
    y -= 0.5 * mm
    c.setStrokeColorRGB(0.75, 0.75, 0.75)
    c.setLineWidth(0.4)
    c.line(PAD, y, slip_w - PAD, y)

    body_top = y - 0.5 * mm
    body_bottom = 2.5 * mm
    room = min(QR_BOX_MAX, body_top - body_bottom, slip_w * 0.5)
    module = _module(room, qr_n + 2 * BORDER)
    qr_box = module * (qr_n + 2 * BORDER)
    if qr_box < QR_BOX_MIN:
        raise ValueError("too many slips per page for a scannable QR code")
    qr_x = 3 * mm
    qr_y = body_bottom + (body_top - body_bottom - qr_box) / 2
    quiet = module * BORDER
    text_x = qr_x + qr_box + 1 * mm
    text_w = slip_w - PAD - text_x

    if rehearsal:  # pale, across the text column beneath its text, never over the QR code
        c.saveState()
        c.setFillColorRGB(*REHEARSAL_PALE)
        c.setFont(font, min(30.0, text_w / 2.4))
        c.translate(text_x + text_w / 2, qr_y + qr_box / 2)
        c.rotate(25)
        c.drawCentredString(0, 0, REHEARSAL_MARK)
        c.restoreState()
    ins_size, ins_lines = _fit(INSTRUCTIONS, font, text_w, _sizes(9, 6.5), 5, 6)
    ins_lead = ins_size * 1.5
    y = qr_y + qr_box - quiet
    c.setFont(font, ins_size)
    c.setFillColorRGB(0, 0, 0)
    for line in ins_lines:
        y -= ins_size
        c.drawString(text_x, y, line)
        y -= ins_lead - ins_size

    # Courier advances 0.6 em: one line down to 5.5 pt, else two lines
    token_lines = 1
    token_size = min(8.0, text_w / (0.6 * token_len))
    if token_size < 5.5:
        token_lines = 2
        token_size = min(8.0, text_w / (0.6 * math.ceil(token_len / 2)))
    token_y = qr_y + quiet
    c.setFont(font, 7.5)
    c.setFillColorRGB(*GREY)
    c.drawString(text_x, token_y + token_size * (1.15 * (token_lines - 1) + 1) + 2,
                 CODE_LABEL)
    c.endForm()
    return _Geometry(cols, rows, slip_w, slip_h, qr_x, qr_y, qr_box, text_x, text_w,
                     token_y, token_size, token_lines)


def _scissors(c: Canvas, x: float, y: float, s: float) -> None:
    """A small open-scissors icon, blades pointing right, centred on (x, y), size s."""
    c.saveState()
    c.setStrokeColorRGB(*CUT_GREY)
    c.setLineWidth(0.6)
    r = s * 0.16
    c.circle(x - s * 0.35, y + s * 0.22, r, stroke=1, fill=0)
    c.circle(x - s * 0.35, y - s * 0.22, r, stroke=1, fill=0)
    c.line(x - s * 0.35 + r * 0.8, y + s * 0.22 - r * 0.6, x + s * 0.5, y - s * 0.18)
    c.line(x - s * 0.35 + r * 0.8, y - s * 0.22 + r * 0.6, x + s * 0.5, y + s * 0.18)
    c.restoreState()


def _cut_lines(c: Canvas, g: _Geometry, used: int) -> None:
    """Dashed lines around every used slip; shared edges are drawn once."""
    x0, top = MARGIN_X, PAGE_H - MARGIN_TOP
    edges: set[tuple[int, int, int, int]] = set()
    for i in range(used):
        col, row = i % g.cols, i // g.cols
        edges.update({(col, row, col + 1, row), (col, row + 1, col + 1, row + 1),
                      (col, row, col, row + 1), (col + 1, row, col + 1, row + 1)})
    c.saveState()
    c.setStrokeColorRGB(*CUT_GREY)
    c.setLineWidth(0.5)
    c.setDash(3 * mm, 1.5 * mm)
    for a, b, a2, b2 in sorted(edges):
        c.line(x0 + a * g.slip_w, top - b * g.slip_h, x0 + a2 * g.slip_w, top - b2 * g.slip_h)
    c.restoreState()


class _RunCache(dict[int, str]):
    """(byte offset << 8 | byte) -> rectangles for the dark runs of that byte of a row.

    Offset and value fix the row, the 8 columns and which of them are dark, so
    a symbol's path is just the concatenation of cached pieces; runs that cross
    a byte boundary become two abutting rectangles of the same filled path.
    """

    def __init__(self, row_len: int) -> None:
        super().__init__()
        self.row_len = row_len

    def __missing__(self, key: int) -> str:
        offset, value = key >> 8, key & 0xFF
        row, first = divmod(offset, self.row_len)
        first *= 8
        parts, col = [], 0
        while col < 8:
            if value >> col & 1:
                start = col
                while col < 8 and value >> col & 1:
                    col += 1
                parts.append(f"{first + start} {row} {col - start} 1 re\n")
            else:
                col += 1
        piece = self[key] = "".join(parts)
        return piece


def _qr_ops(url: str, x: float, y: float, box: float, caches: dict[int, _RunCache]) -> str:
    """PDF operators filling the QR symbol of `url` in the box at (x, y) (bottom left).

    One path in module units (y down), filled once: no seams between modules.
    """
    n, row_len, rows = qr_row_bytes(url)
    cache = caches.get(row_len)
    if cache is None:
        cache = caches[row_len] = _RunCache(row_len)
    m = _module(box, n + 2 * BORDER)  # == the layout's unless this URL is longer
    inset = (box - m * n) / 2
    left = round((x + inset) / GRID) * GRID  # grid from the top left, as pages are rastered
    top = PAGE_H - round((PAGE_H - (y + box - inset)) / GRID) * GRID
    body = "".join([cache[i << 8 | v] for i, v in enumerate(rows) if v])
    return f"q 0 g {m:.5f} 0 0 {-m:.5f} {left:.3f} {top:.3f} cm\n{body}f Q\n"


@contextmanager
def _binary_streams() -> Iterator[None]:
    """Flate-compressed streams without the ASCII85 layer reportlab adds by default.

    Without the optional C accelerator (the `rl_accel` package) reportlab's
    ASCII85 encoder is pure Python and would take most of the rendering time;
    binary streams are also 20 % smaller. The setting is process-wide in
    reportlab, so it is restored afterwards; either value gives a valid PDF.
    """
    saved = rl_config.useA85
    rl_config.useA85 = 0
    try:
        yield
    finally:
        rl_config.useA85 = saved


def render_slips_pdf(round_title: str, category_name: str, urls: list[str],
                     tokens: list[str], per_page: int = 8, rehearsal: bool = False) -> bytes:
    """An A4 PDF with one slip per (url, token), `per_page` slips a page, in two columns.
    Rehearsal slips (rounds/rehearsal.py) say 演练 in their title, across each slip and
    at the top of every page."""
    with _binary_streams():
        return _render(round_title, category_name, urls, tokens, per_page, rehearsal)


def _render(round_title: str, category_name: str, urls: list[str], tokens: list[str],
            per_page: int, rehearsal: bool = False) -> bytes:
    if len(urls) != len(tokens):
        raise ValueError("urls and tokens differ in length")
    cells = slip_cells(per_page)
    font = register_reportlab_cjk()
    pages = max(1, math.ceil(len(urls) / per_page))

    buf = io.BytesIO()
    c = Canvas(buf, pagesize=A4, pageCompression=1)
    c.setTitle(f"{round_title}（{category_name}）选票")
    c.setCreator("pingyi")
    token_len = max((len(t) for t in tokens), default=25)
    qr_n = qr_row_bytes(urls[0])[0] if urls else 33
    if rehearsal:
        round_title = f"【演练】{round_title}"
    g = _draw_static(c, font, round_title, category_name, per_page, token_len, qr_n,
                     rehearsal)
    half = math.ceil(token_len / 2)
    caches: dict[int, _RunCache] = {}
    for page in range(pages):
        chunk = range(page * per_page, min(len(urls), (page + 1) * per_page))
        _cut_lines(c, g, len(chunk))
        hint_y = PAGE_H - MARGIN_TOP + 2.2 * mm
        _scissors(c, MARGIN_X + 3 * mm, hint_y + 1.1 * mm, 4 * mm)
        c.setFillColorRGB(*CUT_GREY)
        c.setFont(font, 8)
        c.drawString(MARGIN_X + 6.5 * mm, hint_y, CUT_HINT)
        if rehearsal:
            c.setFillColorRGB(*REHEARSAL_RED)
            c.setFont(font, 10)
            c.drawRightString(PAGE_W - MARGIN_X, hint_y, REHEARSAL_BAND)
        c.setFillColorRGB(*GREY)
        c.setFont(font, 8)
        c.drawCentredString(PAGE_W / 2, MARGIN_BOTTOM / 2 - 1 * mm,
                            f"第 {page + 1} 页 / 共 {pages} 页")
        c.setFillColorRGB(0, 0, 0)
        c.setFont(MONO, g.token_size)
        for slot, i in enumerate(chunk):
            x, y = cells[slot][0], PAGE_H - cells[slot][3]
            c.saveState()
            c.translate(x, y)
            c.doForm("slip")
            c.restoreState()
            c.addLiteral(_qr_ops(urls[i], x + g.qr_x, y + g.qr_y, g.qr_box, caches))

            token = tokens[i]
            ty = y + g.token_y
            if g.token_lines == 1:
                c.drawString(x + g.text_x, ty, token)
            else:
                c.drawString(x + g.text_x, ty + g.token_size * 1.15, token[:half])
                c.drawString(x + g.text_x, ty, token[half:])
        c.showPage()
    c.save()
    return buf.getvalue()
