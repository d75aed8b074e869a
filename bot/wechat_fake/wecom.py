"""WeChat Work (企业微信) routes of the fake, checked as the real API documents them.

    GET  /cgi-bin/gettoken?corpid=&corpsecret=          access token (7200 s; the
                                                        same token while it is valid)
    POST /cgi-bin/appchat/send?access_token=            app chat message
    POST /cgi-bin/media/upload?access_token=&type=image temporary media (≤ 2 MB PNG/JPG)
    POST /cgi-bin/webhook/send?key=                     group robot message
    POST /_fake/robots                                  "add a robot to a group": a new key
    GET  /_fake/received                                everything received (JSON)
    GET  /                                              what arrived, for people (demo)

Checks: field names and msgtype; text.content ≤ 2048 and markdown.content ≤ 4096
UTF-8 bytes (40058); image base64 that decodes to a PNG/JPG of at most 2 MB
(40009) whose md5 matches (301019); 20 messages a minute per robot key or chat
(45009, sliding window; `rate_limit`, `rate_window_s` settings); unknown webhook
key → 93000; missing/unknown/expired access_token → 41001/40014/42001.

Faults for tests (FakeState.settings; "after": n lets the first n matching requests pass):
  delay: [{"path": "webhook/send", "seconds": 2.0, "times": 1}]  deliver, then
         answer late (the client times out although the message arrived)
  fail:  [{"path": "webhook/send", "errcode": -1, "times": 1}]   refuse, deliver nothing
  status: [{"path": "webhook/send", "status": 502, "times": 1}]  deliver, then answer 502

`callback_request()` builds what WeCom POSTs to an app's callback URL (signed and
AES-encrypted with wechatpy's crypto), `post_callback()` sends it over HTTP, and
`decrypt_reply()` reads the encrypted answer; `verify_url_request()` is the GET
WeCom sends when the URL is saved.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import html
import json
import secrets
import threading
import time
import uuid
from collections import defaultdict, deque
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from bot.wechat_fake import FakeState, Received

bp = Blueprint("wechat_fake_wecom", __name__)

TEXT_LIMIT, MARKDOWN_LIMIT, IMAGE_LIMIT = 2048, 4096, 2 * 1024 * 1024
TOKEN_TTL_S = 7200
APPCHAT_TYPES = ("text", "image", "voice", "video", "file", "textcard", "news", "mpnews",
                 "markdown")
WEBHOOK_TYPES = ("text", "markdown", "image", "news", "file", "voice", "template_card")
_guard = threading.Lock()


def state() -> FakeState:
    return current_app.config["FAKE_STATE"]


def _hint() -> str:
    return f"hint: [{int(time.time() * 1000)}{secrets.randbelow(10**6):06d}], from ip: 127.0.0.1"


def err(code: int, msg: str) -> dict[str, Any]:
    more = f"more info at https://open.work.weixin.qq.com/devtool/query?e={code}"
    return {"errcode": code, "errmsg": f"{msg}, {_hint()}, {more}"}


OK: dict[str, Any] = {"errcode": 0, "errmsg": "ok"}


def _mem(st: FakeState) -> dict[str, Any]:
    """The fake's bookkeeping (tokens, robots, windows, media), kept in the settings."""
    with _guard:
        if "_mem" not in st.settings:
            st.settings["_mem"] = {"tokens": {}, "windows": defaultdict(deque), "media": {},
                                   "faults": defaultdict(int), "gettoken_calls": 0}
            st.settings.setdefault("corps", {})  # corpid → secret
            st.settings.setdefault("webhook_keys", [])
            st.settings.setdefault("chats", None)  # None: any chat id the app sends to
        return st.settings["_mem"]


def _fault(kind: str, path: str) -> dict[str, Any] | None:
    st = state()
    mem = _mem(st)
    for i, rule in enumerate(st.settings.get(kind) or []):
        if rule.get("path", "") not in path:
            continue
        with _guard:
            seen = mem["faults"][(kind, i, "seen")] = mem["faults"][(kind, i, "seen")] + 1
            if seen <= int(rule.get("after", 0)):
                continue
            used = mem["faults"][(kind, i)]
            if used >= int(rule.get("times", 1)):
                continue
            mem["faults"][(kind, i)] = used + 1
        return rule
    return None


def _answer(body: Any, answer: dict[str, Any], status: int = 200) -> Response:
    st = state()
    st.record(Received(request.path, dict(request.args), body, answer))
    resp = jsonify(answer)
    resp.status_code = status
    return resp


