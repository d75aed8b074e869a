"""The rules a round's results are computed by (ResultRules), checked when built.

Rules are plain data so a round can carry them as JSON or TOML; `from_dict`
accepts exactly the field names of `ResultRules` and nothing else.

Thresholds are exact fractions (`fraction_of`): "2/3", "1/3", "50%", a decimal
string "0.5" or a number (a float is the decimal it was written as: 0.6667 stays
0.6667, never becomes 2/3). Each threshold says how it compares: 达到 (at_least,
≥) or 超过 (above, >); a bare value takes the rule's usual comparison
(min_turnout 达到, recommend_threshold 超过), `{"value": "2/3", "compare":
"above"}` says it outright. Values are kept as written, so the rules text can
say 三分之二 where the rule said "2/3".

考核等次 (`levels`) and 一票否决 (`vetoes`) are written in a small rule language
over a subject's measures, see `check_condition`, `check_level`, `check_veto`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any, Literal

TrimScope = Literal["overall", "category"]

SHARE_TESTS = ("share_above", "share_at_least")
SCORE_TESTS = ("score_below",)
FLAG_KEYS = {"label", "grade", "grades", "criterion", *SHARE_TESTS, *SCORE_TESTS}

# How a measure is compared with a threshold, and how the rules text says it.
COMPARES = {"at_least": "达到", "above": "超过", "at_most": "不超过", "below": "低于"}
TRIM_BY = ("total", "item")
ABSTAIN_IN_RATES = ("exclude", "include")
LEVEL_KEYS = {"level", "when", "quota"}
VETO_KEYS = {"label", "when", "level", "rank"}

_FRACTION = re.compile(r"\s*(\d+)\s*/\s*(\d+)\s*")
_PERCENT = re.compile(r"\s*(\d+(?:\.\d+)?)\s*%\s*")
_DECIMAL = re.compile(r"\s*-?\d+(?:\.\d+)?\s*")
_DIGITS = "零一二三四五六七八九十"


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def fraction_of(value: Any) -> Fraction:
    """An exact number from "2/3", "1/3", "50%", "0.5", an int or a float (as written).

    Raises ValueError for anything else (NaN, infinity, bool, 0 denominators)."""
    if isinstance(value, Fraction):
        return value
    if _number(value):
        if not math.isfinite(value):
            raise ValueError(f"not a finite number: {value!r}")
        return Fraction(value) if isinstance(value, int) else Fraction(repr(value))
    if isinstance(value, str):
        if m := _FRACTION.fullmatch(value):
            if int(m[2]) == 0:
                raise ValueError(f"{value!r} divides by zero")
            return Fraction(int(m[1]), int(m[2]))
        if m := _PERCENT.fullmatch(value):
            return Fraction(Decimal(m[1])) / 100
        if _DECIMAL.fullmatch(value):
            try:
                return Fraction(Decimal(value.strip()))
            except InvalidOperation:
                pass
    raise ValueError(f"{value!r} is not a fraction such as \"2/3\", \"50%\" or 0.5")


def fraction_words(value: Any) -> str:
    """A threshold as the rules text says it: "2/3" → 三分之二, "50%" → 50%, 0.6667 → 66.67%."""
    if isinstance(value, Mapping):
        value = value.get("value")
    if isinstance(value, str) and (m := _FRACTION.fullmatch(value)):
        num, den = int(m[1]), int(m[2])
        if 0 < num <= 10 and 0 < den <= 10:
            return f"{_DIGITS[den]}分之{_DIGITS[num]}"
        return f"{num}/{den}"
    exact_value = fraction_of(value) * 100
    return f"{float(exact_value):.2f}".rstrip("0").rstrip(".") + "%"


def threshold_of(rule: Any, default: str) -> tuple[Fraction, str]:
    """(exact value, compare) of a threshold written bare or as {"value", "compare"}."""
    if isinstance(rule, Mapping):
        unknown = set(rule) - {"value", "compare"}
        if unknown or "value" not in rule:
            raise ValueError(f"a threshold is a value or {{value, compare}}, not {dict(rule)}")
        compare = rule.get("compare", default)
        if compare not in ("at_least", "above"):
            raise ValueError("compare must be 'at_least' (达到) or 'above' (超过)")
        return fraction_of(rule["value"]), str(compare)
    return fraction_of(rule), default


def compare(value: Fraction, op: str, limit: Fraction) -> bool:
    """value 达到/超过/不超过/低于 limit, exactly."""
    return {"at_least": value >= limit, "above": value > limit,
            "at_most": value <= limit, "below": value < limit}[op]


def _share(value: Any, where: str, upper_open: bool = False) -> None:
    try:
        x = fraction_of(value)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None
    if not (0 <= x < 1 if upper_open else 0 <= x <= 1):
        raise ValueError(f"{where} is a fraction in [0, 1{')' if upper_open else ']'}")


def check_flag(rule: Any, where: str = "flags") -> dict[str, Any]:
    """Validate one flag rule's shape (the form-dependent checks are in the engine).

    A rule is either a grade-share test, e.g.
    ``{"grade": "incompetent", "share_above": "1/3", "label": "不称职率超过三分之一"}``
    (``grades`` for several grades, ``criterion`` to test one criterion instead of
    the overall one), or a score test ``{"score_below": 60, "label": "..."}``.
    """
    if not isinstance(rule, Mapping):
        raise ValueError(f"{where}: a flag rule must be a table/object")
    rule = dict(rule)
    unknown = set(rule) - FLAG_KEYS
    if unknown:
        raise ValueError(f"{where}: unknown keys {sorted(unknown)}")
    if not isinstance(rule.get("label"), str) or not rule["label"].strip():
        raise ValueError(f"{where}: needs a non-empty label")
    tests = [t for t in (*SHARE_TESTS, *SCORE_TESTS) if t in rule]
    if len(tests) != 1:
        raise ValueError(f"{where}: needs exactly one of {SHARE_TESTS + SCORE_TESTS}")
    test = tests[0]
    if test in SHARE_TESTS:
        _share(rule[test], f"{where}.{test}")
        if ("grade" in rule) == ("grades" in rule):
            raise ValueError(f"{where}: a share test needs 'grade' or 'grades'")
        grades = [rule.pop("grade")] if "grade" in rule else rule["grades"]
        if (not isinstance(grades, list | tuple) or not grades
                or not all(isinstance(g, str) and g for g in grades)):
            raise ValueError(f"{where}: grades must be a non-empty list of grade keys")
        rule["grades"] = list(grades)
        if "criterion" in rule and not (isinstance(rule["criterion"], str) and rule["criterion"]):
            raise ValueError(f"{where}: criterion must be a criterion key")
    else:
        if not _number(rule[test]):
            raise ValueError(f"{where}: {test} must be a number")
        if {"grade", "grades", "criterion"} & set(rule):
            raise ValueError(f"{where}: a score test takes no grade or criterion")
    return rule


def check_condition(cond: Any, where: str) -> dict[str, Any]:
    """One condition of a level or veto; all of a `when` list must hold.

    * ``{"rate": "称职以上率", "at_least": "2/3"}``: a rate of the subject's section,
      named by its label (优秀率, 称职以上率, 不称职率, 好率, 较好以上率…) or key
      (``excellent``, ``competent+``); ``{"grades": ["basic", "incompetent"], ...}``
      for any set of grades. Compared exactly with at_least (达到 ≥), above (超过 >),
      at_most (不超过 ≤) or below (低于 <), the value a fraction ("2/3", "50%", 0.5).
    * ``{"score": ..., "at_least": 90}``: the composite score (appraisal) or total
      (scoring), exact, compared with the value shown (rounded to 2 decimals).
    * ``{"flag": "<label of a flag rule>"}``: the subject carries that flag.
    """
    if not isinstance(cond, Mapping):
        raise ValueError(f"{where}: a condition must be a table/object")
    cond = dict(cond)
    ops = [op for op in COMPARES if op in cond]
    subjects = [k for k in ("rate", "grades", "score", "flag") if k in cond]
    if len(subjects) != 1:
        raise ValueError(f"{where}: needs exactly one of rate, grades, score, flag")
    what = subjects[0]
    unknown = set(cond) - {what, *COMPARES}
    if unknown:
        raise ValueError(f"{where}: unknown keys {sorted(unknown)}")
    if what == "flag":
        if ops or not isinstance(cond["flag"], str) or not cond["flag"]:
            raise ValueError(f"{where}: a flag condition is {{\"flag\": \"<label>\"}}")
        return cond
    if len(ops) != 1:
        raise ValueError(f"{where}: needs exactly one of {sorted(COMPARES)}")
    if what == "rate" and not (isinstance(cond["rate"], str) and cond["rate"]):
        raise ValueError(f"{where}: rate names a rate (e.g. 称职以上率)")
    if what == "grades" and (not isinstance(cond["grades"], list | tuple) or not cond["grades"]
                             or not all(isinstance(g, str) and g for g in cond["grades"])):
        raise ValueError(f"{where}: grades must be a non-empty list of grade keys")
    if what == "score":
        try:
            fraction_of(cond[ops[0]])
        except ValueError as exc:
            raise ValueError(f"{where}.{ops[0]}: {exc}") from None
    else:
        _share(cond[ops[0]], f"{where}.{ops[0]}")
    return cond


def _when(value: Any, where: str) -> list[dict[str, Any]]:
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Sequence):
        raise ValueError(f"{where}: when is a list of conditions")
    return [check_condition(c, f"{where}[{i}]") for i, c in enumerate(value)]


def _level_name(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > 20:
        raise ValueError(f"{where}: a level is a name of 1-20 characters (e.g. 优秀)")
    return value


def check_level(rule: Any, where: str) -> dict[str, Any]:
    """One 考核等次: ``{"level": "优秀", "when": [...], "quota": "20%"}``.

    Levels are tried in order and the first whose conditions all hold is the
    subject's; one without `when` holds for everyone (put it last as the default).
    `quota` caps how many subjects get the level (好中选优): a fraction of the
    section's subjects, rounded down ("20%", "1/5"), or a whole number of places
    (an int); candidates take it by rank, and when equal shown values straddle
    the last place none of them gets it (并列, for the committee to decide) and
    they are tried on the next levels.
    """
    if not isinstance(rule, Mapping):
        raise ValueError(f"{where}: a level must be a table/object")
    rule = dict(rule)
    unknown = set(rule) - LEVEL_KEYS
    if unknown:
        raise ValueError(f"{where}: unknown keys {sorted(unknown)}")
    _level_name(rule.get("level"), where)
    rule["when"] = _when(rule.get("when", []), f"{where}.when")
    if "quota" in rule:
        q = rule["quota"]
        if isinstance(q, int) and not isinstance(q, bool):
            if q < 0:
                raise ValueError(f"{where}.quota must be >= 0")
        else:
            _share(q, f"{where}.quota")
    return rule


def check_veto(rule: Any, where: str) -> dict[str, Any]:
    """One 一票否决: ``{"label": "...", "when": [...], "level": "不称职", "rank": false}``.

    A subject meeting every condition is vetoed: it is left out of the ranking
    (unless ``"rank": true``) and, when `level` is given, its 考核等次 is that
    level whatever the level rules say.
    """
    if not isinstance(rule, Mapping):
        raise ValueError(f"{where}: a veto must be a table/object")
    rule = dict(rule)
    unknown = set(rule) - VETO_KEYS
    if unknown:
        raise ValueError(f"{where}: unknown keys {sorted(unknown)}")
    if not isinstance(rule.get("label"), str) or not rule["label"].strip():
        raise ValueError(f"{where}: needs a non-empty label")
    rule["when"] = _when(rule.get("when"), f"{where}.when")
    if not rule["when"]:
        raise ValueError(f"{where}: needs at least one condition")
    if "level" in rule:
        _level_name(rule["level"], f"{where}.level")
    rule["rank"] = rule.get("rank", False)
    if not isinstance(rule["rank"], bool):
        raise ValueError(f"{where}.rank must be true or false")
    return rule


def _levels(value: Any) -> tuple[dict[str, Any], ...] | dict[str, tuple[dict[str, Any], ...]]:
    """A list of levels for every section they fit, or {section key: list} per section."""
    if isinstance(value, Mapping):
        return {str(k): _levels_list(v, f"levels.{k}") for k, v in value.items()}
    return _levels_list(value, "levels")


def _levels_list(value: Any, where: str) -> tuple[dict[str, Any], ...]:
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Sequence):
        raise ValueError(f"{where} must be a list of levels")
    out = tuple(check_level(r, f"{where}[{i}]") for i, r in enumerate(value))
    names = [r["level"] for r in out]
    if len(set(names)) != len(names):
        raise ValueError(f"{where}: level names must be unique")
    return out


@dataclass(frozen=True)
class ResultRules:
    """How ballots become results.

    k: smallest voter category shown on its own (k-anonymity).
    trim: in scoring, drop this many highest and lowest scores.
    trim_by: "total" (default): each scorer's weighted total for a subject, the
        way panels mean 去掉一个最高分、一个最低分; "item": each item's scores.
    trim_scope: trim over all scores ("overall") or within each voter category
        ("category"); None picks "category" when category weights are used,
        since trimming a pooled set cannot be combined with category weights.
    use_category_weights: None means "when the categories' weights differ".
    recommend_threshold: a candidate passes with more than (超过; or as its
        compare says) this share of the valid ballots.
    places: how many candidates a recommendation selects (None: the form's
        max_choices).
    min_turnout: results are publishable when 参评率 reaches (达到; or as its
        compare says) this fraction.
    abstain_in_rates: "exclude" (default) leaves 不了解 out of the rates'
        denominators, "include" counts it; or {section key: ...}.
    flags: rules marking subjects, see `check_flag`.
    levels: 考核等次 rules, see `check_level`.
    vetoes: 一票否决 rules, see `check_veto`.
    """

    k: int = 5
    trim: int = 0
    trim_scope: TrimScope | None = None
    use_category_weights: bool | None = None
    recommend_threshold: Any = 0.5
    places: int | None = None
    min_turnout: Any = 0.0
    flags: tuple[dict[str, Any], ...] = ()
    trim_by: str = "total"
    abstain_in_rates: Any = "exclude"
    levels: Any = ()
    vetoes: tuple[dict[str, Any], ...] = ()

    def __post_init__(self) -> None:
        def positive_int(name: str, value: Any, low: int) -> None:
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}")

        positive_int("k", self.k, 1)
        positive_int("trim", self.trim, 0)
        if self.places is not None:
            positive_int("places", self.places, 1)
        if self.trim_scope not in (None, "overall", "category"):
            raise ValueError("trim_scope must be 'overall' or 'category'")
        if self.trim_by not in TRIM_BY:
            raise ValueError("trim_by must be 'total' or 'item'")
        if self.use_category_weights not in (None, True, False):
            raise ValueError("use_category_weights must be true, false or unset")
        for name, default, upper_open in (("recommend_threshold", "above", True),
                                          ("min_turnout", "at_least", False)):
            try:
                value, _ = threshold_of(getattr(self, name), default)
            except ValueError as exc:
                raise ValueError(f"{name}: {exc}") from None
            if not (0 <= value < 1 if upper_open else 0 <= value <= 1):
                raise ValueError(f"{name} must be a fraction in [0, 1{')' if upper_open else ']'}")
        air = self.abstain_in_rates
        if not (air in ABSTAIN_IN_RATES or (isinstance(air, Mapping) and all(
                v in ABSTAIN_IN_RATES for v in air.values()))):
            raise ValueError("abstain_in_rates must be 'exclude' or 'include' "
                             "(or a table of them by section)")
        for name in ("flags", "vetoes"):
            value = getattr(self, name)
            if isinstance(value, str | bytes | Mapping) or not isinstance(value, Sequence):
                raise ValueError(f"{name} must be a list of rules")
        checked = tuple(check_flag(r, f"flags[{i}]") for i, r in enumerate(self.flags))
        object.__setattr__(self, "flags", checked)
        object.__setattr__(self, "vetoes", tuple(
            check_veto(r, f"vetoes[{i}]") for i, r in enumerate(self.vetoes)))
        object.__setattr__(self, "levels", _levels(self.levels))
        if isinstance(air, Mapping):
            object.__setattr__(self, "abstain_in_rates", dict(air))

    @property
    def turnout_rule(self) -> tuple[Fraction, str]:
        return threshold_of(self.min_turnout, "at_least")

    @property
    def recommend_rule(self) -> tuple[Fraction, str]:
        return threshold_of(self.recommend_threshold, "above")

    def abstain_rule(self, section: str) -> str:
        air = self.abstain_in_rates
        return str(air.get(section, "exclude") if isinstance(air, Mapping) else air)

    def levels_for(self, section: str | None) -> tuple[dict[str, Any], ...] | None:
        """The level rules written for a section (a table by section), or the list for
        all sections; None when a table by section leaves this one out."""
        if isinstance(self.levels, Mapping):
            return self.levels.get(section or "main")
        return self.levels

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> ResultRules:
        """Rules from settings (JSON/TOML); unknown keys are an error, not ignored."""
        data = dict(data or {})
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown result rules {sorted(unknown)}")
        for key in ("flags", "vetoes"):
            if key in data and isinstance(data[key], list):
                data[key] = tuple(data[key])
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["flags"] = [dict(r) for r in self.flags]
        out["vetoes"] = [dict(r) for r in self.vetoes]
        out["levels"] = ({k: [dict(r) for r in v] for k, v in self.levels.items()}
                         if isinstance(self.levels, Mapping)
                         else [dict(r) for r in self.levels])
        for key in ("min_turnout", "recommend_threshold"):
            if isinstance(out[key], Mapping):
                out[key] = dict(out[key])
        return out
