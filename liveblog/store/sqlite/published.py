"""The publisher's state on SQLite (`store.publishing.PublishState`): three tables.

Never a migration: the tables are created when first needed, and a partial set (one
dropped by hand) is dropped whole and created again. Without its target's row the next
publish renders everything, which is all that losing this state costs.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import AbstractContextManager

from ..dialect import SQLITE
from ..published_tables import CONFERENCES, FILES, TABLES, TARGETS, PublishedTables
from ..publishing import FileRecord, Published, Target
from .driver import Connection, write_transaction

__all__ = [
    "CONFERENCES",
    "FILES",
    "TABLES",
    "TARGETS",
    "FileRecord",
    "Published",
    "SqlitePublished",
    "Target",
]


DDL = (
    f"CREATE TABLE {TARGETS} ("
    "id TEXT PRIMARY KEY, "
    "path TEXT NOT NULL, "
    "position INTEGER NOT NULL, "
    "signature TEXT NOT NULL, "
    "folders_mtime_ns INTEGER NOT NULL, "
    "generation INTEGER NOT NULL, "
    "published_at TEXT NOT NULL)",
    f"CREATE TABLE {CONFERENCES} ("
    "target TEXT NOT NULL, "
    "conference TEXT NOT NULL, "
    "position INTEGER NOT NULL, "
    "PRIMARY KEY (target, conference)) WITHOUT ROWID",
    f"CREATE TABLE {FILES} ("
    "id INTEGER PRIMARY KEY, "
    "target TEXT NOT NULL, "
    "conference TEXT NOT NULL, "
    "name TEXT NOT NULL, "
    "size INTEGER NOT NULL, "
    "mtime_ns INTEGER NOT NULL, "
    "UNIQUE (target, conference, name))",
    # The audit walks a target's files in id order, a window at a time.
    f"CREATE INDEX {FILES}_rotation ON {FILES} (target, id)",
)


class SqlitePublished(PublishedTables):
    """`PublishState` in three tables of the log's own database (the reads and the
    record of a publish: `PublishedTables`)."""

    conn: Connection
    dialect = SQLITE
    DDL = DDL

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def present(self) -> bool:
        """Every table exists (a reader never creates them)."""
        marks = ", ".join("?" * len(TABLES))
        row = self.conn.execute(
            f"SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ({marks})",
            TABLES,
        ).fetchone()
        return int(row[0]) == len(TABLES)

    def published_positions(self, target_id: str, slugs: Iterable[str]) -> dict[str, int]:
        """The position each of `slugs` was last published at in this target (if ever)."""
        out: dict[str, int] = {}
        for slug in slugs:
            row = self.conn.execute(
                f"SELECT position FROM {CONFERENCES} WHERE target = ? AND conference = ?",
                (target_id, slug),
            ).fetchone()
            if row:
                out[slug] = int(row[0])
        return out

    def _writing(self) -> AbstractContextManager[object]:
        return write_transaction(self.conn)

    def _write_files(self, target_id: str, slug: str, files: list[tuple[str, int, int]]) -> None:
        self.conn.executemany(
            f"INSERT INTO {FILES} (target, conference, name, size, mtime_ns) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (target, conference, name) "
            "DO UPDATE SET size = excluded.size, mtime_ns = excluded.mtime_ns",
            [(target_id, slug, name, size, mtime) for name, size, mtime in files],
        )
