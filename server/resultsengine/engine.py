"""Turn a round's ballots into its results: pure functions over plain data.

The close-time freeze, the views and the exports all take their figures from
`compute_results`; every per-category figure in its output has gone through
`apply_k_anonymity`, so nothing downstream can show a voter category of fewer
than k ballots (`k_violations` is the last check before anything leaves).

Everything is computed exactly with `Fraction`; numbers are rounded (half away
from zero, 四舍五入) to 2 decimals only when written out, and rankings,
thresholds and ties compare the exact values. Rates are percentages (`*_pct`).

Every figure is a function of how many ballots each category has and how many of
them hold each single answer (a *cell*: a grade, a score, a chosen candidate), so
the engine works from those counts (`CountedBallots`), never from the ballots one
by one: the close counts 100,000 stored ballots once (server/voting/digest.py) and
`compute_counted_results` takes the counts; `compute_results` counts a list of
ballots first. A trimmed mean drops the n lowest and n highest scores from a
histogram (each score with how often it was given), which is what slicing the
sorted list of scores does.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Any, TypeVar, cast

from server.resultsengine import levels
from server.resultsengine.config import (
    COMPARES,
    SCORE_TESTS,
    SHARE_TESTS,
    ResultRules,
    compare,
    fraction_of,
    fraction_words,
)

OTHER = "其他"
TOTAL = "*"  # the cell key of a scoring row's weighted total (item keys are [a-z0-9_])
COUNT_FIELDS = ("ballots", "cast", "valid")  # group sizes that k-anonymity bounds

Key = TypeVar("Key", bound=Hashable)
Answers = Mapping[str, Any]
# One answer on one ballot: (subject id as str, criterion key, grade) on appraisal forms,
# (subject id as str, item key, exact score) on scoring forms, a chosen candidate id on
# recommendation forms.
Cell = Hashable
Triple = tuple[str, str, Any]  # a Cell of an appraisal or scoring form
Scores = Counter[Fraction]  # a histogram: each score given, and how many times


def k_note(k: int) -> str:
    return f"人数少于{k}人的类别已合并或隐藏"


def appraisal_sections(form: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """An appraisal form's sections, each {key, label, criteria, grades}; a form written
    without `sections` is one section of its top-level criteria and grades."""
    sections = form.get("sections")
    if sections:
        return list(sections)
    return [{"key": "main", "label": "", "criteria": form["criteria"], "grades": form["grades"]}]


def result_sections(appraisal: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The parts of an appraisal result to draw, each shaped like a one-section result:
    its `sections` on a form of several sections (each with its key and label), else
    the result itself."""
    return list(appraisal.get("sections") or [appraisal])


# --------------------------------------------------------------------------- numbers


def exact(value: Any) -> Fraction:
    """A configured number as the decimal it was written as (0.3 is 3/10, not a binary
    float); "2/3", "50%" and decimal strings are exact too (config.fraction_of)."""
    return fraction_of(value)


def shown(value: Fraction | None) -> Fraction | None:
    """The value as shown, exactly: rounded half away from zero (四舍五入) to 2 decimals."""
    if value is None:
        return None
    cents = math.floor(abs(value) * 100 + Fraction(1, 2))
    return Fraction(-cents if value < 0 else cents, 100)


def round2(value: Fraction | None) -> float | None:
    """Round half away from zero (四舍五入) to 2 decimals, from the exact value."""
    value = shown(value)
    return None if value is None else float(value)


def pct(part: Fraction | int, whole: Fraction | int) -> float | None:
    return round2(Fraction(part) * 100 / whole) if whole else None


def _mean(scores: Scores) -> Fraction | None:
    """The mean of the scores in a histogram (None when it is empty)."""
    n = sum(scores.values())
    return sum((v * c for v, c in scores.items()), Fraction(0)) / n if n else None


def competition_ranks(values: Mapping[Key, Fraction | int | None]) -> dict[Key, int | None]:
    """Highest first, "1224" style: equal exact values share a rank; None stays unranked."""
    first: dict[Fraction | int, int] = {}
    for i, v in enumerate(sorted((v for v in values.values() if v is not None), reverse=True)):
        first.setdefault(v, i + 1)
    return {key: None if v is None else first[v] for key, v in values.items()}


def shown_ranks(values: Mapping[Key, Fraction | None]) -> dict[Key, int | None]:
    """Ranks by the value people see (rounded to 2 decimals): 78.63, 78.63, 78.63 share
    a rank (并列) even when their exact values differ, and the next is ranked after all
    of them ("1224" style)."""
    return competition_ranks({key: shown(v) for key, v in values.items()})


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
    # weighted rounds (official_plan): the hidden categories pooled, for the validity
    # table only (its counts follow from the totals anyway); and whether the subjects'
    # vote counts must be withheld because they would reveal a small category's mean
    pooled: CategoryGroup | None = None
    counts_hidden: bool = False

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


Answered = Sequence[Mapping[int, int]]  # per subject (and item): answers per category


