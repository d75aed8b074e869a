"""Mixing: while a round is open, storage links a ballot to at most a mixed batch.

Whoever reads the live database (the company's own IT department) sees which rows
one transaction wrote (PostgreSQL's xmin, WAL records, adjacent heap positions,
SQLite's page order) and roughly when. So the group committer (groupcommit.py)
writes a round's held ballots only once at least `BALLOT_MIX_K` ballots of
different tokens wait, all of them in one transaction and in random order; a
ballot is then tied to its batch, never to its arrival. When the oldest waiting
ballot has waited `BALLOT_MIX_WAIT_S`, whatever is there goes (the lone late
voter's wait), and so does everything of a round that stops taking ballots (its
close or rebuild drains them at once: `stopped`).

Pure bookkeeping: no I/O, one instance per committer thread.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

_shuffle = random.SystemRandom().shuffle  # unpredictable, even knowing earlier batches


class Held(Protocol):
    """What the mixer needs of a held ballot (groupcommit.Pending)."""

    token_hash: str


T = TypeVar("T", bound=Held)
U = TypeVar("U")


def shuffled(items: list[U]) -> list[U]:
    """A new list of `items` in random order. A batch's spent tokens, ballots and
    comments are each written in an order of their own: the n-th spent token of a
    batch must not point at its n-th ballot."""
    out = list(items)
    _shuffle(out)
    return out


@dataclass
class _Pool(Generic[T]):
    since: float  # when its oldest ballot joined (monotonic seconds)
    items: list[T] = field(default_factory=list)
    tokens: set[str] = field(default_factory=set)


class Mixer(Generic[T]):
    """Per round, the held ballots waiting for their batch."""

    def __init__(self) -> None:
        self._pools: dict[int, _Pool[T]] = {}

    def add(self, round_id: int, items: list[T], now: float) -> None:
        pool = self._pools.setdefault(round_id, _Pool(since=now))
        pool.items.extend(items)
        pool.tokens.update(p.token_hash for p in items)

    def waiting(self) -> int:
        """How many ballots wait, all rounds."""
        return sum(len(p.items) for p in self._pools.values())

    def rounds(self) -> list[int]:
        return list(self._pools)

    def next_due(self, wait_s: float) -> float | None:
        """When the oldest waiting ballot's wait ends (monotonic), or None."""
        return min((p.since + wait_s for p in self._pools.values()), default=None)

    def due(self, now: float, k: int, wait_s: float,
            stopped: frozenset[int] = frozenset()) -> dict[int, list[T]]:
        """Take every round's batch that may be written now, each shuffled: at least
        `k` different tokens, or waited `wait_s`, or its round `stopped`."""
        out: dict[int, list[T]] = {}
        for round_id, pool in list(self._pools.items()):
            if (len(pool.tokens) >= k or now - pool.since >= wait_s
                    or round_id in stopped):
                del self._pools[round_id]
                _shuffle(pool.items)
                out[round_id] = pool.items
        return out
