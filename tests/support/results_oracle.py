"""The results engine as it was before close counted ballots (test oracle, do not use in the app).

Every ballot is processed one by one here; server/results/engine.py works from counts
and must give exactly the same output. Kept verbatim (apart from this docstring) except
for what issue 22 changed on purpose: ranks by the shown value (`_shown`) and the
wording of the at-threshold note. tests/test_close_counting.py compares it with the
engine on the figures both compute, in rounds where the rest of issue 22 (official
weights with hiding, trimming by total, rates and levels) does not apply; those are
checked against hand-worked expectations in tests/test_results_rules.py and
tests/test_results_levels.py.

Original docstring: Turn a round's ballots into its results: pure functions over plain data.

The close-time freeze, the views and the exports all take their figures from
`compute_results`; every per-category figure in its output has gone through
`apply_k_anonymity`, so nothing downstream can show a voter category of fewer
than k ballots (`k_violations` is the last check before anything leaves).

Everything is computed exactly with `Fraction`; numbers are rounded (half away
from zero, 四舍五入) to 2 decimals only when written out, and rankings,
thresholds and ties compare the exact values. Rates are percentages (`*_pct`).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, TypeVar

from server.results.config import SCORE_TESTS, SHARE_TESTS, ResultRules, fraction_words

OTHER = "其他"
COUNT_FIELDS = ("ballots", "cast", "valid")  # group sizes that k-anonymity bounds

Key = TypeVar("Key", bound=Hashable)
Answers = Mapping[str, Any]


def k_note(k: int) -> str:
    return f"人数少于{k}人的类别已合并或隐藏"


# --------------------------------------------------------------------------- numbers


def exact(value: Any) -> Fraction:
    """A configured number as the decimal it was written as (0.3 is 3/10, not a binary float)."""
    if isinstance(value, Fraction):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"not a finite number: {value!r}")
    return Fraction(value) if isinstance(value, int) else Fraction(repr(value))


def round2(value: Fraction | None) -> float | None:
    """Round half away from zero (四舍五入) to 2 decimals, from the exact value."""
    if value is None:
        return None
    cents = math.floor(abs(value) * 100 + Fraction(1, 2))
    return float(Fraction(-cents if value < 0 else cents, 100))


def pct(part: Fraction | int, whole: Fraction | int) -> float | None:
    return round2(Fraction(part) * 100 / whole) if whole else None


def _mean(values: Sequence[Fraction]) -> Fraction | None:
    return sum(values, Fraction(0)) / len(values) if values else None


def competition_ranks(values: Mapping[Key, Fraction | int | None]) -> dict[Key, int | None]:
    """Highest first, "1224" style: equal exact values share a rank; None stays unranked."""
    first: dict[Fraction | int, int] = {}
    for i, v in enumerate(sorted((v for v in values.values() if v is not None), reverse=True)):
        first.setdefault(v, i + 1)
    return {key: None if v is None else first[v] for key, v in values.items()}


def _shown(values: Mapping[Key, Fraction | None]) -> dict[Key, Fraction | None]:
    """Changed on purpose (issue 22): ranks go by the value shown, two decimals."""
    return {k: None if v is None else Fraction(math.floor(abs(v) * 100 + Fraction(1, 2))
                                               * (1 if v >= 0 else -1), 100)
            for k, v in values.items()}


def _order(ids: Sequence[int], ranks: Mapping[int, int | None]) -> list[int]:
    """Ids by rank, unranked last, ties in their listed order."""
    big = len(ids) + 1
    return sorted(ids, key=lambda i: (ranks[i] or big, ids.index(i)))


# --------------------------------------------------------------------------- k-anonymity


@dataclass(frozen=True)
class CategoryGroup:
    """One row of a per-category breakdown: a category, or several merged as 其他."""

    name: str
    category_ids: tuple[int, ...]
    category_names: tuple[str, ...]
    merged: bool

    def head(self) -> dict[str, Any]:
        return {"name": self.name, "categories": list(self.category_names),
                "merged": self.merged}


@dataclass(frozen=True)
class KPlan:
    """Which categories may be shown, which are pooled, which only count in totals."""

    k: int
    groups: tuple[CategoryGroup, ...]
    hidden: tuple[int, ...]
    note: str | None

    def pools(self) -> list[tuple[int, ...]]:
        """The k-safe pools of categories; together they cover every category once."""
        pools = [g.category_ids for g in self.groups]
        return [*pools, self.hidden] if self.hidden else pools


def apply_k_anonymity(
    categories: Sequence[Mapping[str, Any]],
    sizes: Mapping[int, int | Sequence[int]],
    k: int,
) -> KPlan:
    """Group voter categories so that no breakdown row has 1..k-1 ballots.

    `sizes` gives each category's ballot count, or several counts (e.g. cast and
    valid ballots); a category is small when any of them lies in 1..k-1. Small
    categories are merged into 其他. Categories with no ballots stay on their own
    (a zero tells nothing about anyone's vote).

    If 其他 is still small, simply hiding it would not protect it: anyone could
    subtract the shown rows from the published totals. So the smallest shown
    categories are folded into 其他 until it reaches k; only when all ballots
    together number fewer than k is the breakdown hidden (left to the totals).
    """
    ids = [int(c["id"]) for c in categories]
    names = {int(c["id"]): str(c["name"]) for c in categories}
    width = max((1 if isinstance(s, int) else len(s) for s in sizes.values()), default=1)

    def counts(cid: int) -> tuple[int, ...]:
        s = sizes.get(cid, 0)
        return (s,) * width if isinstance(s, int) else tuple(s)

    def small(pool: Iterable[int]) -> bool:
        summed = [sum(col) for col in zip(*(counts(c) for c in pool), strict=True)]
        return any(0 < n < k for n in summed)

    def single(cid: int) -> CategoryGroup:
        return CategoryGroup(names[cid], (cid,), (names[cid],), False)

    pool = [c for c in ids if small([c])]
    if not pool:
        return KPlan(k, tuple(single(c) for c in ids), (), None)
    rest = [c for c in ids if c not in pool]
    while small(pool):
        with_ballots = [c for c in rest if any(counts(c))]
        if not with_ballots:
            break
        pick = min(with_ballots, key=lambda c: (counts(c), ids.index(c)))
        pool.append(pick)
        rest.remove(pick)
    pool.sort(key=ids.index)
    groups = [single(c) for c in rest]
    hidden: tuple[int, ...] = ()
    if small(pool):
        hidden = tuple(pool)
    else:
        name = OTHER if OTHER not in {names[c] for c in rest} else f"{OTHER}（合并）"
        groups.append(CategoryGroup(name, tuple(pool), tuple(names[c] for c in pool), True))
    return KPlan(k, tuple(groups), hidden, k_note(k))


def k_violations(data: Any, k: int, path: str = "$") -> list[str]:
    """Paths of breakdown rows (lists under "by_category") with 1..k-1 ballots."""
    found: list[str] = []
    if isinstance(data, Mapping):
        for key, value in data.items():
            where = f"{path}.{key}"
            if key == "by_category" and isinstance(value, list):
                for i, row in enumerate(value):
                    for f in COUNT_FIELDS:
                        n = row.get(f) if isinstance(row, Mapping) else None
                        if isinstance(n, int) and 0 < n < k:
                            found.append(f"{where}[{i}].{f}={n}")
            found.extend(k_violations(value, k, where))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            found.extend(k_violations(value, k, f"{path}[{i}]"))
    return found


# --------------------------------------------------------------------------- the round


@dataclass(frozen=True)
class _Category:
    id: int
    name: str
    expected: int
    weight: Fraction


@dataclass
class _Round:
    form: Mapping[str, Any]
    subjects: list[dict[str, Any]]
    categories: list[_Category]
    ballots: dict[int, list[Answers]]  # valid ballots by category id
    invalid: dict[int, int]
    rules: ResultRules
    plan: KPlan
    weighted: bool
    trim_scope: str
    notes: list[str]

    @property
    def subject_ids(self) -> list[int]:
        return [s["id"] for s in self.subjects]

    def weight(self, ids: Iterable[int]) -> Fraction:
        by_id = {c.id: c.weight for c in self.categories}
        return sum((by_id[c] for c in ids), Fraction(0))

    def units(self) -> list[tuple[tuple[int, ...], Fraction]]:
        """The pools that category weighting combines: k-safe, so a weighted figure
        cannot be solved back into a small category's own figure."""
        return [(p, self.weight(p)) for p in self.plan.pools()]

    def size(self, ids: Iterable[int]) -> int:
        return sum(len(self.ballots[c]) for c in ids)

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)


