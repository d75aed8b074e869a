"""Reading the "new round" form: textareas of subjects and categories, the deadline.

Each problem is an ApiError naming the field and the line, in the words the
organizer typed, so the page can show it beside the input.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from server.console.roster_pick import split_member_no
from server.core.clock import CHINA  # deadlines are typed in China time
from server.core.errors import ApiError
from server.resultsengine.config import fraction_of, fraction_words

DEFAULT_CATEGORIES = "公司领导,10,0.3\n中层干部,40,0.4\n职工代表,70,0.3"
MAX_LINES = 1000

_SUBJECT_SPLIT = re.compile(r"[\s,，]+")
_CATEGORY_SPLIT = re.compile(r"\s*[,，\t]\s*")


def _bad(field: str, message: str, en: str) -> ApiError:
    return ApiError("invalid_input", message, en, 422, field)


def _lines(text: str, field: str, label: str) -> list[tuple[int, str]]:
    lines = [(i, ln.strip()) for i, ln in enumerate((text or "").splitlines(), start=1)]
    lines = [(i, ln) for i, ln in lines if ln]
    if len(lines) > MAX_LINES:
        raise _bad(field, f"{label}不能超过 {MAX_LINES} 行", f"at most {MAX_LINES} lines")
    return lines


def parse_subjects(text: str) -> list[dict[str, str]]:
    """One per line: "姓名 职务", split at the first space or comma (职务 may be empty);
    a last word "#工号" links the subject to that roster member (console/roster_pick.py)."""
    subjects = []
    for _, line in _lines(text, "subjects", "测评对象"):
        parts = _SUBJECT_SPLIT.split(line, maxsplit=1)
        name = parts[0]
        note, number = split_member_no(parts[1].strip() if len(parts) > 1 else "")
        subjects.append({"name": name, "note": note, **({"member_no": number} if number else {})})
    return subjects


def _number(raw: str, lineno: int, label: str) -> float:
    raw = raw.strip()
    percent = raw.endswith(("%", "％"))
    try:
        value = float(raw.rstrip("%％"))
    except ValueError:
        raise _bad("categories", f"第 {lineno} 行：{label}“{raw[:20]}”不是数字",
                   f"line {lineno}: {label} is not a number") from None
    if value != value or value in (float("inf"), float("-inf")):  # NaN or infinite
        raise _bad("categories", f"第 {lineno} 行：{label}不是有效数字",
                   f"line {lineno}: {label} is not finite")
    return value / 100 if percent else value


def parse_categories(text: str) -> list[dict[str, Any]]:
    """One per line: "类别名称,应到人数,权重" (权重 may be left out: 1; "30%" is 0.3)."""
    categories = []
    for lineno, line in _lines(text, "categories", "参评人员类别"):
        parts = _CATEGORY_SPLIT.split(line)
        if len(parts) == 1:
            parts = line.split()
        if len(parts) < 2 or len(parts) > 3:
            raise _bad("categories", f"第 {lineno} 行格式不正确，应为“类别名称,应到人数,权重”",
                       f"line {lineno}: expected name,count,weight")
        expected = _number(parts[1], lineno, "应到人数")
        if not expected.is_integer():
            raise _bad("categories", f"第 {lineno} 行：应到人数应为整数",
                       f"line {lineno}: count must be an integer")
        weight = _number(parts[2], lineno, "权重") if len(parts) == 3 else 1.0
        categories.append({"name": parts[0], "expected_count": int(expected), "weight": weight})
    return categories


def parse_choice_limit(raw: str | None, field: str, label: str) -> int | None:
    raw = (raw or "").strip()
    if not raw:
        return None
    if not raw.isdigit() or len(raw) > 4:
        raise _bad(field, f"{label}应为整数", f"{field} must be an integer")
    return int(raw)


def parse_deadline(raw: str | None) -> dt.datetime | None:
    """A datetime-local value in China time → naive UTC; empty → None."""
    raw = (raw or "").strip()
    if not raw:
        return None
    try:
        local = dt.datetime.fromisoformat(raw[:40])
        if local.tzinfo is not None:
            local = local.astimezone(CHINA).replace(tzinfo=None)
        return local.replace(tzinfo=CHINA).astimezone(dt.UTC).replace(tzinfo=None)
    except (ValueError, OverflowError):  # not a date, or out of range (year 1)
        raise _bad("closes_at", "截止时间格式不正确", "closes_at is not a date and time") from None


# The result-rule inputs of the "new round" form: (input name, rule key, label, kind).
RULE_INPUTS = (
    ("min_turnout", "min_turnout", "参评率下限", None),
    ("recommend_threshold", "recommend_threshold", "推荐得票率门槛", "recommendation"),
    ("places", "places", "推荐名额", "recommendation"),
    ("trim", "trim", "去掉最高分和最低分的个数", "scoring"),
    ("flag_share", "flags", "标记比例", "appraisal"),
    ("k", "k", "类别最少显示人数", None),
)
NO_FLAG = ("无", "不标记", "-", "—")


def _percent(raw: str, field: str, label: str) -> float | str:
    """A percentage ("66.67", "50%") as a fraction; a written fraction ("2/3") as written."""
    if "/" in raw:
        try:
            if 0 <= fraction_of(raw.strip()) <= 1:
                return raw.strip().replace(" ", "")
        except ValueError:
            pass
        raise _bad(field, f"{label}应为 0～100 之间的百分数或“2/3”这样的分数",
                   f"{field} is not a fraction in [0, 1]")
    text = raw.strip().rstrip("%％").strip()
    try:
        value = float(text)
    except ValueError:
        raise _bad(field, f"{label}应为 0～100 之间的百分数", f"{field} is not a number") from None
    if not 0 <= value <= 100:
        raise _bad(field, f"{label}应为 0～100 之间的百分数", f"{field} must lie in [0, 100]")
    return round(value / 100, 6)


def _count(raw: str, field: str, label: str) -> int:
    text = raw.strip()
    if not text.isdigit() or len(text) > 4:
        raise _bad(field, f"{label}应为整数", f"{field} must be an integer")
    return int(text)


def _share_input(value: Any) -> str:
    """A rule's share as the new-round form shows it: "2/3" as written, else a percentage."""
    if isinstance(value, dict):
        value = value.get("value", 0)
    if isinstance(value, str) and "/" in value:
        return value
    return f"{float(fraction_of(value)) * 100:g}"