def _derivable(small: int, hidden: Sequence[int], answered: Answered,
               weight: Mapping[int, Fraction], raw_totals: bool) -> bool:
    """Whether a hidden small category's mean follows from what a weighted round shows.

    Shown are the composite (Σ w_c·mean_c / Σ w_c) and the rows of the categories not
    hidden; on appraisal forms also the vote counts over all categories (raw totals).
    Subtracting the shown rows leaves, over the hidden set H, Σ w_c·mean_c (and with
    raw totals Σ n_c·mean_c, n_c answers). Taking every n_c as known, the small
    category's mean is determined exactly when the rest of H cannot absorb it: no
    other hidden category answered, or (with raw totals) all that did have the same
    w_c / n_c, which makes the two sums one equation in the small mean. Checked for
    every subject (and item), since n_c differs between them.
    """
    for row in answered:
        if not row.get(small):
            continue
        others = [c for c in hidden if c != small and row.get(c)]
        ratios = {weight[c] / row[c] for c in others}
        if len(ratios) < (2 if raw_totals else 1):
            return True
    return False


def official_plan(
    categories: Sequence[Mapping[str, Any]],
    sizes: Mapping[int, int | Sequence[int]],
    k: int,
    weights: Mapping[int, Fraction],
    answered: Answered,
    raw_totals: bool,
) -> KPlan:
    """k-anonymity for a round weighted by category: hide, never merge or reweigh.

    The composite always uses every category's official weight on its own mean. A
    category of 1..k-1 ballots has no breakdown row, and neither has any shown
    category whose row would let the small one's mean be solved from the composite
    and totals (`_derivable`): the smallest shown categories are hidden with it until
    none can. If even hiding every category does not suffice (an appraisal of two
    categories: the vote counts over all and the weighted composite give two
    equations in two means), the subjects' vote counts are withheld as well.
    """
    ids = [int(c["id"]) for c in categories]
    names = {int(c["id"]): str(c["name"]) for c in categories}
    width = max((1 if isinstance(s, int) else len(s) for s in sizes.values()), default=1)

    def counts(cid: int) -> tuple[int, ...]:
        s = sizes.get(cid, 0)
        return (s,) * width if isinstance(s, int) else tuple(s)

    smalls = [c for c in ids if any(0 < n < k for n in counts(c))]
    if not smalls:
        return KPlan(k, tuple(CategoryGroup(names[c], (c,), (names[c],), False) for c in ids),
                     (), None)
    hidden = list(smalls)
    shown_ids = [c for c in ids if c not in hidden]
    counts_hidden = False

    def small_pool() -> bool:  # the validity table's remainder follows from its total
        return any(0 < sum(col) < k for col in zip(*(counts(c) for c in hidden), strict=True))

    while small_pool() or any(_derivable(c, hidden, answered, weights, raw_totals)
                              for c in smalls):
        with_ballots = [c for c in shown_ids if any(counts(c))]
        if not with_ballots:
            counts_hidden = raw_totals and not small_pool()
            break
        pick = min(with_ballots, key=lambda c: (counts(c), ids.index(c)))
        hidden.append(pick)
        shown_ids.remove(pick)
    hidden.sort(key=ids.index)
    pool_sizes = [sum(col) for col in zip(*(counts(c) for c in hidden), strict=True)]
    pooled = None
    if not any(0 < n < k for n in pool_sizes):
        name = OTHER if OTHER not in {names[c] for c in shown_ids} else f"{OTHER}（合并）"
        pooled = CategoryGroup(name, tuple(hidden), tuple(names[c] for c in hidden), True)
    return KPlan(k, tuple(CategoryGroup(names[c], (c,), (names[c],), False) for c in shown_ids),
                 tuple(hidden), k_note(k), pooled, counts_hidden)


def k_warnings(categories: Sequence[Mapping[str, Any]], k: int, weighted: bool,
               kind: str) -> list[str]:
    """What building a round with these categories means for k-anonymity, in Chinese:
    which categories are expected to have fewer than k voters (`expected_count`) and
    what will be hidden or merged, assuming everyone expected votes."""
    cats: list[dict[str, Any]] = [
        {"id": i, "name": str(c["name"]), "n": int(c.get("expected_count") or 0),
         "w": exact(c.get("weight", 1))} for i, c in enumerate(categories)]
    small = [c for c in cats if 0 < c["n"] < k]
    if not small:
        return []
    names = "、".join(f"“{c['name']}”（应到 {c['n']} 人）" for c in small)
    out = [f"参评类别 {names} 少于 {k} 人，其分类结果不单独显示"]
    sizes = {c["id"]: c["n"] for c in cats}
    plain = [{"id": c["id"], "name": c["name"]} for c in cats]
    if weighted and kind != "recommendation":
        plan = official_plan(plain, sizes, k, {c["id"]: c["w"] for c in cats},
                             [{c["id"]: c["n"] for c in cats}], kind == "appraisal")
        total = sum(c["w"] for c in cats) or 1
        out.append("综合得分仍按规定权重计算（" + "、".join(
            f"{c['name']} {fraction_words(c['w'] / total)}" for c in small) + "）")
        more = [names_ for names_ in (c["name"] for c in cats if c["id"] in plan.hidden)
                if names_ not in {c["name"] for c in small}]
        if more:
            out.append("为防止由综合得分推算出人数少的类别的得分，“" + "”“".join(more)
                       + "”的分类结果也不单独显示")
        if plan.counts_hidden:
            out.append("各对象的等次票数和比例也不予显示（仅显示综合得分和考核等次），"
                       "否则可由合计票数和综合得分推算出人数少的类别的得分")
    else:
        plan = apply_k_anonymity(plain, sizes, k)
        merged = [g for g in plan.groups if g.merged]
        if merged:
            out.append("分类结果中与“" + "”“".join(merged[0].category_names)
                       + f"”合并为“{merged[0].name}”显示")
        elif plan.hidden:
            out.append("全部参评人数少于 k，不显示分类结果")
    return out


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


