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


def answer_size(body: dict[str, Any], dump: Callable[[Any], Any] = lambda x: x) -> int:
    """Bytes of the JSON answer Flask sends for `body` (with an empty pad)."""
    answer = current_app.json.response(dump({**body, PAD: ""}))
    # typed as the sans-IO base class; the app's provider makes a flask.Response
    return len(answer.get_data())  # type: ignore[attr-defined]


def longest(others: Iterable[dict[str, Any]], dump: Callable[[Any], Any] = lambda x: x) -> int:
    """The size of the longest of `others` (the answers other voters get; `dump`: the
    response schema's dump, as the view sends it)."""
    return max((answer_size(o, dump) for o in others), default=0)


def padded(body: dict[str, Any], size: int,
           dump: Callable[[Any], Any] = lambda x: x) -> dict[str, Any]:
    """`body` with a `pad` of spaces so that its answer is exactly `size` bytes long
    (or as it is, if longer). A space is one byte in JSON."""
    return {**body, PAD: " " * max(0, size - answer_size(body, dump))}