def _categories(categories: Sequence[Mapping[str, Any]]) -> list[_Category]:
    out: list[_Category] = []
    for c in categories:
        expected = c.get("expected_count", 0) or 0
        if isinstance(expected, bool) or not isinstance(expected, int) or expected < 0:
            raise ValueError(f"category {c.get('id')}: expected_count must be an integer >= 0")
        weight = exact(c.get("weight", 1))
        if weight < 0:
            raise ValueError(f"category {c.get('id')}: weight must be >= 0")
        out.append(_Category(int(c["id"]), str(c["name"]), expected, weight))
    if len({c.id for c in out}) != len(out):
        raise ValueError("duplicate category ids")
    return out


def _resolve(rules: ResultRules, form: Mapping[str, Any],
             cats: Sequence[_Category]) -> tuple[bool, str]:
    """Effective (weighted, trim_scope); raise ValueError on a combination that has no
    single meaning. Call it when a round is set up, so close never meets the error."""
    weighted = (rules.use_category_weights if rules.use_category_weights is not None
                else len({c.weight for c in cats}) > 1)
    scope = rules.trim_scope or ("category" if weighted else "overall")
    if form["kind"] == "scoring" and weighted and scope == "overall" and rules.trim:
        raise ValueError("trim_scope 'overall' cannot be combined with category weights: "
                         "which category loses a dropped score would change the result; "
                         "use trim_scope 'category'")
    if form["kind"] == "appraisal":
        crit = {c["key"] for c in form["criteria"]}
        grades = {g["key"]: bool(g.get("abstain")) for g in form["grades"]}
        for i, rule in enumerate(rules.flags):
            for g in rule.get("grades", ()):
                if g not in grades or grades[g]:
                    raise ValueError(f"flags[{i}]: {g!r} is not a graded (non-abstain) grade")
            if "criterion" in rule and rule["criterion"] not in crit:
                raise ValueError(f"flags[{i}]: unknown criterion {rule['criterion']!r}")
    return weighted, scope


