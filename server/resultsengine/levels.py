"""Rates (优秀率, 称职以上率 …) and 考核等次 with 一票否决: pure functions for the engine.

A section's rates follow its grade scale, best grade first: each graded grade's
own rate ("<label>率", key = grade key) and, for every grade between the first
and the last, the cumulative rate of it and all better grades ("<label>以上率",
key "<grade>+"): 优秀率, 称职率, 称职以上率, 基本称职率, 基本称职以上率, 不称职率 on
优秀/称职/基本称职/不称职, and 好率, 较好率, 较好以上率, 一般率, 一般以上率, 差率 on
好/较好/一般/差. A rate's denominator is the answers on the overall criteria, with
不了解 left out (abstain_in_rates "exclude") or counted ("include").

Levels and vetoes are written in the rule language of server/resultsengine/config.py
(check_level, check_veto, check_condition); `Measures` is what a condition can
ask about one subject. `decide` applies them; the ranks are the engine's.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from server.resultsengine.config import COMPARES, compare, fraction_of, fraction_words


def rate_defs(grades: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The rates of a grade scale: [{key, label, grades}] in display order."""
    graded = [g for g in grades if not g.get("abstain")]
    out: list[dict[str, Any]] = []
    for i, g in enumerate(graded):
        out.append({"key": g["key"], "label": f"{g['label']}率", "grades": [g["key"]]})
        if 0 < i < len(graded) - 1:
            out.append({"key": f"{g['key']}+", "label": f"{g['label']}以上率",
                        "grades": [x["key"] for x in graded[:i + 1]]})
    return out


def find_rate(defs: Sequence[Mapping[str, Any]], name: str) -> Mapping[str, Any] | None:
    """A rate by its label (称职以上率) or key (competent+)."""
    return next((d for d in defs if name in (d["label"], d["key"])), None)


@dataclass
class Measures:
    """What a level or veto condition can ask of one subject."""

    share: Callable[[Sequence[str]], Fraction | None]  # share of these grades (None: no answers)
    score: Fraction | None  # the composite or total as shown (rounded, exact)
    flags: set[str] = field(default_factory=set)
    rates: Sequence[Mapping[str, Any]] = ()


def misfit(cond: Mapping[str, Any], defs: Sequence[Mapping[str, Any]] | None,
           grades: set[str], flags: set[str]) -> str | None:
    """Why a condition cannot be asked on a section (defs None: no grade scale, i.e. a
    scoring round), or None."""
    if "rate" in cond:
        if defs is None:
            return "rates apply to appraisal forms only"
        if find_rate(defs, cond["rate"]) is None:
            return (f"unknown rate {cond['rate']!r} (this scale has "
                    + "、".join(d["label"] for d in defs) + ")")
    if "grades" in cond:
        if defs is None:
            return "grade shares apply to appraisal forms only"
        bad = [g for g in cond["grades"] if g not in grades]
        if bad:
            return f"{bad[0]!r} is not a graded (non-abstain) grade"
    if "flag" in cond and cond["flag"] not in flags:
        return f"no flag rule is labelled {cond['flag']!r}"
    return None


def rules_misfit(rules: Sequence[Mapping[str, Any]], defs: Sequence[Mapping[str, Any]] | None,
                 grades: set[str], flags: set[str]) -> str | None:
    for rule in rules:
        for cond in rule.get("when", ()):
            why = misfit(cond, defs, grades, flags)
            if why:
                return why
    return None


def holds(cond: Mapping[str, Any], m: Measures) -> bool:
    if "flag" in cond:
        return cond["flag"] in m.flags
    op = next(op for op in COMPARES if op in cond)
    limit = fraction_of(cond[op])
    if "score" in cond:
        value = m.score
    elif "rate" in cond:
        found = find_rate(m.rates, cond["rate"])
        value = m.share(found["grades"]) if found else None
    else:
        value = m.share(cond["grades"])
    return value is not None and compare(value, op, limit)


def vetoes_of(vetoes: Sequence[Mapping[str, Any]], m: Measures) -> list[Mapping[str, Any]]:
    return [v for v in vetoes if all(holds(c, m) for c in v["when"])]


