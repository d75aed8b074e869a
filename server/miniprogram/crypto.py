"""Keys derived from SECRET_KEY, keyed hashes of WeChat identities, sealed tokens.

- `derived_key(purpose)`: HMAC-SHA256(SECRET_KEY, "pingyi:" + purpose); one key
  per use, so a hash made for one purpose says nothing about another.
- `identity_digest`: a keyed hash of (appid, openid[, round]). The server can
  recognise an openid it is shown again, but the table alone does not give the
  openid, and the same person's digests in two rounds do not match.
- `seal` / `unseal`: a token encrypted for storage until it is handed out once.
  The keystream is HMAC-SHA512(key, "seal") (a PRF; each key seals one token
  only) and an 8-byte HMAC tag detects a wrong key or a damaged value. Tokens
  are at most 33 bytes, the keystream 64.
- `new_code(n)`: n characters of the receipt alphabet (no 0/O, 1/I/L), for slip
  ids and binding codes that people may type.

Rotating SECRET_KEY makes existing bindings, unclaimed sealed tokens and
content passes unreadable (staff bind again; reissue slips of open rounds).
"""

from __future__ import annotations

import hashlib
import hmac

from flask import current_app

from server.tokens.codec import RECEIPT_ALPHABET, random_chars

TAG_BYTES = 8


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


def seal(plain: str, key: bytes) -> str:
    data = plain.encode()
    stream = hmac.new(key, b"seal", hashlib.sha512).digest()
    if len(data) > len(stream):
        raise ValueError("value too long to seal")
    body = bytes(a ^ b for a, b in zip(data, stream, strict=False))
    tag = hmac.new(key, b"tag" + body, hashlib.sha256).digest()[:TAG_BYTES]
    return (body + tag).hex()


def unseal(sealed: str, key: bytes) -> str | None:
    """The sealed value, or None when the key is wrong or the value damaged."""
    try:
        raw = bytes.fromhex(sealed)
    except ValueError:
        return None
    body, tag = raw[:-TAG_BYTES], raw[-TAG_BYTES:]
    good = hmac.new(key, b"tag" + body, hashlib.sha256).digest()[:TAG_BYTES]
    if len(raw) <= TAG_BYTES or not hmac.compare_digest(tag, good):
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
