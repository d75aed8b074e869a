"""The WeChat mini-program server APIs (api.weixin.qq.com), faked for tests and the demo.

Routes, as the real services document them:

    GET  /cgi-bin/token            access token (client_credential); a new token each
                                   call, the previous one stays valid 5 more minutes
    POST /cgi-bin/stable_token     stable access token: the same token while it has more
                                   than 5 minutes left; force_refresh issues a new one
                                   and invalidates the old one at once
    GET  /sns/jscode2session       wx.login code -> openid + session_key (code2Session)
    POST /wxa/getwxacodeunlimit    mini-program code (an image) for a scene of at most
                                   32 visible characters, or a JSON error
    POST /wxa/msg_sec_check        text check: version 2 (openid, scene, content ->
                                   result.suggest pass/review/risky), or version 1
                                   (content -> errcode 87014 when risky)

Error codes produced: -1 busy (injected), 40001 invalid credential, 40002 invalid
grant_type, 40003 invalid openid, 40013 invalid appid, 40029 invalid code, 40125
invalid appsecret, 40129 invalid scene, 40163 code been used, 40169 invalid length
for scene, 41001 access_token missing, 41002 appid missing, 41004 secret missing,
41008 missing code, 41030 invalid page, 42001 access_token expired, 44002 empty
post data, 45009 daily quota (injected), 45011 API minute-quota reached, 47001 data
format error, 87014 risky content.

What the fake knows and how a test steers it, all in `FakeState.settings`:

    mp_appid, mp_secret       the credentials it accepts (FAKE_APPID, FAKE_SECRET)
    mp_rate_limits            {"jscode2session": n, "getwxacodeunlimit": n,
                               "msg_sec_check": n, "token": n}: calls allowed per
                              window (mp_rate_window_s, default 60 s); more: 45011
    mp_banned_words           words that make content risky (default BANNED_WORDS)
    mp_review_words           words that make it "review" (default REVIEW_WORDS)
    mp_sec_check_errcode      87014: answer risky v2 content with errcode 87014
                              instead of errcode 0 + suggest "risky"
    mp_pages                  published pages; with check_path (default true) any
                              other page is 41030
    mp_access_token_ttl       expires_in of new access tokens (default 7200)
    mp_fail_next              {"jscode2session" | "token" | "stable_token" |
                               "getwxacodeunlimit" | "msg_sec_check": errcode}: the
                              next call of that API answers this error (once)

`mint_login_code(state, openid)` plays wx.login: it returns a code that
jscode2session accepts once within 5 minutes. `expire_access_tokens(state)`
makes every access token issued so far answer 42001.
"""

from __future__ import annotations

import base64
import collections
import io
import json
import re
import secrets
import threading
import time
from typing import Any

import qrcode
from flask import Blueprint, Response, current_app, jsonify, request

from bot.wechat_fake import Received

bp = Blueprint("wechat_fake_miniprogram", __name__)

FAKE_APPID = "wx5f1e2d3c4b5a6978"
FAKE_SECRET = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"  # noqa: S105 (the fake's own)
BANNED_WORDS = ("赌博", "代开发票", "违禁")
REVIEW_WORDS = ("待审核",)
CODE_TTL_S = 300
OLD_TOKEN_GRACE_S = 300
OPENID_FRESH_S = 7200  # msg_sec_check v2: the user visited within two hours
SCENE_CHARS = re.compile(r"^[0-9A-Za-z!#$&'()*+,/:;=?@\-._~]+$")
LABEL_RISKY = 20006
LABEL_REVIEW = 21000

_LOCK = threading.Lock()


class _Data:
    """Runtime data of one fake (kept in its FakeState.settings under "_mp")."""

    def __init__(self) -> None:
        self.codes: dict[str, tuple[str, float]] = {}  # code -> (openid, expires at)
        self.used_codes: set[str] = set()
        self.tokens: dict[str, float] = {}  # access token -> valid until
        self.expired: set[str] = set()
        self.stable: str | None = None
        self.visits: dict[str, float] = {}  # openid -> last jscode2session
        self.hits: dict[str, collections.deque[float]] = collections.defaultdict(
            collections.deque)


def _state() -> Any:
    return current_app.config["FAKE_STATE"]


def _data(state: Any) -> _Data:
    with _LOCK:
        data = state.settings.get("_mp")
        if data is None:
            data = state.settings["_mp"] = _Data()
        return data


def _setting(key: str, default: Any) -> Any:
    value = _state().settings.get(key)
    return default if value is None else value


def mint_login_code(state: Any, openid: str | None = None) -> str:
    """What wx.login gives the mini-program: a code good for one jscode2session call."""
    code = "0" + secrets.token_urlsafe(24)[:31]
    openid = openid or "o" + secrets.token_urlsafe(21)[:27]
    with state.lock:
        _data(state).codes[code] = (openid, time.time() + CODE_TTL_S)
    return code


def expire_access_tokens(state: Any) -> None:
    """Every access token issued so far now answers 42001 (access_token expired)."""
    data = _data(state)
    with state.lock:
        data.expired.update(data.tokens)
        data.stable = None


