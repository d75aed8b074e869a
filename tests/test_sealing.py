"""Sealed tokens (AES-256-GCM under HKDF keys from SECRET_KEY), and the tokens
sealed before it (an HMAC keystream) that unresolved slips still hold."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from server.core.sealing import derive_key, seal, unseal
from server.miniprogram.crypto import derived_key, seal_token, unseal_token

TOKEN = "R12-ABCD-EFGH-JKMN-PQRS-TUVW-XYZ2"  # 33 characters, the longest token


def test_a_sealed_token_opens_with_its_key_only(app):
    with app.app_context():
        sealed = seal_token(TOKEN, "slip", "SLIPID1")
        assert len(sealed) <= 100 and TOKEN not in sealed  # slip_codes.sealed_token
        assert unseal_token(sealed, "slip", "SLIPID1") == TOKEN
        assert unseal_token(sealed, "slip", "SLIPID2") is None  # another slip's key
        assert unseal_token(sealed, "session-pool", "SLIPID1") is None  # another purpose
        assert seal_token(TOKEN, "slip", "SLIPID1") != sealed  # a fresh nonce each time
        app.config["SECRET_KEY"] = "rotated"
        assert unseal_token(sealed, "slip", "SLIPID1") is None


@pytest.mark.parametrize("damage", [lambda s: s[:-1], lambda s: "A" + s[1:], lambda s: "",
                                    lambda s: "not base64 ✓", lambda s: s + "AAAA"])
def test_damaged_values_do_not_open(app, damage):
    with app.app_context():
        key = derive_key(b"test")
        sealed = seal(TOKEN, key)
        assert unseal(sealed, key) == TOKEN
        assert unseal(damage(sealed), key) is None


def _xor_sealed(app, token: str, purpose: str, row_id: str) -> str:
    """What the server stored before AES-GCM (the code it had, verbatim)."""
    with app.app_context():
        key = hmac.new(derived_key(purpose), row_id.encode(), hashlib.sha256).digest()
    stream = hmac.new(key, b"seal", hashlib.sha512).digest()
    body = bytes(a ^ b for a, b in zip(token.encode(), stream, strict=False))
    return (body + hmac.new(key, b"tag" + body, hashlib.sha256).digest()[:8]).hex()


def test_tokens_sealed_before_the_upgrade_still_open(app):
    old = _xor_sealed(app, TOKEN, "slip", "SLIPID1")
    with app.app_context():
        assert unseal_token(old, "slip", "SLIPID1") == TOKEN
        assert unseal_token(old, "slip", "SLIPID2") is None
        assert unseal_token(old[:-2] + ("00" if old[-2:] != "00" else "11"), "slip",
                            "SLIPID1") is None
