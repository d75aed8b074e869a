"""The official results of a round: the engine over the SQL ballots, frozen at close."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from sqlalchemy import text

from server.core.db import db
from server.core.errors import ApiError
from server.forms.answers import check_answers
from server.results.engine import compute_results
from server.results.rules import round_rules


def subjects_of(rnd: Any) -> list[dict[str, Any]]:
    return [{"id": s.id, "name": s.name, "note": s.note} for s in rnd.subjects]


def categories_of(rnd: Any) -> list[dict[str, Any]]:
    return [{"id": c.id, "name": c.name, "expected_count": c.expected_count,
             "weight": c.weight} for c in rnd.categories]


def official_results(rnd: Any) -> dict[str, Any]:
    """compute_results over the round's ballots in SQL, the record.

    Every ballot is checked against the form again: one that does not fit it
    (which the ballot path should never have accepted) is counted as invalid
    (无效票), not dropped and not allowed to break the count.
    """
    form = rnd.form
    subject_ids = [s.id for s in rnd.subjects]
    valid: list[tuple[int, dict[str, Any]]] = []
    invalid: Counter[int] = Counter()
    rows = db.session.execute(
        text("SELECT category_id, answers FROM ballots WHERE round_id = :r"), {"r": rnd.id})
    for category_id, raw in rows:
        try:
            valid.append((category_id, check_answers(form, subject_ids, json.loads(raw))))
        except (ApiError, ValueError):
            invalid[category_id] += 1
    return compute_results(form, subjects_of(rnd), categories_of(rnd), valid, dict(invalid),
                           round_rules(form))


def frozen_results(rnd: Any) -> dict[str, Any]:
    """The results frozen at close (computed now for a round closed before they were kept)."""
    if rnd.status not in ("closed", "published"):
        raise ApiError("round_not_closed", "投票结束并完成计票后才有正式结果",
                       "The round has no official results until it is closed", 409)
    frozen = (rnd.result or {}).get("official")
    return frozen if frozen is not None else official_results(rnd)


def publish_problem(rnd: Any) -> tuple[str, str] | None:
    """Why the round's results may not be published (the 参评率 rule), in Chinese and
    English, or None."""
    res = frozen_results(rnd)
    validity = res["validity"]
    if validity["publishable"]:
        return None
    total = validity["total"]
    en = (f"turnout {total['turnout_pct']}% ({total['cast']} of {total['expected']}) is below "
          f"the round's minimum of {res['rules']['min_turnout'] * 100:g}%; "
          "the results cannot be published")
    if not total["expected"]:
        en = "no expected counts are set, so the turnout rule cannot be checked"
    return validity["reason"], en
