"""`summary --as-of`: a day summary exactly as it stood at a past moment.

The log records when it stored each event, so the past is a prefix of the log: replay
the conference's events up to that moment into a private in-memory timeline and read
the summary from it. The live projection is not touched.
"""

from __future__ import annotations

import datetime as dt

from ..errors import InvalidEvent, NotFound
from ..store import EventLog
from ..store.sqlite.timeline import PrivateTimeline
from ..store.timeline import Timeline
from .model import Node, build_day_summary

__all__ = ["PrivateTimeline", "position_at", "summary_as_of", "summary_replayed"]


def position_at(timeline: Timeline, moment: dt.datetime) -> int:
    """The last position recorded at or before `moment` (0 if none).

    `recorded_at` is assigned under the write lock, so it grows with position; a binary
    search by position costs O(log n) lookups instead of a scan.
    """
    try:
        stamp = moment.astimezone(dt.UTC).isoformat(timespec="microseconds")
    except OverflowError:
        raise InvalidEvent(f"--as-of {moment.isoformat()} is out of range") from None
    low, high = 0, timeline.head()
    while low < high:
        middle = (low + high + 1) // 2
        recorded = timeline.recorded_at(middle)
        if recorded is not None and recorded <= stamp:
            low = middle
        else:
            high = middle - 1
    return low


def summary_replayed(log: EventLog, conference: str, day: int, until: int | None = None) -> Node:
    """The summary from a private replay of the log up to `until` (default: all of it):
    for a reader that cannot bring the live projection up to date (a read-only log)."""
    with PrivateTimeline() as past:
        for chunk in log.records(until=until, conference=conference):
            past.apply(chunk)
        return build_day_summary(past.timeline, conference, day)


def summary_as_of(
    log: EventLog, timeline: Timeline, conference: str, day: int, moment: dt.datetime
) -> Node:
    """The summary of that day as `log` held it at `moment` (`timeline` says when each
    position was recorded)."""
    until = position_at(timeline, moment)
    try:
        return summary_replayed(log, conference, day, until)
    except NotFound:
        stamp = moment.isoformat(timespec="minutes")
        raise NotFound(
            f"nothing of {conference} day {day} had been recorded by {stamp} "
            "(--as-of is the time the log recorded events, not when they happened)"
        ) from None
