"""A round's result rules: the form template's [results] table, overridden per round.

The merged, checked rules are stored in the round's form snapshot
(`form_json["results"]`) when the round is created, so a round is computed by
the rules it was created with even if the template changes later.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from flask import current_app

from server.core.errors import ApiError
from server.results.config import ResultRules
from server.results.engine import check_rules

# The keys a round may override (ResultRules' fields), with their Chinese names.
LABELS = {
    "k": "最少显示人数（k）",
    "trim": "去掉最高分和最低分的个数",
    "trim_scope": "去分范围",
    "use_category_weights": "分类加权",
    "recommend_threshold": "推荐得票率门槛",
    "places": "推荐名额",
    "min_turnout": "参评率下限",
    "flags": "标记规则",
}


def _bad(message: str, en: str, field: str = "results", code: str = "invalid_result_rules"
         ) -> ApiError:
    return ApiError(code, message, en, 422, field)


def site_k() -> int:
    return int(current_app.config.get("K_ANONYMITY", 5))


def _fraction(data: dict[str, Any], key: str, upper_open: bool = False) -> None:
    if key not in data:
        return
    value = data[key]
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    ok = ok and 0 <= value and (value < 1 if upper_open else value <= 1)
    if not ok:
        upper = "小于 100%" if upper_open else "不超过 100%"
        raise _bad(f"{LABELS[key]}应为 0～1 之间的小数（{upper}）",
                   f"{key} must be a fraction in [0, 1{')' if upper_open else ']'}",
                   f"results.{key}")


def build_rules(form: Mapping[str, Any], categories: Sequence[Mapping[str, Any]],
                n_subjects: int, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The rules for a new round, checked against its form and categories.

    Raises ApiError 422 (`invalid_result_rules`, `k_below_minimum`) naming the field.
    """
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(LABELS))
    if unknown:
        raise _bad(f"不认识的结果规则：{'、'.join(unknown)}", f"unknown result rules {unknown}",
                   f"results.{unknown[0]}")
    data = {**dict(form.get("results") or {}), **overrides}
    data = {k: v for k, v in data.items() if v is not None or k in overrides}
    floor = site_k()
    data.setdefault("k", floor)
    k = data["k"]
    if isinstance(k, int) and not isinstance(k, bool) and k < floor:
        raise _bad(f"最少显示人数不能小于系统规定的 {floor} 人", f"k must be at least {floor}",
                   "results.k", "k_below_minimum")
    _fraction(data, "min_turnout")
    _fraction(data, "recommend_threshold", upper_open=True)
    trim = data.get("trim", 0)
    if isinstance(trim, int) and not isinstance(trim, bool) and trim < 0:
        raise _bad("去掉最高分和最低分的个数不能为负数", "trim must be >= 0", "results.trim")
    places = data.get("places")
    if (form.get("kind") == "recommendation" and isinstance(places, int)
            and not isinstance(places, bool) and places > n_subjects):
        raise _bad("推荐名额不能超过候选人数", "places exceeds the number of candidates",
                   "results.places")
    try:
        rules = ResultRules.from_dict(data)
        check_rules(rules, form, [{"id": i + 1, **dict(c)} for i, c in enumerate(categories)])
    except ValueError as exc:
        raise _bad(f"结果计算规则设置不正确：{exc}", f"invalid result rules: {exc}") from None
    return rules.to_dict()


def round_rules(form: Mapping[str, Any]) -> ResultRules:
    """The rules a round was created with (never below the site's k)."""
    data = dict(form.get("results") or {})
    data["k"] = max(int(data.get("k") or 0), site_k())
    return ResultRules.from_dict(data)


def describe(rules: Mapping[str, Any], kind: str) -> list[str]:
    """The rules in words, for the results page and the reports."""
    out = []
    if kind == "appraisal" or (kind == "scoring"):
        out.append("分类加权：" + ("是" if rules.get("use_category_weights") else "否"))
    if kind == "scoring":
        trim = rules.get("trim") or 0
        scope = "在每个参评类别内" if rules.get("trim_scope") == "category" else "在全部评分中"
        out.append(f"每项去掉最高分和最低分各 {trim} 个（{scope}）" if trim
                   else "不去掉最高分和最低分")
    if kind == "recommendation":
        out.append(f"得票须超过有效票的 {_pct(rules.get('recommend_threshold'))}")
        if rules.get("places"):
            out.append(f"推荐名额 {rules['places']} 名")
    if rules.get("min_turnout"):
        out.append(f"参评率须达到 {_pct(rules['min_turnout'])} 方可公布")
    for flag in rules.get("flags") or []:
        out.append(f"标记：{flag['label']}")
    out.append(f"参评人数少于 {rules.get('k')} 人的类别合并或不单独显示")
    return out


def _pct(value: Any) -> str:
    return f"{float(value or 0) * 100:.2f}".rstrip("0").rstrip(".") + "%"
