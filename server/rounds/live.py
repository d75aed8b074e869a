"""Turnout, per-subject progress and results as the console, projector and API show them."""

from __future__ import annotations

from typing import Any

from server.results.view import results_body
from server.roundbase.models import Round
from server.voting import livetally
from server.voting.ballots import ensure_live
from server.voting.subject_scores import progress
from server.voting.turnout import turnout

__all__ = ["results", "subject_progress", "turnout"]


def subject_progress(rnd: Round) -> dict[str, Any]:
    """A round scored per subject: how many panel members scored each subject (live,
    or as frozen at close), and the panel expected; never a score."""
    if rnd.status == "draft":
        tallies: dict[Any, dict[str, int]] = {}
    elif rnd.result_json:
        tallies = rnd.result["tallies"]  # type: ignore[index]  # result is a JSON object here
    else:
        ensure_live(rnd.id)
        tallies = livetally.read(rnd.id, [c.id for c in rnd.categories])["tallies"]
    subjects = [{"id": s.id, "name": s.name, "note": s.note} for s in rnd.subjects]
    return {"round_id": rnd.id, "status": rnd.status, "per_subject": rnd.per_subject,
            "expected": rnd.expected_total, "subjects": progress(subjects, tallies)}


def results(rnd: Round) -> dict[str, Any]:
    """The engine's k-safe results: frozen after close; while open only if the round
    shows live results (a k-step snapshot without category breakdowns)."""
    return results_body(rnd)
