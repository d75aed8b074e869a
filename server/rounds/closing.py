"""Closing below the turnout threshold: the figures, and the refusal that offers to wait.

A round whose 参评率 (ballots cast / expected) is below its rules' min_turnout can be
closed, but its results can then never be published; the console asks first, and
the API refuses with 409 `below_turnout` when asked to check (`check_turnout`).
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from server.core.errors import ApiError
from server.results.rules import round_rules
from server.resultsengine.config import compare, threshold_of
from server.voting.turnout import turnout


def shortfall(cast: int, expected: int, minimum: Any) -> dict[str, Any] | None:
    """The figures when `cast` of `expected` falls short of `minimum` (a threshold as the
    rules hold it: 0.75, "2/3", {"value", "compare"}; 达到 unless it says 超过), else None.

    No expected count with a minimum set is a shortfall too (the rule cannot be met).
    """
    limit, op = threshold_of(minimum or 0, "at_least")
    if limit <= 0:
        return None
    if expected > 0 and compare(Fraction(cast, expected), op, limit):
        return None
    rate = round(cast / expected * 100, 2) if expected else 0.0
    return {"cast": cast, "expected": expected, "turnout_pct": rate,
            "min_turnout_pct": round(float(limit) * 100, 2)}


def round_shortfall(rnd: Any) -> dict[str, Any] | None:
    """`shortfall` of a round from its live turnout and its result rules."""
    data = turnout(rnd)
    return shortfall(data["actual"], data["expected"], round_rules(rnd.form).min_turnout)


def shortfall_text(short: dict[str, Any]) -> str:
    """参评率 X% 低于规定的 Y%，关闭后结果不能公布。"""
    return (f"参评率 {short['turnout_pct']:g}%（实到 {short['cast']} / 应到 {short['expected']}）"
            f"低于规定的 {short['min_turnout_pct']:g}%，关闭后结果不能公布。")


def refuse_below_turnout(rnd: Any) -> None:
    """409 `below_turnout` with the figures when closing now would leave results that
    can never be published; nothing is changed."""
    short = round_shortfall(rnd) if rnd.status == "open" else None
    if short is None:
        return
    raise ApiError("below_turnout", shortfall_text(short) + "可继续等待，或确认后仍然结束投票。",
                   f"turnout {short['turnout_pct']:g}% ({short['cast']} of {short['expected']}) "
                   f"is below the round's minimum of {short['min_turnout_pct']:g}%; closing now "
                   "leaves results that cannot be published (close without check_turnout to "
                   "close anyway)", 409, "check_turnout", details=short)
