"""Which rule set applies to a committee in a year (config/points, re-read when changed)."""

from __future__ import annotations

import threading
from pathlib import Path

from flask import current_app

from server.core.config import CONFIG_DIR
from server.core.db import db
from server.core.errors import ApiError
from server.organization.models import Committee
from server.points.rules import RuleSet, RuleSetError, load_folder, pick

_CACHE: dict[str, tuple[tuple[tuple[str, float], ...], list[RuleSet]]] = {}
_LOCK = threading.Lock()


def rules_dir() -> Path:
    return Path(current_app.config.get("POINTS_RULES_DIR") or CONFIG_DIR / "points")


def all_rule_sets() -> list[RuleSet]:
    folder = rules_dir()
    stamp = tuple(sorted((p.name, p.stat().st_mtime) for p in folder.glob("*.toml")))
    with _LOCK:
        cached = _CACHE.get(str(folder))
        if cached and cached[0] == stamp:
            return cached[1]
    try:
        sets = load_folder(folder)
    except RuleSetError as exc:
        raise ApiError("rules_invalid", f"积分规则配置有误：{exc}",
                       f"points rules are invalid: {exc}", 500) from None
    with _LOCK:
        _CACHE[str(folder)] = (stamp, sets)
    return sets


def rules_for(committee_name: str, year: int) -> RuleSet:
    found = pick(all_rule_sets(), committee_name, year)
    if found is None:
        raise ApiError("no_rules", f"{year}年没有积分规则，请先在 config/points 中配置",
                       f"no points rules for {year}", 422, "period")
    return found


def years_with_rules(committee_name: str) -> list[int]:
    sets = all_rule_sets()
    return sorted({s.year for s in sets if pick(sets, committee_name, s.year) is s})


def rules_for_committee(committee_id: int, year: int) -> RuleSet:
    committee = db.session.get(Committee, committee_id)
    return rules_for(committee.name if committee else "", year)
