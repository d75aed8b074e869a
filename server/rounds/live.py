"""Turnout and results as the console, projector and API show them."""

from __future__ import annotations

from typing import Any

from server.rounds.models import Round
from server.voting import livetally
from server.voting.ballots import ensure_live


def turnout(rnd: Round) -> dict[str, Any]:
    """应到/实到 per category, live from Redis (rebuilt from SQL if Redis lost it)."""
    if rnd.status == "draft":
        counts: dict[int, int] = {}
    elif rnd.result_json:
        counts = {int(c): n for c, n in rnd.result["turnout"].items()}  # type: ignore[index]
    else:
        ensure_live(rnd.id)
        counts = livetally.read_turnout(rnd.id)
    cats = [{"id": c.id, "name": c.name, "expected": c.expected_count,
             "actual": counts.get(c.id, 0), "issued": c.issued_count} for c in rnd.categories]
    expected = sum(c["expected"] for c in cats)
    actual = sum(c["actual"] for c in cats)
    return {"round_id": rnd.id, "status": rnd.status, "title": rnd.title,
            "expected": expected, "actual": actual,
            "rate": round(actual / expected, 4) if expected else 0.0,
            "closes_at": rnd.closes_at, "categories": cats}


def results(rnd: Round) -> dict[str, Any]:
    """The engine's k-safe results: frozen after close; while open only if the round
    shows live results (a k-step snapshot without category breakdowns)."""
    from server.results.view import results_body

    return results_body(rnd)
