"""`summary --as-of`: a day summary exactly as it stood at a past moment.

The log records when it stored each event, so the past is a prefix of the log: replay
the conference's events up to that moment into a private in-memory timeline and read
the summary from it. The live projection is not touched.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from ..errors import NotFound
from ..store.sqlite.timeline import PrivateTimeline
from .model import Node, build_day_summary

if TYPE_CHECKING:
    from ..store.eventstore import EventStore

__all__ = ["PrivateTimeline", "summary_as_of", "summary_replayed"]


def summary_replayed(log: EventStore, conference: str, day: int, until: int | None = None) -> Node:
    """The summary from a private replay of the log up to `until` (default: all of it):
    for a reader that cannot bring the live projection up to date (a read-only log)."""
    with PrivateTimeline() as past:
        for chunk in log.records(until=until, conference=conference):
            past.apply(chunk)
        return build_day_summary(past.timeline, conference, day)


def summary_as_of(log: EventStore, conference: str, day: int, moment: dt.datetime) -> Node:
    """The summary of that day as `log` held it at `moment` (the log records when it
    stored each position: `position_at`)."""
    until = log.position_at(moment)
    try:
        return summary_replayed(log, conference, day, until)
    except NotFound:
        stamp = moment.isoformat(timespec="minutes")
        raise NotFound(
            f"nothing of {conference} day {day} had been recorded by {stamp} "
            "(--as-of is the time the log recorded events, not when they happened)"
        ) from None
