"""Form definitions checked (docs/forms.md), and the presets in config/forms/*.toml.

`check_form` accepts a definition written by a designer (console, API, an imported
file, a preset) and returns it normalized, or raises FormError naming the field
(`sections[1].grades[4].points`) with a Chinese message for the console.
"""

from __future__ import annotations

import math
import re
import tomllib
from pathlib import Path
from typing import Any

from server.forms.sections import MAIN
from server.resultsengine.config import ResultRules
from server.resultsengine.engine import check_rules

KINDS = ("appraisal", "recommendation", "scoring")
KEY_RE = re.compile(r"[a-z0-9_]{1,40}")
MAX_SECTIONS, MAX_CRITERIA, MAX_GRADES, MAX_ITEMS = 20, 30, 12, 50
MAX_NAME, MAX_LABEL, MAX_DESCRIPTION = 200, 60, 2000
MAX_POINTS = 1_000_000  # grade points and item scores: beyond it is a typo
MAX_CHOICES = 1000


class FormError(ValueError):
    """A definition that cannot be used: the field's path, a Chinese and an English message."""

    def __init__(self, field: str, zh: str, en: str) -> None:
        super().__init__(f"{field}: {en}")
        self.field, self.zh, self.en = field, zh, en


def _number(value: Any) -> bool:
    return (isinstance(value, int | float) and not isinstance(value, bool)
            and math.isfinite(value) and abs(value) <= MAX_POINTS)


