"""Points periods: the quarters of a year and the year itself, in China time.

A period is (year, quarter) with quarter 1-4, or quarter 0 for the whole year.
Codes are "2026Q3" and "2026". Quarter entries count towards their year too.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from server.core.clock import CHINA

QUARTER_NAMES = {1: "第一季度", 2: "第二季度", 3: "第三季度", 4: "第四季度"}
_CODE = re.compile(r"^\s*(\d{4})\s*(?:[-_ ]?[Qq]([1-4]))?\s*$")
_ZH = re.compile(r"^\s*(\d{4})\s*年?\s*(?:第?([一二三四1-4])季度)?\s*(?:度)?\s*$")
_ZH_DIGITS = {"一": 1, "二": 2, "三": 3, "四": 4}
MIN_YEAR, MAX_YEAR = 2000, 2100


class PeriodError(ValueError):
    """Not a period code."""


@dataclass(frozen=True, order=True)
class Period:
    year: int
    quarter: int = 0  # 0: the whole year

    def __post_init__(self) -> None:
        if not (MIN_YEAR <= self.year <= MAX_YEAR) or self.quarter not in (0, 1, 2, 3, 4):
            raise PeriodError(f"no such period: {self.year} Q{self.quarter}")

    @property
    def is_year(self) -> bool:
        return self.quarter == 0

    @property
    def code(self) -> str:
        return str(self.year) if self.is_year else f"{self.year}Q{self.quarter}"

    @property
    def label(self) -> str:
        return f"{self.year}年度" if self.is_year else f"{self.year}年{QUARTER_NAMES[self.quarter]}"

    @property
    def year_period(self) -> Period:
        return Period(self.year, 0)

    @property
    def start(self) -> dt.date:
        return dt.date(self.year, 1 if self.is_year else 3 * self.quarter - 2, 1)

    @property
    def end(self) -> dt.date:
        """The first day after the period (when its standings may be published)."""
        if self.is_year or self.quarter == 4:
            return dt.date(self.year + 1, 1, 1)
        return dt.date(self.year, 3 * self.quarter + 1, 1)

    def __str__(self) -> str:
        return self.code


def parse_period(text: str | Period) -> Period:
    """"2026Q3", "2026-q3", "2026", "2026年第三季度", "2026年度" → Period."""
    if isinstance(text, Period):
        return text
    raw = str(text or "")
    m = _CODE.match(raw)
    if m:
        return Period(int(m.group(1)), int(m.group(2) or 0))
    m = _ZH.match(raw)
    if m:
        q = m.group(2)
        return Period(int(m.group(1)), _ZH_DIGITS.get(q, 0) if q and not q.isdigit()
                      else int(q or 0))
    raise PeriodError(f"not a period: {raw!r} (expected e.g. 2026Q3 or 2026)")


def china_date(now: dt.datetime | None = None) -> dt.date:
    """Today's date in China; `now` is naive UTC (as stored) or aware."""
    now = now or dt.datetime.now(dt.UTC)
    if now.tzinfo is None:
        now = now.replace(tzinfo=dt.UTC)
    return now.astimezone(CHINA).date()


def current_quarter(now: dt.datetime | None = None) -> Period:
    today = china_date(now)
    return Period(today.year, (today.month - 1) // 3 + 1)


def periods_of(year: int) -> list[Period]:
    """The four quarters, then the year."""
    return [Period(year, q) for q in (1, 2, 3, 4)] + [Period(year, 0)]
