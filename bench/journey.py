"""The whole voter journey, as a phone makes it after scanning its slip.

On one keep-alive connection: open the voting page (`GET /v/`) and the static
files it names, read the ballot form with the token, submit the ballot. Many
voters at once, each journey after the other on its connection; the figure is
whole journeys per second, beside the requests that were not 2xx (none, in a
good run). The naive peer
(bench/naive_app.py) is sent the same journey: its page, the same static
files, its form read and its vote.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests

from bench.burst import connections

_ASSET = re.compile(r'(?:href|src)="(/[^"]+)"')


@dataclass(frozen=True)
class Route:
    """Where a server answers each step of the journey."""

    page: str = "/v/"
    form: str = "/api/v1/ballot-form"
    vote: str = "/api/v1/ballots"


NAIVE = Route(page="/v/", form="/ballot-form", vote="/vote")


def _get(host: str, port: int, path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()


def _post(host: str, port: int, path: str, body: bytes) -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
            ).encode() + body


def journeys(base: str, route: Route, ballots: list[str], voters: int) -> dict[str, float]:
    """Each ballot (a JSON body with its token) is one voter's journey; `voters`
    connections at once. The page's static files are the ones it names."""
    parts = urlsplit(base)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    page = requests.get(base + route.page, timeout=10)
    page.raise_for_status()
    assets = [a for a in _ASSET.findall(page.text) if not a.startswith("//")]
    opening = [_get(host, port, route.page), *(_get(host, port, a) for a in assets)]

    def journey(ballot: str) -> list[bytes]:
        token = json.dumps({"token": json.loads(ballot)["token"]}).encode()
        return [*opening, _post(host, port, route.form, token),
                _post(host, port, route.vote, ballot.encode())]

    chunks = [[r for ballot in ballots[i::voters] for r in journey(ballot)]
              for i in range(voters)]
    latencies, statuses, elapsed = connections(host, port, chunks)
    steps = len(opening) + 2
    errors = sum(1 for s in statuses if not 200 <= s < 300)
    latencies.sort()
    return {"journeys": len(ballots), "requests_per_journey": steps, "errors": errors,
            "journeys_per_s": len(ballots) / elapsed,
            "request_p99_ms": latencies[int(0.99 * (len(latencies) - 1))] * 1000
            if latencies else 0.0,
            "elapsed_s": elapsed}
