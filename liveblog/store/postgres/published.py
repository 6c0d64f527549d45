"""The publisher's state on PostgreSQL (`store.publishing.PublishState`): three tables.

As on SQLite (`store.sqlite.published`): never a migration; the tables are created when
first needed, and a partial set (one dropped by hand) is dropped whole and created
again. Losing this state costs one full publish, nothing more.

Several nodes share the database: creating the tables takes a transaction-level
advisory lock first, so two nodes (or a node and `liveblog publish`) finding them
missing at once do not both create them (PostgreSQL's DDL would make the second fail).
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import AbstractContextManager

from ..dialect import POSTGRES
from ..published_tables import CONFERENCES, FILES, TABLES, TARGETS, PublishedTables
from ..publishing import FileRecord, Published, Target
from .driver import PgConnection

__all__ = [
    "CONFERENCES",
    "FILES",
    "TABLES",
    "TARGETS",
    "FileRecord",
    "PostgresPublished",
    "Published",
    "Target",
]


DDL = (
    f"CREATE TABLE {TARGETS} ("
    "id TEXT PRIMARY KEY, "
    "path TEXT NOT NULL, "
    "position BIGINT NOT NULL, "
    "signature TEXT NOT NULL, "
    "folders_mtime_ns BIGINT NOT NULL, "
    "generation INTEGER NOT NULL, "
    "published_at TEXT NOT NULL)",
    f"CREATE TABLE {CONFERENCES} ("
    "target TEXT NOT NULL, "
    "conference TEXT NOT NULL, "
    "position BIGINT NOT NULL, "
    "PRIMARY KEY (target, conference))",
    f"CREATE TABLE {FILES} ("
    "id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "
    "target TEXT NOT NULL, "
    "conference TEXT NOT NULL, "
    "name TEXT NOT NULL, "
    "size BIGINT NOT NULL, "
    "mtime_ns BIGINT NOT NULL, "
    "UNIQUE (target, conference, name))",
    # The audit walks a target's files in id order, a window at a time.
    f"CREATE INDEX {FILES}_rotation ON {FILES} (target, id)",
)

CREATE_LOCK = (0x4C42_4C47, 4)  # ("LBLG", 4): 1 to 3 are the log's and the projections'.
"""Taken (for one transaction) by whoever creates the tables."""
RECORD_LOCK = 0x4C42_5056  # "LBPV", with the target's hash as the second key
"""Taken (for one transaction) by a publish recording itself in one target."""

_UPSERT_FILES = f"""
INSERT INTO {FILES} (target, conference, name, size, mtime_ns)
SELECT %s, %s, * FROM unnest(%s::text[], %s::bigint[], %s::bigint[])
ON CONFLICT (target, conference, name)
DO UPDATE SET size = excluded.size, mtime_ns = excluded.mtime_ns
"""
"""A conference's files in one statement (a first publish writes thousands)."""


class PostgresPublished(PublishedTables):
    """`PublishState` in three tables of the log's own database (the reads and the
    record of a publish: `PublishedTables`)."""

    conn: PgConnection
    dialect = POSTGRES
    DDL = DDL

    def __init__(self, conn: PgConnection) -> None:
        self.conn = conn

    def present(self) -> bool:
        """Every table exists (a reader never creates them)."""
        row = self.conn.execute(
            "SELECT count(*) FROM unnest(%s::text[]) AS t (name) "
            "WHERE to_regclass(t.name) IS NOT NULL",
            (list(TABLES),),
        ).fetchone()
        return int(row[0]) == len(TABLES)

    def _lock_creation(self) -> None:
        self.conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", CREATE_LOCK)

    def published_positions(self, target_id: str, slugs: Iterable[str]) -> dict[str, int]:
        """The position each of `slugs` was last published at in this target (if ever)."""
        wanted = list(slugs)
        found = {
            r[0]: int(r[1])
            for r in self.conn.execute(
                f"SELECT conference, position FROM {CONFERENCES} "
                "WHERE target = %s AND conference = ANY(%s)",
                (target_id, wanted),
            )
        }
        return {slug: found[slug] for slug in dict.fromkeys(wanted) if slug in found}

    def _writing(self) -> AbstractContextManager[object]:
        return self.conn.writing()

    def _lock_target(self, target_id: str) -> None:
        # Two publishes of one target (two nodes, or a node and the CLI) take turns
        # here, the second seeing the first's row (SQLite's write lock does this).
        self.conn.execute(
            "SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (RECORD_LOCK, target_id)
        )

    def _write_files(self, target_id: str, slug: str, files: list[tuple[str, int, int]]) -> None:
        # One row per name, the last given winning (as one upsert after another).
        named = {name: (size, mtime) for name, size, mtime in files}
        if named:
            self.conn.execute(
                _UPSERT_FILES,
                (
                    target_id,
                    slug,
                    list(named),
                    [size for size, _ in named.values()],
                    [mtime for _, mtime in named.values()],
                ),
            )