@dataclass(frozen=True)
class CountedBallots:
    """A category's valid ballots, counted: how many, and how many hold each cell."""

    ballots: int = 0
    cells: Counter[Cell] = field(default_factory=Counter)


@dataclass
class _Round:
    form: Mapping[str, Any]
    subjects: list[dict[str, Any]]
    categories: list[_Category]
    counted: dict[int, CountedBallots]  # valid ballots by category id
    invalid: dict[int, int]
    rules: ResultRules
    plan: KPlan
    weighted: bool
    trim_scope: str
    notes: list[str]
    section_of: dict[int, str] = field(default_factory=dict)  # subject id -> section key
    paper: dict[int, tuple[int, int]] = field(default_factory=dict)  # (valid, invalid) sheets

    @property
    def subject_ids(self) -> list[int]:
        return [s["id"] for s in self.subjects]

    def weight(self, ids: Iterable[int]) -> Fraction:
        by_id = {c.id: c.weight for c in self.categories}
        return sum((by_id[c] for c in ids), Fraction(0))

    def units(self) -> list[tuple[tuple[int, ...], Fraction]]:
        """What the composite combines: weighted, every category on its own at its
        official weight (official_plan hides what could reveal a small one);
        unweighted, the k-safe pools (trimming within each, trim_scope category)."""
        if self.weighted:
            return [((c.id,), c.weight) for c in self.categories]
        return [(p, self.weight(p)) for p in self.plan.pools()]

    def size(self, ids: Iterable[int]) -> int:
        return sum(self.counted[c].ballots for c in ids)

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)


# --------------------------------------------------------------------------- cells


class Cells:
    """Turns a round's checked answers into cells, one per answer on a ballot.

    Raises ValueError for answers that do not fit the round: they were checked
    against the form when cast (answers.check_answers), so that would be a bug.
    """

    def __init__(self, form: Mapping[str, Any], subject_ids: Iterable[int]) -> None:
        self.kind = form["kind"]
        self.subject_ids = {int(s) for s in subject_ids}
        self.sids = {str(s) for s in self.subject_ids}
        if self.kind == "appraisal":  # every section's criteria and grades (rows are
            # checked against their subject's section when cast and when counted)
            sections = appraisal_sections(form)
            self.keys = list(dict.fromkeys(c["key"] for s in sections for c in s["criteria"]))
            self.grades = {g["key"] for s in sections for g in s["grades"]}
        elif self.kind == "scoring":
            self.keys = [i["key"] for i in form["items"]]
            self.item_weight = {i["key"]: exact(i.get("weight", 1)) for i in form["items"]}
            self.scale = 10 ** int(form.get("decimals", 0))
        elif self.kind != "recommendation":
            raise ValueError(f"unknown form kind {self.kind!r}")

    def row(self, row: Answers) -> list[tuple[str, Any]]:
        """(criterion, grade) or (item, exact score) for each answer of one subject's
        row of an appraisal or scoring ballot, in form order; a scoring row that scores
        every item also gives (TOTAL, its weighted total), which trimming by total
        (去掉一个最高分、一个最低分 of the scorers' totals) needs."""
        out: list[tuple[str, Any]] = []
        for key in self.keys:
            value = row.get(key)
            if value is not None:
                out.append((key, self._grade(value) if self.kind == "appraisal"
                            else self._score(value)))
        if self.kind == "scoring" and out and len(out) == len(self.keys):
            out.append((TOTAL, sum((self.item_weight[k] * v for k, v in out), Fraction(0))))
        return out

    def ballot(self, answers: Answers) -> list[Cell]:
        if self.kind == "recommendation":
            choices = answers["choices"]
            if not set(choices) <= self.subject_ids or len(set(choices)) != len(choices):
                raise ValueError(f"ballot choices {choices!r} do not fit the candidates")
            return list(choices)
        extra = set(answers) - self.sids
        if extra:
            verb = "answers" if self.kind == "appraisal" else "scores"
            raise ValueError(f"ballot {verb} unknown subjects {sorted(extra)}")
        return [(sid, key, value) for sid, row in answers.items()
                for key, value in self.row(row)]

    def _grade(self, grade: Any) -> str:
        if grade not in self.grades:
            raise ValueError(f"ballot grade {grade!r} is not in the form")
        return str(grade)

    def _score(self, v: Any) -> Fraction:
        # The same integer the live tally adds up (answers.tally_fields), so exact.
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise ValueError(f"score {v!r} is not a number")
        return Fraction(round(v * self.scale), self.scale)


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
    _check_decisions(rules, form)
    if form["kind"] == "appraisal":
        sections = appraisal_sections(form)
        for i, rule in enumerate(rules.flags):
            misfits = [_misfit(rule, s) for s in sections]
            if all(misfits):
                if len(sections) == 1:
                    raise ValueError(f"flags[{i}]: {misfits[0]}")
                raise ValueError(f"flags[{i}]: fits no section ("
                                 + "; ".join(f"{s['key']}: {m}" for s, m
                                             in zip(sections, misfits, strict=True)) + ")")
    return weighted, scope


