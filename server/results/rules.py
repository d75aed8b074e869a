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
from server.resultsengine.config import COMPARES, ResultRules, fraction_words, threshold_of
from server.resultsengine.engine import check_rules, k_warnings
from server.resultsengine.levels import level_words, veto_words

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
    "trim_by": "去分方式",
    "abstain_in_rates": "“不了解”是否计入比例",
    "levels": "考核等次规则",
    "vetoes": "一票否决规则",
}


def _bad(message: str, en: str, field: str = "results", code: str = "invalid_result_rules"
         ) -> ApiError:
    return ApiError(code, message, en, 422, field)


def site_k() -> int:
    return int(current_app.config["K_ANONYMITY"])


def _fraction(data: dict[str, Any], key: str, upper_open: bool = False) -> None:
    if key not in data:
        return
    try:
        value, _ = threshold_of(data[key], "above" if upper_open else "at_least")
        ok = 0 <= value and (value < 1 if upper_open else value <= 1)
    except ValueError:
        ok = False
    if not ok:
        upper = "小于 100%" if upper_open else "不超过 100%"
        raise _bad(f"{LABELS[key]}应为 0～1 之间的比例，如“2/3”“50%”或 0.5（{upper}）",
                   f"{key} must be a fraction in [0, 1{')' if upper_open else ']'}"
                   " such as \"2/3\", \"50%\" or 0.5", f"results.{key}")


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


def round_warnings(form: Mapping[str, Any], categories: Sequence[Mapping[str, Any]]
                   ) -> list[str]:
    """What building a round with these categories means for k-anonymity (Chinese),
    from its expected counts: see engine.k_warnings."""
    rules = round_rules(form)
    weights = {float(c.get("weight", 1)) for c in categories}
    weighted = (rules.use_category_weights if rules.use_category_weights is not None
                else len(weights) > 1)
    return k_warnings(categories, rules.k, bool(weighted), str(form.get("kind")))


def threshold_text(value: Any, default: str) -> str:
    """达到三分之二 / 超过50%: a threshold with its comparison, as the rules say it."""
    _, op = threshold_of(value, default)
    return f"{COMPARES[op]}{fraction_words(value)}"


def describe(rules: Mapping[str, Any], kind: str) -> list[str]:
    """The rules in words, for the results page and the reports."""
    out = []
    score_name = "总分" if kind == "scoring" else "综合得分"
    if kind == "appraisal" or (kind == "scoring"):
        out.append("分类加权：" + ("是，综合得分按各参评类别规定的权重计算"
                                  if rules.get("use_category_weights") else "否"))
    if kind == "scoring":
        trim = rules.get("trim") or 0
        scope = "在每个参评类别内" if rules.get("trim_scope") == "category" else "在全部评分中"
        if not trim:
            out.append("不去掉最高分和最低分")
        elif rules.get("trim_by", "total") == "total":
            out.append(f"去掉每位对象所得总分中最高和最低的各 {trim} 个后取平均（{scope}；"
                       "各项平均分不去分）")
        else:
            out.append(f"每项去掉最高分和最低分各 {trim} 个（{scope}）")
    if kind == "recommendation":
        out.append("得票须" + threshold_text(rules.get("recommend_threshold", 0.5), "above")
                   + "有效票方可当选")
        if rules.get("places"):
            out.append(f"推荐名额 {rules['places']} 名")
    if kind == "appraisal":
        air = rules.get("abstain_in_rates", "exclude")
        out.append("各项比例以有效评价为基数，“不了解”" + (
            "计入基数" if air == "include" else "不计入基数" if air == "exclude"
            else "按各部分规定计入或不计入基数"))
    minimum = rules.get("min_turnout")
    if minimum and threshold_of(minimum, "at_least")[0] > 0:
        out.append("参评率须" + threshold_text(minimum, "at_least") + "应到人数方可公布")
    for flag in rules.get("flags") or []:
        out.append(f"标记：{flag['label']}")
    written = rules.get("levels") or []
    for key, part in (written.items() if isinstance(written, Mapping) else [(None, written)]):
        if part:
            head = f"考核等次（{key}）" if key else "考核等次"
            out.append(head + "：按顺序判定，" + "；".join(
                level_words(r, score_name) for r in part))
    for veto in rules.get("vetoes") or []:
        out.append(veto_words(veto, score_name))
    out.append(f"名次按显示的{score_name}（保留两位小数）排列，显示值相同者名次并列")
    out.append(f"参评人数少于 {rules.get('k')} 人的类别不单独显示，"
               "也不显示可据以推算其结果的其他分类数据")
    return out