def check_rules(rules: ResultRules, form: Mapping[str, Any],
                categories: Sequence[Mapping[str, Any]]) -> None:
    """Raise ValueError when these rules cannot compute this round's results."""
    _resolve(rules, form, _categories(categories))


def compute_results(
    form: Mapping[str, Any],
    subjects: Sequence[Mapping[str, Any]],
    categories: Sequence[Mapping[str, Any]],
    ballots: Iterable[tuple[int, Answers]],
    invalid: Mapping[int, int] | None = None,
    rules: ResultRules | None = None,
) -> dict[str, Any]:
    """The round's results as JSON-ready data, already k-anonymous.

    `ballots` are the valid ballots as (category id, canonical answers);
    `invalid` counts ballots recorded as invalid per category.
    """
    rules = rules or ResultRules()
    cats = _categories(categories)
    by_cat: dict[int, list[Answers]] = {c.id: [] for c in cats}
    for cid, answers in ballots:
        if cid not in by_cat:
            raise ValueError(f"ballot in unknown category {cid}")
        by_cat[cid].append(answers)
    spoilt = {c.id: 0 for c in cats}
    for cid, n in (invalid or {}).items():
        if cid not in spoilt:
            raise ValueError(f"invalid count for unknown category {cid}")
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ValueError(f"invalid count of category {cid} must be an integer >= 0")
        spoilt[cid] = n
    subs = [{"id": int(s["id"]), "name": str(s["name"]), "note": str(s.get("note") or "")}
            for s in subjects]
    if len({s["id"] for s in subs}) != len(subs):
        raise ValueError("duplicate subject ids")
    weighted, scope = _resolve(rules, form, cats)
    sizes = {c.id: (len(by_cat[c.id]) + spoilt[c.id], len(by_cat[c.id])) for c in cats}
    plan = apply_k_anonymity([{"id": c.id, "name": c.name} for c in cats], sizes, rules.k)
    rnd = _Round(form, subs, cats, by_cat, spoilt, rules, plan, weighted, scope, [])
    if plan.note:
        rnd.note(plan.note)
        merged = any(g.merged for g in plan.groups) or plan.hidden
        if weighted and merged and form["kind"] != "recommendation":
            rnd.note("分类加权时，人数不足的类别按合并后的类别计算权重")

    kind = form["kind"]
    out: dict[str, Any] = {
        "kind": kind,
        "form": form.get("key"),
        "rules": {**rules.to_dict(), "use_category_weights": weighted,
                  "trim_scope": scope if kind == "scoring" else None,
                  "places": _places(rnd) if kind == "recommendation" else None},
        "validity": _validity(rnd),
    }
    if kind == "appraisal":
        out["appraisal"] = _appraisal(rnd)
    elif kind == "recommendation":
        out["recommendation"] = _recommendation(rnd)
    elif kind == "scoring":
        out["scoring"] = _scoring(rnd)
    else:
        raise ValueError(f"unknown form kind {kind!r}")
    out["notes"] = rnd.notes
    leaks = k_violations(out, rules.k)
    if leaks:  # a bug in this module, never a property of the input
        raise RuntimeError(f"k-anonymity violated at {leaks[:3]}")
    return out