def _scale(section: Mapping[str, Any]) -> tuple[list[dict[str, Any]], set[str]]:
    """A section's rates and graded grade keys."""
    return (levels.rate_defs(section["grades"]),
            {g["key"] for g in section["grades"] if not g.get("abstain")})


def section_decisions(rules: ResultRules, form: Mapping[str, Any],
                      section: Mapping[str, Any] | None
                      ) -> tuple[tuple[dict[str, Any], ...], tuple[dict[str, Any], ...]]:
    """The level rules and vetoes that apply to a section (None: a scoring form): a
    list of levels applies where all its conditions can be asked, a table by section
    to its section; a veto wherever its conditions can be asked."""
    flags = {f["label"] for f in rules.flags}
    defs, grades = _scale(section) if section is not None else (None, set())
    written = rules.levels_for(section["key"] if section is not None else None) or ()
    fit_levels = written if levels.rules_misfit(written, defs, grades, flags) is None else ()
    fit_vetoes = tuple(v for v in rules.vetoes
                       if levels.rules_misfit([v], defs, grades, flags) is None)
    return tuple(fit_levels), fit_vetoes


def _check_decisions(rules: ResultRules, form: Mapping[str, Any]) -> None:
    """Levels and vetoes must be askable: on some section (a table of levels by section:
    on its own section), on a scoring form only of scores and flags."""
    kind = form["kind"]
    if kind == "recommendation":
        if rules.levels or rules.vetoes:
            raise ValueError("levels and vetoes do not apply to recommendation forms")
        return
    flags = {f["label"] for f in rules.flags}
    scales: dict[str | None, tuple[list[dict[str, Any]] | None, set[str]]] = (
        {s["key"]: _scale(s) for s in appraisal_sections(form)} if kind == "appraisal"
        else {None: (None, set())})
    if isinstance(rules.levels, Mapping):
        for key, written in rules.levels.items():
            if key not in scales:
                raise ValueError(f"levels.{key}: no such section")
            why = levels.rules_misfit(written, *scales[key], flags)
            if why:
                raise ValueError(f"levels.{key}: {why}")
    elif rules.levels:
        whys = [levels.rules_misfit(rules.levels, *sc, flags) for sc in scales.values()]
        if all(whys):
            raise ValueError(f"levels: {whys[0]}")
    for i, veto in enumerate(rules.vetoes):
        whys = [levels.rules_misfit([veto], *sc, flags) for sc in scales.values()]
        if all(whys):
            raise ValueError(f"vetoes[{i}]: {whys[0]}")
    forced = {v["level"] for v in rules.vetoes if v.get("level")}
    written = (list(rules.levels.values()) if isinstance(rules.levels, Mapping)
               else [rules.levels])
    names = {r["level"] for lv in written for r in lv}
    if names and forced - names:
        raise ValueError(f"vetoes: level {sorted(forced - names)[0]!r} is not one of the levels")


def _misfit(rule: Mapping[str, Any], section: Mapping[str, Any]) -> str | None:
    """Why a flag rule cannot be tested on a section's subjects, or None when it can
    (a grade-share rule needs its grades on the section's scale, graded, and its
    criterion among the section's; a score rule fits every section)."""
    grades = {g["key"]: bool(g.get("abstain")) for g in section["grades"]}
    for g in rule.get("grades", ()):
        if g not in grades or grades[g]:
            return f"{g!r} is not a graded (non-abstain) grade"
    if "criterion" in rule and rule["criterion"] not in {c["key"] for c in section["criteria"]}:
        return f"unknown criterion {rule['criterion']!r}"
    return None


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
    cats = _categories(categories)
    reader = Cells(form, [int(s["id"]) for s in subjects])
    sizes: Counter[int] = Counter()
    cells: dict[int, Counter[Cell]] = {c.id: Counter() for c in cats}
    for cid, answers in ballots:
        if cid not in cells:
            raise ValueError(f"ballot in unknown category {cid}")
        sizes[cid] += 1
        cells[cid].update(reader.ballot(answers))
    counted = {cid: CountedBallots(sizes[cid], c) for cid, c in cells.items()}
    return compute_counted_results(form, subjects, categories, counted, invalid, rules)


def _sections_of(form: Mapping[str, Any], subjects: Sequence[Mapping[str, Any]]
                 ) -> dict[int, str]:
    """Each subject's section key on an appraisal form of several sections, empty
    otherwise: the subject's `section`, else the bound form's map (forms/sections.py),
    else, as the ballot path reads it, the first section."""
    if form["kind"] != "appraisal" or len(appraisal_sections(form)) < 2:
        return {}
    keys = [s["key"] for s in appraisal_sections(form)]
    bound = form.get("subject_sections") or {}
    out = {}
    for s in subjects:
        key = next((k for k in (s.get("section"), bound.get(str(s["id"]))) if k in keys),
                   keys[0])
        out[int(s["id"])] = str(key)
    return out