def _deliver_then_answer(body: Any, answer: dict[str, Any]) -> Response:
    """The message arrived; faults may still lose or delay the answer."""
    late = _fault("delay", request.path)
    broken = _fault("status", request.path)
    st = state()
    st.record(Received(request.path, dict(request.args), body, answer))
    if late:
        time.sleep(float(late.get("seconds", 2.0)))
    if broken:
        return Response("<html><body>502 Bad Gateway</body></html>",
                        status=int(broken.get("status", 502)), mimetype="text/html")
    return jsonify(answer)


def _rate_ok(bucket: str) -> bool:
    st = state()
    mem = _mem(st)
    limit = int(st.settings.get("rate_limit", 20))
    window = float(st.settings.get("rate_window_s", 60))
    now = time.monotonic()
    with _guard:
        q = mem["windows"][bucket]
        while q and q[0] <= now - window:
            q.popleft()
        if len(q) >= limit:
            return False
        q.append(now)
        return True


def _nbytes(text: Any) -> int:
    return len(str(text).encode("utf-8"))


def _check_content(kind: str, payload: Any) -> dict[str, Any] | None:
    """None if the message part is valid, else WeCom's error answer."""
    if not isinstance(payload, dict):
        return err(40058, f"{kind} is required")
    if kind in ("text", "markdown"):
        content = payload.get("content")
        if not isinstance(content, str) or not content:
            return err(44004, f"{kind}.content is empty")
        limit = TEXT_LIMIT if kind == "text" else MARKDOWN_LIMIT
        if _nbytes(content) > limit:
            return err(40058, f"{kind}.content exceed max length {limit}")
    return None


def _check_image(payload: Any) -> dict[str, Any] | None:
    if not isinstance(payload, dict) or not payload.get("base64") or not payload.get("md5"):
        return err(40058, "image.base64 and image.md5 are required")
    try:
        raw = base64.b64decode(payload["base64"], validate=True)
    except (binascii.Error, ValueError):
        return err(40009, "invalid image base64")
    if len(raw) > IMAGE_LIMIT or not (raw.startswith(b"\x89PNG\r\n\x1a\n")
                                      or raw.startswith(b"\xff\xd8")):
        return err(40009, "invalid image size or format (png/jpg, at most 2M)")
    if hashlib.md5(raw).hexdigest() != str(payload["md5"]).lower():  # noqa: S324
        return err(301019, "media md5 not match")
    return None


def _json_body() -> tuple[Any, dict[str, Any] | None]:
    try:
        return json.loads(request.get_data(as_text=True) or "null"), None
    except ValueError:
        return None, err(40058, "Warning: wrong json format")


# --------------------------------------------------------------------------- token


def _token_error() -> dict[str, Any] | None:
    mem = _mem(state())
    token = request.args.get("access_token")
    if not token:
        return err(41001, "access_token missing")
    expires = mem["tokens"].get(token)
    if expires is None:
        return err(40014, "invalid access_token")
    if expires <= time.monotonic():
        return err(42001, "access_token expired")
    return None


@bp.get("/cgi-bin/gettoken")
def gettoken() -> Response:
    st = state()
    mem = _mem(st)
    corpid, secret = request.args.get("corpid", ""), request.args.get("corpsecret", "")
    with _guard:
        mem["gettoken_calls"] += 1
    corps = st.settings["corps"]
    if corpid not in corps:
        return _answer(None, err(40013, "invalid corpid"))
    if not secrets.compare_digest(corps[corpid], secret):
        return _answer(None, err(40001, "invalid secret"))
    now = time.monotonic()
    with _guard:
        live = [(t, e) for t, e in mem["tokens"].items() if e > now and mem.get("corp_of", {})
                .get(t) == corpid]
        if live:  # WeCom: the same token while it is valid
            token, expires = max(live, key=lambda x: x[1])
        else:
            token, expires = secrets.token_urlsafe(48), now + TOKEN_TTL_S
            mem["tokens"][token] = expires
            mem.setdefault("corp_of", {})[token] = corpid
    return _answer(None, {**OK, "access_token": token, "expires_in": int(expires - now)})


def expire_tokens(st: FakeState) -> None:
    """Make every token issued so far expired (the next use answers 42001)."""
    mem = _mem(st)
    with _guard:
        for token in mem["tokens"]:
            mem["tokens"][token] = 0.0


def gettoken_calls(st: FakeState) -> int:
    return int(_mem(st)["gettoken_calls"])


# --------------------------------------------------------------------------- app chat


@bp.post("/cgi-bin/media/upload")
def media_upload() -> Response:
    bad = _token_error()
    if bad:
        return _answer(None, bad)
    if request.args.get("type") != "image":
        return _answer(None, err(40005, "invalid media type"))
    media = request.files.get("media")
    raw = media.read() if media else b""
    if not raw or len(raw) > IMAGE_LIMIT or not (raw.startswith(b"\x89PNG") or
                                                 raw.startswith(b"\xff\xd8")):
        return _answer({"size": len(raw)}, err(40009, "invalid image size"))
    media_id = "MEDIA" + secrets.token_hex(16)
    _mem(state())["media"][media_id] = raw
    return _answer({"size": len(raw)}, {**OK, "type": "image", "media_id": media_id,
                                        "created_at": str(int(time.time()))})


