"""Reading the "new round" form: textareas of subjects and categories, the deadline.

Each problem is an ApiError naming the field and the line, in the words the
organizer typed, so the page can show it beside the input.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from server.core.errors import ApiError

CHINA = dt.timezone(dt.timedelta(hours=8))  # deadlines are typed in China time
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
    """One per line: "姓名 职务", split at the first space or comma (职务 may be empty)."""
    subjects = []
    for _, line in _lines(text, "subjects", "测评对象"):
        parts = _SUBJECT_SPLIT.split(line, maxsplit=1)
        name = parts[0]
        note = parts[1].strip() if len(parts) > 1 else ""
        subjects.append({"name": name, "note": note})
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


def china_time(value: dt.datetime | None) -> str:
    """A naive UTC datetime shown in China time, e.g. "2026-05-01 14:30"."""
    if value is None:
        return ""
    return value.replace(tzinfo=dt.UTC).astimezone(CHINA).strftime("%Y-%m-%d %H:%M")
