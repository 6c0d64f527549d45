"""The raw baseline: pysqlite3 and hand-written SQL against the same `events` schema.

A raw database gets its table, indexes and triggers by opening an `EventLog` on it once;
after that only this module touches it, with the pragmas liveblog's own connections use.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from pysqlite3 import dbapi2 as sqlite3

from liveblog.store import EventLog

BUSY_TIMEOUT_MS = 30_000
PRAGMAS = (
    f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}",
    "PRAGMA journal_mode = WAL",
    "PRAGMA synchronous = FULL",
    # liveblog sets it too; it changes nothing for a plain INSERT.
    "PRAGMA recursive_triggers = ON",
)
COLUMNS = (
    "position, id, type, conference, occurred_at, recorded_at, author, version, "
    "schema_version, data"
)
INSERT_SQL = f"INSERT INTO events ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
# The next position of the log and the next version of one conference, in one statement.
NEXT_SQL = (
    "SELECT ifnull(max(position), 0) + 1, "
    "(SELECT ifnull(max(version), 0) + 1 FROM events WHERE conference = ?) FROM events"
)

Row = tuple[str, str, str, str, str, int, str]
"""An event without what the log assigns: id, type, conference, occurred_at, author,
schema_version, data (JSON text)."""


def create_schema(path: Path) -> None:
    """Give `path` liveblog's schema (table, indexes, triggers) and nothing else."""
    EventLog(path).close()


def connect(path: Path) -> Any:
    conn = sqlite3.connect(str(path), isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
    for pragma in PRAGMAS:
        conn.execute(pragma)
    return conn


def insert_next(conn: Any, next_sql: str, insert_sql: str, row: Row) -> None:
    """In the caller's transaction: the next position and the conference's next version
    (`next_sql`, given the conference), then the row's INSERT (`insert_sql`)."""
    id_, type_, conference, occurred_at, author, schema_version, data = row
    position, version = conn.execute(next_sql, (conference,)).fetchone()
    recorded_at = dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")
    conn.execute(
        insert_sql,
        (
            position,
            id_,
            type_,
            conference,
            occurred_at,
            recorded_at,
            author,
            version,
            schema_version,
            data,
        ),
    )


def append_one(conn: Any, row: Row) -> None:
    """One durable append: BEGIN IMMEDIATE; next position and version; INSERT; COMMIT."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        insert_next(conn, NEXT_SQL, INSERT_SQL, row)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def pragmas(conn: Any) -> str:
    """The durability settings a connection really has, for the notes."""
    journal = conn.execute("PRAGMA journal_mode").fetchone()[0]
    sync = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}.get(
        conn.execute("PRAGMA synchronous").fetchone()[0], "?"
    )
    busy = conn.execute("PRAGMA busy_timeout").fetchone()[0]
    return f"journal_mode={journal} synchronous={sync} busy_timeout={busy}"


def count(conn: Any) -> int:
    return int(conn.execute("SELECT count(*) FROM events").fetchone()[0])
