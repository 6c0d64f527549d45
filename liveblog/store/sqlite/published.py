"""The publisher's state on SQLite (`store.publishing.PublishState`): three tables.

Never a migration: the tables are created when first needed, and a partial set (one
dropped by hand) is dropped whole and created again. Without its target's row the next
publish renders everything, which is all that losing this state costs.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..publishing import FileRecord, Published, Target
from .driver import Connection, write_transaction

__all__ = ["FileRecord", "Published", "SqlitePublished", "Target"]

TARGETS = "publish_targets"
CONFERENCES = "publish_conferences"
FILES = "publish_files"
TABLES = (TARGETS, CONFERENCES, FILES)

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


class SqlitePublished:
    """`PublishState` in three tables of the log's own database."""

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

    def ensure(self) -> None:
        """Create the tables if any is missing (dropping the others): one query when present."""
        if self.present():
            return
        with write_transaction(self.conn):
            if self.present():
                return
            for table in TABLES:
                self.conn.execute(f'DROP TABLE IF EXISTS "{table}"')
            for statement in DDL:
                self.conn.execute(statement)

    def drop(self) -> None:
        with write_transaction(self.conn):
            for table in TABLES:
                self.conn.execute(f'DROP TABLE IF EXISTS "{table}"')

    def target(self, target_id: str) -> Target | None:
        row = self.conn.execute(
            f"SELECT id, path, position, signature, folders_mtime_ns, generation, published_at "
            f"FROM {TARGETS} WHERE id = ?",
            (target_id,),
        ).fetchone()
        return Target(*row) if row else None

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

    def published_conferences(self, target_id: str) -> set[str]:
        """Every conference this target holds: read only when feeds/ itself changed."""
        return {
            r[0]
            for r in self.conn.execute(
                f"SELECT conference FROM {CONFERENCES} WHERE target = ?", (target_id,)
            )
        }

    # -- the audit ----------------------------------------------------------------------

    def last_file_id(self, target_id: str) -> int:
        row = self.conn.execute(
            f"SELECT max(id) FROM {FILES} WHERE target = ?", (target_id,)
        ).fetchone()
        return int(row[0] or 0)

    def audit_window(self, target_id: str, after: int, limit: int) -> list[FileRecord]:
        """Up to `limit` files of the target after id `after`, wrapping round to the first:
        the next window of the rotating audit (each file at most once)."""
        query = (
            f"SELECT id, conference, name, size, mtime_ns FROM {FILES} "
            "WHERE target = ? AND id {} ? ORDER BY id LIMIT ?"
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
        with write_transaction(self.conn):
            self.ensure()
            current = self.target(target_id)
            position = head
            if current is None:
                if seen is not None:  # the state was dropped while this publish ran
                    signature = ""
                # A feeds directory made anew (deleted, or a copy moved in): what was
                # remembered of the old one at this path is gone with it.
                for old in self.conn.execute(
                    f"SELECT id FROM {TARGETS} WHERE path = ? AND id <> ?", (path, target_id)
                ).fetchall():
                    self._forget_target(old[0])
                self.conn.execute(
                    f"INSERT INTO {TARGETS} (id, path, position, signature, folders_mtime_ns, "
                    "generation, published_at) VALUES (?, ?, ?, ?, ?, 1, ?)",
                    (target_id, path, position, signature, folders_mtime_ns, now),
                )
            else:
                if seen is None or current.generation != seen.generation:
                    if current.signature == signature:
                        position = max(position, current.position)
                    else:
                        signature = ""
                self.conn.execute(
                    f"UPDATE {TARGETS} SET path = ?, position = ?, signature = ?, "
                    "folders_mtime_ns = ?, generation = generation + 1, published_at = ? "
                    "WHERE id = ?",
                    (path, position, signature, folders_mtime_ns, now, target_id),
                )
            if forget_all:
                self.conn.execute(f"DELETE FROM {FILES} WHERE target = ?", (target_id,))
                self.conn.execute(f"DELETE FROM {CONFERENCES} WHERE target = ?", (target_id,))
            for slug in forget:
                self._forget_conference(target_id, slug)
            for slug, done in published.items():
                if done.fresh and not forget_all:
                    self.conn.execute(
                        f"DELETE FROM {FILES} WHERE target = ? AND conference = ?",
                        (target_id, slug),
                    )
                self.conn.execute(
                    f"INSERT INTO {CONFERENCES} (target, conference, position) VALUES (?, ?, ?) "
                    "ON CONFLICT (target, conference) DO UPDATE SET position = excluded.position",
                    (target_id, slug, done.position),
                )
                self.conn.executemany(
                    f"INSERT INTO {FILES} (target, conference, name, size, mtime_ns) "
                    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (target, conference, name) "
                    "DO UPDATE SET size = excluded.size, mtime_ns = excluded.mtime_ns",
                    [(target_id, slug, name, size, mtime) for name, size, mtime in done.files],
                )

    def _forget_conference(self, target_id: str, slug: str) -> None:
        self.conn.execute(
            f"DELETE FROM {FILES} WHERE target = ? AND conference = ?", (target_id, slug)
        )
        self.conn.execute(
            f"DELETE FROM {CONFERENCES} WHERE target = ? AND conference = ?", (target_id, slug)
        )

    def _forget_target(self, target_id: str) -> None:
        for table in (FILES, CONFERENCES):
            self.conn.execute(f"DELETE FROM {table} WHERE target = ?", (target_id,))
        self.conn.execute(f"DELETE FROM {TARGETS} WHERE id = ?", (target_id,))
