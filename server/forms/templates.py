"""Form templates from config/forms/*.toml, checked when loaded."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

KINDS = ("appraisal", "recommendation", "scoring")


class FormError(ValueError):
    """A template that cannot be used; the message names the file and field."""


def _require(cond: bool, where: str, what: str) -> None:
    if not cond:
        raise FormError(f"{where}: {what}")


def check_form(form: dict[str, Any], where: str = "form") -> dict[str, Any]:
    """Validate a form definition; return it with defaults filled in."""
    _require(isinstance(form.get("key"), str) and form["key"], where, "missing 'key'")
    _require(form.get("kind") in KINDS, where, f"'kind' must be one of {KINDS}")
    _require(isinstance(form.get("name"), str) and form["name"], where, "missing 'name'")
    form.setdefault("description", "")
    kind = form["kind"]
    if kind == "appraisal":
        crit = form.get("criteria") or []
        grades = form.get("grades") or []
        _require(len(crit) >= 1, where, "appraisal needs criteria")
        _require(len(grades) >= 2, where, "appraisal needs at least two grades")
        for seq, name in ((crit, "criteria"), (grades, "grades")):
            keys = [c.get("key") for c in seq]
            _require(all(isinstance(k, str) and k for k in keys), where, f"{name} need keys")
            _require(len(set(keys)) == len(keys), where, f"duplicate {name} keys")
            _require(all(c.get("label") for c in seq), where, f"{name} need labels")
        for g in grades:
            g.setdefault("abstain", False)
            _require(g["abstain"] or isinstance(g.get("points"), int | float), where,
                     f"grade {g['key']} needs points")
    elif kind == "recommendation":
        lo, hi = form.get("min_choices", 1), form.get("max_choices")
        _require(isinstance(hi, int) and hi >= 1, where, "max_choices must be >= 1")
        _require(isinstance(lo, int) and 0 <= lo <= hi, where, "need 0 <= min_choices <= max")
        form["min_choices"] = lo
    else:
        items = form.get("items") or []
        _require(len(items) >= 1, where, "scoring needs items")
        keys = [i.get("key") for i in items]
        _require(len(set(keys)) == len(keys) and all(keys), where, "items need unique keys")
        for item in items:
            _require(isinstance(item.get("max"), int | float) and item["max"] > 0, where,
                     f"item {item.get('key')} needs max > 0")
            _require(bool(item.get("label")), where, f"item {item['key']} needs a label")
            item.setdefault("min", 0)
            item.setdefault("weight", 1.0)
        decimals = form.setdefault("decimals", 0)
        _require(decimals in (0, 1, 2), where, "decimals must be 0, 1 or 2")
    _check_result_rules(form, where)
    return form


def _check_result_rules(form: dict[str, Any], where: str) -> None:
    """The optional [results] table: defaults a round's result rules start from."""
    from server.results.config import ResultRules
    from server.results.engine import check_rules

    results = form.setdefault("results", {})
    _require(isinstance(results, dict), where, "[results] must be a table")
    try:
        check_rules(ResultRules.from_dict(results), form, [{"id": 1, "name": "all"}])
    except ValueError as exc:
        raise FormError(f"{where}: [results] {exc}") from exc


def load_forms(folder: str | Path) -> dict[str, dict[str, Any]]:
    forms: dict[str, dict[str, Any]] = {}
    for path in sorted(Path(folder).glob("*.toml")):
        with open(path, "rb") as fh:
            try:
                data = tomllib.load(fh)
            except tomllib.TOMLDecodeError as exc:
                raise FormError(f"{path.name}: {exc}") from exc
        form = check_form(data, path.name)
        _require(form["key"] not in forms, path.name, f"duplicate form key {form['key']}")
        forms[form["key"]] = form
    return forms
