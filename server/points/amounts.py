"""Points as exact integers of tenths (12.5 points = 125): parsing and formatting.

Every amount in the ledger, the caps and the Redis boards is an int of tenths,
so sums never drift and a Redis score (a double) holds them exactly.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation
from typing import Any

_TEXT = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")


class AmountError(ValueError):
    """Not a number of points with at most one decimal."""


def to_tenths(value: Any) -> int:
    """2 → 20, 2.5 → 25, "0.5" → 5, "１２" → 120; more than one decimal is an error."""
    if isinstance(value, bool) or value is None:
        raise AmountError("not a number")
    if isinstance(value, int):
        return value * 10
    if isinstance(value, float):
        if not math.isfinite(value):
            raise AmountError("not a finite number")
        text = repr(value)
    elif isinstance(value, Decimal):
        text = str(value)
    else:
        # Full-width digits and the Chinese decimal point are common in Excel sheets.
        text = str(value).strip().translate(_FULL_WIDTH).replace(" ", "")
        if not _TEXT.match(text):
            raise AmountError(f"not a number: {value!r}")
    try:
        exact = Decimal(text) * 10
    except InvalidOperation:
        raise AmountError(f"not a number: {value!r}") from None
    if exact != exact.to_integral_value():
        raise AmountError("at most one decimal")
    if abs(exact) > 10**9:
        raise AmountError("too large")
    return int(exact)


_FULL_WIDTH = str.maketrans("０１２３４５６７８９．－＋", "0123456789.-+")


def fmt(tenths: int | None, signed: bool = False) -> str:
    """125 → "12.5", 120 → "12", -25 → "-2.5" (with signed=True, 25 → "+2.5")."""
    if tenths is None:
        return ""
    sign = "-" if tenths < 0 else ("+" if signed and tenths > 0 else "")
    whole, tenth = divmod(abs(int(tenths)), 10)
    return f"{sign}{whole}" if tenth == 0 else f"{sign}{whole}.{tenth}"


def as_float(tenths: int) -> float:
    return tenths / 10
