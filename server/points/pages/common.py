"""What every points screen needs: the user, the chosen branch and period, redirects."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from server.core.errors import ApiError
from server.organization.models import Branch
from server.points import access
from server.points.calendar import Period, PeriodError, current_quarter, parse_period, periods_of
from server.points.rulebook import years_with_rules

KEEPERS, MANAGERS, READERS = access.KEEPERS, access.MANAGERS, access.READERS
SOURCE_LABELS = {"self_report": "个人自评", "secretary": "书记录入", "import": "表格导入",
                 "round": "测评结果", "reversal": "冲销更正"}
STATUS_LABELS = {"pending": "待审定", "approved": "已审定", "rejected": "已退回"}
KIND_LABELS = {"award": "", "bonus": "加分项", "deduction": "扣分项", "veto": "否决"}


def user() -> Any:
    return current_user._get_current_object()


def can_keep() -> bool:
    return user().role in KEEPERS


def can_manage() -> bool:
    return user().role in MANAGERS


def chosen_branch() -> Branch | None:
    """?branch=<id>, or the user's own (secretary) / first branch. Other branches: 404."""
    requested = request.values.get("branch")
    if user().role == "secretary":
        own = access.scope_of(user()).branch_id
        if requested not in (None, "") and str(requested) != str(own):
            raise ApiError("branch_not_found", "找不到该党支部", "no such branch", 404)
        return access.load_branch(user(), own)
    return access.pick_branch(user(), requested)


def chosen_period(name: str = "period", default: Period | None = None) -> Period:
    raw = request.values.get(name)
    if not raw:
        return default or current_quarter()
    try:
        return parse_period(raw)
    except PeriodError:
        raise ApiError("invalid_period", "期间格式不正确，应为如 2026Q1 或 2026",
                       "period must look like 2026Q1 or 2026", 422, name) from None


def chosen_year() -> int:
    raw = request.values.get("year", "")
    return int(raw) if raw.isdigit() and 2000 <= int(raw) <= 2100 else current_quarter().year


def period_choices(committee_name: str, around: Period) -> list[Period]:
    years = sorted(set(years_with_rules(committee_name)) | {around.year})
    return [p for y in years for p in periods_of(y)]


def back(endpoint: str, **params: Any) -> Response:
    clean = {k: v for k, v in params.items() if v not in (None, "")}
    return redirect(url_for(f"points_console.{endpoint}", **clean), 303)


def flash_error(err: ApiError) -> None:
    """Scope and right errors keep their status page; input errors become a message."""
    if err.status in (401, 403, 404):
        raise err
    flash(err.message, "error")