# --------------------------------------------------------------------------- validity


def _validity_row(expected: int, cast: int, valid: int) -> dict[str, Any]:
    return {"expected": expected, "cast": cast, "valid": valid, "invalid": cast - valid,
            "turnout_pct": pct(cast, expected)}


def _validity(rnd: _Round) -> dict[str, Any]:
    """应到 / 实到 / 有效 / 无效 / 参评率, per category group and in total."""
    def row(ids: Iterable[int]) -> dict[str, Any]:
        ids = list(ids)
        valid = rnd.size(ids)
        cast = valid + sum(rnd.invalid[c] for c in ids)
        expected = sum(c.expected for c in rnd.categories if c.id in ids)
        return _validity_row(expected, cast, valid)

    total = row(c.id for c in rnd.categories)
    reason = None
    minimum = exact(rnd.rules.min_turnout)
    if minimum > 0:
        if total["expected"] == 0:
            reason = "未设置应到人数，无法核算参评率"
        elif Fraction(total["cast"], total["expected"]) < minimum:
            reason = (f"参评率 {total['turnout_pct']}% 低于规定的 {round2(minimum * 100)}%，"
                      "结果不能公布")
    return {
        "total": total,
        "by_category": [{**g.head(), **row(g.category_ids)} for g in rnd.plan.groups],
        "publishable": reason is None,
        "reason": reason,
    }


# --------------------------------------------------------------------------- flags


def _flag_rules(rnd: _Round, tests: tuple[str, ...]) -> list[dict[str, Any]]:
    """The flag rules this kind of round can evaluate; the rest are noted as ignored."""
    usable = [r for r in rnd.rules.flags if any(t in r for t in tests)]
    for r in rnd.rules.flags:
        if r not in usable:
            rnd.note(f"标记规则“{r['label']}”不适用于本类测评，未使用")
    return usable


def _score_flag(rule: Mapping[str, Any], score: Fraction | None) -> bool:
    return score is not None and score < exact(rule["score_below"])


# --------------------------------------------------------------------------- appraisal


def _appraisal_tally(rnd: _Round, answers: Answers) -> Counter[tuple[str, str, str]]:
    form = rnd.form
    sids = {str(s) for s in rnd.subject_ids}
    crits = [c["key"] for c in form["criteria"]]
    grades = {g["key"] for g in form["grades"]}
    extra = set(answers) - sids
    if extra:
        raise ValueError(f"ballot answers unknown subjects {sorted(extra)}")
    tally: Counter[tuple[str, str, str]] = Counter()
    for sid, row in answers.items():
        for crit in crits:
            grade = row.get(crit)
            if grade is None:
                continue
            if grade not in grades:
                raise ValueError(f"ballot grade {grade!r} is not in the form")
            tally[(sid, crit, grade)] += 1
    return tally


