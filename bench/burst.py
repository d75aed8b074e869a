"""A burst: N requests over C concurrent keep-alive connections, as fast as they come.

Raw asyncio HTTP/1.1 on uvloop, so the client costs far less than the server per
request.
"""

from __future__ import annotations

import asyncio
import time
from urllib.parse import urlsplit

import uvloop


async def _connection(host: str, port: int, path: str, bodies: list[bytes],
                      latencies: list[float], statuses: list[int]) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        for body in bodies:
            head = (f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                    f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n")
            start = time.perf_counter()
            writer.write(head.encode() + body)
            await writer.drain()
            status_line = await reader.readline()
            length = 0
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b""):
                    break
                name, _, value = line.decode("latin-1").partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - start)
            statuses.append(int(status_line.split()[1]))
    finally:
        writer.close()


async def _burst(url: str, bodies: list[bytes],
                 connections: int) -> tuple[list[float], list[int], float]:
    parts = urlsplit(url)
    per_conn: list[list[bytes]] = [bodies[i::connections] for i in range(connections)]
    latencies: list[float] = []
    statuses: list[int] = []
    start = time.perf_counter()
    results = await asyncio.gather(*(
        _connection(parts.hostname or "127.0.0.1", parts.port or 80, parts.path, chunk,
                    latencies, statuses)
        for chunk in per_conn if chunk), return_exceptions=True)
    elapsed = time.perf_counter() - start
    failures = [r for r in results if isinstance(r, BaseException)]
    statuses.extend([0] * (len(bodies) - len(statuses)))  # requests lost with a connection
    if failures and not latencies:
        raise failures[0]
    return latencies, statuses, elapsed


def burst(url: str, bodies: list[bytes], connections: int) -> dict[str, float]:
    # uvloop (the server's own loop, so installed) keeps the client's share of
    # the shared cores and its own queueing small.
    latencies, statuses, elapsed = uvloop.run(_burst(url, bodies, connections))
    latencies.sort()

    def pct(p: float) -> float:
        if not latencies:
            return 0.0
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000

    return {
        "requests": len(bodies), "accepted": sum(1 for s in statuses if 200 <= s < 300),
        "errors": sum(1 for s in statuses if not 200 <= s < 300),
        "p50_ms": pct(0.50), "p99_ms": pct(0.99), "elapsed_s": elapsed,
    }