def _path(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _text(obj: dict[str, Any], name: str, field: str, zh: str, longest: int,
          required: bool = True) -> str:
    """A trimmed text field: required 1..longest characters, or optional (default '')."""
    value = obj.get(name)
    if value is None and not required:
        obj[name] = ""
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise FormError(field, f"请填写{zh}", f"{name} is required (text)")
    value = value.strip()
    if len(value) > longest:
        raise FormError(field, f"{zh}不能超过 {longest} 个字", f"{name} longer than {longest}")
    obj[name] = value
    return value


def _list(value: Any, field: str, zh: str, least: int, most: int) -> list[Any]:
    if not isinstance(value, list):
        raise FormError(field, f"请添加{zh}", "must be a list")
    if len(value) < least:
        raise FormError(field, f"请至少添加 {least} 个{zh}", f"needs at least {least} entries")
    if len(value) > most:
        raise FormError(field, f"{zh}不能超过 {most} 个", f"at most {most} entries")
    return value


def _entries(seq: list[Any], field: str, zh: str, fields: tuple[str, ...] = ()
             ) -> list[dict[str, Any]]:
    """Each entry an object with a unique key and a label (both checked in place), an
    optional description, and of the other `fields` only (anything else is dropped)."""
    seen: set[str] = set()
    for i, entry in enumerate(seq):
        at = f"{field}[{i}]"
        if not isinstance(entry, dict):
            raise FormError(at, f"{zh}格式不正确", "must be an object")
        key = entry.get("key")
        if not isinstance(key, str) or not KEY_RE.fullmatch(key):
            raise FormError(f"{at}.key", f"{zh}的代码只能由 1～40 个小写字母、数字或下划线组成",
                            "key must match [a-z0-9_]{1,40}")
        if key in seen:
            raise FormError(f"{at}.key", f"{zh}代码“{key}”重复", f"duplicate key {key!r}")
        seen.add(key)
        _text(entry, "label", f"{at}.label", f"{zh}名称", MAX_LABEL)
        if not _text(entry, "description", f"{at}.description", "说明", MAX_DESCRIPTION,
                     required=False) and "description" not in fields:
            del entry["description"]
        for name in set(entry) - {"key", "label", "description", *fields}:
            del entry[name]
    return seq


def _bool(obj: dict[str, Any], name: str, field: str) -> bool:
    value = obj.setdefault(name, False)
    if not isinstance(value, bool):
        raise FormError(field, "请选择是或否", f"{name} must be true or false")
    return value


def _section(section: dict[str, Any], at: str) -> dict[str, Any]:
    """One appraisal section's criteria and grade scale (`at`: its path prefix)."""
    crit = _list(section.get("criteria"), _path(at, "criteria"), "测评指标", 1, MAX_CRITERIA)
    _entries(crit, _path(at, "criteria"), "测评指标", ("overall",))
    for i, c in enumerate(crit):
        _bool(c, "overall", f"{_path(at, 'criteria')}[{i}].overall")
    grades = _list(section.get("grades"), _path(at, "grades"), "等次", 2, MAX_GRADES)
    _entries(grades, _path(at, "grades"), "等次", ("points", "abstain"))
    for i, g in enumerate(grades):
        where = f"{_path(at, 'grades')}[{i}]"
        if _bool(g, "abstain", f"{where}.abstain"):
            g.pop("points", None)
        elif not _number(g.get("points")):
            raise FormError(f"{where}.points", "请为该等次填写分值（数字），或设为“不计分”",
                            "points must be a number (or the grade abstain)")
    if all(g["abstain"] for g in grades):
        raise FormError(_path(at, "grades"), "至少需要一个计分的等次",
                        "needs at least one grade that is not abstain")
    return section


def _appraisal(form: dict[str, Any]) -> None:
    if form.get("sections") is None:  # a preset: top-level criteria and grades
        sections = [{"key": MAIN, "label": form["name"][:MAX_LABEL], "description": "",
                     "criteria": form.get("criteria"), "grades": form.get("grades")}]
        _section(sections[0], "")
    else:
        sections = _list(form["sections"], "sections", "测评部分", 1, MAX_SECTIONS)
        _entries(sections, "sections", "测评部分", ("criteria", "grades", "description"))
        for i, section in enumerate(sections):
            _section(section, f"sections[{i}]")
    form["sections"] = sections
    form["criteria"], form["grades"] = sections[0]["criteria"], sections[0]["grades"]


def _int(form: dict[str, Any], name: str, low: int, high: int, zh: str) -> int:
    value = form.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise FormError(name, f"{zh}应为 {low}～{high} 的整数",
                        f"{name} must be an integer in [{low}, {high}]")
    return value


def _recommendation(form: dict[str, Any]) -> None:
    form.setdefault("min_choices", 1)
    hi = _int(form, "max_choices", 1, MAX_CHOICES, "最多推荐人数")
    lo = _int(form, "min_choices", 0, MAX_CHOICES, "最少推荐人数")
    if lo > hi:
        raise FormError("min_choices", "最少推荐人数不能大于最多推荐人数",
                        "min_choices must not exceed max_choices")


def _scoring(form: dict[str, Any]) -> None:
    items = _list(form.get("items"), "items", "评分项目", 1, MAX_ITEMS)
    _entries(items, "items", "评分项目", ("max", "min", "weight"))
    for i, item in enumerate(items):
        at = f"items[{i}]"
        item.setdefault("min", 0)
        item.setdefault("weight", 1.0)
        for name, zh in (("max", "满分"), ("min", "最低分"), ("weight", "权重")):
            if not _number(item.get(name)):
                raise FormError(f"{at}.{name}", f"{zh}必须是数字", f"{name} must be a number")
        if item["max"] <= 0:
            raise FormError(f"{at}.max", "满分必须大于 0", "max must be > 0")
        if item["min"] >= item["max"]:
            raise FormError(f"{at}.min", "最低分必须小于满分", "min must be < max")
        if item["weight"] <= 0:
            raise FormError(f"{at}.weight", "权重必须大于 0", "weight must be > 0")
    form.setdefault("decimals", 0)
    _int(form, "decimals", 0, 2, "小数位数")


CHECKS = {"appraisal": _appraisal, "recommendation": _recommendation, "scoring": _scoring}


def check_form(form: Any) -> dict[str, Any]:
    """Validate a form definition; return it normalized (defaults filled in, texts
    trimmed; an appraisal always with `sections`). Raises FormError. Checking a
    checked definition again gives the same definition."""
    if not isinstance(form, dict):
        raise FormError("form", "测评表格式不正确", "a form definition is an object")
    if form.get("kind") not in KINDS:
        raise FormError("kind", "请选择测评表类型（民主测评、民主推荐或评分）",
                        f"kind must be one of {KINDS}")
    if "key" in form and (not isinstance(form["key"], str) or not KEY_RE.fullmatch(form["key"])):
        raise FormError("key", "测评表代码只能由 1～40 个小写字母、数字或下划线组成",
                        "key must match [a-z0-9_]{1,40}")
    _text(form, "name", "name", "测评表名称", MAX_NAME)
    _text(form, "description", "description", "填写说明", MAX_DESCRIPTION, required=False)
    CHECKS[form["kind"]](form)
    _check_result_rules(form)
    return form


_RULE_AT = re.compile(r"(flags\[\d+\])(?:\.(\w+))?: ")


def _check_result_rules(form: dict[str, Any]) -> None:
    """The optional `results`: defaults a round's result rules start from."""
    results = form.setdefault("results", {})
    if not isinstance(results, dict):
        raise FormError("results", "结果规则格式不正确", "results must be an object")
    try:
        check_rules(ResultRules.from_dict(results), form, [{"id": 1, "name": "all"}])
    except (ValueError, TypeError) as exc:
        m = _RULE_AT.match(str(exc))
        field = f"results.{m.group(1)}" if m else "results"
        raise FormError(field, f"结果规则有误：{exc}", str(exc)) from exc


def load_forms(folder: str | Path) -> dict[str, dict[str, Any]]:
    """The presets: every *.toml in `folder`, checked, by key."""
    forms: dict[str, dict[str, Any]] = {}
    for path in sorted(Path(folder).glob("*.toml")):
        with open(path, "rb") as fh:
            try:
                data = tomllib.load(fh)
            except tomllib.TOMLDecodeError as exc:
                raise FormError(path.name, "预置测评表文件格式错误", str(exc)) from exc
        try:
            form = check_form(data)
        except FormError as exc:
            raise FormError(exc.field, exc.zh, f"{path.name}: {exc.en}") from exc
        if not form.get("key"):
            raise FormError("key", "预置测评表需要代码", f"{path.name}: missing 'key'")
        if form["key"] in forms:
            raise FormError("key", "预置测评表代码重复",
                            f"{path.name}: duplicate form key {form['key']}")
        forms[form["key"]] = form
    return forms
