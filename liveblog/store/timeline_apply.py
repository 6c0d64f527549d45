"""What the timeline projection does alike on both backends while applying a chunk.

Each backend maps entries, corrections, ends and retractions its own way (SQLite in
SQL over its view, PostgreSQL in array statements and Python); both track which days
and conferences a chunk changed (`ChunkChanges`) and apply the calendar's events —
conferences and days opened and closed: rare, one statement each — with the same
statements (`apply_calendar`).
"""

from __future__ import annotations

from .dialect import Dialect, Executes
from .records import Record
from .timeline_reads import CONFERENCES, DAYS

CALENDAR_TYPES = frozenset({"day.opened", "day.closed", "conference.opened", "conference.closed"})

_DAY_OPENED = (
    f"INSERT INTO {DAYS} (conference, number, date, title, opened_at, changed_position) "
    "VALUES (?, ?, ?, ?, ?, ?)"
)
_DAY_CLOSED = f"UPDATE {DAYS} SET closed_at = ? WHERE conference = ? AND number = ?"
_CONFERENCE_OPENED = (
    f"INSERT INTO {CONFERENCES} (slug, title, venue, timezone, url, language, opened_at, "
    "changed_position, last_position) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_CONFERENCE_CLOSED = f"UPDATE {CONFERENCES} SET closed_at = ?, changed_position = ? WHERE slug = ?"


class ChunkChanges:
    """The newest position at which a chunk changed each day and each conference
    (written back in the chunk's last statements)."""

    def __init__(self) -> None:
        self.days: dict[tuple[str, int], int] = {}
        self.conferences: dict[str, int] = {}

    def conference_changed(self, conference: str, position: int) -> None:
        self.conferences[conference] = max(position, self.conferences.get(conference, 0))

    def day_changed(self, conference: str, day: int, position: int) -> None:
        key = (conference, day)
        self.days[key] = max(position, self.days.get(key, 0))
        # A correction names its target's conference: the one whose pages change.
        self.conference_changed(conference, position)


def apply_calendar(conn: Executes, dialect: Dialect, changes: ChunkChanges, r: Record) -> None:
    """Apply `r`, an event of CALENDAR_TYPES (the first opening of a key wins)."""
    d = r.data
    t = r.type
    if t == "day.opened":
        conn.execute(
            dialect.insert_ignoring(_DAY_OPENED),
            (r.conference, d["number"], d["date"], d.get("title"), r.occurred_at, r.position),
        )
    elif t == "day.closed":
        conn.execute(dialect.sql(_DAY_CLOSED), (r.occurred_at, r.conference, d["number"]))
        changes.day_changed(r.conference, d["number"], r.position)
    elif t == "conference.opened":
        conn.execute(
            dialect.insert_ignoring(_CONFERENCE_OPENED),
            (
                r.conference,
                d["title"],
                d.get("venue"),
                d["timezone"],
                d.get("url"),
                d["language"],
                r.occurred_at,
                r.position,
                r.position,
            ),
        )
    elif t == "conference.closed":
        conn.execute(dialect.sql(_CONFERENCE_CLOSED), (r.occurred_at, r.position, r.conference))
