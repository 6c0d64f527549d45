"""The event log on PostgreSQL: append-only, gap-free, commit-ordered, idempotent by id.

The same behaviour as SQLite's `EventLog` (`store/sqlite/log.py`), call for call; the
contract suite (`tests/contract/test_eventstore.py`) runs against both.

**Why positions are gap-free and commit-ordered.** Every append runs in a transaction
that first takes `LOG_LOCK` (a transaction-level advisory lock, `pg_advisory_xact_lock`:
see the driver for why not a table lock) and holds it through COMMIT, as PostgreSQL
releases such a lock only when the transaction ends; only then does it read the head and
write position head+1, … The lock admits one appender at a time (readers take no lock
and are never blocked), so the next
appender reads the head only after the previous one has committed: position N+1 cannot
be written, let alone committed, before N is committed and visible. No sequence is
used: a sequence hands out numbers outside the transaction, which a rollback turns into
gaps and concurrent transactions commit out of order (a reader would see N+1 while N is
still in flight, and a cursor "done up to N+1" would skip N for ever). The
`events_next` trigger (schema.py) backs this up for any writer that bypasses the lock:
its row must be max+1 as it sees the table, so it fails rather than overtakes.

NOTIFY (`liveblog_log`, from the `events_notify` trigger, in the appending transaction)
only wakes readers early (`wait_for_change`): a notification is lost across a reconnect
and does not pass PgBouncer in transaction mode, so every reader still compares
`change_mark()` or the head, and polls.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import time
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from typing import Any

from ...domain.envelope import Event
from ...domain.events import ENTRY_TYPES, MARK_TYPES
from ...errors import (
    InvalidEvent,
    ReadOnlyDatabase,
    StoreError,
    VersionConflict,
)
from ..appending import appended, check_batch, event_row, new_events
from ..dialect import POSTGRES
from ..log_reads import READ_CHUNK, LogReads
from ..records import CURRENT_SCHEMA, Appended
from ..rows import EVENT_COLUMNS, event_from_row
from . import driver
from .driver import PgConnection, connect, connect_direct, driver_errors
from .schema import NOTIFY_CHANNEL, ensure_schema

_COLUMNS = EVENT_COLUMNS
_READ_CHUNK = READ_CHUNK
_ID_CHUNK = 500
_CURRENT = CURRENT_SCHEMA
_ENTRY_TYPES = sorted(ENTRY_TYPES)

POLL_S = 0.25
"""`wait_for_change` looks at the change mark at least this often, notification or not."""

# Under LOG_LOCK, in one round trip (each an index lookup): each conference of the batch
# with its version, the head, the head's recording time, the server's clock, and which
# of the batch's ids are stored already (their rows are fetched only if there are any).
_NEXT = (
    "SELECT c.name, (SELECT coalesce(max(version), 0) FROM events WHERE conference = c.name), "
    "h.head, (SELECT recorded_at FROM events WHERE position = h.head), clock_timestamp(), "
    "array(SELECT id FROM events WHERE id = ANY(%s::text[])) "
    "FROM unnest(%s::text[]) AS c(name), "
    "(SELECT coalesce(max(position), 0) AS head FROM events) AS h"
)
_INSERT = f"INSERT INTO events ({_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"


def _json_scalar(value: object) -> tuple[str, str]:
    """A scalar as `->>` renders it from the stored JSON, and its `json_typeof`: matching
    both compares as SQLite's json_extract does (a string "1" is not the number 1).

    The data is read as `json`, not `jsonb`: `json` keeps the text as written, and
    accepts the escape `\\u0000` that `jsonb` refuses (a note may hold one)."""
    if isinstance(value, str):
        return value, "string"
    if isinstance(value, bool):
        return json.dumps(value), "boolean"
    return json.dumps(value), "number"


_EDITED = "was the events table written by another program?"
"""How an unreadable row may have got so (the end of its message)."""


def row_to_event(row: Sequence[Any]) -> Event:
    """An `events` row as a validated Event (UnreadableEvent for a row we cannot read)."""
    return event_from_row(row, _EDITED)


class PostgresEventStore(LogReads):
    """The `events` table of one PostgreSQL database, on one pooled connection.

    Opened read-only when asked (`verify`, `export`), on a hot standby, or when this
    role may not INSERT into `events`: reading works, every write raises
    ReadOnlyDatabase (and the session refuses writes too: default_transaction_read_only).
    """

    dialect = POSTGRES
    EDITED = _EDITED

    def __init__(self, url: str, *, readonly: bool = False, require_log: bool = True) -> None:
        self.url = url
        self.conn: PgConnection = connect(url)
        self._listener: PgConnection | None = None
        self._session_readonly = False
        try:
            state = ensure_schema(self.conn, url, readonly=readonly, require_log=require_log)
            self._why_readonly = (
                "asked to"
                if readonly
                else "the server is a standby"
                if state.standby
                else "this role may not INSERT into events"
                if state.has_log and not state.may_insert
                else ""
            )
            self.readonly = bool(self._why_readonly)
            if self.readonly:
                # Session-wide, so a sub-store's write on this connection is refused by
                # the server too; reset before the connection goes back to the pool.
                self.conn.execute("SET default_transaction_read_only = on")
                self._session_readonly = True
        except BaseException:
            self.conn.close()
            raise

    def require_writable(self) -> None:
        """Refuse, before anything is done, a command that writes to a read-only store."""
        if self.readonly:
            raise ReadOnlyDatabase(
                f"cannot write the database at {driver.describe(self.url)}: opened for "
                f"reading only ({self._why_readonly}); log, export, summary and status "
                "still work"
            )

    def close(self) -> None:
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        if self.conn.closed:
            return
        if self._session_readonly and not self.conn.in_transaction:
            with contextlib.suppress(StoreError):
                self.conn.execute("RESET default_transaction_read_only")
        self.conn.close()

    def __enter__(self) -> PostgresEventStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the unit of work and the change signal ----------------------------------------

    def writing(self) -> AbstractContextManager[PgConnection]:
        """One READ COMMITTED transaction holding LOG_LOCK through COMMIT: "read the
        context, then append" is atomic, and every sub-store on `conn` joins it."""
        self.require_writable()
        return self.conn.writing(lock_log=True)

    def snapshot(self) -> AbstractContextManager[PgConnection]:
        """One REPEATABLE READ, read-only transaction across several queries."""
        return self.conn.snapshot()

    def change_mark(self) -> int:
        """A digest of `pg_current_snapshot()`: it moves whenever any transaction that
        wrote anything commits (the committed one leaves the snapshot's in-progress list,
        or the snapshot's xmax moves past it), and costs no table lookup.

        Chosen over a counter row bumped by every writer, which would serialise every
        write of every sub-store on one row lock. It is cluster-wide, so commits in
        other databases move it too (a spurious wake-up, never a missed one); inside a
        `snapshot()` it stays put, as the snapshot's view does."""
        text = str(self.conn.execute("SELECT pg_current_snapshot()::text").fetchone()[0])
        return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")

    def wait_for_change(self, mark: int, timeout: float) -> bool:
        """Wait up to `timeout` seconds for `change_mark()` to differ from `mark`; True
        if it did. A NOTIFY from an append ends the wait early; without one (lost, not
        passed by a proxy, another kind of commit) the mark is polled every POLL_S."""
        deadline = time.monotonic() + timeout
        listener = self._listen()
        while True:
            if self.change_mark() != mark:
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            pause = min(POLL_S, left)
            if listener is None:
                time.sleep(pause)
                continue
            try:
                with driver_errors():
                    for _ in listener.raw.notifies(timeout=pause, stop_after=1):
                        pass
            except StoreError:
                # The LISTEN connection broke: carry on polling, reconnect next time.
                listener.close()
                self._listener = listener = None

    def _listen(self) -> PgConnection | None:
        if self._listener is None:
            try:
                listener = connect_direct(self.url)
            except StoreError:
                return None  # polling alone still works
            try:
                listener.execute(f"LISTEN {NOTIFY_CHANNEL}")
            except StoreError:
                listener.close()
                return None  # a standby, a proxy: polling alone still works
            self._listener = listener
        return self._listener

    # -- writing ---------------------------------------------------------------------

    def append(
        self, events: Iterable[Event], expected_version: int | None = None
    ) -> list[Appended]:
        """Append `events` atomically, in order (see EventStore.append)."""
        batch = list(events)
        if not batch:
            return []
        self.require_writable()
        check_batch(batch, expected_version)
        ids = list(dict.fromkeys(event.id for event in batch))
        names = list(dict.fromkeys(event.conference for event in batch))
        with self.conn.writing(lock_log=True):
            rows = self.conn.execute(_NEXT, (ids, names)).fetchall()
            existing = self._existing(list(rows[0][5])) if rows[0][5] else {}
            new = new_events(batch, existing)
            stored = self._insert(list(new.values()), rows, expected_version) if new else {}
        return appended(batch, new, existing, stored)

    def _existing(self, ids: list[str]) -> dict[str, Event]:
        """The stored events among `ids`, with their rows (one query per 500 ids)."""
        found: dict[str, Event] = {}
        unique = list(dict.fromkeys(ids))
        for start in range(0, len(unique), _ID_CHUNK):
            chunk = unique[start : start + _ID_CHUNK]
            sql = f"SELECT {_COLUMNS} FROM events WHERE id = ANY(%s)"
            for row in self.conn.execute(sql, (chunk,)):
                found[row[1]] = row_to_event(row)
        return found

    def _insert(
        self, events: list[Event], state: list[Any], expected_version: int | None
    ) -> dict[str, tuple[int, int, dt.datetime]]:
        """Write `events` (none of them stored) after the head; `state` is `_NEXT`'s rows."""
        versions = {str(row[0]): int(row[1]) for row in state}
        position, last_stamp, now = int(state[0][2]), state[0][3], state[0][4]
        if expected_version is not None:
            (conference,) = versions
            if versions[conference] != expected_version:
                raise VersionConflict(conference, expected_version, versions[conference])
        # The server's clock, read under the lock, and never below the head's: recording
        # times grow with position whichever node appends (`position_at` relies on it).
        stamp = now.astimezone(dt.UTC).isoformat(timespec="microseconds")
        if last_stamp is not None and str(last_stamp) > stamp:
            stamp = str(last_stamp)
        recorded_at = dt.datetime.fromisoformat(stamp)
        values = []
        stored: dict[str, tuple[int, int, dt.datetime]] = {}
        for event in events:
            position += 1
            versions[event.conference] += 1
            version = versions[event.conference]
            values.append(event_row(event, position, version, stamp))
            stored[event.id] = (position, version, recorded_at)
        if len(values) == 1:
            self.conn.execute(_INSERT, values[0])
        else:
            # psycopg pipelines executemany: one round trip for the batch.
            self.conn.executemany(_INSERT, values)
        return stored

    # -- reading ---------------------------------------------------------------------

    def _lazy_data(self, types: list[str]) -> tuple[str, list[Any]]:
        # `?`: it joins the shared statement of `LogReads.records` (turned into %s there).
        skip = " OR ".join("(type = ? AND schema_version = ?)" for _ in types)
        return skip, [value for t in types for value in (t, _CURRENT[t])]

    # -- the context's queries (liveblog.domain.context): each one indexed lookup ------

    def ended_after(
        self, end_type: str, conference: str, after: int, field: str, value: object
    ) -> bool:
        if not field.isidentifier():
            raise InvalidEvent(f"not a field name: {field!r}")
        text, kind = _json_scalar(value)
        return self._exists(
            "type = %s AND conference = %s AND position > %s "
            "AND (data::json ->> %s::text) = %s AND json_typeof(data::json -> %s::text) = %s",
            (end_type, conference, after, field, text, field, kind),
        )

    def has_day(self, conference: str, number: int) -> bool:
        return self._exists(
            "type = 'day.opened' AND conference = %s AND (data::json ->> 'number') = %s",
            (conference, str(number)),
        )

    def last_entry_of(self, author: str, conference: str | None = None) -> Event | None:
        where = "author = %s AND type = ANY(%s)"
        params: tuple[object, ...] = (author, _ENTRY_TYPES)
        if conference is not None:
            where += " AND conference = %s"
            params += (conference,)
        return self._one(f"{where} ORDER BY position DESC LIMIT 1", params)

    def corrections_of(self, target: str) -> list[Event]:
        # The same terms as the partial expression index events_by_target.
        rows = self.conn.execute(
            f"SELECT {_COLUMNS} FROM events WHERE (data::json ->> 'target') = %s "
            "AND type IN ('entry.corrected', 'entry.retracted') ORDER BY position",
            (target,),
        ).fetchall()
        return [row_to_event(r) for r in rows]

    def marks_of(self, conference: str) -> list[Event]:
        rows = self.conn.execute(
            f"SELECT {_COLUMNS} FROM events WHERE type = ANY(%s) AND conference = %s "
            "ORDER BY position",
            (list(MARK_TYPES), conference),
        ).fetchall()
        return [row_to_event(r) for r in rows]


__all__ = ["POLL_S", "PostgresEventStore", "row_to_event"]