def _appraisal(rnd: _Round) -> dict[str, Any]:
    form = rnd.form
    criteria = [c["key"] for c in form["criteria"]]
    grades = [g["key"] for g in form["grades"]]
    abstain = {g["key"] for g in form["grades"] if g.get("abstain")}
    points = {g["key"]: exact(g["points"]) for g in form["grades"] if not g.get("abstain")}
    basis = [c["key"] for c in form["criteria"] if c.get("overall")]
    if not basis:
        basis = criteria
        rnd.note("测评表未指定总体评价指标，综合得分按全部指标计算")

    per_cat: dict[int, Counter[tuple[str, str, str]]] = {}
    for cid, answers in rnd.ballots.items():
        per_cat[cid] = Counter()
        for a in answers:
            per_cat[cid].update(_appraisal_tally(rnd, a))

    def pooled(ids: Iterable[int]) -> Counter[tuple[str, str, str]]:
        out: Counter[tuple[str, str, str]] = Counter()
        for cid in ids:
            out.update(per_cat[cid])
        return out

    def basis_sum(tally: Counter[tuple[str, str, str]], sid: str) -> tuple[Fraction, int]:
        total, n = Fraction(0), 0
        for crit in basis:
            for g, p in points.items():
                count = tally[(sid, crit, g)]
                total += count * p
                n += count
        return total, n

    def pooled_score(tally: Counter[tuple[str, str, str]], sid: str) -> Fraction | None:
        total, n = basis_sum(tally, sid)
        return total / n if n else None

    def criteria_rows(tally: Counter[tuple[str, str, str]], sid: str) -> list[dict[str, Any]]:
        rows = []
        for crit in criteria:
            counts = {g: tally[(sid, crit, g)] for g in grades}
            answered = sum(n for g, n in counts.items() if g not in abstain)
            rows.append({
                "key": crit,
                "answered": answered,
                "abstained": sum(n for g, n in counts.items() if g in abstain),
                "grades": [{"key": g, "count": counts[g],
                            "rate_pct": None if g in abstain else pct(counts[g], answered)}
                           for g in grades],
            })
        return rows

    def share(rule: Mapping[str, Any], tally: Counter[tuple[str, str, str]], sid: str
              ) -> Fraction | None:
        crits = [rule["criterion"]] if "criterion" in rule else basis
        hit = sum(tally[(sid, c, g)] for c in crits for g in rule["grades"])
        answered = sum(tally[(sid, c, g)] for c in crits for g in points)
        return Fraction(hit, answered) if answered else None

    def share_flag(rule: Mapping[str, Any], tally: Counter[tuple[str, str, str]], sid: str
                   ) -> bool:
        s = share(rule, tally, sid)
        if s is None:
            return False
        if "share_above" in rule:
            return s > exact(rule["share_above"])
        return s >= exact(rule["share_at_least"])

    total = pooled(per_cat)
    units = [(pooled(ids), w) for ids, w in rnd.units()]
    scores: dict[int, Fraction | None] = {}
    for sid in rnd.subject_ids:
        if rnd.weighted:
            num = den = Fraction(0)
            for tally, w in units:
                s, n = basis_sum(tally, str(sid))
                if n:
                    num += w * s / n
                    den += w
            scores[sid] = num / den if den else None
        else:
            scores[sid] = pooled_score(total, str(sid))
    ranks = competition_ranks(_shown(scores))
    flag_rules = _flag_rules(rnd, SHARE_TESTS + SCORE_TESTS)

    subjects = []
    for s in rnd.subjects:
        sid = s["id"]
        flags = [r["label"] for r in flag_rules
                 if (_score_flag(r, scores[sid]) if "score_below" in r
                     else share_flag(r, total, str(sid)))]
        subjects.append({**s, "score": round2(scores[sid]), "rank": ranks[sid],
                         "score_answers": basis_sum(total, str(sid))[1], "flags": flags,
                         "criteria": criteria_rows(total, str(sid))})
    by_category = []
    for g in rnd.plan.groups:
        tally = pooled(g.category_ids)
        by_category.append({
            **g.head(), "ballots": rnd.size(g.category_ids),
            "subjects": [{"id": s["id"], "score": round2(pooled_score(tally, str(s["id"]))),
                          "criteria": criteria_rows(tally, str(s["id"]))}
                         for s in rnd.subjects],
        })
    return {
        "valid_ballots": rnd.size(per_cat),
        "weighted": rnd.weighted,
        "score_criteria": basis,
        "criteria": [{"key": c["key"], "label": c["label"], "overall": bool(c.get("overall"))}
                     for c in form["criteria"]],
        "grades": [{"key": g["key"], "label": g["label"], "abstain": g["key"] in abstain,
                    "points": g.get("points")}
                   for g in form["grades"]],
        "subjects": subjects,
        "order": _order(rnd.subject_ids, ranks),
        "by_category": by_category,
    }


