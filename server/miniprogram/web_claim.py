"""The session QR on the mobile page in WeChat: GET /v/s/<scene>.

The projector's web code opens this URL (session_web_url). Without `code` the phone
is sent to WeChat's web authorization (snsapi_base: no prompt) with a random `state`
also kept in a short cookie; WeChat sends it back here with ?code=…&state=…. If the
state matches, the voting page is served with the scene; its script (voting/static/
session.js) makes the token, blinds it and claims with the code
(POST /api/v1/session-claims {scene, oauth_code, blinded_msg}). The code itself is
never read here: it is exchanged for the openid by the claim, once.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from flask import (
    Blueprint,
    Response,
    current_app,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from werkzeug.wrappers import Response as BaseResponse

from server.core.errors import ApiError
from server.wechat import oauth

bp = Blueprint("session_page", __name__)

STATE_COOKIE = "pingyi_oauth_state"
STATE_TTL_S = 600
SCENE_RE = re.compile(r"^S[1-9][0-9]{0,9}\.[1-9][0-9]{0,9}\.[2-9A-HJKMNP-Za-hjkmnp-z]{8}$")


def session_web_url(scene: str) -> str:
    """The address a category's web session code holds (PUBLIC_BASE_URL, else the host)."""
    base = (current_app.config.get("PUBLIC_BASE_URL") or request.host_url).rstrip("/")
    return base + url_for("session_page.session_page", scene=scene)


def _page(scene: str, error: ApiError | None = None, status: int = 200) -> Response:
    claim: dict[str, Any] = {"scene": scene}
    if error is not None:
        claim["error"] = {"code": error.code, "message": error.message}
    resp = make_response(render_template("vote/index.html", session_claim=claim), status)
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.get("/v/s/<scene>")
def session_page(scene: str) -> BaseResponse:
    if not SCENE_RE.match(scene):
        return _page("", ApiError("session_code_invalid",
                                  "该投票二维码无效，请扫描大屏上当前显示的二维码",
                                  "Malformed session code", 404), 404)
    if not oauth.configured():
        return _page(scene, oauth.NOT_CONFIGURED(), 503)
    if not request.args.get("code"):
        state = secrets.token_hex(16)
        resp = redirect(oauth.authorize_url(session_web_url(scene), state), 302)
        resp.set_cookie(STATE_COOKIE, state, max_age=STATE_TTL_S, path="/v/s/", httponly=True,
                        samesite="Lax", secure=request.is_secure)
        resp.headers["Cache-Control"] = "no-store"
        return resp
    expected = request.cookies.get(STATE_COOKIE, "")
    if not expected or not secrets.compare_digest(request.args.get("state", ""), expected):
        return _page(scene, ApiError("oauth_state_invalid", "授权已过期，请重新扫描大屏上的二维码",
                                     "The web authorization's state does not match", 400), 400)
    resp = _page(scene)
    resp.delete_cookie(STATE_COOKIE, path="/v/s/")
    return resp
