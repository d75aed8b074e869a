"""The rules a round's results are computed by (ResultRules), checked when built.

Rules are plain data so a round can carry them as JSON or TOML; `from_dict`
accepts exactly the field names of `ResultRules` and nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

TrimScope = Literal["overall", "category"]

SHARE_TESTS = ("share_above", "share_at_least")
SCORE_TESTS = ("score_below",)
FLAG_KEYS = {"label", "grade", "grades", "criterion", *SHARE_TESTS, *SCORE_TESTS}


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def check_flag(rule: Any, where: str = "flags") -> dict[str, Any]:
    """Validate one flag rule's shape (the form-dependent checks are in the engine).

    A rule is either a grade-share test, e.g.
    ``{"grade": "incompetent", "share_above": 0.2, "label": "不称职率超过20%"}``
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
    if not _number(rule[test]):
        raise ValueError(f"{where}: {test} must be a number")
    if test in SHARE_TESTS:
        if not 0 <= rule[test] <= 1:
            raise ValueError(f"{where}: {test} is a fraction in [0, 1]")
        if ("grade" in rule) == ("grades" in rule):
            raise ValueError(f"{where}: a share test needs 'grade' or 'grades'")
        grades = [rule.pop("grade")] if "grade" in rule else rule["grades"]
        if (not isinstance(grades, list | tuple) or not grades
                or not all(isinstance(g, str) and g for g in grades)):
            raise ValueError(f"{where}: grades must be a non-empty list of grade keys")
        rule["grades"] = list(grades)
        if "criterion" in rule and not (isinstance(rule["criterion"], str) and rule["criterion"]):
            raise ValueError(f"{where}: criterion must be a criterion key")
    elif {"grade", "grades", "criterion"} & set(rule):
        raise ValueError(f"{where}: a score test takes no grade or criterion")
    return rule


@dataclass(frozen=True)
class ResultRules:
    """How ballots become results.

    k: smallest voter category shown on its own (k-anonymity).
    trim: in scoring, drop this many highest and lowest scores per item.
    trim_scope: trim over all scores ("overall") or within each voter category
        ("category"); None picks "category" when category weights are used,
        since trimming a pooled set cannot be combined with category weights.
    use_category_weights: None means "when the categories' weights differ".
    recommend_threshold: a candidate passes with strictly more than this share
        of the valid ballots.
    places: how many candidates a recommendation selects (None: the form's
        max_choices).
    min_turnout: results are not publishable below this 参评率 (fraction).
    flags: rules marking subjects, see `check_flag`.
    """

    k: int = 5
    trim: int = 0
    trim_scope: TrimScope | None = None
    use_category_weights: bool | None = None
    recommend_threshold: float = 0.5
    places: int | None = None
    min_turnout: float = 0.0
    flags: tuple[dict[str, Any], ...] = ()

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
        if self.use_category_weights not in (None, True, False):
            raise ValueError("use_category_weights must be true, false or unset")
        if not _number(self.recommend_threshold) or not 0 <= self.recommend_threshold < 1:
            raise ValueError("recommend_threshold must be a fraction in [0, 1)")
        if not _number(self.min_turnout) or not 0 <= self.min_turnout <= 1:
            raise ValueError("min_turnout must be a fraction in [0, 1]")
        if isinstance(self.flags, str | bytes | Mapping) or not isinstance(self.flags, Sequence):
            raise ValueError("flags must be a list of rules")
        checked = tuple(check_flag(r, f"flags[{i}]") for i, r in enumerate(self.flags))
        object.__setattr__(self, "flags", checked)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> ResultRules:
        """Rules from settings (JSON/TOML); unknown keys are an error, not ignored."""
        data = dict(data or {})
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown result rules {sorted(unknown)}")
        if "flags" in data and isinstance(data["flags"], list):
            data["flags"] = tuple(data["flags"])
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["flags"] = [dict(r) for r in self.flags]
        return out