def _answered(form: Mapping[str, Any], section_of: Mapping[int, str],
              counted: Mapping[int, CountedBallots], subjects: Sequence[Mapping[str, Any]]
              ) -> list[dict[int, int]]:
    """Answers per category that each composite figure averages: per subject the
    graded answers on its section's overall criteria (appraisal), per subject and
    item (and total) the scores (scoring). For official_plan."""
    rows: dict[tuple[str, str], dict[int, int]] = {}
    if form["kind"] == "appraisal":
        by_key = {s["key"]: s for s in appraisal_sections(form)}
        first = next(iter(by_key.values()))

        def basis(sid: str) -> tuple[set[str], set[str]]:
            sec = by_key.get(section_of.get(int(sid), ""), first)
            crits = {c["key"] for c in sec["criteria"] if c.get("overall")} or {
                c["key"] for c in sec["criteria"]}
            return crits, {g["key"] for g in sec["grades"] if not g.get("abstain")}

        cache: dict[str, tuple[set[str], set[str]]] = {}
        for cid, c in counted.items():
            for cell, n in c.cells.items():
                sid, crit, grade = cast(Triple, cell)
                crits, graded = cache.setdefault(sid, basis(sid))
                if crit in crits and grade in graded:
                    row = rows.setdefault((sid, ""), {})
                    row[cid] = row.get(cid, 0) + n
    else:
        for cid, c in counted.items():
            for cell, n in c.cells.items():
                triple = cast(Triple, cell)
                row = rows.setdefault((triple[0], triple[1]), {})
                row[cid] = row.get(cid, 0) + n
    return list(rows.values())


def _is_count(n: Any, low: int) -> bool:
    return isinstance(n, int) and not isinstance(n, bool) and n >= low


def compute_counted_results(
    form: Mapping[str, Any],
    subjects: Sequence[Mapping[str, Any]],
    categories: Sequence[Mapping[str, Any]],
    counted: Mapping[int, CountedBallots],
    invalid: Mapping[int, int] | None = None,
    rules: ResultRules | None = None,
    paper: Mapping[int, tuple[int, int]] | None = None,
) -> dict[str, Any]:
    """compute_results over valid ballots already counted per category (their cells
    made by `Cells`); the same output as for the ballots themselves. `paper` is the
    share of paper ballots in those counts, (valid, invalid) per category, which the
    validity table shows apart from the electronic ones."""
    rules = rules or ResultRules()
    cats = _categories(categories)
    by_cat = {c.id: CountedBallots() for c in cats}
    for cid, count in counted.items():
        if cid not in by_cat:
            raise ValueError(f"ballot in unknown category {cid}")
        if not _is_count(count.ballots, 0):
            raise ValueError(f"ballot count of category {cid} must be an integer >= 0")
        if not all(_is_count(n, 1) for n in count.cells.values()):
            raise ValueError(f"cell counts of category {cid} must be integers > 0")
        by_cat[cid] = count
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
    section_of = _sections_of(form, subjects)
    sizes = {c.id: (by_cat[c.id].ballots + spoilt[c.id], by_cat[c.id].ballots) for c in cats}
    plain = [{"id": c.id, "name": c.name} for c in cats]
    if weighted and form["kind"] != "recommendation":
        plan = official_plan(plain, sizes, rules.k, {c.id: c.weight for c in cats},
                             _answered(form, section_of, by_cat, subs),
                             form["kind"] == "appraisal")
    else:
        plan = apply_k_anonymity(plain, sizes, rules.k)
    rnd = _Round(form, subs, cats, by_cat, spoilt, rules, plan, weighted, scope, [], section_of,
                 dict(paper or {}))
    if plan.note:
        rnd.note(plan.note)
        if weighted and plan.hidden and form["kind"] != "recommendation":
            rnd.note("综合得分按各类别规定的权重计算；人数少的类别及可据以推算其得分的"
                     "分类结果不单独显示")
        if plan.counts_hidden:
            rnd.note("为防止由合计票数和加权综合得分推算出人数少的类别的得分，"
                     "各对象的等次票数和比例不予显示")

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


def _channel(valid: int, invalid: int) -> dict[str, int]:
    return {"cast": valid + invalid, "valid": valid, "invalid": invalid}


def _validity_row(expected: int, cast: int, valid: int,
                  paper: tuple[int, int] = (0, 0)) -> dict[str, Any]:
    """The row, with its electronic and paper ballots apart (`paper`: valid, invalid)."""
    return {"expected": expected, "cast": cast, "valid": valid, "invalid": cast - valid,
            "turnout_pct": pct(cast, expected),
            "electronic": _channel(valid - paper[0], cast - valid - paper[1]),
            "paper": _channel(*paper)}


