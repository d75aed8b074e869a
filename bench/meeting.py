"""The meeting phase: a burst of voters each submitting a meeting (测评会) of several forms.

`voters` meeting slips of a meeting of `forms` appraisal rounds; each voter is one
keep-alive connection that sends its forms one after another (each the ordinary
POST /api/v1/ballots with the form's own token, derived from the slip's, as the
voter page does), all voters at once. Reported: errors, p50/p99 of a ballot,
ballots per second, and whether every round holds exactly `voters` ballots in SQL
and in the Redis live tally.
"""

from __future__ import annotations

import json
import random
from typing import TYPE_CHECKING, Any

from sqlalchemy import text

from bench import data
from bench.burst import burst

if TYPE_CHECKING:
    from bench.run import Bench


def _meeting(bench: Bench, forms: int, voters: int) -> tuple[list[int], list[bytes]]:
    """The rounds of a fresh open meeting and the ballot bodies, form-major: body
    f * voters + v is voter v's form f, so connection v sends voter v's forms."""
    from server.meetings.codec import form_token
    from server.meetings.operations import create_meeting, issue_meeting_tokens, open_meeting
    from server.roundbase.reads import get_round
    from server.rounds.operations import create_round

    with bench.app.app_context():
        rounds = [create_round(bench.committee_id, "appraisal", f"测评会基准 第{i + 1}份",
                               [{"name": n, "note": ""} for n in data.LEADERS],
                               [dict(c) for c in data.CATEGORIES]).id for i in range(forms)]
        meeting = create_meeting(bench.committee_id, "测评会基准", rounds)
        slips = issue_meeting_tokens(meeting, data.CATEGORIES[0]["name"], voters)
        open_meeting(meeting)
        rng = random.Random(4)
        bodies = []
        for rid in rounds:
            rnd = get_round(rid)
            bodies += [json.dumps({"token": form_token(m, rid),
                                   "answers": data.answers(rnd, rng)}).encode() for m in slips]
    return rounds, bodies


def measure(bench: Bench) -> dict[str, Any]:
    from bench.run import gunicorn
    from server.core.db import db
    from server.voting import livetally

    voters, forms = bench.args.meeting_voters, bench.args.meeting_forms
    rounds, bodies = _meeting(bench, forms, voters)
    with gunicorn(None, bench.env, bench.log) as base:
        res = burst(base + "/api/v1/ballots", bodies, voters)
    with bench.app.app_context():
        rows = [db.session.execute(text("SELECT count(*) FROM ballots WHERE round_id = :r"),
                                   {"r": rid}).scalar() for rid in rounds]
        live = [sum(livetally.read_turnout(rid).values()) for rid in rounds]
    return {"meeting_voters": voters, "meeting_forms": forms,
            "meeting_ballots": res["accepted"], "meeting_errors": res["errors"],
            "meeting_p50_ms": res["p50_ms"], "meeting_p99_ms": res["p99_ms"],
            "meeting_ballots_per_s": res["accepted"] / res["elapsed_s"],
            "meeting_counts_match": (res["accepted"] == voters * forms
                                     and rows == live == [voters] * forms)}