@bp.post("/cgi-bin/appchat/send")
def appchat_send() -> Response:
    bad = _token_error()
    if bad:
        return _answer(None, bad)
    body, bad = _json_body()
    if bad:
        return _answer(None, bad)
    if not isinstance(body, dict) or not body.get("chatid"):
        return _answer(body, err(40058, "chatid is required"))
    chats = state().settings.get("chats")
    if chats is not None and body["chatid"] not in chats:
        return _answer(body, err(86003, "chatid not found"))
    kind = body.get("msgtype")
    if kind not in APPCHAT_TYPES:
        return _answer(body, err(40008, "invalid message type"))
    if kind == "image":
        media_id = (body.get("image") or {}).get("media_id")
        bad = None if media_id in _mem(state())["media"] else err(40007, "invalid media_id")
    else:
        bad = _check_content(kind, body.get(kind))
    if bad:
        return _answer(body, bad)
    fail = _fault("fail", request.path)
    if fail:
        return _answer(body, err(int(fail.get("errcode", -1)), "system busy"))
    if not _rate_ok("chat:" + str(body["chatid"])):
        return _answer(body, err(45009, "api freq out of limit"))
    return _deliver_then_answer(body, dict(OK))


# --------------------------------------------------------------------------- group robot


@bp.post("/cgi-bin/webhook/send")
def webhook_send() -> Response:
    st = state()
    _mem(st)
    key = request.args.get("key", "")
    if key not in st.settings["webhook_keys"]:
        return _answer(None, err(93000, "invalid webhook url"))
    body, bad = _json_body()
    if bad:
        return _answer(None, bad)
    kind = body.get("msgtype") if isinstance(body, dict) else None
    if kind not in WEBHOOK_TYPES:
        return _answer(body, err(40008, "invalid message type"))
    bad = _check_image(body.get("image")) if kind == "image" else \
        _check_content(kind, body.get(kind)) if kind in ("text", "markdown") else None
    if bad:
        return _answer(body, bad)
    fail = _fault("fail", request.path)
    if fail:
        return _answer(body, err(int(fail.get("errcode", -1)), "system busy"))
    if not _rate_ok("robot:" + key):
        return _answer(body, err(45009, "api freq out of limit"))
    return _deliver_then_answer(body, dict(OK))


def add_robot(st: FakeState, key: str | None = None) -> str:
    """A robot added to a group: its key now works."""
    _mem(st)
    key = key or str(uuid.uuid4())
    with _guard:
        st.settings["webhook_keys"].append(key)
    return key


def remove_robot(st: FakeState, key: str) -> None:
    with _guard:
        st.settings["webhook_keys"] = [k for k in st.settings["webhook_keys"] if k != key]


@bp.post("/_fake/robots")
def new_robot() -> Response:
    key = add_robot(state())
    base = request.host_url.rstrip("/")
    return jsonify({"key": key, "webhook": f"{base}/cgi-bin/webhook/send?key={key}"})


def delivered(st: FakeState, path: str = "webhook/send", key: str | None = None,
              chatid: str | None = None) -> list[Any]:
    """Message bodies that arrived (answered errcode 0 or delivered before a fault)."""
    out = []
    for r in st.seen(path):
        if r.answer.get("errcode") != 0:
            continue
        if key is not None and r.query.get("key") != key:
            continue
        if chatid is not None and (r.body or {}).get("chatid") != chatid:
            continue
        out.append(r.body)
    return out


# --------------------------------------------------------------------------- inspection


@bp.get("/_fake/received")
def received() -> Response:
    st = state()
    with st.lock:
        items = [{"path": r.path, "body": _short(r.body), "answer": r.answer}
                 for r in st.received]
    return jsonify(items)


def _short(body: Any) -> Any:
    if isinstance(body, dict) and isinstance(body.get("image"), dict) and \
            "base64" in body["image"]:
        return {**body, "image": {**body["image"], "base64": f"<{len(body['image']['base64'])}"
                                                             " chars>"}}
    return body


