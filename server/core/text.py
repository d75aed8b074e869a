"""Text from clients: what may be stored, how it is shown, when two names look the same.

- `check_request_text` (a before_request hook): a JSON body that does not parse
  is refused with 400 `bad_request`; a NUL character or an unpaired UTF-16
  surrogate anywhere in a query string, a form field or a JSON body with 400
  `invalid_characters`. Neither has a use in this application,
  PostgreSQL cannot store NUL in text, and a lone surrogate cannot even be
  encoded as UTF-8 (an error message echoing one would itself fail).
- `display_text`: what a name or title is stored as, whether typed on the console
  or read from an uploaded sheet (server/core/tabular.py): control and invisible
  format characters dropped (zero-width spaces and joiners, bidi overrides such
  as U+202E that make text read backwards), inner whitespace collapsed.
- `lookalike_key`: NFKC + casefold of the display text, to refuse two subjects
  or categories that only *look* the same (全角 "ＡＢ" and "AB", "张三" with a
  zero-width space). The text itself is not NFKC-normalised when stored: that
  would turn the full-width brackets of Chinese titles into ASCII ones.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from flask import request
from werkzeug.exceptions import RequestEntityTooLarge

from server.core.errors import ApiError

_BAD = re.compile("[\x00\ud800-\udfff]")
_INVISIBLE = ("Cc", "Cf", "Cs")  # control, format (zero-width, bidi), surrogates
_MAX_WALK = 10_000  # values looked at in one JSON body (the body is 64 KB at most)


def bad_text_error(field: str | None) -> ApiError:
    return ApiError("invalid_characters", "提交的内容包含无法识别的字符（如空字符），请删除后重试",
                    "Text contains a NUL character or an unpaired surrogate", 400, field)


def scrub(value: str) -> str:
    """`value` with every NUL and lone surrogate replaced by U+FFFD (safe to encode)."""
    return _BAD.sub("\ufffd", value) if _BAD.search(value) else value


def display_text(value: str) -> str:
    """The one normaliser of names and titles, typed on the console or read from an
    uploaded sheet: invisible characters dropped, then whitespace collapsed."""
    if not (value.isascii() and value.isprintable()):
        value = "".join(ch for ch in value
                        if ch.isspace() or unicodedata.category(ch) not in _INVISIBLE)
    return " ".join(value.split())


def lookalike_key(value: str) -> str:
    return unicodedata.normalize("NFKC", display_text(value)).casefold()


def _find_bad(value: Any, path: str, budget: list[int]) -> str | None:
    """The path of the first string (or key) in a parsed JSON value that holds bad text."""
    budget[0] -= 1
    if budget[0] < 0:
        return None
    if isinstance(value, str):
        return path if _BAD.search(value) else None
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if _BAD.search(key):
                return scrub(where)[:80]
            found = _find_bad(item, where, budget)
            if found is not None:
                return found
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found = _find_bad(item, f"{path}[{i}]", budget)
            if found is not None:
                return found
    return None


def _bad_pair(key: Any, value: Any) -> bool:
    # a multipart part without a value arrives as None
    return any(isinstance(v, str) and _BAD.search(v) for v in (key, value))


def check_request_text() -> None:
    """Refuse a request carrying NUL or a lone surrogate in its query, form or JSON."""
    for key, value in request.args.items(multi=True):
        if _bad_pair(key, value):
            raise bad_text_error(scrub(key)[:80])
    if request.method not in ("POST", "PUT", "PATCH", "DELETE"):
        return
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        for key, value in request.form.items(multi=True):
            if _bad_pair(key, value):
                raise bad_text_error(scrub(key)[:80])
    elif request.is_json:
        raw = request.get_data(cache=True)
        limit = request.max_content_length
        if request.content_length is None and limit is not None and len(raw) >= limit:
            # A streamed (chunked) body: werkzeug stops reading at the limit and hands
            # over what it has; a body that reached the limit is refused, not truncated.
            raise RequestEntityTooLarge()
        if not raw.strip():
            return  # no body: the view says whether it needs one
        # Parsed here with Flask's loader, which answers 400 for anything json.loads
        # refuses, including what webargs would let escape as a 500 (an integer of
        # more than 4,300 digits raises a plain ValueError).
        check_json_text(raw, request.get_json())


def check_json_text(raw: bytes, body: Any) -> None:
    """Refuse a parsed JSON body (`raw`, loaded) holding NUL or a lone surrogate."""
    # Raw UTF-8 cannot carry a lone surrogate, and JSON forbids raw control
    # characters: only a \u escape can. Bodies without one skip the walk.
    if b"\\u" in raw:
        found = _find_bad(body, "", [_MAX_WALK])
        if found is not None:
            raise bad_text_error(found or None)
