"""A private copy of some of the log's rows, for replaying projections off to the side.

`verify` rebuilds each projection in a scratch file and `summary --as-of` replays one
conference's past in memory; both need an `events` table the projections can read. It
has the log's columns and the keys projections look events up by (position, id), but
none of the log's rules: a one-conference copy has gaps its triggers would refuse.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..records import Record
from .driver import Connection

_DDL = (
    "CREATE TABLE events (position INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, "
    "type TEXT, conference TEXT, occurred_at TEXT, recorded_at TEXT, author TEXT, "
    "version INTEGER, schema_version INTEGER, data TEXT)"
)


def create_copy(conn: Connection) -> None:
    conn.execute(_DDL)


def copy_records(conn: Connection, records: Iterable[Record]) -> None:
    conn.executemany(
        "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                r.position,
                r.id,
                r.type,
                r.conference,
                r.occurred_at,
                r.recorded_at,
                r.author,
                r.version,
                r.schema_version,
                r.raw,
            )
            for r in records
        ],
    )
