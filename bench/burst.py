"""A burst: N requests over C concurrent keep-alive connections, as fast as they come.

Raw HTTP/1.1 over asyncio protocols on uvloop: each response is found with two
byte searches, not read line by line through streams, so the client costs a
small fraction of the server's CPU per request (it shares the machine's cores
with the server; `elapsed_s` and `client_cpu_ms_per_request` say how much).
"""

from __future__ import annotations

import asyncio
import gc
import re
import resource
import time
from urllib.parse import urlsplit

import uvloop

_LENGTH = re.compile(rb"\r\ncontent-length:\s*(\d+)", re.IGNORECASE)


class _Connection(asyncio.Protocol):
    """Sends its requests one after another on one connection; records each
    request's latency (from its write to its whole response) and status."""

    def __init__(self, requests: list[bytes], latencies: list[float],
                 statuses: list[int], done: asyncio.Future[None]) -> None:
        self.requests, self.latencies, self.statuses, self.done = (
            requests, latencies, statuses, done)
        self.next = 0
        self.buf = b""
        self.sent_at = 0.0
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self._send()

    def _send(self) -> None:
        if self.next == len(self.requests):
            assert self.transport is not None
            self.transport.close()
            return
        self.sent_at = time.perf_counter()
        self.transport.write(self.requests[self.next])  # type: ignore[union-attr]
        self.next += 1

    def data_received(self, data: bytes) -> None:
        self.buf += data
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return
        found = _LENGTH.search(self.buf, 0, end + 2)
        total = end + 4 + (int(found.group(1)) if found else 0)
        if len(self.buf) < total:
            return
        self.latencies.append(time.perf_counter() - self.sent_at)
        self.statuses.append(int(self.buf[9:12]))
        self.buf = self.buf[total:]
        self._send()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_result(None)


def _requests(host: str, port: int, path: str, bodies: list[bytes]) -> list[bytes]:
    return [(f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
             f"Content-Type: application/json\r\nContent-Length: {len(b)}\r\n\r\n").encode() + b
            for b in bodies]


async def _burst(url: str, bodies: list[bytes],
                 connections: int) -> tuple[list[float], list[int], float]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    return await _run(host, port, [_requests(host, port, parts.path, bodies[i::connections])
                                   for i in range(connections)])


async def _run(host: str, port: int,
               chunks: list[list[bytes]]) -> tuple[list[float], list[int], float]:
    """Each list of raw requests sent in order on a connection of its own, all at once."""
    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    statuses: list[int] = []

    async def one(requests: list[bytes]) -> None:
        done = loop.create_future()
        await loop.create_connection(
            lambda: _Connection(requests, latencies, statuses, done), host, port)
        await done

    start = time.perf_counter()
    results = await asyncio.gather(*(one(c) for c in chunks if c), return_exceptions=True)
    elapsed = time.perf_counter() - start
    failures = [r for r in results if isinstance(r, BaseException)]
    statuses.extend([0] * (sum(map(len, chunks)) - len(statuses)))  # lost with a connection
    if failures and not latencies:
        raise failures[0]
    return latencies, statuses, elapsed


def connections(host: str, port: int,
                chunks: list[list[bytes]]) -> tuple[list[float], list[int], float]:
    """`_run` on uvloop with no garbage collection meanwhile (see `burst`)."""
    gc.disable()
    try:
        return uvloop.run(_run(host, port, chunks))
    finally:
        gc.enable()


def _cpu_s() -> float:
    used = resource.getrusage(resource.RUSAGE_SELF)
    return used.ru_utime + used.ru_stime


def burst(url: str, bodies: list[bytes], connections: int) -> dict[str, float]:
    # uvloop (the server's own loop, so installed) keeps the client's share of
    # the shared cores and its own queueing small.
    # No collection in the middle of a burst: the process measuring holds the app
    # it loaded (~200,000 objects), and a full collection walking them tripled
    # the client's CPU in the burst it fell in (0.09-0.12 ms per request against
    # 0.035). (A gc.collect() before each burst made bursts slower instead,
    # 0.5-0.6 s against 0.35-0.45 s, for a reason not pinned down.)
    gc.disable()
    try:
        cpu = _cpu_s()
        latencies, statuses, elapsed = uvloop.run(_burst(url, bodies, connections))
        cpu = _cpu_s() - cpu
    finally:
        gc.enable()
    latencies.sort()

    def pct(p: float) -> float:
        if not latencies:
            return 0.0
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000

    return {
        "requests": len(bodies), "accepted": sum(1 for s in statuses if 200 <= s < 300),
        "errors": sum(1 for s in statuses if not 200 <= s < 300),
        "p50_ms": pct(0.50), "p99_ms": pct(0.99), "elapsed_s": elapsed,
        "client_cpu_ms_per_request": cpu / max(1, len(bodies)) * 1000,
    }


def batch_summary(sizes: dict[int, int], k: int) -> dict[str, float]:
    """The batches a burst's ballots were written in ({size: batches},
    voting/groupcommit.batch_sizes): p50/p90/max size, per batch, and how many
    batches were smaller than `k` (written after BALLOT_MIX_WAIT_S)."""
    flat = sorted(size for size, n in sizes.items() for _ in range(n))
    if not flat:
        return {"batches": 0, "p50": 0, "p90": 0, "max": 0, "under_k": 0}
    return {"batches": len(flat), "p50": flat[len(flat) // 2],
            "p90": flat[min(len(flat) - 1, int(0.9 * len(flat)))], "max": flat[-1],
            "under_k": sum(1 for size in flat if size < k)}


def lone_voter(url: str, bodies: list[bytes]) -> list[float]:
    """Each ballot alone, one after another on a fresh connection with nothing else
    sent meanwhile: its ack delay in ms (it waits for company, then alone)."""
    return [burst(url, [body], 1)["p50_ms"] for body in bodies]
