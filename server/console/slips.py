"""The console's 生成选票 button: N slips of one category as a PDF download.

Issuing more than 应到 (expected_count − already issued) needs `allow_over` (the page
asks first). The download answer sets a short-lived cookie named by the form's
`download` nonce, so the page knows the PDF arrived: it reloads with the counts and
the button back (server/static/console.js).
"""

from __future__ import annotations

import re
from urllib.parse import quote

from flask import Response, current_app, flash, redirect, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from server.console import access
from server.console.access import STAFF
from server.core.auth import require_console_role
from server.core.db import db
from server.core.errors import ApiError
from server.rounds.api import base_url
from server.tokens.operations import issue_slips

DOWNLOAD_COOKIE = "slips_download"
NONCE = re.compile(r"^[A-Za-z0-9]{8,40}$")


def _detail(round_id: int) -> BaseResponse:
    return redirect(url_for("console.round_detail", round_id=round_id), 303)


def _int_field(name: str) -> int | None:
    raw = request.form.get(name, "").strip()
    return int(raw) if raw.isdigit() and len(raw) <= 9 else None


def over_expected(expected: int, issued: int, count: int) -> int:
    """How many of `count` new slips go beyond 应到 (0 when they fit)."""
    return max(0, issued + count - max(expected, issued))


@require_console_role(*STAFF)
def round_slips(round_id: int) -> BaseResponse:
    """Issue N tokens of one category and answer with the printable slips (the only copy)."""
    rnd = access.load_round(round_id)
    category = next((c for c in rnd.categories if c.id == _int_field("category_id")), None)
    if category is None:
        flash("参评人员类别不存在", "error")
        return _detail(round_id)
    count = _int_field("count")
    if count is None:
        flash("发放数量应为正整数", "error")
        return _detail(round_id)
    issued = category.issued_count + category.paper_issued  # 应到 counts paper slips too
    extra = over_expected(category.expected_count, issued, count)
    if extra and not request.form.get("allow_over"):
        flash(f"“{category.name}”应到 {category.expected_count} 人，已发放 "
              f"{issued} 张，再发 {count} 张将超出应到人数 {extra} 张。"
              "如确需多发，请在确认提示中选择“确定”。", "error")
        return _detail(round_id)
    try:
        category, pdf = issue_slips(rnd, category.id, count, base_url(), access.user())
    except ApiError as err:
        db.session.rollback()
        flash(err.message, "error")
        return _detail(round_id)
    current_app.logger.info("console: %d slips issued for round %d category %d",
                            count, rnd.id, category.id)
    flash(f"已生成“{category.name}”选票 {count} 张，PDF 已下载。请打印后随机发放。", "success")
    ascii_name = f"slips-round{rnd.id}-cat{category.id}.pdf"
    utf8_name = quote(f"slips-round{rnd.id}-{category.name}.pdf")
    resp = Response(pdf, 200, mimetype="application/pdf", headers={
        "Content-Disposition": f"attachment; filename=\"{ascii_name}\"; "
                               f"filename*=UTF-8''{utf8_name}",
        "Cache-Control": "no-store",
    })
    nonce = request.form.get("download", "")
    if NONCE.match(nonce):  # tells the page the PDF arrived; holds nothing secret
        resp.set_cookie(DOWNLOAD_COOKIE, nonce, max_age=120, path="/console",
                        samesite="Strict",
                        secure=bool(current_app.config.get("SESSION_COOKIE_SECURE")))
    return resp
