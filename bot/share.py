"""Share links: a public mobile page (and its PNG card) for one board and period.

For plain WeChat groups the secretary forwards a link. The link is
/s/<board>/<scope>/<period>/<sig>, where sig is an HMAC (key derived from
SECRET_KEY) of the rest: anyone holding the link sees the board, nobody can
guess the link of another branch or period. What it shows follows the board's
visibility: nothing while hidden (403), the frozen standings while frozen, the
live standings otherwise; so hiding a board also withdraws its shared links.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    has_request_context,
    render_template,
    request,
)

from bot.content import board_content
from bot.render.card import render_card
from server.core.errors import ApiError
from server.points.calendar import Period, PeriodError, parse_period

bp = Blueprint("bot_share", __name__, template_folder="templates", static_folder="static",
               static_url_path="/bot-static")

BOARD_CODES = {"members": "m", "groups": "g", "branches": "b"}
CODE_BOARDS = {v: k for k, v in BOARD_CODES.items()}


def _key() -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"pingyi-bot-share",
                info=b"share-link").derive(str(current_app.config["SECRET_KEY"]).encode())


def signature(board: str, scope_id: int, period: Period) -> str:
    mac = hmac.new(_key(), f"{board}:{scope_id}:{period.code}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac[:12]).decode().rstrip("=")


def public_base() -> str:
    base = str(current_app.config.get("PUBLIC_BASE_URL") or "")
    if not base and has_request_context():
        base = request.host_url
    return (base or "http://127.0.0.1:5000").rstrip("/")


def share_path(board: str, scope_id: int, period: Period) -> str:
    return f"/s/{BOARD_CODES[board]}/{scope_id}/{period.code}/{signature(board, scope_id, period)}"


def share_url(board: str, scope_id: int, period: Period) -> str:
    return public_base() + share_path(board, scope_id, period)


def _resolve(code: str, scope_id: int, period: str, sig: str) -> tuple[str, int, Period]:
    board = CODE_BOARDS.get(code)
    try:
        per = parse_period(period)
    except PeriodError:
        abort(404)
    if board is None or not hmac.compare_digest(signature(board, scope_id, per), sig):
        abort(404)
    return board, scope_id, per


def _hidden_page() -> tuple[str, int]:
    return render_template("bot/share_hidden.html"), 403


@bp.get("/s/<code>/<int:scope_id>/<period>/<sig>")
def share_page(code: str, scope_id: int, period: str, sig: str) -> Response | tuple[str, int]:
    board, scope_id, per = _resolve(code, scope_id, period, sig)
    try:
        content = board_content(board, scope_id, per)
    except ApiError as err:
        if err.code == "board_hidden":
            return _hidden_page()
        raise
    html = render_template("bot/share.html", c=content,
                           card_url=share_path(board, scope_id, per) + "/card.png")
    return Response(html, headers={"Cache-Control": "no-store"})


@bp.get("/s/<code>/<int:scope_id>/<period>/<sig>/card.png")
def share_card(code: str, scope_id: int, period: str, sig: str) -> Response | tuple[str, int]:
    board, scope_id, per = _resolve(code, scope_id, period, sig)
    try:
        content = board_content(board, scope_id, per)
    except ApiError as err:
        if err.code == "board_hidden":
            return _hidden_page()
        raise
    png = render_card(content, current_app.config["BOT_CARD_MAX_ROWS"])
    return Response(png, mimetype="image/png", headers={"Cache-Control": "no-store"})
