"""Count a round from SQL, the record, with the same rules as the live tally."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import text

from server.core.db import db
from server.forms.answers import tally_fields


def recount(round_id: int, form: dict[str, Any]) -> dict[str, Any]:
    """{"turnout": {cat: n}, "tallies": {cat: {field: n}}} from the ballots table."""
    turnout: dict[int, int] = {}
    tallies: dict[int, dict[str, int]] = {}
    rows = db.session.execute(
        text("SELECT category_id, answers FROM ballots WHERE round_id = :r"), {"r": round_id}
    )
    for category_id, answers in rows:
        turnout[category_id] = turnout.get(category_id, 0) + 1
        bucket = tallies.setdefault(category_id, {})
        for field, n in tally_fields(form, json.loads(answers)).items():
            bucket[field] = bucket.get(field, 0) + n
    return {
        "turnout": turnout,
        "tallies": {c: {f: n for f, n in t.items() if n} for c, t in tallies.items()},
    }


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
