"""Console pages of the mini-program: WeChat binding, and a round's mini-program page.

/console/wechat                       binding status; generate a one-time binding
                                      code; unbind (ends the mini-program sessions)
/console/rounds/<id>/miniprogram      options (session QR, comments) while a draft;
                                      mini-program slips (PDF); session codes for
                                      the projector and the claim pool
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from server.console import access
from server.console.access import READERS, STAFF
from server.core.auth import require_console_role
from server.core.db import db
from server.core.errors import ApiError
from server.miniprogram import session_qr, slips, staff
from server.wechat.config import configured, setting

bp = Blueprint("miniprogram_console", __name__, url_prefix="/console",
               template_folder="templates")

ALL = ("admin", "organizer", "secretary", "committee")


@bp.after_request
def _no_store(resp: Any) -> Any:
    resp.headers.setdefault("Cache-Control", "no-store")
    return resp


# -- WeChat binding ----------------------------------------------------------------------------

def _binding_page(code: str | None = None, ttl: int | None = None, status: int = 200) -> Any:
    user = access.user()
    return render_template("miniprogram/wechat.html", binding=staff.binding_of(user),
                           sessions=staff.active_sessions(user), code=code,
                           minutes=(ttl or 0) // 60, configured=configured()), status


@require_console_role(*ALL)
def wechat_page() -> Any:
    return _binding_page()


@require_console_role(*ALL)
def wechat_binding_code() -> Any:
    code, ttl = staff.new_binding_code(access.user())
    return _binding_page(code, ttl)


@require_console_role(*ALL)
def wechat_unbind() -> BaseResponse:
    if staff.unbind(access.user()):
        flash("已解除微信绑定，小程序中的登录已全部退出。", "success")
    return redirect(url_for("miniprogram_console.wechat_page"), 303)


# -- a round's mini-program page ------------------------------------------------------------------

def _round_page(round_id: int, status: int = 200) -> Any:
    rnd = access.load_round(round_id)
    opts = session_qr.round_options(rnd)
    codes = []
    if opts["session_qr"]:
        sizes = session_qr.pool_sizes(rnd.id)
        codes = [{"category": c, "scene": session_qr.session_scene(rnd, c.id),
                  "remaining": sizes.get(c.id, 0)} for c in rnd.categories]
    return render_template("miniprogram/round.html", rnd=rnd, opts=opts, codes=codes,
                           claims=session_qr.claim_count(rnd.id), configured=configured(),
                           max_codes=setting("MINIPROGRAM_MAX_SLIP_CODES"),
                           staff=current_is_staff()), status


def current_is_staff() -> bool:
    return access.can_run_rounds()


def _back(round_id: int) -> BaseResponse:
    return redirect(url_for("miniprogram_console.round_page", round_id=round_id), 303)


def _int_field(name: str) -> int | None:
    raw = request.form.get(name, "").strip()
    return int(raw) if raw.isdigit() and len(raw) <= 9 else None


@require_console_role(*READERS)
def round_page(round_id: int) -> Any:
    return _round_page(round_id)


@require_console_role(*STAFF)
def round_options(round_id: int) -> BaseResponse:
    rnd = access.load_round(round_id)
    f = request.form
    body: dict[str, Any] = {"session_qr": bool(f.get("session_qr")), "comment": {
        "enabled": bool(f.get("comment_enabled")),
        "label": (f.get("comment_label") or "").strip()[:30] or "意见和建议",
        "max_length": min(2000, max(1, _int_field("comment_max_length") or 500))}}
    try:
        session_qr.set_options(rnd, body, access.user())
    except ApiError as err:
        db.session.rollback()
        flash(err.message, "error")
    else:
        flash("设置已保存。", "success")
    return _back(round_id)


@require_console_role(*STAFF)
def round_slips(round_id: int) -> BaseResponse:
    """Issue mini-program slips of one category and answer with the PDF (the only copy)."""
    rnd = access.load_round(round_id)
    category_id, count = _int_field("category_id"), _int_field("count")
    if category_id is None or count is None:
        flash("请选择类别并填写张数", "error")
        return _back(round_id)
    try:
        out = slips.issue_slip_codes(rnd, category_id, count, access.user(), images=False,
                                     pdf=True)
    except ApiError as err:
        db.session.rollback()
        flash(err.message, "error")
        return _back(round_id)
    cat = out["category"]
    name = quote(f"小程序码选票-round{rnd.id}-{cat.name}.pdf")
    return Response(out["pdf"], 200, mimetype="application/pdf", headers={
        "Content-Disposition": f"attachment; filename=\"mpslips-round{rnd.id}-cat{cat.id}.pdf\"; "
                               f"filename*=UTF-8''{name}",
        "Cache-Control": "no-store"})


@require_console_role(*STAFF)
def round_pool(round_id: int) -> BaseResponse:
    rnd = access.load_round(round_id)
    try:
        n = session_qr.add_to_pool(rnd, _int_field("category_id") or 0, _int_field("count"),
                                   access.user())
    except ApiError as err:
        db.session.rollback()
        flash(err.message, "error")
    else:
        flash(f"已加入 {n} 张投票码，参会人员扫码即可领取。", "success")
    return _back(round_id)


@require_console_role(*STAFF)
def round_rotate(round_id: int) -> BaseResponse:
    try:
        session_qr.rotate(access.load_round(round_id), access.user())
    except ApiError as err:
        db.session.rollback()
        flash(err.message, "error")
    else:
        flash("会场二维码已更换，此前显示或拍摄的二维码已失效。", "success")
    return _back(round_id)


@require_console_role(*STAFF)
def session_code(round_id: int, category_id: int) -> Response:
    rnd = access.load_round(round_id)
    if not session_qr.round_options(rnd)["session_qr"] or \
            not any(c.id == category_id for c in rnd.categories):
        raise ApiError("not_found", "找不到该二维码", "Not found", 404)
    return Response(session_qr.session_code_image(rnd, category_id), mimetype="image/jpeg",
                    headers={"Cache-Control": "no-store"})


RULES: list[tuple[str, str, Any, list[str]]] = [
    ("/wechat", "wechat_page", wechat_page, ["GET"]),
    ("/wechat/binding-code", "wechat_binding_code", wechat_binding_code, ["POST"]),
    ("/wechat/unbind", "wechat_unbind", wechat_unbind, ["POST"]),
    ("/rounds/<int:round_id>/miniprogram", "round_page", round_page, ["GET"]),
    ("/rounds/<int:round_id>/miniprogram/options", "round_options", round_options, ["POST"]),
    ("/rounds/<int:round_id>/miniprogram/slips", "round_slips", round_slips, ["POST"]),
    ("/rounds/<int:round_id>/miniprogram/pool", "round_pool", round_pool, ["POST"]),
    ("/rounds/<int:round_id>/miniprogram/rotate", "round_rotate", round_rotate, ["POST"]),
    ("/rounds/<int:round_id>/miniprogram/session-code/<int:category_id>.jpg", "session_code",
     session_code, ["GET"]),
]

for _rule, _endpoint, _view, _methods in RULES:
    bp.add_url_rule(_rule, _endpoint, _view, methods=_methods)
