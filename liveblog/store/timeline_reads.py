"""The timeline's reads that both backends run alike: one implementation of the
`Timeline` methods whose statements differ only in their placeholders.

`SqliteTimeline` and `PostgresTimeline` inherit `TimelineReads`; each keeps its own
where the SQL differs (arrays against IN lists, its view against a join, an ORDER BY
tie-breaker). Every method is one statement, as it was in each backend (the texts are
converted once per dialect): publishing's reads keep their round trips.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from typing import ClassVar

from .dialect import Dialect, Executes
from .rows import CONFERENCE_COLUMNS, conference_from_row
from .timeline import (
    ClosedDay,
    Conference,
    Day,
    OriginalEntry,
    TimelineEntry,
    Tombstone,
    parse_time,
)

CONFERENCES = "timeline_conferences"
DAYS = "timeline_days"
REPORTERS = "timeline_reporters"
ENTRIES = "timeline_entries"
EDITS = "timeline_edits"
TIMELINE = "timeline"
ENTRIES_FROM = f"{ENTRIES} AS e JOIN events AS ev ON ev.position = e.position"
"""Each entry with its event (the event's data, its original time)."""

_CONFERENCE = f"SELECT {CONFERENCE_COLUMNS} FROM {CONFERENCES} WHERE slug = ?"
_SLUGS = f"SELECT slug FROM {CONFERENCES} ORDER BY slug"
_DAY = (
    f"SELECT conference, number, date, title, opened_at, closed_at, changed_position "
    f"FROM {DAYS} WHERE conference = ? AND number = ?"
)
_DAYS = f"SELECT number, changed_position FROM {DAYS} WHERE conference = ? ORDER BY number"
_CLOSED_DAYS = (
    f"SELECT number, title, date, closed_at, changed_position FROM {DAYS} "
    "WHERE conference = ? AND closed_at IS NOT NULL ORDER BY number"
)
_REPORTERS = (
    f"SELECT author FROM {REPORTERS} WHERE conference = ? AND day = ? ORDER BY first_position"
)
_LIVE = (
    f"SELECT position FROM {ENTRIES} WHERE conference = ? AND position > ? "
    "ORDER BY position DESC LIMIT ?"
)
_RECENTLY_CHANGED = (
    # Word for word the predicate of the `_changed` partial index, so the planner takes
    # it: walked backwards, past the few live entries changed, never the conference's.
    f"SELECT position FROM {ENTRIES} WHERE conference = ? "
    "AND changed_position > position AND {not_retracted} AND position <= ? "
    "ORDER BY changed_position DESC, position DESC LIMIT ?"
)
_ARCHIVED = (
    f"SELECT position FROM {ENTRIES} WHERE conference = ? AND position <= ? "
    "AND {not_retracted} ORDER BY position DESC LIMIT ?"
)
_TOMBSTONES = (
    f"SELECT entry, occurred_at, author, changes FROM {EDITS} "
    "WHERE conference = ? AND type = 'entry.retracted' ORDER BY position DESC LIMIT ?"
)
_ARCHIVE_BLOCK = (
    f"SELECT position FROM {ENTRIES} WHERE conference = ? AND position > ? "
    "ORDER BY position LIMIT ?"
)
_ORIGINALS = (
    "SELECT e.position, e.id, e.kind, e.day, e.author, ev.occurred_at, "
    f"coalesce(e.upcast, ev.data) FROM {ENTRIES_FROM} "
    "WHERE e.conference = ? AND e.position BETWEEN ? AND ? ORDER BY e.position"
)
_OCCURRED_AT = "SELECT occurred_at FROM events WHERE position = ?"
_RECORDED_AT = "SELECT recorded_at FROM events WHERE position = ?"
_ANY = f"SELECT 1 FROM {CONFERENCES} LIMIT 1"
_EVERY = f"SELECT slug, last_position FROM {CONFERENCES} ORDER BY slug"
_CHANGED_AFTER = (
    f"SELECT slug, last_position FROM {CONFERENCES} WHERE last_position > ? ORDER BY {{by_last}}"
)
_LAGGING_COUNT = f"SELECT count(*) FROM {CONFERENCES} WHERE last_position > ?"
_LAGGING = (
    f"SELECT slug, last_position FROM {CONFERENCES} WHERE last_position > ? "
    "ORDER BY {by_last} LIMIT ?"
)


class TimelineReads:
    """The shared half of a backend's `Timeline` (the class that inherits it gives
    `conn`, `dialect` and the reads whose SQL is its own)."""

    conn: Executes
    dialect: ClassVar[Dialect]
    NOT_RETRACTED: ClassVar[str]
    """How the dialect says "not retracted" (SQLite keeps 0/1, PostgreSQL a boolean)."""
    BY_LAST: ClassVar[str]
    """The order of conferences by their newest event (PostgreSQL adds a tie-breaker)."""

    def _entries_at(self, positions: list[int]) -> list[TimelineEntry]:
        """The entries at `positions` that are not retracted (one statement)."""
        raise NotImplementedError

    def _counts(self, table: str, slugs: Iterable[str] | None) -> dict[str, int]:
        """Rows of `table` per conference: of `slugs` (each, 0 if none), or of all."""
        raise NotImplementedError

    # -- conferences and days -------------------------------------------------------------

    def conference(self, slug: str) -> Conference | None:
        row = self.conn.execute(self.dialect.sql(_CONFERENCE), (slug,)).fetchone()
        return conference_from_row(row) if row is not None else None

    def conference_slugs(self) -> list[str]:
        return [r[0] for r in self.conn.execute(_SLUGS)]

    def day(self, conference: str, number: int) -> Day | None:
        row = self.conn.execute(self.dialect.sql(_DAY), (conference, number)).fetchone()
        return Day(*row) if row else None

    def days(self, conference: str) -> list[tuple[int, int]]:
        return [
            (r[0], int(r[1])) for r in self.conn.execute(self.dialect.sql(_DAYS), (conference,))
        ]

    def closed_days(self, conference: str) -> list[ClosedDay]:
        rows = self.conn.execute(self.dialect.sql(_CLOSED_DAYS), (conference,)).fetchall()
        return [ClosedDay(r[0], r[1], r[2], parse_time(r[3]), int(r[4])) for r in rows]

    def day_reporters(self, conference: str, number: int) -> list[str]:
        return [r[0] for r in self.conn.execute(self.dialect.sql(_REPORTERS), (conference, number))]

    # -- entries ------------------------------------------------------------------------

    def live_entries(self, conference: str, size: int, archived_to: int) -> list[TimelineEntry]:
        conn, sql = self.conn, self.dialect.sql
        chosen = [r[0] for r in conn.execute(sql(_LIVE), (conference, archived_to, size))]
        if len(chosen) < size:
            # Room left: archived entries changed since they were posted (corrected,
            # pinned or unpinned, highlighted or unhighlighted), the latest change first,
            # so a correction or a mark reaches the live feed's readers.
            recent = sql(_RECENTLY_CHANGED.format(not_retracted=self.NOT_RETRACTED))
            chosen += [
                r[0] for r in conn.execute(recent, (conference, archived_to, size - len(chosen)))
            ]
        if len(chosen) < size:  # and then the newest archived ones, so a page is full
            archived = sql(_ARCHIVED.format(not_retracted=self.NOT_RETRACTED))
            chosen += [
                r[0]
                for r in conn.execute(archived, (conference, archived_to, size))
                if r[0] not in chosen
            ][: size - len(chosen)]
        if not chosen:
            return []
        return self._entries_at(chosen)

    def tombstones(self, conference: str, size: int) -> list[Tombstone]:
        rows = self.conn.execute(self.dialect.sql(_TOMBSTONES), (conference, size)).fetchall()
        return [
            Tombstone(r[0], parse_time(r[1]), r[2], json.loads(r[3]).get("reason")) for r in rows
        ]

    def archive_block(self, conference: str, after: int, size: int) -> list[int] | None:
        sql = self.dialect.sql(_ARCHIVE_BLOCK)
        rows = [int(r[0]) for r in self.conn.execute(sql, (conference, after, size + 1))]
        return rows if len(rows) == size + 1 else None

    def original_entries(self, conference: str, first: int, last: int) -> list[OriginalEntry]:
        rows = self.conn.execute(self.dialect.sql(_ORIGINALS), (conference, first, last)).fetchall()
        return [OriginalEntry(r[0], r[1], r[2], r[3], r[4], r[5], json.loads(r[6])) for r in rows]

    # -- positions --------------------------------------------------------------------------

    def occurred_at(self, position: int) -> dt.datetime | None:
        row = self.conn.execute(self.dialect.sql(_OCCURRED_AT), (position,)).fetchone()
        return parse_time(row[0]) if row else None

    def recorded_at(self, position: int) -> str | None:
        row = self.conn.execute(self.dialect.sql(_RECORDED_AT), (position,)).fetchone()
        return str(row[0]) if row else None

    # -- the publisher's selection ----------------------------------------------------------

    def any_conference(self) -> bool:
        return self.conn.execute(_ANY).fetchone() is not None

    def every_conference(self) -> list[tuple[str, int]]:
        return [(r[0], int(r[1])) for r in self.conn.execute(_EVERY)]

    def entry_counts(self, slugs: Iterable[str] | None) -> dict[str, int]:
        return self._counts(ENTRIES, slugs)

    def day_counts(self, slugs: Iterable[str] | None) -> dict[str, int]:
        return self._counts(DAYS, slugs)

    def changed_after(self, position: int) -> list[tuple[str, int]]:
        # A range scan of the last_position index, as long as the answer.
        sql = self.dialect.sql(_CHANGED_AFTER.format(by_last=self.BY_LAST))
        return [(r[0], int(r[1])) for r in self.conn.execute(sql, (position,))]

    def lagging(self, position: int, limit: int) -> tuple[int, list[tuple[str, int]]]:
        sql = self.dialect.sql
        count = self.conn.execute(sql(_LAGGING_COUNT), (position,)).fetchone()[0]
        rows = self.conn.execute(
            sql(_LAGGING.format(by_last=self.BY_LAST)), (position, limit)
        ).fetchall()
        return int(count), [(r[0], int(r[1])) for r in rows]