def _record(answer: dict[str, Any]) -> None:
    body = _json_body() if request.get_data() else None  # WeChat takes JSON of any type
    _state().record(Received(path=request.path, query=dict(request.args), body=body,
                             answer=answer))


def _answer(payload: dict[str, Any]) -> Response:
    """A JSON answer; errors too come with HTTP 200, as WeChat sends them."""
    _record(payload)
    resp = jsonify(payload)
    resp.headers["Content-Type"] = "application/json; encoding=utf-8"
    return resp


def _error(errcode: int, errmsg: str) -> Response:
    rid = secrets.token_hex(4)
    return _answer({"errcode": errcode, "errmsg": f"{errmsg} rid: {rid}"})


def _injected(api: str) -> Response | None:
    with _state().lock:
        pending = _state().settings.get("mp_fail_next") or {}
        errcode = pending.pop(api, None)
    if errcode is None:
        return None
    messages = {-1: "system error", 45009: "reach max api daily quota limit",
                45011: "api minute-quota reach limit  mustslower  retry next minute"}
    return _error(int(errcode), messages.get(int(errcode), "injected error"))


def _rate_limited(api: str) -> Response | None:
    limit = (_setting("mp_rate_limits", {}) or {}).get(api)
    if not limit:
        return None
    window = float(_setting("mp_rate_window_s", 60))
    now = time.time()
    hits = _data(_state()).hits[api]
    with _state().lock:
        while hits and hits[0] <= now - window:
            hits.popleft()
        if len(hits) >= int(limit):
            over = True
        else:
            hits.append(now)
            over = False
    if over:
        return _error(45011, "api minute-quota reach limit  mustslower  retry next minute")
    return None


def _check_credentials(appid: Any, secret: Any) -> Response | None:
    if not appid:
        return _error(41002, "appid missing")
    if appid != _setting("mp_appid", FAKE_APPID):
        return _error(40013, "invalid appid")
    if not secret:
        return _error(41004, "appsecret missing")
    if secret != _setting("mp_secret", FAKE_SECRET):
        return _error(40125, "invalid appsecret")
    return None


def _new_token(data: _Data) -> tuple[str, int]:
    ttl = int(_setting("mp_access_token_ttl", 7200))
    token = "fake_at_" + secrets.token_urlsafe(48)
    data.tokens[token] = time.time() + ttl
    return token, ttl


def _check_access_token() -> Response | None:
    token = request.args.get("access_token")
    if not token:
        return _error(41001, "access_token missing")
    data = _data(_state())
    with _state().lock:
        until = data.tokens.get(token)
        expired = token in data.expired
    if until is None:
        return _error(40001, "invalid credential, access_token is invalid or not latest")
    if expired or until <= time.time():
        return _error(42001, "access_token expired")
    return None


def _json_body() -> dict[str, Any] | None:
    try:
        body = json.loads(request.get_data() or b"")
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


# -- access tokens -------------------------------------------------------------------

@bp.route("/cgi-bin/token", methods=["GET"])
def token() -> Response:
    """getAccessToken: a fresh token on every call; the previous ones keep 5 minutes."""
    failure = _injected("token") or _rate_limited("token")
    if failure is not None:
        return failure
    if request.args.get("grant_type") != "client_credential":
        return _error(40002, "invalid grant_type")
    bad = _check_credentials(request.args.get("appid"), request.args.get("secret"))
    if bad is not None:
        return bad
    data = _data(_state())
    with _state().lock:
        now = time.time()
        for old, until in list(data.tokens.items()):
            data.tokens[old] = min(until, now + OLD_TOKEN_GRACE_S)
        new, ttl = _new_token(data)
    return _answer({"access_token": new, "expires_in": ttl})


@bp.route("/cgi-bin/stable_token", methods=["POST"])
def stable_token() -> Response:
    """getStableAccessToken: the same token while it has > 5 minutes left."""
    failure = _injected("stable_token") or _rate_limited("token")
    if failure is not None:
        return failure
    body = _json_body()
    if body is None:
        return _error(47001, "data format error")
    if body.get("grant_type") != "client_credential":
        return _error(40002, "invalid grant_type")
    bad = _check_credentials(body.get("appid"), body.get("secret"))
    if bad is not None:
        return bad
    data = _data(_state())
    now = time.time()
    with _state().lock:
        current = data.stable
        valid = (current is not None and current not in data.expired
                 and data.tokens.get(current, 0) - now > OLD_TOKEN_GRACE_S)
        if body.get("force_refresh") is True and current is not None:
            data.tokens.pop(current, None)
            valid = False
        if not valid or current is None:  # (valid implies a current token)
            current, _ = _new_token(data)
            data.stable = current
        ttl = int(data.tokens[current] - now)
    return _answer({"access_token": current, "expires_in": ttl})


# -- login ------------------------------------------------------------------------------

