"""A round's turnout (应到/实到 per category), as the console, projector and API show it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from server.roundbase.models import Round
from server.voting import livetally
from server.voting.ballots import ensure_live


def turnout(rnd: Round) -> dict[str, Any]:
    """应到/实到 per category, live from Redis (rebuilt from SQL if Redis lost it)."""
    if rnd.status == "draft":
        counts: dict[int, int] = {}
    elif rnd.result_json:
        counts = {int(c): n for c, n in rnd.result["turnout"].items()}  # type: ignore[index]  # a JSON object
    else:
        live = livetally.live_turnout(rnd.id)
        if live is None:
            ensure_live(rnd.id)
            live = livetally.read_turnout(rnd.id)
        counts = live
    return turnout_body(rnd.id, rnd.status, rnd.title, rnd.closes_at,
                        ((c.id, c.name, c.expected_count, c.issued_count)
                         for c in rnd.categories), counts)


def turnout_body(round_id: int, status: str, title: str, closes_at: dt.datetime | None,
                 categories: Iterable[tuple[int, str, int, int]],
                 counts: Mapping[int, int]) -> dict[str, Any]:
    """The turnout answer (TurnoutOut) from a round's categories (id, name, expected,
    issued) and its ballots per category."""
    cats: list[dict[str, Any]] = [
        {"id": cid, "name": name, "expected": expected, "actual": counts.get(cid, 0),
         "issued": issued} for cid, name, expected, issued in categories]
    expected_all = sum(c["expected"] for c in cats)
    actual = sum(c["actual"] for c in cats)
    return {"round_id": round_id, "status": status, "title": title,
            "expected": expected_all, "actual": actual,
            "rate": round(actual / expected_all, 4) if expected_all else 0.0,
            "closes_at": closes_at, "categories": cats}
