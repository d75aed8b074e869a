"""The voter's half of RFC 9474 RSABSSA-SHA384-PSS-Randomized, in Python, for tests
that play the page (which uses @cloudflare/blindrsa-ts): prepare, blind, finalize."""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from dataclasses import dataclass

from server.core import blindrsa
from server.tokens.codec import new_token


def _mgf1(seed: bytes, length: int) -> bytes:
    out = b""
    counter = 0
    while len(out) < length:
        out += hashlib.sha384(seed + counter.to_bytes(4, "big")).digest()
        counter += 1
    return out[:length]


def emsa_pss_encode(msg: bytes, em_bits: int) -> bytes:
    """RFC 8017 EMSA-PSS-ENCODE, SHA-384, MGF1-SHA-384, 48-byte salt."""
    em_len = (em_bits + 7) // 8
    m_hash = hashlib.sha384(msg).digest()
    salt = os.urandom(48)
    h = hashlib.sha384(bytes(8) + m_hash + salt).digest()
    db = bytes(em_len - 48 - 48 - 2) + b"\x01" + salt
    masked = bytes(a ^ b for a, b in zip(db, _mgf1(h, len(db)), strict=True))
    masked = bytes([masked[0] & (0xFF >> (8 * em_len - em_bits))]) + masked[1:]
    return masked + h + b"\xbc"


@dataclass
class Blinded:
    token: str
    prefix: bytes
    inv: int
    n: int
    blinded_b64: str

    def signature(self, blind_sig_b64: str) -> str:
        """Finalize: the `signature` a ballot carries, base64(prefix || signature)."""
        size = (self.n.bit_length() + 7) // 8
        s = int.from_bytes(base64.b64decode(blind_sig_b64), "big") * self.inv % self.n
        return base64.b64encode(self.prefix + s.to_bytes(size, "big")).decode()


def blind(public_key_b64: str, round_id: int, token: str | None = None) -> Blinded:
    public = blindrsa.load_public(base64.b64decode(public_key_b64)).public_numbers()
    n, e = public.n, public.e
    token = token or new_token(round_id)
    prefix = os.urandom(blindrsa.PREFIX_LEN)
    m = int.from_bytes(emsa_pss_encode(prefix + token.encode(), n.bit_length() - 1), "big")
    r = secrets.randbelow(n - 2) + 2
    size = (n.bit_length() + 7) // 8
    blinded = (m * pow(r, e, n) % n).to_bytes(size, "big")
    return Blinded(token, prefix, pow(r, -1, n), n, base64.b64encode(blinded).decode())
