"""The event log: append-only, gap-free, idempotent by event id.

`append` is atomic for a batch and runs under BEGIN IMMEDIATE, so concurrent writers
(several reporters' CLIs, the service) queue on SQLite's lock instead of failing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from ...domain.envelope import Event
from ...domain.events import ENTRY_TYPES, MARK_TYPES
from ...errors import (
    InvalidEvent,
    ReadOnlyDatabase,
    VersionConflict,
)
from ..appending import appended, check_batch, encode_data, event_row, new_events
from ..dialect import SQLITE
from ..log_reads import READ_CHUNK, LogReads
from ..records import CURRENT_SCHEMA, Appended, Record
from ..rows import EVENT_COLUMNS, event_from_row
from .driver import Connection, read_transaction, write_transaction
from .opening import open_database
from .schema import ensure_schema

_COLUMNS = EVENT_COLUMNS
_READ_CHUNK = READ_CHUNK
_CURRENT = CURRENT_SCHEMA


_EDITED = "was events.db edited by hand?"
"""How an unreadable row may have got so (the end of its message)."""


def row_to_event(row: Sequence[Any]) -> Event:
    """An `events` row as a validated Event (UnreadableEvent for a row we cannot read)."""
    return event_from_row(row, _EDITED)


class EventLog(LogReads):
    """The `events` table of one events.db.

    Opened read-only when this user cannot write the file or its directory (or when
    asked: `verify`): reading works, and every write raises ReadOnlyDatabase.
    """

    dialect = SQLITE
    EDITED = _EDITED

    def __init__(
        self, path: str | Path, *, readonly: bool = False, require_log: bool = True
    ) -> None:
        self.path = Path(path)
        opened = open_database(self.path, readonly=readonly, require_log=require_log)
        self.conn: Connection = opened.conn
        self.readonly = opened.readonly
        try:
            ensure_schema(self.conn, readonly=self.readonly)
        except BaseException:
            self.conn.close()
            raise

    def require_writable(self) -> None:
        """Refuse, before anything is done, a command that writes to a read-only log."""
        if self.readonly:
            raise ReadOnlyDatabase(
                f"cannot write {self.path}: this user may only read it (the file or its "
                "directory is read-only); log, export, summary and status still work"
            )

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> EventLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing ---------------------------------------------------------------------

    def append(
        self, events: Iterable[Event], expected_version: int | None = None
    ) -> list[Appended]:
        """Append `events` atomically, in order.

        An event whose id is already stored with the same content is returned as stored
        and not written again; the same id with other content raises ConflictingEvent.
        `expected_version` is the conference's version before this batch (all events of
        the batch must then belong to one conference); a mismatch raises VersionConflict
        naming the actual version.
        """
        batch = list(events)
        if not batch:
            return []
        self.require_writable()
        check_batch(batch, expected_version)
        with write_transaction(self.conn):
            existing = self._existing([event.id for event in batch])
            new = new_events(batch, existing)
            if new and expected_version is not None:
                conference = batch[0].conference  # the only one: check_batch
                actual = self.version(conference)
                if actual != expected_version:
                    raise VersionConflict(conference, expected_version, actual)
            stored = self._insert(list(new.values())) if new else {}
        return appended(batch, new, existing, stored)

    def _existing(self, ids: list[str]) -> dict[str, Event]:
        """The stored events among `ids`, looked up in chunks (one query per 500 ids)."""
        found: dict[str, Event] = {}
        unique = list(dict.fromkeys(ids))
        for start in range(0, len(unique), 500):
            chunk = unique[start : start + 500]
            marks = ", ".join("?" * len(chunk))
            for row in self.conn.execute(
                f"SELECT {_COLUMNS} FROM events WHERE id IN ({marks})", chunk
            ):
                found[row[1]] = row_to_event(row)
        return found

    def _insert(self, events: list[Event]) -> dict[str, tuple[int, int, dt.datetime]]:
        position = self.head()
        versions: dict[str, int] = {}
        recorded_at = dt.datetime.now(dt.UTC)
        # Always with microseconds, so recorded_at sorts as text (`summary --as-of`).
        stamp = recorded_at.isoformat(timespec="microseconds")
        rows = []
        stored: dict[str, tuple[int, int, dt.datetime]] = {}
        for event in events:
            position += 1
            if event.conference not in versions:
                versions[event.conference] = self.version(event.conference)
            versions[event.conference] += 1
            version = versions[event.conference]
            rows.append(event_row(event, position, version, stamp))
            stored[event.id] = (position, version, recorded_at)
        self.conn.executemany(
            f"INSERT INTO events ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows
        )
        return stored

    # -- reading ---------------------------------------------------------------------

    def _lazy_data(self, types: list[str]) -> tuple[str, list[Any]]:
        # Literals (the registry's names and numbers): SQLite plans the CASE once.
        skip = " OR ".join(f"(type = '{t}' AND schema_version = {_CURRENT[t]})" for t in types)
        return skip, []

    # -- the context's queries (liveblog.domain.context): each one indexed lookup ------------

    def ended_after(
        self, end_type: str, conference: str, after: int, field: str, value: object
    ) -> bool:
        if not field.isidentifier():
            raise InvalidEvent(f"not a field name: {field!r}")
        return self._exists(
            f"type = ? AND conference = ? AND position > ? AND json_extract(data, '$.{field}') = ?",
            (end_type, conference, after, value),
        )

    def has_day(self, conference: str, number: int) -> bool:
        return self._exists(
            "type = 'day.opened' AND conference = ? AND json_extract(data, '$.number') = ?",
            (conference, number),
        )

    def last_entry_of(self, author: str, conference: str | None = None) -> Event | None:
        placeholders = ", ".join("?" * len(ENTRY_TYPES))
        where = f"author = ? AND type IN ({placeholders})"
        params: tuple[object, ...] = (author, *sorted(ENTRY_TYPES))
        if conference is not None:
            where += " AND conference = ?"
            params += (conference,)
        return self._one(f"{where} ORDER BY position DESC LIMIT 1", params)

    def corrections_of(self, target: str) -> list[Event]:
        # The same terms as the partial index events_by_target, so SQLite uses it.
        rows = self.conn.execute(
            f"SELECT {_COLUMNS} FROM events WHERE json_extract(data, '$.target') = ? "
            "AND type IN ('entry.corrected', 'entry.retracted') ORDER BY position",
            (target,),
        ).fetchall()
        return [row_to_event(r) for r in rows]

    def marks_of(self, conference: str) -> list[Event]:
        placeholders = ", ".join("?" * len(MARK_TYPES))
        rows = self.conn.execute(
            f"SELECT {_COLUMNS} FROM events WHERE type IN ({placeholders}) AND conference = ? "
            "ORDER BY position",
            (*MARK_TYPES, conference),
        ).fetchall()
        return [row_to_event(r) for r in rows]

    # -- SQLite only (benches, tests, modules not yet behind a protocol) --------------

    # -- the unit of work and the change signal ----------------------------------------

    def writing(self) -> AbstractContextManager[Connection]:
        """One BEGIN IMMEDIATE transaction that `append` (and every sub-store on this
        connection) joins."""
        self.require_writable()
        return write_transaction(self.conn)

    def snapshot(self) -> AbstractContextManager[Connection]:
        """One read snapshot (a deferred BEGIN) across several queries."""
        return read_transaction(self.conn)

    def change_mark(self) -> int:
        """`PRAGMA data_version`: moves whenever another connection commits."""
        return int(self.conn.execute("PRAGMA data_version").fetchone()[0])


SqliteEventStore = EventLog
"""The name the lead's design uses for sub-stores built on it (`SqliteTimeline(events)`)."""

__all__ = ["Appended", "EventLog", "Record", "SqliteEventStore", "encode_data", "row_to_event"]