def rule_defaults(form: dict[str, Any], site_k: int) -> dict[str, str]:
    """The template's rules as the form's placeholders (percentages as percentages)."""
    rules = form.get("results") or {}
    out: dict[str, str] = {"k": str(site_k)}
    for key in ("min_turnout", "recommend_threshold"):
        if key in rules:
            out[key] = _share_input(rules[key])
    for key in ("trim", "places", "k"):
        if rules.get(key) is not None:
            out[key] = str(rules[key])
    shares = [f for f in rules.get("flags") or [] if "share_above" in f]
    if shares:
        out["flag_share"] = _share_input(shares[0]["share_above"])
    elif form.get("kind") == "appraisal":
        out["flag_share"] = "无"
    return out


def flag_grade(form: dict[str, Any]) -> dict[str, Any] | None:
    """The grade a share flag is about: the lowest graded one (e.g. 不称职)."""
    graded = [g for g in form.get("grades") or [] if not g.get("abstain")]
    return graded[-1] if graded else None


def parse_rules(values: dict[str, str], form: dict[str, Any]) -> dict[str, Any]:
    """Result-rule overrides from the form; empty inputs keep the template's rules."""
    out: dict[str, Any] = {}
    kind = form.get("kind")
    for name, key, label, only in RULE_INPUTS:
        raw = (values.get(name) or "").strip()
        if not raw or (only and only != kind):
            continue
        if name in ("min_turnout", "recommend_threshold"):
            out[key] = _percent(raw, name, label)
        elif name == "flag_share":
            grade = flag_grade(form)
            if raw in NO_FLAG or grade is None:
                out["flags"] = []
                continue
            share = _percent(raw, name, label)
            out["flags"] = [{"grades": [grade["key"]], "share_above": share,
                             "label": f"“{grade['label']}”率超过{fraction_words(share)}"}]
        else:
            out[key] = _count(raw, name, label)
    return out
