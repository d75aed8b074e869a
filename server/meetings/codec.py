"""Meeting tokens and the per-form tokens derived from them.

A meeting slip carries `M<meeting id>.<26 chars>` (RECEIPT_ALPHABET, 128.8 bits from
the OS CSPRNG). Its token for the form (round) r is

    "<r>." + base31(HMAC-SHA256(key=meeting token, msg="pingyi meeting form <r>")
                    mod 31**26, 26 characters)

an ordinary round token: only the slip's holder (and the server, for the moment it
reads the slip) can compute it, and the server stores only its SHA-256 in round r's
`tokens`, as for any slip. Without the meeting token, the tokens of one slip in two
rounds are independent random-looking values: nothing stored ties them together.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata

from server.core.errors import error_kind
from server.tokens.codec import MAX_ROUND_ID, RECEIPT_ALPHABET, TOKEN_CHARS, random_chars, to_chars

MEETING_RE = re.compile(r"^M([1-9][0-9]{0,9})\.([2-9A-HJKMNP-Z]{26})$")
_SPAN = len(RECEIPT_ALPHABET) ** TOKEN_CHARS

MALFORMED = error_kind("token_malformed", "投票码格式不正确，请重新扫描选票上的二维码",
                       "Malformed meeting token", 400, "token")


def new_meeting_token(meeting_id: int) -> str:
    return f"M{meeting_id}.{random_chars(TOKEN_CHARS)}"


def form_token(meeting_token: str, round_id: int) -> str:
    """The slip's token for one round of its meeting (the module docstring says how)."""
    mac = hmac.new(meeting_token.encode(), f"pingyi meeting form {round_id}".encode(),
                   hashlib.sha256).digest()
    return f"{round_id}.{to_chars(int.from_bytes(mac, 'big') % _SPAN, TOKEN_CHARS)}"


def parse_meeting_token(raw: object) -> tuple[int, str]:
    """(meeting id, the token as printed) from what was scanned or typed, or raise
    `token_malformed`. Typed codes fold as round tokens do (any case, spaces, dashes,
    full-width characters, 。 for the dot)."""
    if not isinstance(raw, str) or len(raw) > 200:
        raise MALFORMED
    s = unicodedata.normalize("NFKC", raw.strip()).replace("。", ".")
    s = re.sub(r"[\s\-]+", "", s).upper()
    m = MEETING_RE.match(s)
    if not m or int(m.group(1)) > MAX_ROUND_ID:
        raise MALFORMED
    return int(m.group(1)), s


def meeting_url(base_url: str, token: str) -> str:
    """The meeting slip's URL: the token rides in the fragment, never sent to a server."""
    return f"{base_url.rstrip('/')}/v/m/#{token}"
