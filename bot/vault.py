"""Chat secrets at rest: encrypted with a key derived from SECRET_KEY, shown masked.

A group robot's webhook key lets anyone post into the group, and an app chat id
names a chat the app may post to; both are kept as Fernet tokens (AES-128-CBC +
HMAC-SHA256) under a key derived from SECRET_KEY with HKDF (server/core/sealing.py,
as the mini-program's sealed tokens), so a database dump alone does not reveal
them. A keyed digest (HMAC) identifies a secret without revealing it: it names
the robot's rate-limit bucket in Redis and refuses the same robot twice.
Changing SECRET_KEY makes stored secrets unreadable: the console then asks for
them again (`vault_key_changed`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from urllib.parse import parse_qs, urlsplit

from cryptography.fernet import Fernet, InvalidToken

from bot import redact
from server.core.errors import ApiError
from server.core.sealing import derive_key

_WEBHOOK_KEY = re.compile(r"^[A-Za-z0-9-]{8,64}$")
_CHAT_ID = re.compile(r"^[A-Za-z0-9]{1,32}$")  # WeCom: 0-9 a-z A-Z, at most 32


def _derive(info: bytes) -> bytes:
    return derive_key(info, salt=b"pingyi-bot-vault")


def _fernet() -> Fernet:
    return Fernet(base64.urlsafe_b64encode(_derive(b"chat-target-secret")))


def encrypt(value: str) -> str:
    return _fernet().encrypt(value.encode()).decode()


def decrypt(token: str) -> str:
    try:
        value = _fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise ApiError("vault_key_changed", "群聊密钥无法解密（系统密钥 SECRET_KEY 可能已更换），"
                       "请重新填写该群聊的机器人地址或群聊 ID",
                       "cannot decrypt the chat secret (SECRET_KEY changed?)", 409) from None
    redact.remember(value)
    return value


def digest(value: str) -> str:
    """A stable, keyed fingerprint of a secret (hex, 24 characters)."""
    return hmac.new(_derive(b"chat-target-digest"), value.encode(), hashlib.sha256
                    ).hexdigest()[:24]


def mask(value: str) -> str:
    """What the console shows: the last four characters only."""
    return "••••" + value[-4:] if len(value) > 8 else "••••"


def webhook_key(raw: str) -> str:
    """A group robot key from what a secretary pastes: the key or the whole webhook URL."""
    text = (raw or "").strip()
    if "://" in text or text.startswith("qyapi.") or "key=" in text:
        found = parse_qs(urlsplit(text if "://" in text else "https://" + text).query).get("key")
        text = found[0].strip() if found else ""
    if not _WEBHOOK_KEY.match(text):
        raise ApiError("invalid_webhook", "群机器人地址不正确：请粘贴企业微信群机器人的 "
                       "Webhook 地址（https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…）"
                       "或其中的 key",
                       "not a WeCom group robot webhook URL or key", 422, "secret")
    return text


def chat_id(raw: str) -> str:
    text = (raw or "").strip()
    if not _CHAT_ID.match(text):
        raise ApiError("invalid_chat_id", "群聊 ID 不正确：只能包含字母和数字，最长 32 个字符",
                       "a WeCom app chat id is 1-32 letters and digits", 422, "secret")
    return text
