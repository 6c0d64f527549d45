"""The publisher's state in three tables, the same on both backends.

`SqlitePublished` and `PostgresPublished` inherit `PublishedTables`: the reads, the
audit's windows and the record of a publish (its decisions: a target made anew, a
publish that raced another, what to forget) are written once, here, in statements both
databases run as they are. Each backend keeps its DDL, how it finds the tables, how it
opens a write transaction, and how it writes a conference's files (PostgreSQL in one
array statement, SQLite one row each in executemany); PostgreSQL also serialises two
publishes of one target, as SQLite's write lock does by itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import AbstractContextManager
from typing import ClassVar

from .dialect import Dialect, Executes
from .publishing import FileRecord, Published, Target

TARGETS = "publish_targets"
CONFERENCES = "publish_conferences"
FILES = "publish_files"
TABLES = (TARGETS, CONFERENCES, FILES)

_TARGET = (
    "SELECT id, path, position, signature, folders_mtime_ns, generation, published_at "
    f"FROM {TARGETS} WHERE id = ?"
)
_CONFERENCES_OF = f"SELECT conference FROM {CONFERENCES} WHERE target = ?"
_LAST_FILE = f"SELECT max(id) FROM {FILES} WHERE target = ?"
_WINDOW = (
    f"SELECT id, conference, name, size, mtime_ns FROM {FILES} "
    "WHERE target = ? AND id {} ? ORDER BY id LIMIT ?"
)
_AFTER, _WRAPPED = _WINDOW.format(">"), _WINDOW.format("<=")
_SAME_PATH = f"SELECT id FROM {TARGETS} WHERE path = ? AND id <> ?"
_NEW_TARGET = (
    f"INSERT INTO {TARGETS} (id, path, position, signature, folders_mtime_ns, "
    "generation, published_at) VALUES (?, ?, ?, ?, ?, 1, ?)"
)
_UPDATE_TARGET = (
    f"UPDATE {TARGETS} SET path = ?, position = ?, signature = ?, "
    "folders_mtime_ns = ?, generation = generation + 1, published_at = ? "
    "WHERE id = ?"
)
_FILES_OF = f"DELETE FROM {FILES} WHERE target = ?"
_CONFERENCES_OF_TARGET = f"DELETE FROM {CONFERENCES} WHERE target = ?"
_FILES_OF_CONFERENCE = f"DELETE FROM {FILES} WHERE target = ? AND conference = ?"
_CONFERENCE_OF_TARGET = f"DELETE FROM {CONFERENCES} WHERE target = ? AND conference = ?"
_TARGET_ROW = f"DELETE FROM {TARGETS} WHERE id = ?"
_PUBLISHED_AT = (
    f"INSERT INTO {CONFERENCES} (target, conference, position) VALUES (?, ?, ?) "
    "ON CONFLICT (target, conference) DO UPDATE SET position = excluded.position"
)


class PublishedTables:
    """The shared half of a backend's `PublishState` (the class that inherits it gives
    `conn`, `dialect`, `ensure()` and the hooks below)."""

    conn: Executes
    dialect: ClassVar[Dialect]

    DDL: ClassVar[tuple[str, ...]]

    def present(self) -> bool:
        """Every table exists (a reader never creates them)."""
        raise NotImplementedError

    def _lock_creation(self) -> None:
        """Make a second creator wait for the first's commit (inside `_writing`); nothing
        to do where the write transaction is exclusive."""

    def ensure(self) -> None:
        """Create the tables if any is missing (dropping the others): one query when present."""
        if self.present():
            return
        with self._writing():
            self._lock_creation()
            if self.present():  # made by another process while this one waited
                return
            for table in TABLES:
                self.conn.execute(f'DROP TABLE IF EXISTS "{table}"')
            for statement in self.DDL:
                self.conn.execute(statement)

    def _writing(self) -> AbstractContextManager[object]:
        """One write transaction (joined if one is open)."""
        raise NotImplementedError

    def _lock_target(self, target_id: str) -> None:
        """Make a second publish of this target wait for the first's commit (inside
        `_writing`); nothing to do where the write transaction is exclusive."""

    def _write_files(self, target_id: str, slug: str, files: list[tuple[str, int, int]]) -> None:
        """Upsert a conference's files (name, size, mtime_ns), the last of a name winning."""
        raise NotImplementedError

    def drop(self) -> None:
        with self._writing():
            for table in TABLES:
                self.conn.execute(f'DROP TABLE IF EXISTS "{table}"')

    def target(self, target_id: str) -> Target | None:
        row = self.conn.execute(self.dialect.sql(_TARGET), (target_id,)).fetchone()
        return Target(*row) if row else None

    def published_conferences(self, target_id: str) -> set[str]:
        """Every conference this target holds: read only when feeds/ itself changed."""
        return {r[0] for r in self.conn.execute(self.dialect.sql(_CONFERENCES_OF), (target_id,))}

    # -- the audit ----------------------------------------------------------------------

    def last_file_id(self, target_id: str) -> int:
        row = self.conn.execute(self.dialect.sql(_LAST_FILE), (target_id,)).fetchone()
        return int(row[0] or 0)

    def audit_window(self, target_id: str, after: int, limit: int) -> list[FileRecord]:
        """Up to `limit` files of the target after id `after`, wrapping round to the first:
        the next window of the rotating audit (each file at most once)."""
        sql = self.dialect.sql
        rows = self.conn.execute(sql(_AFTER), (target_id, after, limit)).fetchall()
        if len(rows) < limit:
            rows += self.conn.execute(
                sql(_WRAPPED), (target_id, after, limit - len(rows))
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
        """`PublishState.record`, in one transaction."""
        conn, sql = self.conn, self.dialect.sql
        with self._writing():
            self.ensure()
            self._lock_target(target_id)
            current = self.target(target_id)
            position = head
            if current is None:
                if seen is not None:  # the state was dropped while this publish ran
                    signature = ""
                # A feeds directory made anew (deleted, or a copy moved in): what was
                # remembered of the old one at this path is gone with it.
                for old in conn.execute(sql(_SAME_PATH), (path, target_id)).fetchall():
                    self._forget_target(old[0])
                conn.execute(
                    sql(_NEW_TARGET),
                    (target_id, path, position, signature, folders_mtime_ns, now),
                )
            else:
                if seen is None or current.generation != seen.generation:
                    if current.signature == signature:
                        position = max(position, current.position)
                    else:
                        signature = ""
                conn.execute(
                    sql(_UPDATE_TARGET),
                    (path, position, signature, folders_mtime_ns, now, target_id),
                )
            if forget_all:
                conn.execute(sql(_FILES_OF), (target_id,))
                conn.execute(sql(_CONFERENCES_OF_TARGET), (target_id,))
            for slug in forget:
                self._forget_conference(target_id, slug)
            for slug, done in published.items():
                if done.fresh and not forget_all:
                    conn.execute(sql(_FILES_OF_CONFERENCE), (target_id, slug))
                conn.execute(sql(_PUBLISHED_AT), (target_id, slug, done.position))
                self._write_files(target_id, slug, done.files)

    def _forget_conference(self, target_id: str, slug: str) -> None:
        self.conn.execute(self.dialect.sql(_FILES_OF_CONFERENCE), (target_id, slug))
        self.conn.execute(self.dialect.sql(_CONFERENCE_OF_TARGET), (target_id, slug))

    def _forget_target(self, target_id: str) -> None:
        sql = self.dialect.sql
        self.conn.execute(sql(_FILES_OF), (target_id,))
        self.conn.execute(sql(_CONFERENCES_OF_TARGET), (target_id,))
        self.conn.execute(sql(_TARGET_ROW), (target_id,))
