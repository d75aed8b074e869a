"""Fitting text into WeChat Work's byte limits (UTF-8 bytes, not characters).

Messages are built from whole lines. `pack` puts as many lines as fit into each
message, repeating a head (title, "2/3") and adding a tail (footer) on every
part, so no line is ever split between two messages; a single line that alone
is longer than a message allows is cut at a character boundary with "…"
(never in the middle of a multi-byte character). When more parts than allowed
would be needed, the last lines are dropped and replaced by an overflow line.
"""

from __future__ import annotations

from collections.abc import Callable

MARKDOWN_LIMIT = 4096  # bytes of markdown.content (WeCom group robot and app chat)
TEXT_LIMIT = 2048  # bytes of text.content
ELLIPSIS = "…"

Frame = Callable[[int, int], list[str]]  # (part number from 1, parts) -> lines


def nbytes(text: str) -> int:
    return len(text.encode("utf-8"))


def cut(text: str, limit: int, ellipsis: str = ELLIPSIS) -> str:
    """`text` in at most `limit` UTF-8 bytes; when shortened, ending in `ellipsis`."""
    if nbytes(text) <= limit:
        return text
    room = limit - nbytes(ellipsis)
    if room <= 0:
        return ellipsis if nbytes(ellipsis) <= limit else ""
    # Decoding with errors="ignore" drops a trailing partial character.
    head = text.encode("utf-8")[:room].decode("utf-8", "ignore")
    return head + ellipsis


def _no_frame(_i: int, _n: int) -> list[str]:
    return []


def _pack_once(lines: list[str], limit: int, head: Frame, tail: Frame,
               guess: int) -> list[list[str]]:
    parts: list[list[str]] = []
    current: list[str] = []
    i = 1

    def budget(part: int, body: list[str]) -> int:
        frame = head(part, guess) + body + tail(part, guess)
        return nbytes("\n".join(frame))

    for line in lines:
        if current and budget(i, [*current, line]) > limit:
            parts.append(current)
            current, i = [], i + 1
        if not current:
            room = limit - budget(i, [""])  # what an only line may take in this part
            line = cut(line, max(room, 0))
        current.append(line)
    parts.append(current)
    return parts


def pack(lines: list[str], limit: int, head: Frame = _no_frame, tail: Frame = _no_frame,
         max_parts: int = 10, overflow: Callable[[int], str] | None = None) -> list[str]:
    """The lines as messages of at most `limit` bytes each, at most `max_parts` of them."""
    def attempt(body: list[str]) -> list[str]:
        guess = 1
        for _ in range(6):  # the part count changes the "(2/3)" marks; settle it
            parts = _pack_once(body, limit, head, tail, guess)
            if len(parts) == guess:
                break
            guess = len(parts)
        else:
            parts = _pack_once(body, limit, head, tail, max(guess, len(parts)))
        n = len(parts)
        out = ["\n".join(head(i + 1, n) + p + tail(i + 1, n)) for i, p in enumerate(parts)]
        return [cut(m, limit) for m in out]  # frames alone could exceed a tiny limit

    messages = attempt(lines)
    if len(messages) <= max_parts or overflow is None:
        return messages[:max_parts]
    lo, hi = 0, len(lines)  # the most lines that fit with the overflow line after them
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if len(attempt([*lines[:mid], overflow(len(lines) - mid)])) <= max_parts:
            lo = mid
        else:
            hi = mid - 1
    return attempt([*lines[:lo], overflow(len(lines) - lo)])
