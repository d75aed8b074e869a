"""Mini-program slips: a WeChat mini-program code per slip instead of a URL QR code.

The code's scene is a slip id: 26 characters of the receipt alphabet (about
128 bits), random, not the token. WeChat sees every scene (it draws the codes),
so the scene must not be the token: the server resolves a slip id to its token
once (POST /api/v1/slips/resolve), after which the slip is spent.

What is stored (table slip_codes): SHA-256(slip id), the round, and until the
slip is resolved its token sealed (AES-GCM) under a key derived from SECRET_KEY
and the slip id (miniprogram/crypto.py). The database alone, the printed slip
alone, or WeChat's copy of the scene alone cannot produce the token; once
resolved the sealed token is deleted and only `claimed` remains (no time,
nothing about who resolved it). The token's SHA-256 sits in `tokens` as for
every slip. Unresolved slips of a round lose their sealed tokens when it closes.

The PDF (`render_miniprogram_slips_pdf`) has the layout of the QR slips in
server/tokens/slips.py (same page grid and cut lines): title, category, the
code image, instructions, and the slip id printed for typing in by hand.
Issuing calls WeChat once per slip *before* any token is written, so a WeChat
failure leaves nothing behind; tokens and slip rows are then written and
committed together, and only after the PDF rendered.
"""

from __future__ import annotations

import io
import math
import secrets
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace
from typing import Any

from flask import current_app
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.lib.utils import ImageReader
from reportlab.pdfgen.canvas import Canvas
from sqlalchemy import update

from server.core import ratelimit
from server.core.db import changed_rows, db
from server.core.errors import ApiError, error_kind
from server.core.fonts import register_reportlab_cjk
from server.miniprogram.crypto import new_code, normalize_code, seal_token, sha256_hex, unseal_token
from server.miniprogram.models import SlipCode
from server.roundbase.models import Round, VoterCategory
from server.tokens import operations as token_ops
from server.tokens.slips import (
    CATEGORY_LABEL,
    CUT_GREY,
    CUT_HINT,
    GREY,
    MARGIN_BOTTOM,
    MARGIN_TOP,
    MARGIN_X,
    MONO,
    PAD,
    _binary_streams,
    _cut_lines,
    _fit,
    _grid,
    _scissors,
    _sizes,
    _wrap,
    slip_cells,
)
from server.wechat import client as wechat
from server.wechat.config import setting

SLIP_ID_LEN = 26
FETCH_THREADS = 8
INSTRUCTIONS = ("请使用微信扫一扫，扫描左侧小程序码，进入小程序进行无记名投票。"
                "每张选票只能使用一次，请妥善保管，勿转交他人。")
ID_LABEL = "选票编号（无法扫码时可在小程序中输入）"

PAGE_W, PAGE_H = A4

SLIP_UNKNOWN = error_kind("slip_unknown", "选票编号无效，请确认扫描的是本次会议发放的选票",
                          "Unknown slip id", 404, "scene")
SLIP_SPENT = error_kind("slip_already_claimed",
                        "这张选票已经领取过投票码，每张选票只能使用一次。如有疑问请联系会务人员",
                        "This slip was already resolved to its token (slips resolve once)", 409,
                        "scene")


def format_slip_id(slip_id: str) -> str:
    return "-".join(slip_id[i:i + 4] for i in range(0, len(slip_id), 4))


def _precheck(rnd: Round, category_id: Any, count: Any) -> VoterCategory:
    """The checks issuing will make, made before WeChat is asked for any code."""
    limit = int(setting("MINIPROGRAM_MAX_SLIP_CODES"))
    if rnd.status not in ("draft", "open"):
        raise ApiError("round_already_closed", "该测评已结束，不能再发放选票",
                       "Cannot issue tokens for a closed round", 409)
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= limit:
        raise ApiError("invalid_count", f"每次生成小程序码选票 1～{limit} 张",
                       f"count must be an integer in [1, {limit}]", 422, "count")
    category = db.session.get(VoterCategory, category_id)
    if category is None or category.round_id != rnd.id:
        raise ApiError("unknown_category", "参评人员类别不存在", "Unknown voter category", 422,
                       "category_id")
    return category


