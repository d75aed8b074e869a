"""The arithmetic of a combined assessment (综合考核), pure and exact.

Each part gives a score per roster member: a round's composite (appraisal) or
total (scoring) as its official results show it (2 decimals), or an imported
sheet's score as written. The combined score is Σ weight × part score over the
parts, in exact fractions; weights must add up to exactly 100%. It is shown
rounded (四舍五入) to 2 decimals, and ranked by that shown value, equal shown
values sharing a rank (并列). 考核等次 come from the assessment's own level rules,
evaluated by the results engine's level step (server/resultsengine/levels.py `decide`).
A member missing a part's score gets no combined score and no rank.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from server.resultsengine import levels as level_rules
from server.resultsengine.config import check_level, fraction_of
from server.resultsengine.engine import shown, shown_ranks


@dataclass
class PartScores:
    """What one part says of each member."""

    label: str
    weight: Fraction
    scores: dict[int, Fraction] = field(default_factory=dict)
    excluded: set[int] = field(default_factory=set)  # vetoed out of that part's ranking
    flags: dict[int, list[str]] = field(default_factory=dict)  # flags and veto labels


def weights_of(raw: Sequence[Any]) -> list[Fraction]:
    """Each part's weight as an exact share; ValueError (Chinese) unless they add up to
    exactly 100%. Written as shares ("40%", "2/5", 0.4) or all as bare percentages
    (40, 30, 30)."""
    try:
        values = [fraction_of(w) for w in raw]
    except ValueError:
        raise ValueError("权重应写成百分比、分数或小数，例如 40%、2/5、0.4") from None
    if any(v <= 0 for v in values):
        raise ValueError("每个组成部分的权重都应大于 0")
    total = sum(values, Fraction(0))
    bare = all(not isinstance(w, str) or "%" not in w and "/" not in w for w in raw)
    if bare and total == 100:
        return [v / 100 for v in values]
    if total != 1:
        shown_total = f"{float(total * 100):.4f}".rstrip("0").rstrip(".")
        raise ValueError(f"各组成部分权重之和应为 100%，现为 {shown_total}%")
    return values


def check_levels(raw: Any) -> list[dict[str, Any]]:
    """The assessment's 考核等次 rules (the results engine's rule language), limited to
    what a combined score has: `score` conditions and `flag` (a part's flag or veto
    label). ValueError for anything else."""
    if raw is None:
        return []
    if isinstance(raw, str | bytes | Mapping) or not isinstance(raw, Sequence):
        raise ValueError("levels must be a list of levels")
    if len(raw) > 10:
        raise ValueError("levels: at most 10 levels")
    out = [check_level(r, f"levels[{i}]") for i, r in enumerate(raw)]
    for i, rule in enumerate(out):
        for j, cond in enumerate(rule["when"]):
            if "rate" in cond or "grades" in cond:
                raise ValueError(f"levels[{i}].when[{j}]: a combined assessment has no "
                                 "grade rates; use score (综合得分) or flag")
    names = [r["level"] for r in out]
    if len(set(names)) != len(names):
        raise ValueError("levels: level names must be unique")
    return out


def combine(parts: Sequence[PartScores], members: Sequence[int],
            levels: Sequence[Mapping[str, Any]]) -> tuple[dict[int, dict[str, Any]], list[str]]:
    """Each member's part scores, exact and shown combined score, rank, 等次 and what is
    missing; and notes (quota ties)."""
    exact: dict[int, Fraction | None] = {}
    out: dict[int, dict[str, Any]] = {}
    for mid in members:
        missing = [p.label for p in parts if mid not in p.scores]
        total = None if missing or not parts else sum(
            (p.weight * p.scores[mid] for p in parts), Fraction(0))
        exact[mid] = total
        flags = [f for p in parts for f in p.flags.get(mid, ())]
        out[mid] = {"parts": [p.scores.get(mid) for p in parts], "exact": total,
                    "shown": shown(total), "missing": missing, "flags": flags,
                    "excluded": any(mid in p.excluded for p in parts)}
    ranks = shown_ranks({mid: None if out[mid]["excluded"] else v for mid, v in exact.items()})
    measures = {mid: level_rules.Measures(share=lambda _keys: None, score=out[mid]["shown"],
                                          flags=set(out[mid]["flags"]))
                for mid in members}
    # Members without a combined score take no level.
    forced = {mid: None for mid in members}
    scored = [mid for mid in members if exact[mid] is not None]
    level, tie, notes = decide_levels(scored, ranks, {m: out[m]["shown"] for m in scored},
                                      {m: measures[m] for m in scored}, levels, forced)
    for mid in members:
        out[mid].update(rank=ranks[mid], level=level.get(mid) if levels else None,
                        level_tie=tie.get(mid))
    return out, notes


def decide_levels(ids: Sequence[int], ranks: Mapping[int, int | None],
                  values: Mapping[int, Fraction | None],
                  measures: Mapping[int, level_rules.Measures],
                  levels: Sequence[Mapping[str, Any]], forced: Mapping[int, str | None]
                  ) -> tuple[dict[int, str | None], dict[int, str | None], list[str]]:
    """The level step: the results engine's own (ordered levels, quotas with ties
    at the boundary shown as ties)."""
    return level_rules.decide(ids, ranks, values, measures, levels, forced)
