"""Token and receipt formats.

A token is "<round id>.<22 url-safe chars>": 128 bits from the OS CSPRNG, with
the round id in clear so the server finds the round's Redis slot without a
global look-up. Only sha256(token) is ever stored.
"""

from __future__ import annotations

import hashlib
import re
import secrets

from server.core.errors import ApiError
from server.core.randompool import random_below, random_bytes

MAX_ROUND_ID = 2**31 - 1
TOKEN_RE = re.compile(r"^([1-9][0-9]{0,9})\.([A-Za-z0-9_-]{22})$")
RECEIPT_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # no 0/O, 1/I/L
RECEIPT_RE = re.compile(r"^[2-9A-HJKMNP-Z]{4}-[2-9A-HJKMNP-Z]{4}-[2-9A-HJKMNP-Z]{4}$")

MALFORMED = ApiError("token_malformed", "投票码格式不正确，请重新扫描选票上的二维码",
                     "Malformed voting token", 400, "token")


def new_token(round_id: int) -> str:
    return f"{round_id}.{secrets.token_urlsafe(16)}"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def parse_token(raw: object) -> tuple[int, str]:
    """Return (round id, sha256 hex) or raise `token_malformed`."""
    if not isinstance(raw, str):
        raise MALFORMED
    m = TOKEN_RE.match(raw.strip())
    if not m or int(m.group(1)) > MAX_ROUND_ID:  # ids are SQL integers
        raise MALFORMED
    return int(m.group(1)), token_hash(m.group(0))


def random_chars(count: int) -> str:
    """`count` characters of RECEIPT_ALPHABET, uniformly at random from the OS CSPRNG.

    One draw for all of them (a number below 31**count, written in base 31), not
    one per character (core/randompool.py says why the draws are pooled).
    """
    base = len(RECEIPT_ALPHABET)
    n = random_below(base**count)
    out = []
    for _ in range(count):
        n, i = divmod(n, base)
        out.append(RECEIPT_ALPHABET[i])
    return "".join(out)


def new_ballot_id() -> str:
    """128 random bits, hex: a ballot's and a comment's key (rounds/shuffle.py)."""
    return random_bytes(16).hex()


def new_receipt() -> str:
    chars = random_chars(12)
    return f"{chars[:4]}-{chars[4:8]}-{chars[8:]}"


def normalize_receipt(raw: object) -> str | None:
    if not isinstance(raw, str):
        return None
    s = raw.strip().upper().replace(" ", "").replace("-", "")
    if len(s) != 12:
        return None
    s = f"{s[:4]}-{s[4:8]}-{s[8:]}"
    return s if RECEIPT_RE.match(s) else None


def vote_url(base_url: str, token: str) -> str:
    """The slip's URL: the token rides in the fragment, never sent to a server."""
    return f"{base_url.rstrip('/')}/v/#{token}"
