"""When to try a delivery again: a backoff schedule with jitter, and `Retry-After`."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from ..errors import InvalidWebhook

DEFAULT_SCHEDULE = "5s,5m,30m,2h,5h,10h,10h"
# A receiver asking for more than a day is treated as asking for a day.
MAX_RETRY_AFTER = 86_400.0
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86_400.0}
_STEP = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h|d)$")


def parse_schedule(text: str) -> tuple[float, ...]:
    """`5s,5m,30m,2h` → delays in seconds, one per retry after the first attempt."""
    delays = []
    for step in text.split(","):
        match = _STEP.match(step.strip())
        if not match:
            raise InvalidWebhook(
                f"retry schedule step {step.strip()!r} is not a duration such as 500ms, 5s, "
                "5m, 2h or 1d"
            )
        delays.append(float(match[1]) * _UNITS[match[2]])
    return tuple(delays)


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a `Retry-After` header (seconds or an HTTP date)."""
    import email.utils

    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), MAX_RETRY_AFTER)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return min(max(when.timestamp() - now, 0.0), MAX_RETRY_AFTER)


@dataclass(frozen=True)
class RetryPolicy:
    schedule: tuple[float, ...] = field(default_factory=lambda: parse_schedule(DEFAULT_SCHEDULE))
    jitter: float = 0.2  # each delay is stretched or shrunk by up to this fraction

    @property
    def max_attempts(self) -> int:
        return len(self.schedule) + 1

    def delay(self, attempts: int, retry_after: float | None = None) -> float | None:
        """Seconds until the next attempt after `attempts` failed ones; None when the
        schedule is exhausted (the delivery is dead-lettered)."""
        if attempts >= self.max_attempts:
            return None
        import random

        base = self.schedule[attempts - 1]
        delay = base * random.uniform(1 - self.jitter, 1 + self.jitter)
        # A receiver's Retry-After is honoured as a minimum: a short one never burns
        # through the schedule meant to span days.
        return delay if retry_after is None else max(delay, retry_after)
