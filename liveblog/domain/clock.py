"""Times as reporters type them: `--at` values, read in the conference's timezone."""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo

from ..errors import InvalidEvent

EARLIEST, LATEST = 1900, 2199
_TIME_ONLY = re.compile(r"^\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?$")


def zone(name: str) -> dt.tzinfo:
    return zoneinfo.ZoneInfo(name)


def now(tz: dt.tzinfo) -> dt.datetime:
    return dt.datetime.now(tz)


def parse_at(text: str, tz: dt.tzinfo, *, today: dt.date | None = None) -> dt.datetime:
    """An ISO 8601 time; a naive one, or a bare `HH:MM[:SS]` (today), is in `tz`."""
    value = text.strip()
    try:
        if _TIME_ONLY.match(value):
            clock = dt.time.fromisoformat(value.zfill(len(value) + (value.index(":") == 1)))
            day = today or dt.datetime.now(tz).date()
            parsed = dt.datetime.combine(day, clock)
        else:
            parsed = dt.datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError:
        raise InvalidEvent(
            f"--at {text!r} is not a time: use ISO 8601 such as 2011-06-09T10:05 or 10:05"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=tz)
    if not EARLIEST <= parsed.year <= LATEST:
        # Far-off years are typos, and an append-only log would keep them for ever.
        raise InvalidEvent(f"--at {text!r} is out of range: use a year from {EARLIEST} to {LATEST}")
    return parsed
