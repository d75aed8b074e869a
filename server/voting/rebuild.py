"""Recreate a round's Redis state from SQL (`pingyi tally rebuild`)."""

from __future__ import annotations

import calendar
import logging

from flask import current_app
from sqlalchemy import text

from server.core.db import db
from server.forms.answers import all_tally_fields
from server.forms.sections import round_form
from server.roundbase.models import Round
from server.voting import livetally
from server.voting.recount import recount

log = logging.getLogger(__name__)


def epoch(value: object) -> float | None:
    return calendar.timegm(value.timetuple()) if value is not None else None  # type: ignore[attr-defined]  # a datetime


# A round takes ballots in these states (or will, or may again after a mismatch): its
# live state holds its tokens. A closed round's holds none (livetally.forget_tokens).
VOTING = ("draft", "open", "closing")


def _tokens(rnd: Round) -> tuple[list[str], dict[str, int]]:
    """(spent token hashes, {unspent token hash: category}) of a round, from SQL."""
    params = {"r": rnd.id}
    spent = [h for (h,) in db.session.execute(
        text("SELECT token_hash FROM spent_tokens WHERE round_id = :r"), params)]
    spent_set = set(spent)
    # only tokens whose rehearsal mark is the round's (rounds/rehearsal.py)
    unspent = {
        h: cat
        for h, cat in db.session.execute(
            text("SELECT token_hash, category_id FROM tokens "
                 "WHERE round_id = :r AND rehearsal = :rh"),
            {**params, "rh": bool(rnd.rehearsal)})
        if h not in spent_set
    }
    return spent, unspent


def rebuild(round_id: int, only_if_missing: bool = False) -> dict[str, int]:
    """Rebuild under a per-round lock; returns a small summary."""
    with livetally.lock(round_id):
        if only_if_missing and livetally.has_state(round_id):
            return {"skipped": 1}
        db.session.expire_all()
        rnd = db.session.get(Round, round_id)
        if rnd is None:
            raise LookupError(f"no round {round_id}")
        if livetally.has_state(round_id):
            # Refuse new claims while we read, and let in-flight ones finish.
            livetally.set_state(round_id, "rebuilding")
            livetally.wait_drained(round_id, current_app.config["CLOSE_DRAIN_TIMEOUT_S"])
        spent, unspent = _tokens(rnd) if rnd.status in VOTING else ([], {})
        form, subject_ids = round_form(rnd), [s.id for s in rnd.subjects]
        counts = recount(round_id, form, subject_ids)
        category_ids = [c.id for c in rnd.categories]
        # Every field at 0 first, in the form's order (then a hash's field order tells
        # nothing of which ballot came first); what SQL counted fills them in.
        fields = all_tally_fields(form, subject_ids)
        tallies = {cat: {**dict.fromkeys(fields, 0), **counts["tallies"].get(cat, {})}
                   for cat in category_ids}
        turnout = {cat: counts["turnout"].get(cat, 0) for cat in category_ids}
        livetally.write_full_state(
            round_id, rnd.status, epoch(rnd.closes_at), unspent, spent,
            turnout, tallies, category_ids,
        )
        db.session.rollback()
    log.info("rebuilt live tally of round %s: %d ballots", round_id,
             sum(counts["turnout"].values()))
    return {"ballots": sum(counts["turnout"].values()), "unspent": len(unspent),
            "spent": len(spent)}