# --------------------------------------------------------------------------- recommendation


def _places(rnd: _Round) -> int:
    return rnd.rules.places or int(rnd.form["max_choices"])


def _recommendation(rnd: _Round) -> dict[str, Any]:
    """得票, 得票率 over valid ballots, threshold, and who is selected for the places.

    Candidates with equal votes that straddle the last place are reported as a
    tie for the organizer to resolve (e.g. by a run-off), never broken here.
    """
    candidates = set(rnd.subject_ids)
    per_cat: dict[int, Counter[int]] = {}
    for cid, answers in rnd.ballots.items():
        per_cat[cid] = Counter()
        for a in answers:
            choices = a["choices"]
            if not set(choices) <= candidates or len(set(choices)) != len(choices):
                raise ValueError(f"ballot choices {choices!r} do not fit the candidates")
            per_cat[cid].update(choices)
    _flag_rules(rnd, ())
    valid = rnd.size(per_cat)
    votes: Counter[int] = Counter()
    for c in per_cat.values():
        votes.update(c)
    threshold = exact(rnd.rules.recommend_threshold)
    places = _places(rnd)
    ranks = competition_ranks({sid: votes[sid] for sid in rnd.subject_ids})
    passes = {sid: valid > 0 and Fraction(votes[sid], valid) > threshold
              for sid in rnd.subject_ids}
    at_threshold = [sid for sid in rnd.subject_ids
                    if votes[sid] and Fraction(votes[sid], valid) == threshold]

    qualified = sorted((sid for sid in rnd.subject_ids if passes[sid]),
                       key=lambda sid: -votes[sid])
    ties: list[dict[str, Any]] = []
    if len(qualified) <= places:
        selected = qualified
    else:
        cut = votes[qualified[places - 1]]
        above = [sid for sid in qualified if votes[sid] > cut]
        level = [sid for sid in qualified if votes[sid] == cut]
        if len(above) + len(level) == places:
            selected = above + level
        else:
            selected = above
            ties.append({"votes": cut, "vote_pct": pct(cut, valid), "rank": ranks[level[0]],
                         "candidates": level, "places_left": places - len(above)})
            rnd.note(f"第{ranks[level[0]]}名有{len(level)}人得票相同（{cut}票），"
                     f"争{places - len(above)}个名额，需另行确定")
    if at_threshold:
        rnd.note(f"有{len(at_threshold)}人得票率恰好等于"
                 f"{fraction_words(rnd.rules.recommend_threshold)}，"
                 "未超过规定比例，不计入")
    tied = {sid for t in ties for sid in t["candidates"]}

    def status(sid: int) -> str:
        if not passes[sid]:
            return "below_threshold"
        return "selected" if sid in selected else "tie" if sid in tied else "not_selected"

    return {
        "valid_ballots": valid,
        "places": places,
        "threshold_pct": round2(threshold * 100),
        "candidates": [{**s, "votes": votes[s["id"]], "vote_pct": pct(votes[s["id"]], valid),
                        "rank": ranks[s["id"]], "passes_threshold": passes[s["id"]],
                        "status": status(s["id"])} for s in rnd.subjects],
        "order": _order(rnd.subject_ids, ranks),
        "selected": [sid for sid in _order(rnd.subject_ids, ranks) if sid in selected],
        "ties": ties,
        "at_threshold": at_threshold,
        "by_category": [
            {**g.head(), "ballots": rnd.size(g.category_ids),
             "candidates": [{"id": sid,
                             "votes": sum(per_cat[c][sid] for c in g.category_ids)}
                            for sid in rnd.subject_ids]}
            for g in rnd.plan.groups
        ],
    }


# --------------------------------------------------------------------------- scoring


def _trim(values: list[Fraction], n: int) -> tuple[list[Fraction], bool]:
    """The scores kept after dropping the n highest and n lowest, and whether the
    trim happened (not when there are fewer than 2n+1 scores to trim)."""
    if n == 0 or not values:
        return values, False
    if len(values) < 2 * n + 1:
        return values, False
    return sorted(values)[n:-n], True