def issue_slip_codes(rnd: Round, category_id: int, count: int, user: Any | None,
                     *, images: bool = True, pdf: bool = False) -> dict[str, Any]:
    """Issue `count` tokens as mini-program slips; the slip ids (and images, PDF) once.

    Returns {"category": VoterCategory, "slip_ids": [...], "images": [...] or [],
    "pdf": bytes or None}. Nothing is kept if a WeChat call or the PDF fails.
    """
    category = _precheck(rnd, category_id, count)
    page = setting("MINIPROGRAM_SLIP_PAGE")
    slip_ids = [new_code(SLIP_ID_LEN) for _ in range(count)]
    codes = _fetch_codes(slip_ids, page) if images or pdf else []
    category, tokens, hashes = token_ops._insert_tokens(rnd, category.id, count, user)
    rows = [SlipCode(code_hash=sha256_hex(s), round_id=rnd.id, claimed=False,
                     sealed_token=seal_token(t, "slip", s))
            for s, t in zip(slip_ids, tokens, strict=True)]
    secrets.SystemRandom().shuffle(rows)  # stored in an order unrelated to the printed one
    db.session.add_all(rows)
    del tokens
    document = None
    try:
        db.session.flush()
        if pdf:
            title = f"【演练票·不计入正式结果】{rnd.title}" if rnd.rehearsal else rnd.title
            document = render_miniprogram_slips_pdf(title, category.name,
                                                    list(zip(slip_ids, codes, strict=True)))
    except Exception:
        db.session.rollback()
        raise
    token_ops._commit(rnd, category, hashes)
    return {"category": category, "slip_ids": slip_ids, "images": codes if images else [],
            "pdf": document}


def _fetch_codes(slip_ids: list[str], page: str) -> list[bytes]:
    """One getwxacodeunlimit call per slip, FETCH_THREADS at a time (WeChat allows 5000
    a minute); the first failure is raised and the rest are not kept."""
    if len(slip_ids) <= 2:
        return [wechat.wxa_code(s, page) for s in slip_ids]
    app = current_app._get_current_object()  # type: ignore[attr-defined]  # LocalProxy's method, hidden from mypy

    def one(slip_id: str) -> bytes:
        with app.app_context():  # its own client (per app context) and connections
            return wechat.wxa_code(slip_id, page)

    with ThreadPoolExecutor(max_workers=FETCH_THREADS) as pool:
        return list(pool.map(one, slip_ids))


def resolve_slip(raw: Any) -> dict[str, Any]:
    """The token of a slip, once. A second resolve of the same slip: 409."""
    slip_id = normalize_code(raw, SLIP_ID_LEN)
    row = db.session.get(SlipCode, sha256_hex(slip_id)) if slip_id else None
    if row is None or slip_id is None:  # (no slip_id, no row)
        ratelimit.note_bad_token()  # guesses count like unknown voting tokens
        raise SLIP_UNKNOWN
    if row.claimed:
        raise SLIP_SPENT
    status = db.session.execute(db.select(Round.status).where(Round.id == row.round_id)).scalar()
    if status not in ("draft", "open"):
        raise ApiError("round_closed", "投票已结束，感谢您的参与", "Voting in this round is closed",
                       409)
    sealed = row.sealed_token or ""
    taken = changed_rows(update(SlipCode).where(
        SlipCode.code_hash == row.code_hash, SlipCode.claimed.is_(False)).values(
        claimed=True, sealed_token=None))
    token = unseal_token(sealed, "slip", slip_id)
    if not taken or token is None:
        db.session.rollback()
        if not taken:
            raise SLIP_SPENT
        raise ApiError("slip_unreadable",
                       "这张选票已无法使用（服务器密钥已更换），请联系会务人员换一张",
                       "The slip's token cannot be unsealed (SECRET_KEY changed?)", 409, "scene")
    round_id = row.round_id
    db.session.commit()
    return {"token": token, "round_id": round_id}


def forget_unclaimed(round_id: int) -> None:
    """At close: unresolved slips of the round can never vote; drop their sealed tokens."""
    db.session.execute(update(SlipCode).where(
        SlipCode.round_id == round_id, SlipCode.sealed_token.is_not(None)).values(
        sealed_token=None))


# -- the PDF ---------------------------------------------------------------------------------

def render_miniprogram_slips_pdf(round_title: str, category_name: str,
                                 slips: list[tuple[str, bytes]], per_page: int = 8) -> bytes:
    """An A4 PDF with one slip per (slip id, code image), `per_page` a page, two columns."""
    with _binary_streams():
        return _render(round_title, category_name, slips, per_page)


