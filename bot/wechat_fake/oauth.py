"""The official account's web authorization (公众号网页授权), faked for tests and the demo.

    GET /connect/oauth2/authorize      (open.weixin.qq.com) the phone is sent here; the
                                       fake sends it back to redirect_uri with
                                       ?code=…&state=… : at once when it knows this
                                       browser (a cookie on the fake's origin, as WeChat
                                       knows its user) or when `oa_openid` is set, else
                                       after a small page where the tester picks an openid
    GET /sns/oauth2/access_token       (api.weixin.qq.com) code -> openid, access_token,
                                       refresh_token, scope; a code works once, 5 minutes

Errors: 40013 invalid appid, 40125 invalid appsecret, 40002 invalid grant_type, 41008
missing code, 40029 invalid code, 40163 code been used; the authorize page answers a bad
appid, scope or redirect_uri with an error page (HTTP 400), as WeChat shows one.

Settings (FakeState.settings): oa_appid, oa_secret (FAKE_OA_APPID, FAKE_OA_SECRET),
oa_openid (every authorization is this user; tests), oa_fail_next ("access_token":
errcode, once). `mint_oauth_code(state, openid)` makes a code as an authorization would.
"""

from __future__ import annotations

import html
import secrets
import time
from typing import Any
from urllib.parse import urlencode, urlsplit

from flask import Blueprint, Response, redirect, request
from werkzeug.wrappers import Response as BaseResponse

from bot.wechat_fake.miniprogram import CODE_TTL_S, _answer, _error, _setting, _state

bp = Blueprint("wechat_fake_oauth", __name__)

FAKE_OA_APPID = "wx0a1b2c3d4e5f6071"
FAKE_OA_SECRET = "a0b1c2d3e4f5061728394a5b6c7d8e9f"  # noqa: S105 (the fake's own)
COOKIE = "fake_wechat_openid"


def _codes(state: Any) -> dict[str, Any]:
    with state.lock:
        return state.settings.setdefault("_oa", {"codes": {}, "used": set()})


def mint_oauth_code(state: Any, openid: str) -> str:
    """A code good for one sns/oauth2/access_token call within 5 minutes."""
    code = "0" + secrets.token_urlsafe(24)[:31]
    data = _codes(state)
    with state.lock:
        data["codes"][code] = (openid, time.time() + CODE_TTL_S)
    return code


def _page(title: str, body: str, status: int = 200) -> Response:
    doc = (f"<!doctype html><html lang='zh-CN'><meta charset='utf-8'>"
           f"<meta name='viewport' content='width=device-width, initial-scale=1'>"
           f"<title>{html.escape(title)}</title><body style='font-family:sans-serif;"
           f"padding:24px'><h1 style='font-size:20px'>{html.escape(title)}</h1>{body}"
           "</body></html>")
    return Response(doc, status=status, mimetype="text/html")


def _back(redirect_uri: str, openid: str, st: str) -> BaseResponse:
    code = mint_oauth_code(_state(), openid)
    sep = "&" if urlsplit(redirect_uri).query else "?"
    resp = redirect(redirect_uri + sep + urlencode({"code": code, "state": st}), 302)
    resp.set_cookie(COOKIE, openid, httponly=True, samesite="Lax")
    return resp


@bp.route("/connect/oauth2/authorize", methods=["GET"])
def authorize() -> BaseResponse:
    args = request.args
    if args.get("appid") != _setting("oa_appid", FAKE_OA_APPID):
        return _page("参数错误", "<p>appid 无效（40013）</p>", 400)
    if args.get("response_type") != "code" or args.get("scope") not in ("snsapi_base",
                                                                         "snsapi_userinfo"):
        return _page("参数错误", "<p>scope 或 response_type 无效</p>", 400)
    redirect_uri = args.get("redirect_uri", "")
    if urlsplit(redirect_uri).scheme not in ("http", "https"):
        return _page("参数错误", "<p>redirect_uri 参数错误（10003）</p>", 400)
    st = args.get("state", "")
    openid = args.get("pick") or _setting("oa_openid", None) or request.cookies.get(COOKIE)
    if openid:
        return _back(redirect_uri, str(openid), st)
    hidden = "".join(f"<input type='hidden' name='{html.escape(k)}' value='{html.escape(v)}'>"
                     for k, v in args.items() if k != "pick")
    suggestion = "o" + secrets.token_urlsafe(21)[:27]
    return _page("模拟微信网页授权", (
        "<p>本地模拟：选择以哪个微信用户（openid）授权。同一浏览器之后自动使用同一用户。</p>"
        f"<form method='get'>{hidden}<p><input name='pick' value='{suggestion}' "
        "style='width:100%;font-size:16px' aria-label='openid'></p>"
        "<p><button type='submit' style='font-size:16px'>授权并返回</button></p></form>"))


@bp.route("/sns/oauth2/access_token", methods=["GET"])
def access_token() -> Response:
    state = _state()
    with state.lock:
        injected = (state.settings.get("oa_fail_next") or {}).pop("access_token", None)
    if injected is not None:
        return _error(int(injected), "injected error")
    args = request.args
    if args.get("appid") != _setting("oa_appid", FAKE_OA_APPID):
        return _error(40013, "invalid appid")
    if args.get("secret") != _setting("oa_secret", FAKE_OA_SECRET):
        return _error(40125, "invalid appsecret")
    if args.get("grant_type") != "authorization_code":
        return _error(40002, "invalid grant_type")
    code = args.get("code")
    if not code:
        return _error(41008, "missing code")
    data = _codes(state)
    with state.lock:
        used = code in data["used"]
        entry = None if used else data["codes"].pop(code, None)
        if entry is not None:
            data["used"].add(code)
    if used:
        return _error(40163, "code been used")
    if entry is None or entry[1] < time.time():
        return _error(40029, "invalid code")
    return _answer({"access_token": "fake_oat_" + secrets.token_urlsafe(32), "expires_in": 7200,
                    "refresh_token": "fake_ort_" + secrets.token_urlsafe(32),
                    "openid": entry[0], "scope": "snsapi_base"})
