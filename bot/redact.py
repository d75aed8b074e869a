"""Keep webhook keys, access tokens and chat ids out of every log line.

WeCom puts its credentials in URLs (`webhook/send?key=...`,
`appchat/send?access_token=...`, `gettoken?corpsecret=...`), and urllib3 logs
request lines at DEBUG, werkzeug logs them at INFO, and requests puts the URL
into the text of a ConnectionError. So redaction happens where every record is
made: `install()` wraps the process's LogRecord factory and rewrites the message
(and a traceback, if any) of every record from every logger before any handler
sees it, masking:

  - the values of `key=`, `access_token=`, `corpsecret=`, `secret=` parameters;
  - every secret this process has decrypted or received (`remember()`), wherever
    it appears (a chat id inside a JSON body, a token in an error message).

`redact()` is the same rewrite for text we store (a post's last error).
"""

from __future__ import annotations

import logging
import re
import threading
import traceback
from typing import Any

MASK = "***"
_PARAMS = re.compile(r"((?:[?&]|\b)(?:key|access_token|corpsecret|secret|encoding_aes_key)=)"
                     r"[^&\s\"'<>)\]]+", re.IGNORECASE)
_MIN_SECRET = 6  # shorter values would mask ordinary words

_known: set[str] = set()
_lock = threading.Lock()
_installed = False


def remember(*values: Any) -> None:
    """Mask these values in every log record and stored error from now on."""
    with _lock:
        for value in values:
            if isinstance(value, str) and len(value) >= _MIN_SECRET:
                _known.add(value)


def redact(text: str) -> str:
    if not text:
        return text
    out = _PARAMS.sub(lambda m: m.group(1) + MASK, text)
    with _lock:
        known = sorted(_known, key=len, reverse=True)
    for secret in known:
        if secret in out:
            out = out.replace(secret, MASK)
    return out


def _redact_record(record: logging.LogRecord) -> None:
    try:
        message = record.getMessage()
    except Exception:  # noqa: BLE001 - a broken format string is not ours to fix
        return
    clean = redact(message)
    if clean != message:
        record.msg, record.args = clean, None
    if record.exc_info and record.exc_info[0] is not None and not record.exc_text:
        text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
        clean = redact(text)
        if clean != text:
            # Handlers format exc_info only when exc_text is empty; drop the live
            # exception too so no handler can render its unredacted text again.
            record.exc_text, record.exc_info = clean, None


def install() -> None:
    """Wrap the LogRecord factory once per process (idempotent)."""
    global _installed
    with _lock:
        if _installed:
            return
        previous = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            _redact_record(record)
            return record

        logging.setLogRecordFactory(factory)
        _installed = True
