"""Turnout and results as the console, projector and API show them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
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
    cats = [{"id": cid, "name": name, "expected": expected, "actual": counts.get(cid, 0),
             "issued": issued} for cid, name, expected, issued in categories]
    expected_all = sum(c["expected"] for c in cats)
    actual = sum(c["actual"] for c in cats)
    return {"round_id": round_id, "status": status, "title": title,
            "expected": expected_all, "actual": actual,
            "rate": round(actual / expected_all, 4) if expected_all else 0.0,
            "closes_at": closes_at, "categories": cats}


def subject_progress(rnd: Round) -> dict[str, Any]:
    """A round scored per subject: how many panel members scored each subject (live,
    or as frozen at close), and the panel expected; never a score."""
    from server.voting.subject_scores import progress

    if rnd.status == "draft":
        tallies: dict[Any, dict[str, int]] = {}
    elif rnd.result_json:
        tallies = rnd.result["tallies"]  # type: ignore[index]
    else:
        ensure_live(rnd.id)
        tallies = livetally.read(rnd.id, [c.id for c in rnd.categories])["tallies"]
    subjects = [{"id": s.id, "name": s.name, "note": s.note} for s in rnd.subjects]
    return {"round_id": rnd.id, "status": rnd.status, "per_subject": rnd.per_subject,
            "expected": rnd.expected_total, "subjects": progress(subjects, tallies)}


def results(rnd: Round) -> dict[str, Any]:
    """The engine's k-safe results: frozen after close; while open only if the round
    shows live results (a k-step snapshot without category breakdowns)."""
    from server.results.view import results_body

    return results_body(rnd)
