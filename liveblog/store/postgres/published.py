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

from ..publishing import FileRecord, Published, Target
from .driver import PgConnection

__all__ = ["FileRecord", "PostgresPublished", "Published", "Target"]

TARGETS = "publish_targets"
CONFERENCES = "publish_conferences"
FILES = "publish_files"
TABLES = (TARGETS, CONFERENCES, FILES)

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


class PostgresPublished:
    """`PublishState` in three tables of the log's own database."""

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

    def ensure(self) -> None:
        """Create the tables if any is missing (dropping the others): one query when present."""
        if self.present():
            return
        with self.conn.writing():
            self.conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", CREATE_LOCK)
            if self.present():  # another node made them while this one waited
                return
            for table in TABLES:
                self.conn.execute(f'DROP TABLE IF EXISTS "{table}"')
            for statement in DDL:
                self.conn.execute(statement)

    def drop(self) -> None:
        with self.conn.writing():
            for table in TABLES:
                self.conn.execute(f'DROP TABLE IF EXISTS "{table}"')

    def target(self, target_id: str) -> Target | None:
        row = self.conn.execute(
            f"SELECT id, path, position, signature, folders_mtime_ns, generation, published_at "
            f"FROM {TARGETS} WHERE id = %s",
            (target_id,),
        ).fetchone()
        return Target(*row) if row else None

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

    def published_conferences(self, target_id: str) -> set[str]:
        """Every conference this target holds: read only when feeds/ itself changed."""
        return {
            r[0]
            for r in self.conn.execute(
                f"SELECT conference FROM {CONFERENCES} WHERE target = %s", (target_id,)
            )
        }

    # -- the audit ----------------------------------------------------------------------

    def last_file_id(self, target_id: str) -> int:
        row = self.conn.execute(
            f"SELECT max(id) FROM {FILES} WHERE target = %s", (target_id,)
        ).fetchone()
        return int(row[0] or 0)

    def audit_window(self, target_id: str, after: int, limit: int) -> list[FileRecord]:
        """Up to `limit` files of the target after id `after`, wrapping round to the first:
        the next window of the rotating audit (each file at most once)."""
        query = (
            f"SELECT id, conference, name, size, mtime_ns FROM {FILES} "
            "WHERE target = %s AND id {} %s ORDER BY id LIMIT %s"
        )
        rows = self.conn.execute(query.format(">"), (target_id, after, limit)).fetchall()
        if len(rows) < limit:
            rows += self.conn.execute(
                query.format("<="), (target_id, after, limit - len(rows))
            ).fetchall()
        return [FileRecord(*r) for r in rows]

    # -- recording a publish ------------------------------------------------------------

    def record(
        self,
        *,
        target_id: str,
        path: str,
        seen: Target | None,
        head: int,
        signature: str,
        folders_mtime_ns: int,
        published: dict[str, Published],
        forget_all: bool,
        forget: Iterable[str] = (),
        now: str,
    ) -> None:
        """Remember one publish, in one transaction: the high-water mark moves to `head`
        only here, after every conference changed up to `head` was written.

        `seen` is the target as the publish found it. If another publish changed it
        meanwhile with other options, the files are a mix of both: the signature is left
        empty, so that the next publish renders everything again.
        """
        conn = self.conn
        with conn.writing():
            self.ensure()
            # Two publishes of one target (two nodes, or a node and the CLI) take turns
            # here, the second seeing the first's row (SQLite's write lock does this).
            conn.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (RECORD_LOCK, target_id))
            current = self.target(target_id)
            position = head
            if current is None:
                if seen is not None:  # the state was dropped while this publish ran
                    signature = ""
                # A feeds directory made anew (deleted, or a copy moved in): what was
                # remembered of the old one at this path is gone with it.
                for old in conn.execute(
                    f"SELECT id FROM {TARGETS} WHERE path = %s AND id <> %s", (path, target_id)
                ).fetchall():
                    self._forget_target(old[0])
                conn.execute(
                    f"INSERT INTO {TARGETS} (id, path, position, signature, folders_mtime_ns, "
                    "generation, published_at) VALUES (%s, %s, %s, %s, %s, 1, %s)",
                    (target_id, path, position, signature, folders_mtime_ns, now),
                )
            else:
                if seen is None or current.generation != seen.generation:
                    if current.signature == signature:
                        position = max(position, current.position)
                    else:
                        signature = ""
                conn.execute(
                    f"UPDATE {TARGETS} SET path = %s, position = %s, signature = %s, "
                    "folders_mtime_ns = %s, generation = generation + 1, published_at = %s "
                    "WHERE id = %s",
                    (path, position, signature, folders_mtime_ns, now, target_id),
                )
            if forget_all:
                conn.execute(f"DELETE FROM {FILES} WHERE target = %s", (target_id,))
                conn.execute(f"DELETE FROM {CONFERENCES} WHERE target = %s", (target_id,))
            for slug in forget:
                self._forget_conference(target_id, slug)
            for slug, done in published.items():
                if done.fresh and not forget_all:
                    conn.execute(
                        f"DELETE FROM {FILES} WHERE target = %s AND conference = %s",
                        (target_id, slug),
                    )
                conn.execute(
                    f"INSERT INTO {CONFERENCES} (target, conference, position) "
                    "VALUES (%s, %s, %s) ON CONFLICT (target, conference) "
                    "DO UPDATE SET position = excluded.position",
                    (target_id, slug, done.position),
                )
                # One row per name, the last given winning (as one upsert after another).
                files = {name: (size, mtime) for name, size, mtime in done.files}
                if files:
                    conn.execute(
                        _UPSERT_FILES,
                        (
                            target_id,
                            slug,
                            list(files),
                            [size for size, _ in files.values()],
                            [mtime for _, mtime in files.values()],
                        ),
                    )

    def _forget_conference(self, target_id: str, slug: str) -> None:
        self.conn.execute(
            f"DELETE FROM {FILES} WHERE target = %s AND conference = %s", (target_id, slug)
        )
        self.conn.execute(
            f"DELETE FROM {CONFERENCES} WHERE target = %s AND conference = %s", (target_id, slug)
        )

    def _forget_target(self, target_id: str) -> None:
        for table in (FILES, CONFERENCES):
            self.conn.execute(f"DELETE FROM {table} WHERE target = %s", (target_id,))
        self.conn.execute(f"DELETE FROM {TARGETS} WHERE id = %s", (target_id,))
