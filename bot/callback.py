"""The WeChat Work app's callback URL: members ask the app 排名 / 积分 / 帮助 in a 1:1 chat.

WeCom calls  GET  /bot/wecom/callback?msg_signature&timestamp&nonce&echostr  once, when an
admin saves the URL (we answer the decrypted echostr), and
             POST /bot/wecom/callback?msg_signature&timestamp&nonce  for each message, an
XML body whose <Encrypt> holds the AES-encrypted message.

Checks, in order, each refusing with 403 and a stable code: the signature
(SHA1 over token, timestamp, nonce and the ciphertext: wechatpy's crypto);
the timestamp within BOT_CALLBACK_MAX_SKEW_S of now; the decryption (AES with
the EncodingAESKey; the corp id inside must be ours); and a replay cache in
Redis: a (signature, nonce) seen in the last 2 × skew seconds is refused, so a
captured request cannot be played again, and a stale one is refused by its
timestamp. The reply is a passive reply, encrypted the same way.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from typing import Any

from flask import Blueprint, Response, jsonify, request
from wechatpy.enterprise import WeChatCrypto, create_reply, parse_message
from wechatpy.enterprise.exceptions import InvalidCorpIdException
from wechatpy.exceptions import InvalidSignatureException

from bot import redact
from bot.commands import answer
from bot.config import setting
from server.core.errors import ApiError
from server.core.redis import get_redis

log = logging.getLogger(__name__)
bp = Blueprint("bot_callback", __name__, url_prefix="/bot")
MAX_BODY = 64 * 1024


@bp.errorhandler(ApiError)
def _error(err: ApiError) -> Response:
    resp = jsonify({"error": err.to_dict()})
    resp.status_code = err.status
    return resp


def _refuse(code: str, zh: str, en: str, status: int = 403) -> ApiError:
    return ApiError(code, zh, en, status)


def crypto() -> WeChatCrypto:
    token, aes = str(setting("WECOM_CALLBACK_TOKEN")), str(setting("WECOM_CALLBACK_AES_KEY"))
    corp = str(setting("WECOM_CORP_ID"))
    if not (token and aes and corp):
        raise _refuse("callback_not_configured", "尚未配置企业微信应用的接收消息参数",
                      "WECOM_CALLBACK_TOKEN / WECOM_CALLBACK_AES_KEY / WECOM_CORP_ID unset", 404)
    redact.remember(token, aes)
    try:
        return WeChatCrypto(token, aes, corp)
    except (AssertionError, ValueError):
        raise _refuse("callback_not_configured", "企业微信 EncodingAESKey 配置不正确",
                      "WECOM_CALLBACK_AES_KEY is not 43 base64 characters", 404) from None


def _fresh(timestamp: str) -> None:
    skew = int(setting("BOT_CALLBACK_MAX_SKEW_S"))
    try:
        when = int(timestamp)
    except (TypeError, ValueError):
        raise _refuse("callback_bad_timestamp", "请求时间戳不正确", "bad timestamp") from None
    if abs(time.time() - when) > skew:
        raise _refuse("callback_stale", "请求已过期（时间戳超出允许范围）",
                      "timestamp outside the window")


def _first_time(signature: str, nonce: str) -> None:
    skew = int(setting("BOT_CALLBACK_MAX_SKEW_S"))
    seen = hashlib.sha256(f"{signature}:{nonce}".encode()).hexdigest()[:32]
    if not get_redis().set(f"{{bot:cb}}:seen:{seen}", "1", nx=True, ex=2 * skew + 60):
        raise _refuse("callback_replayed", "重复的请求已被拒绝", "replayed callback")


def _params() -> tuple[str, str, str]:
    sig, ts, nonce = (request.args.get(k, "") for k in ("msg_signature", "timestamp", "nonce"))
    if not (sig and ts and nonce) or len(nonce) > 64 or len(sig) > 64:
        raise _refuse("callback_bad_request", "缺少签名参数", "missing signature parameters", 400)
    return sig, ts, nonce


@bp.get("/wecom/callback")
def verify_url() -> Response:
    sig, ts, nonce = _params()
    c = crypto()
    _fresh(ts)
    try:
        echo = c.check_signature(sig, ts, nonce, request.args.get("echostr", ""))
    except InvalidSignatureException:
        raise _refuse("callback_bad_signature", "签名校验失败", "bad signature") from None
    except (InvalidCorpIdException, ValueError, TypeError):
        raise _refuse("callback_bad_payload", "无法解密请求内容",
                      "cannot decrypt echostr") from None
    _first_time(sig, nonce)
    return Response(echo, mimetype="text/plain")


@bp.post("/wecom/callback")
def receive() -> Response:
    sig, ts, nonce = _params()
    c = crypto()
    _fresh(ts)
    raw = request.get_data(cache=False)
    if len(raw) > MAX_BODY:
        raise _refuse("callback_bad_request", "请求内容过大", "body too large", 413)
    try:
        xml = c.decrypt_message(raw, sig, ts, nonce)
    except InvalidSignatureException:
        raise _refuse("callback_bad_signature", "签名校验失败", "bad signature") from None
    except Exception:  # noqa: BLE001 - malformed XML, bad base64/padding, wrong corp id
        raise _refuse("callback_bad_payload", "无法解密请求内容", "cannot decrypt the message") \
            from None
    _first_time(sig, nonce)
    message = parse_message(xml)
    agent = str(setting("WECOM_AGENT_ID"))
    if agent and str(getattr(message, "agent", "") or "") not in ("", agent):
        raise _refuse("callback_wrong_agent", "该消息不是发给本应用的", "message for another agent")
    answer = answer_for(message)
    if answer is None:
        return Response("", mimetype="text/plain")  # events and the like: nothing to say
    reply = create_reply(answer, message).render()
    body = c.encrypt_message(reply, secrets.token_hex(8), str(int(time.time())))
    return Response(body, mimetype="application/xml")


def answer_for(message: Any) -> str | None:
    if getattr(message, "type", "") != "text":
        return None if getattr(message, "type", "") == "event" else \
            "目前只支持文字指令，发送“帮助”查看可用指令。"
    return answer(str(getattr(message, "source", "")), str(getattr(message, "content", "")))