@bp.get("/")
def index() -> Response:
    """What the robots received, newest first (the demo opens this page)."""
    st = state()
    with st.lock:
        items = list(reversed(st.received))
    rows = []
    for r in items:
        body = r.body if isinstance(r.body, dict) else {}
        kind = body.get("msgtype", "")
        ok = r.answer.get("errcode") == 0
        if kind == "image" and isinstance(body.get("image"), dict) and "base64" in body["image"]:
            inner = f'<img alt="card" src="data:image/png;base64,{body["image"]["base64"]}">'
        elif kind in ("markdown", "text"):
            inner = f"<pre>{html.escape(str(body.get(kind, {}).get('content', '')))}</pre>"
        else:
            inner = f"<pre>{html.escape(json.dumps(_short(r.body), ensure_ascii=False))}</pre>"
        status = "送达" if ok else html.escape(str(r.answer.get("errmsg", ""))[:60])
        rows.append(f"<section><h2>{html.escape(r.path)} · {html.escape(kind)} · {status}</h2>"
                    f"{inner}</section>")
    page = ("<!doctype html><meta charset=utf-8><title>企业微信（本地模拟）</title>"
            "<style>body{font-family:sans-serif;max-width:760px;margin:auto;background:#ededed}"
            "section{background:#fff;margin:12px;padding:12px;border-radius:8px}"
            "h2{font-size:13px;color:#888}img{max-width:100%}pre{white-space:pre-wrap}</style>"
            f"<h1>群机器人与应用群聊收到的消息（{len(items)}）</h1>" + "".join(rows))
    return Response(page, mimetype="text/html")


# --------------------------------------------------------------------------- callbacks


def callback_request(*, token: str, aes_key: str, corp_id: str, agent_id: str, from_user: str,
                     content: str, msg_id: str | None = None, timestamp: int | None = None,
                     nonce: str | None = None) -> tuple[dict[str, str], str]:
    """(query parameters, XML body) of a text message as WeCom POSTs it to an app's URL."""
    from wechatpy.enterprise.crypto import WeChatCrypto

    ts = str(int(time.time()) if timestamp is None else timestamp)
    nonce = nonce or secrets.token_hex(8)
    inner = (f"<xml><ToUserName><![CDATA[{corp_id}]]></ToUserName>"
             f"<FromUserName><![CDATA[{from_user}]]></FromUserName>"
             f"<CreateTime>{ts}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
             f"<Content><![CDATA[{content}]]></Content>"
             f"<MsgId>{msg_id or secrets.randbelow(10**18)}</MsgId>"
             f"<AgentID>{agent_id}</AgentID></xml>")
    crypto = WeChatCrypto(token, aes_key, corp_id)
    wrapped = crypto.encrypt_message(inner, nonce, ts)
    import xmltodict

    parsed = xmltodict.parse(wrapped)["xml"]
    body = (f"<xml><ToUserName><![CDATA[{corp_id}]]></ToUserName>"
            f"<AgentID><![CDATA[{agent_id}]]></AgentID>"
            f"<Encrypt><![CDATA[{parsed['Encrypt']}]]></Encrypt></xml>")
    return {"msg_signature": parsed["MsgSignature"], "timestamp": ts, "nonce": nonce}, body


def post_callback(url: str, **kwargs: Any) -> tuple[int, dict[str, Any] | str]:
    """POST a text message to an app's callback URL over HTTP as WeCom would; returns the
    status and the decrypted reply (or the raw body when there is no encrypted reply)."""
    import requests

    keys = {k: kwargs[k] for k in ("token", "aes_key", "corp_id")}
    params, body = callback_request(**kwargs)
    resp = requests.post(url, params=params, data=body.encode("utf-8"), timeout=10,
                         headers={"Content-Type": "text/xml"})
    if resp.status_code == 200 and "<Encrypt>" in resp.text:
        return resp.status_code, decrypt_reply(resp.text, **keys)
    return resp.status_code, resp.text


def verify_url_request(*, token: str, aes_key: str, corp_id: str, echo: str = "echo-123",
                       timestamp: int | None = None,
                       nonce: str | None = None) -> dict[str, str]:
    """The GET WeCom sends when an admin saves the callback URL (echostr to decrypt)."""
    from wechatpy.crypto import _get_signature
    from wechatpy.enterprise.crypto import PrpCrypto

    ts = str(int(time.time()) if timestamp is None else timestamp)
    nonce = nonce or secrets.token_hex(8)
    key = base64.b64decode(aes_key + "=")
    echostr = PrpCrypto(key).encrypt(echo, corp_id).decode()
    return {"msg_signature": _get_signature(token, ts, nonce, echostr), "timestamp": ts,
            "nonce": nonce, "echostr": echostr}


def decrypt_reply(body: str, *, token: str, aes_key: str, corp_id: str) -> dict[str, Any]:
    """The fields of an encrypted passive reply, as WeCom would read them."""
    import xmltodict
    from wechatpy.enterprise.crypto import WeChatCrypto

    outer = xmltodict.parse(body)["xml"]
    crypto = WeChatCrypto(token, aes_key, corp_id)
    inner = crypto.decrypt_message(body, outer["MsgSignature"], outer["TimeStamp"],
                                   outer["Nonce"])
    return dict(xmltodict.parse(inner)["xml"])
