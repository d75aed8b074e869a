"""China time: the one zone the application shows and reads dates in (UTC+8, no DST).

The database holds naive UTC; deadlines, expiry dates and every shown time are China time.
"""

from __future__ import annotations

import datetime as dt

CHINA = dt.timezone(dt.timedelta(hours=8))


def utcnow() -> dt.datetime:
    """Now as the database holds it: naive UTC."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def china_time(value: dt.datetime | None) -> str:
    """A naive UTC datetime shown in China time, e.g. "2026-05-01 14:30"; None → ""."""
    if value is None:
        return ""
    return value.replace(tzinfo=dt.UTC).astimezone(CHINA).strftime("%Y-%m-%d %H:%M")
