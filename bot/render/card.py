"""A leaderboard as a PNG card for phones: 1080 px wide, Chinese set in Noto Sans CJK SC.

Header (the party-red band): committee, the board's title, the period and whether
the standings are published. One row per subject: the rank in a medal for the
first three, the name, stars (year boards of members) or deductions below it, the
points on the right. Footer: the date of the data, the count, the ordering rule.
Cards stay well under WeCom's 2 MB image limit: flat colours compress well, and a
card that still came out larger would be reduced to a 256-colour palette.
"""

from __future__ import annotations

import functools
import io
import os

from PIL import Image, ImageDraw, ImageFont

from bot.content import BoardContent, Row
from server.core.fonts import cjk_any_font_face
from server.points.amounts import fmt

WIDTH = 1080
MAX_BYTES = 2 * 1024 * 1024  # WeCom: an image message is at most 2 MB before base64
PAD = 48
HEADER_H = 330
ROW_H = 112
FOOTER_H = 180

RED = (192, 24, 38)
RED_DARK = (150, 12, 26)
PAPER = (246, 242, 236)
CARD = (255, 255, 255)
INK = (33, 37, 41)
INK_2 = (96, 102, 112)
MUTED = (150, 155, 163)
LINE = (236, 232, 226)
GOLD = (214, 160, 20)
MEDALS = {1: (214, 160, 20), 2: (150, 160, 175), 3: (192, 122, 58)}

NOTO = {"regular": ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",),
        "bold": ("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
                 "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")}


@functools.cache
def _face(weight: str) -> tuple[str, int]:
    """(path, index) of the Simplified Chinese face of Noto Sans CJK, else any CJK font."""
    for path in NOTO[weight]:
        if not os.path.isfile(path):
            continue
        for index in range(12):
            try:
                family, _style = ImageFont.truetype(path, 10, index=index).getname()
            except OSError:
                break
            if family == "Noto Sans CJK SC":
                return path, index
    found = cjk_any_font_face()
    if found is None:
        raise RuntimeError("no CJK font installed (Debian: fonts-noto-cjk)")
    return found


@functools.cache
def font(size: int, bold: bool = False) -> ImageFont.FreeTypeFont:
    path, index = _face("bold" if bold else "regular")
    return ImageFont.truetype(path, size, index=index)


def font_name() -> str:
    family, style = font(20).getname()
    return f"{family} {style}"


def _fit(draw: ImageDraw.ImageDraw, text: str, f: ImageFont.FreeTypeFont, width: int) -> str:
    if draw.textlength(text, font=f) <= width:
        return text
    while text and draw.textlength(text + "…", font=f) > width:
        text = text[:-1]
    return text + "…"


def _header(img: Image.Image, draw: ImageDraw.ImageDraw, c: BoardContent) -> None:
    top, bottom = RED, RED_DARK
    for y in range(HEADER_H):  # a vertical gradient, one line at a time
        t = y / HEADER_H
        draw.line([(0, y), (WIDTH, y)],
                  fill=tuple(int(a + (b - a) * t) for a, b in zip(top, bottom, strict=True)))
    draw.text((PAD, 52), _fit(draw, c.committee_name or "评议", font(30), WIDTH - 2 * PAD),
              font=font(30), fill=(255, 226, 214))
    title = _fit(draw, c.title, font(62, True), WIDTH - 2 * PAD)
    draw.text((PAD, 100), title, font=font(62, True), fill=(255, 255, 255))
    pill = f"{c.period.label} · {c.edition_label}"
    f = font(34)
    w = int(draw.textlength(pill, font=f)) + 48
    draw.rounded_rectangle([PAD, 210, PAD + w, 270], radius=30, fill=(255, 240, 232))
    draw.text((PAD + 24, 240), pill, font=f, fill=RED_DARK, anchor="lm")
    label = c.points_label
    draw.text((WIDTH - PAD, 240), label, font=font(28), fill=(255, 226, 214), anchor="rm")


