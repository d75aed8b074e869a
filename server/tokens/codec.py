"""Token and receipt formats.

A token is "<round id>.<26 chars of RECEIPT_ALPHABET>": 31**26 (about 2**128.8)
from the OS CSPRNG, with the round id in clear so the server finds the round's
Redis slot without a global look-up. Only sha256(token) is ever stored. The
alphabet has no look-alikes (no 0/O, 1/I/L), so a code typed by hand may be in
either case, with spaces or dashes, full-width, or with O/I/L for 0/1 in the
round id: `canonical_token` makes it the printed token again. Tokens issued
before were "<round id>.<22 url-safe chars>" (case-sensitive); they stay valid.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

from server.core.errors import error_kind
from server.core.randompool import random_below, random_bytes

MAX_ROUND_ID = 2**31 - 1
TOKEN_CHARS = 26
TOKEN_RE = re.compile(r"^([1-9][0-9]{0,9})\.([A-Za-z0-9_-]{22}|[2-9A-HJKMNP-Z]{26})$")
TYPED_RE = re.compile(r"^([1-9][0-9]{0,9})\.([2-9A-HJKMNP-Z]{26})$")
RECEIPT_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # no 0/O, 1/I/L
_ROUND_DIGITS = str.maketrans({"O": "0", "I": "1", "L": "1"})  # look-alikes in the round id
RECEIPT_RE = re.compile(r"^[2-9A-HJKMNP-Z]{4}-[2-9A-HJKMNP-Z]{4}-[2-9A-HJKMNP-Z]{4}$")

MALFORMED = error_kind("token_malformed", "投票码格式不正确，请重新扫描选票上的二维码",
                       "Malformed voting token", 400, "token")


def new_token(round_id: int) -> str:
    return f"{round_id}.{random_chars(TOKEN_CHARS)}"


def canonical_token(raw: object) -> str | None:
    """The token as printed, from what was scanned or typed; None if it cannot be one.

    Exact tokens pass as they are (the old case-sensitive ones too); a typed code is
    folded: NFKC (full-width letters, digits and dots), 。 for the dot, spaces and
    dashes dropped, upper case, O/I/L read as 0/1 in the round id.
    """
    if not isinstance(raw, str):
        return None
    s = raw.strip()
    if TOKEN_RE.match(s):
        return s
    s = unicodedata.normalize("NFKC", s).replace("。", ".")
    s = re.sub(r"[\s\-]+", "", s).upper()
    rid, dot, code = s.partition(".")
    s = rid.translate(_ROUND_DIGITS) + dot + code
    return s if TYPED_RE.match(s) else None


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def subject_marker(raw: object, subject_id: int) -> str:
    """The spent marker of one subject's scores sent with a token (a round scored per
    subject, voting/subject_scores.py): sha256 of the token and the subject, so the
    stored markers of one slip share nothing (not its token hash) that pairs them."""
    token = canonical_token(raw) or ""
    return hashlib.sha256(f"subject:{int(subject_id)}:{token}".encode()).hexdigest()


def parse_token(raw: object) -> tuple[int, str]:
    """Return (round id, sha256 hex) or raise `token_malformed`."""
    token = canonical_token(raw)
    m = TOKEN_RE.match(token) if token else None
    if not m or int(m.group(1)) > MAX_ROUND_ID:  # ids are SQL integers
        raise MALFORMED
    return int(m.group(1)), token_hash(m.group(0))


def random_chars(count: int) -> str:
    """`count` characters of RECEIPT_ALPHABET, uniformly at random from the OS CSPRNG.

    One draw for all of them (a number below 31**count, written in base 31), not
    one per character (core/randompool.py says why the draws are pooled).
    """
    return to_chars(random_below(len(RECEIPT_ALPHABET)**count), count)


def to_chars(n: int, count: int) -> str:
    """`count` characters of RECEIPT_ALPHABET for n < 31**count (base 31, low digit first)."""
    base = len(RECEIPT_ALPHABET)
    out = []
    for _ in range(count):
        n, i = divmod(n, base)
        out.append(RECEIPT_ALPHABET[i])
    return "".join(out)


def new_ballot_id() -> str:
    """128 random bits, hex: a ballot's and a comment's key (roundbase/shuffle.py)."""
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
