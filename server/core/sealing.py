"""Secrets at rest under keys derived from SECRET_KEY: HKDF-SHA256 keys, AES-256-GCM seals.

- `derive_key(info)`: a 32-byte key for one purpose (HKDF-SHA256 of SECRET_KEY,
  `info` naming the purpose and, for per-row keys, the row), so a key made for
  one use says nothing about another.
- `seal(plain, key)` / `unseal(sealed, key)`: AES-256-GCM with a random 96-bit
  nonce, written as URL-safe base64 of nonce + ciphertext + 16-byte tag (a 33-byte
  voting token seals to 82 characters). `unseal` gives None for a wrong key or a
  damaged value: the tag is checked before anything is decrypted.

Used by the mini-program's slips and session pool (tokens kept until handed out
once) and the bot's vault (chat secrets). Changing SECRET_KEY makes every sealed
value unreadable.
"""

from __future__ import annotations

import base64
import binascii
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app

SALT = b"pingyi-seal"
NONCE_BYTES = 12


def derive_key(info: bytes, salt: bytes = SALT) -> bytes:
    secret = str(current_app.config["SECRET_KEY"]).encode()
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(secret)


def seal(plain: str, key: bytes) -> str:
    nonce = os.urandom(NONCE_BYTES)
    raw = nonce + AESGCM(key).encrypt(nonce, plain.encode(), None)
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unseal(sealed: str, key: bytes) -> str | None:
    """The sealed value, or None when the key is wrong or the value damaged."""
    try:
        raw = base64.urlsafe_b64decode(sealed + "=" * (-len(sealed) % 4))
        plain = AESGCM(key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], None)
        return plain.decode()
    except (ValueError, binascii.Error, InvalidTag, UnicodeDecodeError):
        return None
