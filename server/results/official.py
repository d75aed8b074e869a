"""The official results of a round: the engine over the SQL ballots, frozen at close."""

from __future__ import annotations

from typing import Any

from server.core.errors import ApiError
from server.forms.sections import round_form
from server.results.paper_ballots import with_paper
from server.results.rules import round_rules
from server.resultsengine.config import threshold_of
from server.resultsengine.engine import compute_counted_results
from server.voting.digest import Digest, read_digest


def subjects_of(rnd: Any) -> list[dict[str, Any]]:
    return [{"id": s.id, "name": s.name, "note": s.note, "section": s.section}
            for s in rnd.subjects]


def categories_of(rnd: Any) -> list[dict[str, Any]]:
    return [{"id": c.id, "name": c.name, "expected_count": c.expected_count,
             "weight": c.weight} for c in rnd.categories]


def official_results(rnd: Any, digest: Digest | None = None) -> dict[str, Any]:
    """compute_results over the round's ballots in SQL, the record.

    Every ballot is checked against the form again: one that does not fit it
    (which the ballot path should never have accepted) is counted as invalid
    (无效票), not dropped and not allowed to break the count. `digest` is the
    round's ballots as the close already read them (server/voting/digest.py); the
    counted paper ballots join them (server/results/paper_ballots.py).
    """
    form, subject_ids = round_form(rnd), [s.id for s in rnd.subjects]
    if digest is None:
        digest = read_digest(rnd.id, form, subject_ids)
    (counted, invalid), paper = with_paper(rnd.id, form, subject_ids, digest.counted())
    return compute_counted_results(rnd.form, subjects_of(rnd), categories_of(rnd), counted,
                                   invalid, round_rules(rnd.form), paper)


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
    minimum, op = threshold_of(res["rules"]["min_turnout"], "at_least")
    en = (f"turnout {total['turnout_pct']}% ({total['cast']} of {total['expected']}) does not "
          f"{'reach' if op == 'at_least' else 'exceed'} the round's minimum of "
          f"{float(minimum) * 100:.2f}%; the results cannot be published")
    if not total["expected"]:
        en = "no expected counts are set, so the turnout rule cannot be checked"
    return validity["reason"], en
