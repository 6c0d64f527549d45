"""Running projections: each keeps its position in the same transaction as its rows.

A projection is a name, a version, the tables it owns and an `apply` for a chunk of
records. Catching up reads only the events after its position (a primary-key range), so
the cost follows what is new, never the size of the log. A changed version, or a missing
table, drops the projection's tables and replays it from the start.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from ..store import EventLog, Record
from ..store.sqlite.driver import Connection, write_transaction

STATE_DDL = """
CREATE TABLE IF NOT EXISTS projection_state (
    name TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    position INTEGER NOT NULL
)
"""

CHUNK = 50_000
"""Events applied per transaction: large enough to amortise each commit."""

PROJECTION_CACHE_KIB = -65_536
"""Page cache while projecting (64 MiB): a rebuild's indexes stay in memory."""

Progress = Callable[[int], None]
"""Called with the number of events just applied (for a progress bar)."""


class Projection(Protocol):
    @property
    def name(self) -> str:
        """Unique, stable: the key of its row in projection_state."""

    @property
    def version(self) -> int:
        """Bump it when the tables or the rules change: the projection is rebuilt."""

    @property
    def tables(self) -> Sequence[str]:
        """Every table and view it owns (dropped on rebuild, checked on catch-up)."""

    def create(self, conn: Connection) -> None:
        """Create the projection's (empty) tables."""

    def apply(self, conn: Connection, records: Sequence[Record]) -> None:
        """Apply records in position order, inside the caller's transaction."""


@dataclass(frozen=True)
class ProjectionStatus:
    name: str
    version: int
    position: int
    head: int

    @property
    def lag(self) -> int:
        return self.head - self.position


@contextlib.contextmanager
def _projection_pragmas(conn: Connection) -> Iterator[None]:
    """Cheaper commits and a larger page cache while projections are written.

    synchronous=NORMAL in WAL mode never corrupts the file; at worst a power cut loses
    the last projection transactions, and their positions with them, so they are simply
    applied again. The log's own appends restore FULL before anything is acknowledged.
    """
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute(f"PRAGMA cache_size = {PROJECTION_CACHE_KIB}")
    try:
        yield
    finally:
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA cache_size = -2000")


class ProjectionRunner:
    """Keeps a set of projections of one log up to date."""

    def __init__(self, log: EventLog, projections: Sequence[Projection]) -> None:
        self.log = log
        self.conn = log.conn
        self.projections = list(projections)
        # Types whose data every projection maps in SQL: not fetched into Python.
        lazy = [frozenset(getattr(p, "lazy_types", ())) for p in self.projections]
        self._lazy = frozenset.intersection(*lazy) if lazy else frozenset()

    # -- state -----------------------------------------------------------------------

    def _position(self, projection: Projection) -> int | None:
        row = self.conn.execute(
            "SELECT version, position FROM projection_state WHERE name = ?", (projection.name,)
        ).fetchone()
        if row is None or row[0] != projection.version or not self._tables_exist(projection):
            return None
        return int(row[1])

    def _objects(self) -> dict[str, str]:
        rows = self.conn.execute(
            "SELECT name, type FROM sqlite_master WHERE type IN ('table', 'view')"
        )
        return {name: kind for name, kind in rows}

    def _tables_exist(self, projection: Projection) -> bool:
        objects = self._objects()
        return all(t in objects for t in projection.tables)

    def _reset(self, projection: Projection) -> None:
        objects = self._objects()
        # Views first: a view over a dropped table would otherwise linger, broken.
        for name in sorted(projection.tables, key=lambda n: objects.get(n) != "view"):
            kind = "VIEW" if objects.get(name) == "view" else "TABLE"
            self.conn.execute(f'DROP {kind} IF EXISTS "{name}"')
        projection.create(self.conn)
        self.conn.execute(
            "INSERT INTO projection_state (name, version, position) VALUES (?, ?, 0) "
            "ON CONFLICT (name) DO UPDATE SET version = excluded.version, position = 0",
            (projection.name, projection.version),
        )

    def _ensure(self, projection: Projection) -> int:
        """The projection's position, resetting it first when stale (in the caller's tx)."""
        self.conn.execute(STATE_DDL)
        position = self._position(projection)
        if position is None:
            self._reset(projection)
            position = 0
        return position

    # -- work ------------------------------------------------------------------------

    def catch_up(self, progress: Progress | None = None) -> dict[str, int]:
        """Apply every new event to every projection; returns events applied per name.

        One read of the log feeds every projection: each takes the records after its
        own position, and its new position is committed with its rows.
        """
        applied = {p.name: 0 for p in self.projections}
        if self._current():
            return applied  # nothing new: no write lock, no DDL
        with _projection_pragmas(self.conn):
            self._catch_up(applied, progress)
        return applied

    def _catch_up(self, applied: dict[str, int], progress: Progress | None) -> None:
        while True:
            # Positions are read inside the write transaction: two processes catching up
            # at once never apply the same event twice.
            with write_transaction(self.conn):
                positions = {p.name: self._ensure(p) for p in self.projections}
                start = min(positions.values(), default=0)
                chunk = next(self.log.records(after=start, chunk=CHUNK, lazy=self._lazy), None)
                if not chunk:
                    return
                for projection in self.projections:
                    mine = [r for r in chunk if r.position > positions[projection.name]]
                    if not mine:
                        continue
                    projection.apply(self.conn, mine)
                    self.conn.execute(
                        "UPDATE projection_state SET position = ? WHERE name = ?",
                        (mine[-1].position, projection.name),
                    )
                    applied[projection.name] += len(mine)
            if progress is not None:
                progress(len(chunk))

    def current(self) -> bool:
        """Every projection is at the head, at its version, with its tables (read-only)."""
        return self._current()

    def _current(self) -> bool:
        """Every projection is at the head, at its version, with its tables (read-only)."""
        if not self._has_state():
            return False
        head = self.log.head()
        return all(self._position(p) == head for p in self.projections)

    def _has_state(self) -> bool:
        return bool(
            self.conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'projection_state'"
            ).fetchone()
        )

    def rebuild(self, progress: Progress | None = None) -> dict[str, int]:
        """Drop every projection and replay the whole log into it."""
        for projection in self.projections:
            with write_transaction(self.conn):
                self.conn.execute(STATE_DDL)
                self._reset(projection)
        return self.catch_up(progress)

    def status(self) -> list[ProjectionStatus]:
        head = self.log.head()
        if self.log.readonly and not self._has_state():
            return [ProjectionStatus(p.name, p.version, 0, head) for p in self.projections]
        if not self.log.readonly:
            self.conn.execute(STATE_DDL)
        out = []
        for projection in self.projections:
            position = self._position(projection)
            out.append(ProjectionStatus(projection.name, projection.version, position or 0, head))
        return out