def _scoring(rnd: _Round) -> dict[str, Any]:
    form = rnd.form
    items = form["items"]
    keys = [i["key"] for i in items]
    item_weight = {i["key"]: exact(i.get("weight", 1)) for i in items}
    scale = 10 ** int(form.get("decimals", 0))
    n = rnd.rules.trim
    sids = [str(s) for s in rnd.subject_ids]

    def value(v: Any) -> Fraction:
        # The same integer the live tally adds up (answers.tally_fields), so exact.
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise ValueError(f"score {v!r} is not a number")
        return Fraction(round(v * scale), scale)

    per_cat: dict[int, dict[tuple[str, str], list[Fraction]]] = {}
    for cid, answers in rnd.ballots.items():
        scores: dict[tuple[str, str], list[Fraction]] = {(s, k): [] for s in sids for k in keys}
        for a in answers:
            extra = set(a) - set(sids)
            if extra:
                raise ValueError(f"ballot scores unknown subjects {sorted(extra)}")
            for sid, row in a.items():
                for key in keys:
                    if row.get(key) is not None:
                        scores[(sid, key)].append(value(row[key]))
        per_cat[cid] = scores

    def pooled(ids: Iterable[int], cell: tuple[str, str]) -> list[Fraction]:
        return [v for cid in ids for v in per_cat[cid][cell]]

    short = False  # some set had too few scores to trim

    def trimmed(values: list[Fraction]) -> tuple[list[Fraction], bool]:
        nonlocal short
        kept, done = _trim(values, n)
        if n and values and not done:
            short = True
        return kept, done

    def item_mean(cell: tuple[str, str]) -> tuple[Fraction | None, bool]:
        if rnd.trim_scope == "overall":
            kept, done = trimmed(pooled(per_cat, cell))
            return _mean(kept), done
        parts = [(w, *trimmed(pooled(ids, cell))) for ids, w in rnd.units()]
        parts = [p for p in parts if p[1]]
        all_done = bool(parts) and all(done for _, _, done in parts)
        if rnd.weighted:
            den = sum((w for w, _, _ in parts), Fraction(0))
            num = sum((w * (_mean(kept) or 0) for w, kept, _ in parts), Fraction(0))
            return (num / den if den else None), all_done
        return _mean([v for _, kept, _ in parts for v in kept]), all_done

    def total_of(means: Mapping[str, Fraction | None]) -> Fraction | None:
        if any(m is None for m in means.values()):
            return None
        return sum((m * item_weight[k] for k, m in means.items() if m is not None), Fraction(0))

    totals: dict[int, Fraction | None] = {}
    rows: dict[int, list[dict[str, Any]]] = {}
    for sid in rnd.subject_ids:
        means: dict[str, Fraction | None] = {}
        rows[sid] = []
        for key in keys:
            mean, done = item_mean((str(sid), key))
            means[key] = mean
            rows[sid].append({"key": key, "mean": round2(mean), "trimmed": done})
        totals[sid] = total_of(means)
    ranks = competition_ranks(_shown(totals))
    flag_rules = _flag_rules(rnd, SCORE_TESTS)

    by_category = []
    for g in rnd.plan.groups:
        group_rows = []
        for sid in rnd.subject_ids:
            means = {k: _mean(trimmed(pooled(g.category_ids, (str(sid), k)))[0]) for k in keys}
            group_rows.append({"id": sid, "total": round2(total_of(means)),
                               "items": [{"key": k, "mean": round2(m)}
                                         for k, m in means.items()]})
        by_category.append({**g.head(), "ballots": rnd.size(g.category_ids),
                            "subjects": group_rows})
    if short:
        rnd.note(f"评分人数少于{2 * n + 1}人的，未去掉最高分和最低分")

    return {
        "valid_ballots": rnd.size(per_cat),
        "weighted": rnd.weighted,
        "trim": n,
        "trim_scope": rnd.trim_scope,
        "items": [{"key": i["key"], "label": i["label"], "max": i["max"],
                   "weight": i.get("weight", 1)} for i in items],
        "subjects": [{**s, "total": round2(totals[s["id"]]), "rank": ranks[s["id"]],
                      "flags": [r["label"] for r in flag_rules
                                if _score_flag(r, totals[s["id"]])],
                      "items": rows[s["id"]]} for s in rnd.subjects],
        "order": _order(rnd.subject_ids, ranks),
        "by_category": by_category,
    }
