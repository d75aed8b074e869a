"""Keys derived from SECRET_KEY, keyed hashes of WeChat identities, sealed tokens.

- `derived_key(purpose)`: HMAC-SHA256(SECRET_KEY, "pingyi:" + purpose); one key
  per use, so a hash made for one purpose says nothing about another.
- `identity_digest`: a keyed hash of (appid, openid[, round]). The server can
  recognise an openid it is shown again, but the table alone does not give the
  openid, and the same person's digests in two rounds do not match.
- `seal_token` / `unseal_token`: a token kept for storage until it is handed out
  once (a slip's, a pooled one): AES-256-GCM (server/core/sealing.py) under a key
  of its own, derived with HKDF from SECRET_KEY, the purpose and the row (a slip's
  key needs the slip id, which only the printed slip carries).
- `new_code(n)`: n characters of the receipt alphabet (no 0/O, 1/I/L), for slip
  ids and binding codes that people may type.

Rotating SECRET_KEY makes existing bindings, unclaimed sealed tokens and
content passes unreadable (staff bind again; reissue slips of open rounds).
"""

from __future__ import annotations

import hashlib
import hmac

from flask import current_app

from server.core.sealing import derive_key, seal, unseal
from server.tokens.codec import RECEIPT_ALPHABET, random_chars


def derived_key(purpose: str) -> bytes:
    secret = str(current_app.config["SECRET_KEY"]).encode()
    return hmac.new(secret, b"pingyi:" + purpose.encode(), hashlib.sha256).digest()


def keyed_hash(purpose: str, *parts: str) -> str:
    msg = "\n".join(parts).encode()
    return hmac.new(derived_key(purpose), msg, hashlib.sha256).hexdigest()


def identity_digest(appid: str, openid: str, scope: str = "staff") -> str:
    """A keyed hash of a WeChat identity within `scope` ("staff", or "round:<id>")."""
    return keyed_hash("wechat-identity", scope, appid, openid)


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def sealing_key(purpose: str, row_id: str) -> bytes:
    return derive_key(f"{purpose}\0{row_id}".encode())


def seal_token(token: str, purpose: str, row_id: str) -> str:
    return seal(token, sealing_key(purpose, row_id))


def unseal_token(sealed: str, purpose: str, row_id: str) -> str | None:
    """The sealed token, or None when SECRET_KEY changed or the value is damaged."""
    token = unseal(sealed, sealing_key(purpose, row_id))
    return token if token is not None else _unseal_xor(sealed, purpose, row_id)


def _unseal_xor(sealed: str, purpose: str, row_id: str) -> str | None:
    """Read-only: a token sealed before AES-GCM (an HMAC-SHA512 keystream and an
    8-byte HMAC tag). Unresolved slips printed, and tokens pooled, before the upgrade
    still open; nothing is sealed so any more. Delete once every round open at the
    upgrade has closed (closing drops the sealed tokens of its unresolved slips)."""
    key = hmac.new(derived_key(purpose), row_id.encode(), hashlib.sha256).digest()
    try:
        raw = bytes.fromhex(sealed)
    except ValueError:
        return None
    body, tag = raw[:-8], raw[-8:]
    good = hmac.new(key, b"tag" + body, hashlib.sha256).digest()[:8]
    if len(raw) <= 8 or not hmac.compare_digest(tag, good):
        return None
    stream = hmac.new(key, b"seal", hashlib.sha512).digest()
    try:
        return bytes(a ^ b for a, b in zip(body, stream, strict=False)).decode()
    except UnicodeDecodeError:
        return None


def new_code(length: int) -> str:
    return random_chars(length)


def normalize_code(raw: object, length: int) -> str | None:
    """A typed code without separators, upper case; None if it cannot be one."""
    if not isinstance(raw, str):
        return None
    s = raw.strip().upper().replace("-", "").replace(" ", "")
    if len(s) != length or any(ch not in RECEIPT_ALPHABET for ch in s):
        return None
    return s
