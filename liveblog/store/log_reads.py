"""The event log's reads that both backends run alike: one implementation of the
`EventStore` reads whose statements differ only in their placeholders (and of the
domain context's lookups, `liveblog.domain.context`, each one indexed query).

`EventLog` (SQLite) and `PostgresEventStore` inherit `LogReads`; each keeps the reads
whose SQL is its own (JSON fields, id lists, the lazy columns of `records`). Every
method runs the statements it ran in each backend, in as many round trips.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterator, Sequence
from typing import Any, ClassVar

from ..domain.envelope import Event
from ..errors import AmbiguousId, InvalidEvent, NotFound
from .dialect import Dialect, Executes
from .records import CURRENT_SCHEMA, Record
from .rows import EVENT_COLUMNS, event_from_row

READ_CHUNK = 1_000
"""Events read per query by `read` (and records per chunk by default)."""

# coalesce: SQLite's ifnull is its two-argument form, the same plan (max() from the index).
_HEAD = "SELECT coalesce(max(position), 0) FROM events"
_VERSION = "SELECT coalesce(max(version), 0) FROM events WHERE conference = ?"
_DATA = "SELECT data FROM events WHERE position = ?"
_RECORDED_AT = "SELECT recorded_at FROM events WHERE position = ?"
_READ = f"SELECT {EVENT_COLUMNS} FROM events WHERE position > ? ORDER BY position LIMIT ?"
# A range scan on the unique index: ids sharing the prefix sort together (byte-wise on
# both backends: PostgreSQL's column is COLLATE "C").
_PREFIXED = f"SELECT {EVENT_COLUMNS} FROM events WHERE id >= ? AND id < ? ORDER BY id LIMIT 6"
_OPEN = (
    "SELECT conference FROM events WHERE type = 'conference.opened' "
    "AND conference NOT IN "
    "(SELECT conference FROM events WHERE type = 'conference.closed') "
    "ORDER BY position"
)
_OPENED = "SELECT conference FROM events WHERE type = 'conference.opened' LIMIT ?"
_LAST_OF = "SELECT conference FROM events WHERE author = ? ORDER BY position DESC LIMIT 1"


class LogReads:
    """The shared half of a backend's event store (the class that inherits it gives
    `conn`, `dialect`, `EDITED`, `head()` and the reads whose SQL is its own)."""

    conn: Executes
    dialect: ClassVar[Dialect]
    EDITED: ClassVar[str]
    """The end of an unreadable row's message: how it may have got so."""

    def _lazy_data(self, types: list[str]) -> tuple[str, list[Any]]:
        """The condition, and its parameters, under which `records` leaves out a row's
        data: a row of one of `types` stored under its current schema."""
        raise NotImplementedError

    def row_to_event(self, row: Sequence[Any]) -> Event:
        return event_from_row(row, self.EDITED)

    def _load_data(self, position: int) -> str:
        """A lazy record's data, fetched when a projection first reads it."""
        row = self.conn.execute(self.dialect.sql(_DATA), (position,)).fetchone()
        return str(row[0])

    def read(self, after: int = 0, *, limit: int | None = None) -> Iterator[Event]:
        """Events with position > `after`, in position order, read in chunks."""
        sql = self.dialect.sql(_READ)
        remaining = limit
        while remaining is None or remaining > 0:
            size = READ_CHUNK if remaining is None else min(READ_CHUNK, remaining)
            rows = self.conn.execute(sql, (after, size)).fetchall()
            if not rows:
                return
            for row in rows:
                yield self.row_to_event(row)
            after = rows[-1][0]
            if remaining is not None:
                remaining -= len(rows)

    def head(self) -> int:
        """The position of the last event (0 for an empty log)."""
        return int(self.conn.execute(_HEAD).fetchone()[0])

    def version(self, conference: str) -> int:
        """The conference's version: how many of its events the log holds."""
        return int(self.conn.execute(self.dialect.sql(_VERSION), (conference,)).fetchone()[0])

    def records(
        self,
        after: int = 0,
        *,
        until: int | None = None,
        conference: str | None = None,
        chunk: int = READ_CHUNK,
        lazy: Collection[str] = (),
    ) -> Iterator[list[Record]]:
        """Chunks of records with `after` < position <= `until`, in position order.

        For types in `lazy` stored under the current schema, `data` is not fetched with
        the row (a projection that maps them in SQL never reads it); `Record.data` still
        loads it on demand.
        """
        where = "position > ?"
        extra: list[Any] = []
        if until is not None:
            where += " AND position <= ?"
            extra.append(until)
        if conference is not None:
            where += " AND conference = ?"
            extra.append(conference)
        columns = EVENT_COLUMNS
        lead: list[Any] = []
        skipped = [t for t in sorted(lazy) if t in CURRENT_SCHEMA]
        if skipped:
            skip, lead = self._lazy_data(skipped)
            columns = columns.replace(", data", f", CASE WHEN {skip} THEN NULL ELSE data END")
        sql = self.dialect.sql(
            f"SELECT {columns} FROM events WHERE {where} ORDER BY position LIMIT ?"
        )
        conn = self.conn
        while True:
            rows = conn.execute(sql, (*lead, after, *extra, chunk)).fetchall()
            if not rows:
                return
            batch = [Record(*row) for row in rows]
            if skipped:
                for record in batch:
                    record.loader = self._load_data
            yield batch
            after = rows[-1][0]

    def get(self, event_id: str) -> Event | None:
        return self._one("id = ?", (event_id,))

    def at(self, position: int) -> Event | None:
        return self._one("position = ?", (position,))

    def resolve(self, prefix: str) -> Event:
        """The one event whose id starts with `prefix` (a whole id always matches)."""
        exact = self.get(prefix)
        if exact is not None:
            return exact
        if not prefix:
            raise NotFound("an event id (or a prefix of one) is required")
        rows = self.conn.execute(
            self.dialect.sql(_PREFIXED), (prefix, prefix + "\U0010ffff")
        ).fetchall()
        if not rows:
            raise NotFound(f"no event with an id starting {prefix!r}")
        if len(rows) > 1:
            shown = ", ".join(r[1] for r in rows[:5])
            more = " …" if len(rows) > 5 else ""
            raise AmbiguousId(f"{prefix!r} matches several events ({shown}{more}): type more of it")
        return self.row_to_event(rows[0])

    def position_at(self, moment: dt.datetime) -> int:
        try:
            stamp = moment.astimezone(dt.UTC).isoformat(timespec="microseconds")
        except OverflowError:
            raise InvalidEvent(f"--as-of {moment.isoformat()} is out of range") from None
        # Recording times grow with position (each backend assigns them under its write
        # lock, never below the head's): a binary search by primary key costs O(log n)
        # lookups instead of a scan, and needs no index of its own.
        sql = self.dialect.sql(_RECORDED_AT)
        low, high = 0, self.head()
        while low < high:
            middle = (low + high + 1) // 2
            row = self.conn.execute(sql, (middle,)).fetchone()
            if row and row[0] <= stamp:
                low = middle
            else:
                high = middle - 1
        return low

    # -- the context's queries (liveblog.domain.context): each one indexed lookup ------

    def _one(self, where: str, params: Sequence[Any]) -> Event | None:
        """The first event matching `where`: a shared `?` condition, or one in the
        backend's own SQL (no `?` in it: PostgreSQL's `?` jsonb operator is never used)."""
        sql = self.dialect.sql(f"SELECT {EVENT_COLUMNS} FROM events WHERE {where}")
        row = self.conn.execute(sql, params).fetchone()
        return self.row_to_event(row) if row else None

    def _exists(self, where: str, params: Sequence[Any]) -> bool:
        sql = self.dialect.sql(f"SELECT 1 FROM events WHERE {where} LIMIT 1")
        return self.conn.execute(sql, params).fetchone() is not None

    def first_opening(self, conference: str) -> Event | None:
        return self._one(
            "type = 'conference.opened' AND conference = ? ORDER BY position LIMIT 1",
            (conference,),
        )

    def is_closed(self, conference: str) -> bool:
        return self._exists("type = 'conference.closed' AND conference = ?", (conference,))

    def open_conferences(self) -> list[str]:
        return [str(r[0]) for r in self.conn.execute(_OPEN).fetchall()]

    def opened_conferences(self, limit: int) -> list[str]:
        rows = self.conn.execute(self.dialect.sql(_OPENED), (limit,)).fetchall()
        return [str(r[0]) for r in rows]

    def last_conference_of(self, author: str) -> str | None:
        row = self.conn.execute(self.dialect.sql(_LAST_OF), (author,)).fetchone()
        return str(row[0]) if row else None

    def latest_of(
        self, event_type: str, conference: str, author: str | None = None
    ) -> Event | None:
        if author is None:
            return self._one(
                "type = ? AND conference = ? ORDER BY position DESC LIMIT 1",
                (event_type, conference),
            )
        return self._one(
            "conference = ? AND author = ? AND type = ? ORDER BY position DESC LIMIT 1",
            (conference, author, event_type),
        )
