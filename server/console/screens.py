"""The projector (live turnout for the hall) and the results page."""

from __future__ import annotations

from typing import Any

from flask import render_template, url_for

from server.console import access
from server.console.access import READERS
from server.core.auth import require_console_role
from server.core.errors import ApiError
from server.rounds import live

POLL_MS = 2000


@require_console_role(*READERS)
def projector(round_id: int) -> str:
    rnd = access.load_round(round_id)
    return render_template(
        "console/projector.html", rnd=rnd, turnout=live.turnout(rnd), poll_ms=POLL_MS,
        turnout_url=url_for("rounds.read_turnout", round_id=rnd.id),
        results_url=url_for("console.results", round_id=rnd.id),
    )


def rank(rows: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    """Competition ranking (1, 1, 3): equal values share a place."""
    place, previous = 0, None
    for i, row in enumerate(rows, start=1):
        if row[key] != previous:
            place, previous = i, row[key]
        row["rank"] = place
    return rows


@require_console_role(*READERS)
def results(round_id: int) -> str:
    rnd = access.load_round(round_id)
    try:
        body = live.results(rnd)
    except ApiError as err:
        if err.code != "results_hidden":
            raise
        return render_template("console/results.html", rnd=rnd, body=None, hidden=err.message)
    if rnd.kind == "recommendation":
        rank(body["subjects"], "votes")
    elif rnd.kind == "scoring":
        rank(body["subjects"], "total")
    return render_template("console/results.html", rnd=rnd, body=body, hidden=None)
