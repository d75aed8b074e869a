"""Count a round from SQL, the record, with the same rules as the live tally."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import text

from server.core.db import db
from server.voting.digest import read_digest


def recount(round_id: int, form: dict[str, Any],
            subject_ids: Sequence[int] | None = None) -> dict[str, Any]:
    """{"turnout": {cat: n}, "tallies": {cat: {field: n}}} from the ballots table
    (`form`: the round's, bound to its subjects' sections: forms/sections.round_form).

    Every ballot's answers.tally_fields added up, as the live tally adds them
    (server/voting/digest.py counts identical ballots and rows once).
    """
    if subject_ids is None:
        subject_ids = [sid for (sid,) in db.session.execute(
            text("SELECT id FROM subjects WHERE round_id = :r"), {"r": round_id})]
    return read_digest(round_id, form, subject_ids).recount()


def differences(sql: dict[str, Any], live: dict[str, Any], limit: int = 5) -> list[str]:
    """Human-readable differences between two counts (empty when they agree)."""
    out: list[str] = []
    cats = set(sql["turnout"]) | set(live["turnout"])
    for cat in sorted(cats):
        a, b = sql["turnout"].get(cat, 0), live["turnout"].get(cat, 0)
        if a != b:
            out.append(f"category {cat}: {a} ballots in SQL, {b} in the live tally")
    for cat in sorted(set(sql["tallies"]) | set(live["tallies"])):
        ta, tb = sql["tallies"].get(cat, {}), live["tallies"].get(cat, {})
        for field in sorted(set(ta) | set(tb)):
            if ta.get(field, 0) != tb.get(field, 0):
                a, b = ta.get(field, 0), tb.get(field, 0)
                out.append(f"category {cat} {field}: SQL {a}, live {b}")
                if len(out) >= limit:
                    return out
    return out