def _validity(rnd: _Round) -> dict[str, Any]:
    """应到 / 实到 / 有效 / 无效 / 参评率, per category group and in total."""
    def row(ids: Iterable[int]) -> dict[str, Any]:
        ids = list(ids)
        valid = rnd.size(ids)
        cast = valid + sum(rnd.invalid[c] for c in ids)
        expected = sum(c.expected for c in rnd.categories if c.id in ids)
        paper = (sum(rnd.paper.get(c, (0, 0))[0] for c in ids),
                 sum(rnd.paper.get(c, (0, 0))[1] for c in ids))
        return _validity_row(expected, cast, valid, paper)

    total = row(c.id for c in rnd.categories)
    reason = None
    minimum, op = rnd.rules.turnout_rule
    if minimum > 0:
        if total["expected"] == 0:
            reason = "未设置应到人数，无法核算参评率"
        elif not compare(Fraction(total["cast"], total["expected"]), op, minimum):
            reason = (f"参评率 {total['turnout_pct']}%（实到 {total['cast']} / 应到 "
                      f"{total['expected']}）未{COMPARES[op]}应到人数的"
                      f"{fraction_words(rnd.rules.min_turnout)}，结果不能公布")
    groups = [*rnd.plan.groups, *([rnd.plan.pooled] if rnd.plan.pooled else [])]
    return {
        "total": total,
        "by_category": [{**g.head(), **row(g.category_ids)} for g in groups],
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


def _appraisal_tally(rnd: _Round, cells: Counter[Cell]) -> Counter[tuple[str, str, str]]:
    """A category's (subject, criterion, grade) counts, each cell checked."""
    sids = {str(s) for s in rnd.subject_ids}
    grades = {g["key"] for g in rnd.form["grades"]}
    for cell in cells:
        if not (isinstance(cell, tuple) and len(cell) == 3 and cell[0] in sids):
            raise ValueError(f"ballot answers unknown subjects: {cell!r}")
        if cell[2] not in grades:
            raise ValueError(f"ballot grade {cell[2]!r} is not in the form")
    return Counter(cast("Counter[tuple[str, str, str]]", cells))  # each checked above


def _appraisal(rnd: _Round) -> dict[str, Any]:
    """One result on a one-section form; on several sections, each section's result
    over its own subjects (rated on its own criteria and scale, ranked among
    themselves, flagged by the rules that fit it) under `sections`."""
    sections = appraisal_sections(rnd.form)
    if len(sections) < 2:
        return _appraisal_section(rnd)
    sids = {str(s) for s in rnd.subject_ids}
    for c in rnd.counted.values():
        for cell in c.cells:
            if not (isinstance(cell, tuple) and len(cell) == 3 and cell[0] in sids):
                raise ValueError(f"ballot answers unknown subjects: {cell!r}")
    parts = []
    for sec in sections:
        ids = {sid for sid, key in rnd.section_of.items() if key == sec["key"]}
        mine = {str(sid) for sid in ids}
        counted = {cid: CountedBallots(c.ballots, Counter(
            {cell: n for cell, n in c.cells.items() if cast(Triple, cell)[0] in mine}))
            for cid, c in rnd.counted.items()}
        rules = replace(rnd.rules, flags=tuple(
            r for r in rnd.rules.flags if _misfit(r, sec) is None))
        part = replace(rnd, form={"kind": "appraisal", "key": sec["key"],
                                  "criteria": sec["criteria"], "grades": sec["grades"]},
                       subjects=[s for s in rnd.subjects if s["id"] in ids],
                       counted=counted, rules=rules)
        parts.append({"key": sec["key"], "label": sec["label"], **_appraisal_section(part)})
    return {"valid_ballots": rnd.size(rnd.counted), "weighted": rnd.weighted,
            "sections": parts}


def _appraisal_section(rnd: _Round) -> dict[str, Any]:
    form = rnd.form
    criteria = [c["key"] for c in form["criteria"]]
    grades = [g["key"] for g in form["grades"]]
    abstain = {g["key"] for g in form["grades"] if g.get("abstain")}
    points = {g["key"]: exact(g["points"]) for g in form["grades"] if not g.get("abstain")}
    basis = [c["key"] for c in form["criteria"] if c.get("overall")]
    if not basis:
        basis = criteria
        rnd.note("测评表未指定总体评价指标，综合得分按全部指标计算")

    per_cat = {cid: _appraisal_tally(rnd, c.cells) for cid, c in rnd.counted.items()}

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
                part, n = basis_sum(tally, str(sid))
                if n:
                    num += w * part / n
                    den += w
            scores[sid] = num / den if den else None
        else:
            scores[sid] = pooled_score(total, str(sid))
    flag_rules = _flag_rules(rnd, SHARE_TESTS + SCORE_TESTS)
    flags = {s["id"]: [r["label"] for r in flag_rules
                       if (_score_flag(r, scores[s["id"]]) if "score_below" in r
                           else share_flag(r, total, str(s["id"])))]
             for s in rnd.subjects}

    section = {"key": form.get("key", "main"), "grades": form["grades"]}
    defs = levels.rate_defs(form["grades"])
    include = rnd.rules.abstain_rule(section["key"]) == "include"

    def rate_share(sid: str, grade_keys: Sequence[str]) -> Fraction | None:
        hit = sum(total[(sid, c, g)] for c in basis for g in grade_keys)
        base = sum(total[(sid, c, g)] for c in basis
                   for g in (grades if include else points))
        return Fraction(hit, base) if base else None

    def shares_of(sid: str) -> Callable[[Sequence[str]], Fraction | None]:
        return lambda keys: rate_share(sid, keys)

    measures = {s["id"]: levels.Measures(
        share=shares_of(str(s["id"])),
        score=shown(scores[s["id"]]), flags=set(flags[s["id"]]), rates=defs)
        for s in rnd.subjects}
    level_rules, veto_rules = section_decisions(rnd.rules, form, section)
    decided = _decide(rnd, scores, measures, level_rules, veto_rules)
    hide_counts = rnd.plan.counts_hidden

    subjects = []
    for s in rnd.subjects:
        sid = s["id"]
        rows = criteria_rows(total, str(sid))
        if hide_counts:
            rows = [{**r, "answered": None, "abstained": None,
                     "grades": [{**g, "count": None, "rate_pct": None} for g in r["grades"]]}
                    for r in rows]
        rates = [{"key": d["key"], "label": d["label"],
                  "pct": None if hide_counts else _pct_of(rate_share(str(sid), d["grades"]))}
                 for d in defs]
        subjects.append({**s, "score": round2(scores[sid]), **decided[sid],
                         "score_answers": None if hide_counts else basis_sum(total, str(sid))[1],
                         "flags": flags[sid], "rates": rates, "criteria": rows})
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
        "rate_defs": defs,
        "abstain_in_rates": "include" if include else "exclude",
        "counts_hidden": hide_counts,
        "levels": [r["level"] for r in level_rules],
        "subjects": subjects,
        "order": _order(rnd.subject_ids, {s["id"]: s["rank"] for s in subjects}),
        "by_category": by_category,
    }