def _render(title: str, category: str, slips: list[tuple[str, bytes]], per_page: int) -> bytes:
    cols, _rows, slip_w, slip_h = _grid(per_page)
    cells = slip_cells(per_page)
    font = register_reportlab_cjk()
    pages = max(1, math.ceil(len(slips) / per_page))
    buf = io.BytesIO()
    c = Canvas(buf, pagesize=A4, pageCompression=1)
    c.setTitle(f"{title}（{category}）小程序码选票")
    c.setCreator("pingyi")

    inner_w = slip_w - 2 * PAD
    title_size, title_lines = _fit(title.strip(), font, inner_w, _sizes(12, 8), 2, 3)
    cat_size, cat_lines = _fit(CATEGORY_LABEL + category.strip(), font, inner_w,
                               _sizes(9.5, 7), 1, 1)
    # The head (title, category, rule) is the same on every slip: draw it once.
    c.beginForm("mp_slip", 0, 0, slip_w, slip_h)
    y = slip_h - 4 * mm
    c.setFillColorRGB(0, 0, 0)
    c.setFont(font, title_size)
    for line in title_lines:
        y -= title_size
        c.drawCentredString(slip_w / 2, y, line)
        y -= title_size * 0.25
    y -= 1 * mm
    c.setFont(font, cat_size)
    c.setFillColorRGB(*GREY)
    for line in cat_lines:
        y -= cat_size
        c.drawCentredString(slip_w / 2, y, line)
        y -= cat_size * 0.3
    y -= 0.5 * mm
    c.setStrokeColorRGB(0.75, 0.75, 0.75)
    c.setLineWidth(0.4)
    c.line(PAD, y, slip_w - PAD, y)
    body_top = y - 1.5 * mm
    body_bottom = 3 * mm
    box = min(46 * mm, body_top - body_bottom, slip_w * 0.48)
    img_x, img_y = 3 * mm, body_bottom + (body_top - body_bottom - box) / 2
    text_x = img_x + box + 2 * mm
    text_w = slip_w - PAD - text_x
    ins_size, ins_lines = _fit(INSTRUCTIONS, font, text_w, _sizes(9, 6.5), 6, 7)
    ty = img_y + box
    c.setFont(font, ins_size)
    c.setFillColorRGB(0, 0, 0)
    for line in ins_lines:
        ty -= ins_size * 1.45
        c.drawString(text_x, ty, line)
    label_size = 6.5
    label_lines = _wrap(ID_LABEL, font, label_size, text_w)
    id_size = min(8.0, text_w / (0.6 * 17))  # two lines of up to 17 Courier characters
    c.setFont(font, label_size)
    c.setFillColorRGB(*GREY)
    ly = img_y + 2 * id_size * 1.2 + 2
    for line in reversed(label_lines):
        c.drawString(text_x, ly, line)
        ly += label_size * 1.2
    c.endForm()

    grid = SimpleNamespace(cols=cols, slip_w=slip_w, slip_h=slip_h)  # what _cut_lines reads
    for page in range(pages):
        chunk = slips[page * per_page:(page + 1) * per_page]
        _cut_lines(c, grid, len(chunk))  # type: ignore[arg-type]  # a duck-typed grid (SimpleNamespace)
        hint_y = PAGE_H - MARGIN_TOP + 2.2 * mm
        _scissors(c, MARGIN_X + 3 * mm, hint_y + 1.1 * mm, 4 * mm)
        c.setFillColorRGB(*CUT_GREY)
        c.setFont(font, 8)
        c.drawString(MARGIN_X + 6.5 * mm, hint_y, CUT_HINT)
        c.setFillColorRGB(*GREY)
        c.drawCentredString(PAGE_W / 2, MARGIN_BOTTOM / 2 - 1 * mm,
                            f"第 {page + 1} 页 / 共 {pages} 页")
        for slot, (slip_id, image) in enumerate(chunk):
            x, y0 = cells[slot][0], PAGE_H - cells[slot][3]
            c.saveState()
            c.translate(x, y0)
            c.doForm("mp_slip")
            c.restoreState()
            c.drawImage(ImageReader(io.BytesIO(image)), x + img_x, y0 + img_y, box, box)
            shown = format_slip_id(slip_id)
            first, second = shown[:14], shown[15:]
            c.setFillColorRGB(0, 0, 0)
            c.setFont(MONO, id_size)
            c.drawString(x + text_x, y0 + img_y + id_size * 1.2, first)
            c.drawString(x + text_x, y0 + img_y, second)
        c.showPage()
    c.save()
    return buf.getvalue()
