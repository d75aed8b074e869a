"""Counted paper ballots into the one counting path: the agreed answers go through the
same digest (voting/digest.py) as the electronic ballots, then join their counts."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from sqlalchemy import text

from server.core.db import db
from server.resultsengine.engine import CountedBallots
from server.voting.digest import digest

Counts = tuple[dict[int, CountedBallots], dict[int, int]]


def read_paper(round_id: int) -> tuple[list[tuple[int, str]], Counter[int]]:
    """(category id, stored answers) of the round's counted valid sheets, and its
    counted invalid sheets (无效票) per category."""
    rows = db.session.execute(text(
        "SELECT category_id, first_answers, first_invalid FROM paper_ballots "
        "WHERE round_id = :r AND status = 'counted'"), {"r": round_id})
    valid: list[tuple[int, str]] = []
    invalid: Counter[int] = Counter()
    for cid, answers, reason in rows:
        if reason:
            invalid[cid] += 1
        else:
            valid.append((cid, answers))
    return valid, invalid


def with_paper(round_id: int, form: dict[str, Any], subject_ids: Sequence[int],
               electronic: Counts) -> tuple[Counts, dict[int, tuple[int, int]]]:
    """The electronic counts joined with the paper ones, and the paper share per
    category: (valid, invalid) sheets."""
    valid, marked = read_paper(round_id)
    if not valid and not marked:
        return electronic, {}
    counted, invalid = digest(form, subject_ids, valid).counted()
    paper_invalid = Counter(marked) + Counter(invalid)
    e_counted, e_invalid = electronic
    joined = dict(e_counted)
    for cid, c in counted.items():
        mine = joined.get(cid, CountedBallots())
        joined[cid] = CountedBallots(mine.ballots + c.ballots, mine.cells + c.cells)
    all_invalid = dict(Counter(e_invalid) + paper_invalid)
    share = {cid: (counted[cid].ballots if cid in counted else 0, paper_invalid[cid])
             for cid in set(counted) | set(paper_invalid)}
    return (joined, all_invalid), share