def _pct_of(value: Fraction | None) -> float | None:
    return None if value is None else round2(value * 100)


def _decide(rnd: _Round, values: Mapping[int, Fraction | None],
            measures: Mapping[int, levels.Measures], level_rules: Sequence[Mapping[str, Any]],
            veto_rules: Sequence[Mapping[str, Any]]) -> dict[int, dict[str, Any]]:
    """rank (by shown value, vetoed subjects left out), level, level_tie and vetoes of
    each subject (see server/resultsengine/levels.py)."""
    hit = {sid: levels.vetoes_of(veto_rules, measures[sid]) for sid in rnd.subject_ids}
    excluded = {sid for sid, vs in hit.items() if any(not v.get("rank") for v in vs)}
    ranks = shown_ranks({sid: None if sid in excluded else v for sid, v in values.items()})
    forced = {sid: next((v["level"] for v in vs if v.get("level")), None)
              for sid, vs in hit.items()}
    shown_values = {sid: shown(v) for sid, v in values.items()}
    level, tie, notes = levels.decide(rnd.subject_ids, ranks, shown_values, measures,
                                      level_rules, forced)
    for note in notes:
        rnd.note(note)
    for sid, vs in hit.items():
        for v in vs:
            rnd.note(f"一票否决：{next(s['name'] for s in rnd.subjects if s['id'] == sid)}"
                     f"（{v['label']}）" + ("" if v.get("rank") else "，不参加排名"))
    return {sid: {"rank": ranks[sid], "level": level[sid] if level_rules or forced[sid]
                  else None, "level_tie": tie[sid],
                  "vetoes": [v["label"] for v in hit[sid]]}
            for sid in rnd.subject_ids}


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
    for cid, c in rnd.counted.items():
        unknown = [choice for choice in c.cells if choice not in candidates]
        if unknown:
            raise ValueError(f"ballot choices {unknown!r} do not fit the candidates")
        per_cat[cid] = Counter(cast("Counter[int]", c.cells))  # candidate ids, checked above
    _flag_rules(rnd, ())
    valid = rnd.size(per_cat)
    votes: Counter[int] = Counter()
    for tally in per_cat.values():
        votes.update(tally)
    threshold, op = rnd.rules.recommend_rule
    places = _places(rnd)
    ranks = competition_ranks({sid: votes[sid] for sid in rnd.subject_ids})
    passes = {sid: valid > 0 and compare(Fraction(votes[sid], valid), op, threshold)
              for sid in rnd.subject_ids}
    at_threshold = [sid for sid in rnd.subject_ids if op == "above"
                    and votes[sid] and Fraction(votes[sid], valid) == threshold]

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
                 f"{fraction_words(rnd.rules.recommend_threshold)}，未超过规定比例，不计入")
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


def _trim(values: Scores, n: int) -> tuple[Scores, bool]:
    """The scores kept after dropping the n highest and n lowest, and whether the
    trim happened (not when there are fewer than 2n+1 scores to trim)."""
    if n == 0 or not values:
        return values, False
    if sum(values.values()) < 2 * n + 1:
        return values, False
    kept = Counter(values)
    for order in (sorted(kept), sorted(kept, reverse=True)):
        left = n
        for v in order:
            dropped = min(left, kept[v])
            kept[v] -= dropped
            left -= dropped
            if not left:
                break
    return +kept, True


