"""The projector (live turnout for the hall) and the results page."""

from __future__ import annotations

from flask import render_template, url_for

from server.console import access
from server.console.access import READERS
from server.core.auth import require_console_role
from server.core.errors import ApiError
from server.results.view import board
from server.rounds import live

POLL_MS = 2000


@require_console_role(*READERS)
def projector(round_id: int) -> str:
    rnd = access.load_round(round_id)
    return render_template(
        "console/projector.html", rnd=rnd, turnout=live.turnout(rnd), poll_ms=POLL_MS,
        progress=live.subject_progress(rnd) if rnd.per_subject else None,
        turnout_url=url_for("rounds.read_turnout", round_id=rnd.id),
        feed_url=url_for("results.projector", round_id=rnd.id),
        results_url=url_for("console.results", round_id=rnd.id),
    )


@require_console_role(*READERS)
def results(round_id: int) -> str:
    rnd = access.load_round(round_id)
    try:
        body = live.results(rnd)
    except ApiError as err:
        if err.code != "results_hidden":
            raise
        return render_template("console/results.html", rnd=rnd, body=None, hidden=err.message)
    return render_template("console/results.html", rnd=rnd, body=body, hidden=None,
                           board=board(body), weights={c.name: c.weight for c in rnd.categories})
