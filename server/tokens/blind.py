"""Blind-signed tokens (session-QR rounds): tokens the server signs without seeing.

A session-QR round has one RSA key per voter category (table blind_keys), made
when the organizer first allows claims in that category. A member's page makes
its own token ("<round>.<26 characters>", as printed ones), blinds it
(RFC 9474 RSABSSA-SHA384-PSS-Randomized, server/core/blindrsa.py) and gets a
blind signature with the category's key after proving a WeChat identity
(server/miniprogram/session_qr.py). The ballot carries the token and its
unblinded signature; `verify` tells the category whose key signed it, which is
the token's category. The token was never in the server's hands before that
ballot, and the signature cannot be tied to the blinded message it came from,
even with the private key: nothing stored at the claim is derived from the token.

A verified token is admitted like an issued one: into the round's live state
(voting/livetally.admit) when the page reads its form or sends its ballot, and
into `tokens` in the transaction that spends it (voting/groupcommit.py), so SQL
never holds a blind token that did not vote.

The private keys are sealed under SECRET_KEY and dropped when the round closes:
no token of the round can be signed after that.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import select, text, update

from server.core import blindrsa
from server.core.db import db
from server.core.errors import ApiError, error_kind
from server.core.sealing import derive_key, seal, unseal
from server.tokens.codec import canonical_token
from server.tokens.models import BlindKey

SIGNATURE_INVALID = error_kind(
    "token_signature_invalid", "投票码的签名无效，请重新扫描会场二维码领取投票码",
    "The token's blind signature does not verify with any key of its round", 403, "signature")
KEY_GONE = error_kind("signing_key_gone", "投票已结束，不能再领取投票码",
                      "The round's signing key was destroyed at close", 409)

_public: dict[int, dict[int, rsa.RSAPublicKey]] = {}  # round -> category -> public key


def _sealing_key(round_id: int, category_id: int) -> bytes:
    return derive_key(f"blind-key\0{round_id}\0{category_id}".encode())


def ensure_key(round_id: int, category_id: int) -> BlindKey:
    """The category's key row, made now if the round has none for it (not committed)."""
    row = db.session.get(BlindKey, (round_id, category_id))
    if row is None:
        key = blindrsa.new_key()
        der = base64.b64encode(blindrsa.private_der(key)).decode()
        row = BlindKey(round_id=round_id, category_id=category_id,
                       public_key=blindrsa.public_spki(key), allowance=0,
                       sealed_private_key=seal(der, _sealing_key(round_id, category_id)))
        db.session.add(row)
        db.session.flush()
        _public.pop(round_id, None)
    return row


def allowances(round_id: int) -> dict[int, int]:
    rows = db.session.execute(select(BlindKey.category_id, BlindKey.allowance)
                              .where(BlindKey.round_id == round_id)).all()
    return {int(c): int(n) for c, n in rows}


def public_key_b64(round_id: int, category_id: int) -> str | None:
    """The category's public key (DER SubjectPublicKeyInfo, base64), for the page."""
    row = db.session.get(BlindKey, (round_id, category_id))
    return base64.b64encode(row.public_key).decode() if row is not None else None


def sign(round_id: int, category_id: int, blinded_b64: Any) -> str:
    """The blind signature (base64) of a blinded message with the category's key."""
    row = db.session.get(BlindKey, (round_id, category_id))
    if row is None or row.sealed_private_key is None:
        raise KEY_GONE
    der = unseal(row.sealed_private_key, _sealing_key(round_id, category_id))
    if der is None:
        raise ApiError("signing_key_unreadable",
                       "投票码暂时无法领取（服务器密钥已更换），请联系会务人员",
                       "The round's signing key cannot be unsealed (SECRET_KEY changed?)", 503)
    blinded = _b64(blinded_b64)
    try:
        if blinded is None:
            raise blindrsa.BlindSignError("not base64")
        signed = blindrsa.blind_sign(blindrsa.load_private(base64.b64decode(der)), blinded)
    except blindrsa.BlindSignError:
        raise ApiError("blinded_message_invalid", "领取请求格式不正确，请重新扫码",
                       "blinded_msg must be the base64 of a number below the key's modulus, "
                       "as long as the modulus", 422, "blinded_msg") from None
    return base64.b64encode(signed).decode()


def _b64(raw: Any) -> bytes | None:
    if not isinstance(raw, str) or len(raw) > 2000:
        return None
    s = raw.strip().replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(s + "=" * (-len(s) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None


def _load_public(round_id: int) -> dict[int, rsa.RSAPublicKey]:
    rows = db.session.execute(select(BlindKey.category_id, BlindKey.public_key)
                              .where(BlindKey.round_id == round_id)).all()
    keys = {int(c): blindrsa.load_public(bytes(k)) for c, k in rows}
    _public[round_id] = keys
    return keys


def verify(round_id: int, raw_token: Any, raw_signature: Any) -> int:
    """The category whose key signed this token, or SIGNATURE_INVALID.

    `raw_signature`: base64 (standard or url-safe) of the 32-byte message prefix
    followed by the RSA-PSS signature, as the page's finalize step gives them."""
    token = canonical_token(raw_token)
    proof = _b64(raw_signature)
    if token is None or proof is None or len(proof) <= blindrsa.PREFIX_LEN:
        raise SIGNATURE_INVALID
    prefix, sig = proof[:blindrsa.PREFIX_LEN], proof[blindrsa.PREFIX_LEN:]
    for attempt in range(2):  # a key made since this process read the round's: once more
        keys = _public.get(round_id) if attempt == 0 else None
        if keys is None:
            keys = _load_public(round_id)
        for category_id, public in keys.items():
            if blindrsa.verify(public, prefix, token.encode(), sig):
                return category_id
    raise SIGNATURE_INVALID


def destroy_keys(round_id: int) -> None:
    """At close (inside its transaction): no token of the round can be signed any more."""
    db.session.execute(update(BlindKey).where(BlindKey.round_id == round_id)
                       .values(sealed_private_key=None))


def add_allowance(round_id: int, category_id: int, count: int) -> None:
    db.session.execute(text("UPDATE blind_keys SET allowance = allowance + :n "
                            "WHERE round_id = :r AND category_id = :c"),
                       {"n": count, "r": round_id, "c": category_id})
