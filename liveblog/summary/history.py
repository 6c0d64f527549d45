"""`summary --as-of`: a day summary exactly as it stood at a past moment.

The log records when it stored each event, so the past is a prefix of the log: replay
the conference's events up to that moment into a private in-memory timeline and read
the summary from it. The live projection is not touched.
"""

from __future__ import annotations

import datetime as dt

from ..errors import InvalidEvent, NotFound
from ..projections.timeline import TimelineProjection
from ..store import EventLog
from ..store.sqlite.driver import connect
from ..store.sqlite.log import Record
from ..store.sqlite.replay import copy_records, create_copy
from .model import Node, build_day_summary


def position_at(log: EventLog, moment: dt.datetime) -> int:
    """The last position recorded at or before `moment` (0 if none).

    `recorded_at` is assigned under the write lock, so it grows with position; a binary
    search by primary key costs O(log n) lookups instead of a scan.
    """
    try:
        stamp = moment.astimezone(dt.UTC).isoformat(timespec="microseconds")
    except OverflowError:
        raise InvalidEvent(f"--as-of {moment.isoformat()} is out of range") from None
    low, high = 0, log.head()
    while low < high:
        middle = (low + high + 1) // 2
        row = log.query("SELECT recorded_at FROM events WHERE position = ?", (middle,))
        if row and row[0][0] <= stamp:
            low = middle
        else:
            high = middle - 1
    return low


class PrivateTimeline:
    """A conference's past, replayed into a private in-memory timeline.

    Its events table is a `store.replay` copy: none of the log's triggers, which would
    refuse a one-conference copy (its positions have gaps)."""

    def __init__(self) -> None:
        self.conn = connect(":memory:")
        create_copy(self.conn)
        self.projection = TimelineProjection()
        self.projection.create(self.conn)

    def apply(self, records: list[Record]) -> None:
        copy_records(self.conn, records)
        self.projection.apply(self.conn, records)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> PrivateTimeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def summary_replayed(log: EventLog, conference: str, day: int, until: int | None = None) -> Node:
    """The summary from a private replay of the log up to `until` (default: all of it):
    for a reader that cannot bring the live projection up to date (a read-only log)."""
    with PrivateTimeline() as past:
        for chunk in log.records(until=until, conference=conference):
            past.apply(chunk)
        return build_day_summary(past.conn, conference, day)


def summary_as_of(log: EventLog, conference: str, day: int, moment: dt.datetime) -> Node:
    until = position_at(log, moment)
    try:
        return summary_replayed(log, conference, day, until)
    except NotFound:
        stamp = moment.isoformat(timespec="minutes")
        raise NotFound(
            f"nothing of {conference} day {day} had been recorded by {stamp} "
            "(--as-of is the time the log recorded events, not when they happened)"
        ) from None