def quota_places(quota: Any, n_subjects: int) -> int:
    """A level's places: a whole number as written, a fraction of the subjects rounded down."""
    if isinstance(quota, int) and not isinstance(quota, bool):
        return quota
    return math.floor(fraction_of(quota) * n_subjects)


def decide(ids: Sequence[int], ranks: Mapping[int, int | None],
           values: Mapping[int, Fraction | None], measures: Mapping[int, Measures],
           levels: Sequence[Mapping[str, Any]], forced: Mapping[int, str | None]
           ) -> tuple[dict[int, str | None], dict[int, str | None], list[str]]:
    """Each subject's 考核等次, the level a quota tie kept from it, and notes.

    Levels are tried in order, subjects in rank order; a veto's level (`forced`)
    wins over them. A quota is filled by shown value; equal shown values that
    straddle the last place all miss the level (并列) and try the next ones.
    """
    level: dict[int, str | None] = {sid: forced.get(sid) for sid in ids}
    tie: dict[int, str | None] = {sid: None for sid in ids}
    notes: list[str] = []
    open_ = [sid for sid in ids if forced.get(sid) is None]
    big = len(ids) + 1
    open_.sort(key=lambda sid: (ranks.get(sid) or big, ids.index(sid)))
    for rule in levels:
        pool = [sid for sid in open_ if all(holds(c, measures[sid]) for c in rule["when"])]
        if "quota" in rule:
            places = quota_places(rule["quota"], len(ids))
            shown = {sid: v for sid in pool if (v := values.get(sid)) is not None}
            pool = [sid for sid in pool if sid in shown]
            if len(pool) > places:
                cut = shown[pool[places - 1]] if places else None
                winners = [sid for sid in pool if cut is not None and shown[sid] > cut]
                level_ = [sid for sid in pool if shown[sid] == cut]
                if cut is not None and len(winners) + len(level_) <= places:
                    winners += level_
                elif cut is not None:
                    for sid in level_:
                        tie[sid] = rule["level"]
                    notes.append(f"“{rule['level']}”名额 {places} 名，有 {len(level_)} 人"
                                 f"得分同为 {float(cut):.2f} 并列于名额边界，均未评为"
                                 f"“{rule['level']}”，需另行研究确定")
                pool = winners
        for sid in pool:
            level[sid] = rule["level"]
        open_ = [sid for sid in open_ if sid not in pool]
    return level, tie, notes


# --------------------------------------------------------------------------- words


def condition_words(cond: Mapping[str, Any], defs: Sequence[Mapping[str, Any]] | None = None,
                    score_name: str = "综合得分") -> str:
    if "flag" in cond:
        return f"有“{cond['flag']}”标记"
    op = next(op for op in COMPARES if op in cond)
    if "score" in cond:
        return f"{score_name}{COMPARES[op]} {float(fraction_of(cond[op])):g} 分"
    if "rate" in cond:
        name = cond["rate"]
        found = find_rate(defs or (), name)
        name = found["label"] if found else name
    else:
        name = "、".join(cond["grades"]) + " 率"
    return f"{name}{COMPARES[op]}{fraction_words(cond[op])}"


def level_words(rule: Mapping[str, Any], score_name: str = "综合得分") -> str:
    cond = "，且".join(condition_words(c, None, score_name) for c in rule.get("when", ()))
    text = f"“{rule['level']}”：{cond or '其余对象'}"
    if "quota" in rule:
        q = rule["quota"]
        cap = (f"{q} 名" if isinstance(q, int) and not isinstance(q, bool)
               else f"参评对象人数的{fraction_words(q)}（向下取整）")
        text += (f"，名额不超过{cap}，按{score_name}从高到低确定；名额边界上{score_name}"
                 "（显示值）相同者均不评为该等次，列为并列待定")
    return text


def veto_words(rule: Mapping[str, Any], score_name: str = "综合得分") -> str:
    cond = "，且".join(condition_words(c, None, score_name) for c in rule["when"])
    effects = [] if rule.get("rank") else ["不参加排名"]
    if rule.get("level"):
        effects.append(f"考核等次定为“{rule['level']}”")
    return f"一票否决（{rule['label']}）：{cond}的，" + ("、".join(effects) or "予以标明")