@bp.route("/sns/jscode2session", methods=["GET"])
def jscode2session() -> Response:
    """code2Session: a wx.login code for the user's openid and a session_key."""
    failure = _injected("jscode2session") or _rate_limited("jscode2session")
    if failure is not None:
        return failure
    args = request.args
    bad = _check_credentials(args.get("appid"), args.get("secret"))
    if bad is not None:
        return bad
    if args.get("grant_type") != "authorization_code":
        return _error(40002, "invalid grant_type")
    code = args.get("js_code")
    if not code:
        return _error(41008, "missing code")
    data = _data(_state())
    with _state().lock:
        used = code in data.used_codes
        entry = None if used else data.codes.pop(code, None)
        if entry is not None and entry[1] >= time.time():
            data.used_codes.add(code)
            data.visits[entry[0]] = time.time()
    if used:
        return _error(40163, "code been used")
    if entry is None or entry[1] < time.time():
        return _error(40029, "invalid code")
    openid = entry[0]
    session_key = base64.b64encode(secrets.token_bytes(16)).decode()
    return _answer({"openid": openid, "session_key": session_key})


# -- mini-program codes -----------------------------------------------------------------

def _code_image(text: str, width: int) -> bytes:
    """A JPEG, `width` pixels square, of a QR code holding `text` (the real service
    draws its round "sun code"; a QR code lets tests read the scene back)."""
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=4)
    qr.add_data(text)
    qr.make(fit=True)
    img = qr.make_image(fill_color="black", back_color="white").get_image()
    img = img.convert("RGB").resize((width, width), 0)  # nearest: crisp modules
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=92)
    return buf.getvalue()


@bp.route("/wxa/getwxacodeunlimit", methods=["POST"])
def getwxacodeunlimit() -> Response:
    """wxacode.getUnlimited: the image (image/jpeg) of a code for page + scene."""
    bad = _check_access_token() or _injected("getwxacodeunlimit") \
        or _rate_limited("getwxacodeunlimit")
    if bad is not None:
        return bad
    body = _json_body()
    if body is None:
        return _error(47001, "data format error")
    scene = body.get("scene")
    if not isinstance(scene, str) or not 1 <= len(scene) <= 32:
        return _error(40169, "invalid length for scene, or the data is not json string")
    if not SCENE_CHARS.match(scene):
        return _error(40129, "invalid scene")
    page = body.get("page", "")
    if not isinstance(page, str) or page.startswith("/") or "?" in page:
        return _error(41030, "invalid page")
    pages = _setting("mp_pages", None)
    if page and body.get("check_path", True) is not False and pages is not None \
            and page not in pages:
        return _error(41030, "invalid page")
    env = body.get("env_version", "release")
    if env not in ("release", "trial", "develop"):
        return _error(40097, "invalid args: env_version")
    width = body.get("width", 430)
    if isinstance(width, bool) or not isinstance(width, int):
        return _error(40097, "invalid args: width")
    width = min(1280, max(280, width))
    image = _code_image(f"{page}?scene={scene}", width)
    _record({"image": "jpeg", "bytes": len(image), "scene": scene, "page": page})
    return Response(image, mimetype="image/jpeg")


# -- content security -------------------------------------------------------------------

def _verdict(content: str) -> tuple[str, int, str | None]:
    for word in _setting("mp_banned_words", BANNED_WORDS):
        if word and word in content:
            return "risky", LABEL_RISKY, word
    for word in _setting("mp_review_words", REVIEW_WORDS):
        if word and word in content:
            return "review", LABEL_REVIEW, word
    return "pass", 100, None


@bp.route("/wxa/msg_sec_check", methods=["POST"])
def msg_sec_check() -> Response:
    """security.msgSecCheck, version 2 (and version 1 for old callers)."""
    bad = _check_access_token() or _injected("msg_sec_check") or _rate_limited("msg_sec_check")
    if bad is not None:
        return bad
    body = _json_body()
    if body is None:
        return _error(47001, "data format error")
    content = body.get("content")
    if not isinstance(content, str) or not content:
        return _error(44002, "empty post data")
    if len(content) > 2500:
        return _error(47001, "data format error: content longer than 2500 characters")
    suggest, label, word = _verdict(content)
    version = body.get("version")
    if str(version) != "2":  # version 1: one errcode, nothing else
        if suggest == "risky":
            return _error(87014, "risky content")
        return _answer({"errcode": 0, "errmsg": "ok"})
    openid = body.get("openid")
    if not isinstance(openid, str) or not openid:
        return _error(44002, "empty post data: openid")
    with _state().lock:
        seen = _data(_state()).visits.get(openid)
    if seen is None or seen < time.time() - OPENID_FRESH_S:
        return _error(40003, "invalid openid")
    scene = body.get("scene")
    if isinstance(scene, bool) or scene not in (1, 2, 3, 4):
        return _error(40129, "invalid scene")
    if suggest == "risky" and int(_setting("mp_sec_check_errcode", 0) or 0) == 87014:
        return _error(87014, "risky content")
    detail = [{"strategy": "content_model", "errcode": 0, "suggest": suggest,
               "label": label, "prob": 90 if word else 0},
              {"strategy": "keyword", "errcode": 0, "suggest": suggest, "label": label,
               **({"level": 20, "keyword": word} if word else {})}]
    return _answer({"errcode": 0, "errmsg": "ok", "result": {"suggest": suggest, "label": label},
                    "detail": detail, "trace_id": secrets.token_hex(12)})