def _row(draw: ImageDraw.ImageDraw, y: int, row: Row, board: str, last: bool) -> None:
    cx, cy = PAD + 52, y + ROW_H // 2
    medal = MEDALS.get(row.rank)
    if medal:
        draw.ellipse([cx - 32, cy - 32, cx + 32, cy + 32], fill=medal)
        draw.text((cx, cy), str(row.rank), font=font(34, True), fill=(255, 255, 255),
                  anchor="mm")
    else:
        draw.ellipse([cx - 30, cy - 30, cx + 30, cy + 30], fill=(240, 238, 234))
        size = 30 if row.rank < 100 else 24
        draw.text((cx, cy), str(row.rank), font=font(size, True), fill=INK_2, anchor="mm")
    x = PAD + 120
    points = row.points_text
    pf = font(50, True)
    pw = draw.textlength(points, font=pf)
    unit = font(26)
    right = WIDTH - PAD - 28
    unit_w = 0.0
    if row.show_points:
        draw.text((right, cy - 2), "分", font=unit, fill=INK_2, anchor="rm")
        unit_w = draw.textlength("分", font=unit) + 8
        draw.text((right - unit_w, cy), points, font=pf, fill=RED if row.rank <= 3 else INK,
                  anchor="rm")
    name_w = int(right - unit_w - pw - 32 - x)
    sub = []
    if row.star_text:
        sub.append(("star" if row.stars else "text", row.star_text))
    if board == "branches" and row.members is not None:
        sub.append(("text", f"党员{row.members}人"))
    if row.deductions:
        sub.append(("text", f"扣{fmt(row.deductions)}分"))
    name_y = cy - 18 if sub else cy
    nf = font(42, row.rank <= 3)
    draw.text((x, name_y), _fit(draw, row.name, nf, name_w), font=nf, fill=INK, anchor="lm")
    sx = x
    for kind, text in sub:
        f = font(30) if kind == "star" else font(26)
        color = GOLD if kind == "star" else MUTED
        draw.text((sx, cy + 26), text, font=f, fill=color, anchor="lm")
        sx += int(draw.textlength(text, font=f)) + 24
    if not last:
        draw.line([(x, y + ROW_H - 1), (WIDTH - PAD - 28, y + ROW_H - 1)], fill=LINE, width=2)


def _footer(draw: ImageDraw.ImageDraw, y: int, c: BoardContent, hidden_rows: int) -> None:
    lines = []
    if hidden_rows:
        lines.append((f"……另有{hidden_rows}项，完整排名请打开排行榜链接", INK_2, font(28)))
    lines.append((f"数据截至{c.data_date} · {c.count_text}", INK_2, font(30)))
    rule = ("按人均积分排序；" if c.board == "branches" else "") + \
        "积分高者在前，同分扣分少者在前，再按花名册顺序"
    lines.append((rule, MUTED, font(24)))
    lines.append(("评议 · 党员积分与党小组考评", MUTED, font(24)))
    for text, color, f in lines:
        draw.text((WIDTH // 2, y), text, font=f, fill=color, anchor="mt")
        y += int(f.size * 1.6)


def render_card(c: BoardContent, max_rows: int = 60) -> bytes:
    """The PNG bytes of the card (at most MAX_BYTES)."""
    rows = c.rows[:max_rows]
    hidden = max(0, c.total - len(rows))
    body_h = max(1, len(rows)) * ROW_H + 32
    height = HEADER_H + 24 + body_h + FOOTER_H + (44 if hidden else 0)
    img = Image.new("RGB", (WIDTH, height), PAPER)
    draw = ImageDraw.Draw(img)
    _header(img, draw, c)
    top = HEADER_H - 30
    draw.rounded_rectangle([PAD - 16, top, WIDTH - PAD + 16, top + body_h + 24], radius=24,
                           fill=CARD, outline=LINE, width=2)
    y = top + 28
    if not rows:
        draw.text((WIDTH // 2, y + ROW_H // 2), "本期暂无已审定的积分", font=font(36),
                  fill=MUTED, anchor="mm")
    for i, row in enumerate(rows):
        _row(draw, y + i * ROW_H, row, c.board, i == len(rows) - 1)
    _footer(draw, top + body_h + 60, c, hidden)
    return _encode(img)


def _encode(img: Image.Image) -> bytes:
    out = io.BytesIO()
    img.save(out, "PNG", optimize=True)
    data = out.getvalue()
    if len(data) > MAX_BYTES:
        out = io.BytesIO()
        img.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(out, "PNG", optimize=True)
        data = out.getvalue()
    if len(data) > MAX_BYTES:
        raise ValueError(f"card is {len(data)} bytes, more than WeCom's 2 MB")
    return data
