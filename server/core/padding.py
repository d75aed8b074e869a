"""Answers of one size whoever asks: a `pad` field of spaces.

An answer whose length depends on the voter (the ballot form names the voter's
category) tells that to whoever reads the access log's byte counts beside the
addresses, in arrival order. `padded` makes it as long as the longest answer the
same request could get for any voter of the round.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from flask import current_app

PAD = "pad"


def _size(body: dict[str, Any], dump: Callable[[Any], Any]) -> int:
    """Bytes of the JSON answer Flask sends for `body` (with an empty pad)."""
    answer = current_app.json.response(dump({**body, PAD: ""}))
    # typed as the sans-IO base class; the app's provider makes a flask.Response
    return len(answer.get_data())  # type: ignore[attr-defined]


def padded(body: dict[str, Any], others: Iterable[dict[str, Any]],
           dump: Callable[[Any], Any] = lambda x: x) -> dict[str, Any]:
    """`body` with a `pad` of spaces so that its answer is exactly as long as the
    longest of `body` and `others` (the answers other voters get; `dump`: the
    response schema's dump, as the view sends it). A space is one byte in JSON."""
    own = _size(body, dump)
    longest = max((_size(o, dump) for o in others), default=own)
    return {**body, PAD: " " * max(0, longest - own)}