def _scores(rnd: _Round, cells: Counter[Cell], keys: list[str]
            ) -> dict[tuple[str, str], Scores]:
    """A category's histogram of scores per (subject, item), each cell checked."""
    scores: dict[tuple[str, str], Scores] = {
        (str(s), k): Counter() for s in rnd.subject_ids for k in keys}
    for cell, count in cells.items():
        if not (isinstance(cell, tuple) and len(cell) == 3 and cell[:2] in scores):
            raise ValueError(f"ballot scores unknown subjects or items: {cell!r}")
        if not isinstance(cell[2], Fraction):
            raise ValueError(f"score {cell[2]!r} is not an exact number")
        scores[cell[:2]][cell[2]] += count
    return scores


def _scoring(rnd: _Round) -> dict[str, Any]:
    """Each item's mean and the weighted total. 去掉最高分和最低分 (trim) drops each
    scorer's highest and lowest weighted totals of a subject (trim_by "total", the
    items' means then over all scores) or each item's (trim_by "item")."""
    form = rnd.form
    items = form["items"]
    keys = [i["key"] for i in items]
    item_weight = {i["key"]: exact(i.get("weight", 1)) for i in items}
    n = rnd.rules.trim
    by_total = rnd.rules.trim_by == "total" and n > 0
    per_cat = {cid: _scores(rnd, c.cells, [*keys, TOTAL]) for cid, c in rnd.counted.items()}

    def pooled(ids: Iterable[int], cell: tuple[str, str]) -> Scores:
        out: Scores = Counter()
        for cid in ids:
            out.update(per_cat[cid][cell])
        return out

    short = False  # some set had too few scores to trim

    def trimmed(values: Scores, trim: int) -> tuple[Scores, bool]:
        nonlocal short
        kept, done = _trim(values, trim)
        if trim and values and not done:
            short = True
        return kept, done

    def mean_of(cell: tuple[str, str], trim: int) -> tuple[Fraction | None, bool]:
        if rnd.trim_scope == "overall":
            kept, done = trimmed(pooled(per_cat, cell), trim)
            return _mean(kept), done
        parts = [(w, *trimmed(pooled(ids, cell), trim)) for ids, w in rnd.units()]
        parts = [p for p in parts if p[1]]
        all_done = bool(parts) and all(done for _, _, done in parts)
        if rnd.weighted:
            den = sum((w for w, _, _ in parts), Fraction(0))
            num = sum((w * (_mean(kept) or 0) for w, kept, _ in parts), Fraction(0))
            return (num / den if den else None), all_done
        return _mean(sum((kept for _, kept, _ in parts), Counter())), all_done

    def total_of(means: Mapping[str, Fraction | None]) -> Fraction | None:
        if any(m is None for m in means.values()):
            return None
        return sum((m * item_weight[k] for k, m in means.items() if m is not None), Fraction(0))

    item_trim = 0 if by_total else n
    totals: dict[int, Fraction | None] = {}
    trimmed_total: dict[int, bool] = {}
    rows: dict[int, list[dict[str, Any]]] = {}
    for sid in rnd.subject_ids:
        means: dict[str, Fraction | None] = {}
        rows[sid] = []
        for key in keys:
            mean, done = mean_of((str(sid), key), item_trim)
            means[key] = mean
            rows[sid].append({"key": key, "mean": round2(mean), "trimmed": done})
        totals[sid] = total_of(means)
        trimmed_total[sid] = False
        if by_total:
            totals[sid], trimmed_total[sid] = mean_of((str(sid), TOTAL), n)
    flag_rules = _flag_rules(rnd, SCORE_TESTS)
    flags = {sid: [r["label"] for r in flag_rules if _score_flag(r, totals[sid])]
             for sid in rnd.subject_ids}
    measures = {sid: levels.Measures(share=lambda _keys: None, score=shown(totals[sid]),
                                     flags=set(flags[sid])) for sid in rnd.subject_ids}
    level_rules, veto_rules = section_decisions(rnd.rules, form, None)
    decided = _decide(rnd, totals, measures, level_rules, veto_rules)

    def group_total(ids: tuple[int, ...], sid: int) -> tuple[Fraction | None, dict[str, Any]]:
        means = {k: _mean(trimmed(pooled(ids, (str(sid), k)), item_trim)[0]) for k in keys}
        total = (_mean(trimmed(pooled(ids, (str(sid), TOTAL)), n)[0]) if by_total
                 else total_of(means))
        return total, means

    by_category = []
    for g in rnd.plan.groups:
        group_rows = []
        for sid in rnd.subject_ids:
            total, means = group_total(g.category_ids, sid)
            group_rows.append({"id": sid, "total": round2(total),
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
        "trim_by": rnd.rules.trim_by,
        "trim_scope": rnd.trim_scope,
        "items": [{"key": i["key"], "label": i["label"], "max": i["max"],
                   "weight": i.get("weight", 1)} for i in items],
        "levels": [r["level"] for r in level_rules],
        "subjects": [{**s, "total": round2(totals[s["id"]]), **decided[s["id"]],
                      "total_trimmed": trimmed_total[s["id"]], "flags": flags[s["id"]],
                      "items": rows[s["id"]]} for s in rnd.subjects],
        "order": _order(rnd.subject_ids, {sid: d["rank"] for sid, d in decided.items()}),
        "by_category": by_category,
    }
