"""What the feeds publisher has published: derived state, droppable like a projection.

Per feeds directory (a *target*, named by the random id in its marker file
`feeds/.published`, and remembered with the directory's path):

* `position`, the high-water mark: every conference whose newest event
  (`timeline_conferences.last_position`) is at or before it has been published;
* `signature`, the publishing options it was published with (a change republishes all);
* `folders_mtime_ns`, feeds/'s own mtime when its folders were last known complete.

Per (target, conference): the log position it was last published at. Per file written:
its size and mtime_ns, which the publisher's rotating audit compares with the disk.

Never a migration: the tables are created when first needed, and a partial set (one
dropped by hand) is dropped whole and created again. Without its target's row the next
publish renders everything, which is all that losing this state costs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ...projections.timeline import CONFERENCES as TIMELINE_CONFERENCES
from ...projections.timeline import DAYS as TIMELINE_DAYS
from ...projections.timeline import ENTRIES as TIMELINE_ENTRIES
from .driver import Connection, write_transaction

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


@dataclass(frozen=True)
class Target:
    id: str
    path: str
    position: int
    signature: str
    folders_mtime_ns: int
    generation: int
    published_at: str


@dataclass(frozen=True)
class FileRecord:
    id: int
    conference: str
    name: str
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class Published:
    """One conference rendered by a publish: what to remember of it."""

    position: int  # its last_position in the snapshot it was rendered from
    files: list[tuple[str, int, int]]  # (name under its folder, size, mtime_ns)
    fresh: bool  # rendered from scratch: forget the files remembered before


def present(conn: Connection) -> bool:
    """Every table exists (a reader never creates them)."""
    marks = ", ".join("?" * len(TABLES))
    row = conn.execute(
        f"SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ({marks})",
        TABLES,
    ).fetchone()
    return int(row[0]) == len(TABLES)


def ensure(conn: Connection) -> None:
    """Create the tables if any is missing (dropping the others): one query when present."""
    if present(conn):
        return
    with write_transaction(conn):
        if present(conn):
            return
        for table in TABLES:
            conn.execute(f'DROP TABLE IF EXISTS "{table}"')
        for statement in DDL:
            conn.execute(statement)


def drop(conn: Connection) -> None:
    with write_transaction(conn):
        for table in TABLES:
            conn.execute(f'DROP TABLE IF EXISTS "{table}"')


def target(conn: Connection, target_id: str) -> Target | None:
    row = conn.execute(
        f"SELECT id, path, position, signature, folders_mtime_ns, generation, published_at "
        f"FROM {TARGETS} WHERE id = ?",
        (target_id,),
    ).fetchone()
    return Target(*row) if row else None


# -- the selection: read from the timeline projection ----------------------------------


def changed_after(conn: Connection, position: int) -> list[tuple[str, int]]:
    """(slug, last_position) of the conferences with an event after `position`: a range
    scan of the last_position index, as long as the answer."""
    return [
        (r[0], int(r[1]))
        for r in conn.execute(
            f"SELECT slug, last_position FROM {TIMELINE_CONFERENCES} "
            "WHERE last_position > ? ORDER BY last_position",
            (position,),
        )
    ]


def every_conference(conn: Connection) -> list[tuple[str, int]]:
    """(slug, last_position) of every conference (a full publish)."""
    return [
        (r[0], int(r[1]))
        for r in conn.execute(
            f"SELECT slug, last_position FROM {TIMELINE_CONFERENCES} ORDER BY slug"
        )
    ]


def any_conference(conn: Connection) -> bool:
    return conn.execute(f"SELECT 1 FROM {TIMELINE_CONFERENCES} LIMIT 1").fetchone() is not None


def lagging(conn: Connection, position: int, limit: int) -> tuple[int, list[tuple[str, int]]]:
    """How many conferences have events after `position`, and the `limit` oldest of them
    (slug, last_position): the cost follows the answer, never the number of conferences."""
    count = conn.execute(
        f"SELECT count(*) FROM {TIMELINE_CONFERENCES} WHERE last_position > ?", (position,)
    ).fetchone()[0]
    rows = conn.execute(
        f"SELECT slug, last_position FROM {TIMELINE_CONFERENCES} WHERE last_position > ? "
        "ORDER BY last_position LIMIT ?",
        (position, limit),
    ).fetchall()
    return int(count), [(r[0], int(r[1])) for r in rows]


def last_positions(conn: Connection, slugs: Iterable[str]) -> dict[str, int]:
    """The last_position of each of `slugs` that is a conference (by primary key)."""
    out: dict[str, int] = {}
    for slug in slugs:
        row = conn.execute(
            f"SELECT last_position FROM {TIMELINE_CONFERENCES} WHERE slug = ?", (slug,)
        ).fetchone()
        if row:
            out[slug] = int(row[0])
    return out


def entry_counts(conn: Connection, slugs: Iterable[str] | None) -> dict[str, int]:
    """Entries per conference (of `slugs`, or of all): the units of a progress bar."""
    if slugs is None:
        return {
            r[0]: int(r[1])
            for r in conn.execute(
                f"SELECT conference, count(*) FROM {TIMELINE_ENTRIES} GROUP BY conference"
            )
        }
    return {
        slug: int(
            conn.execute(
                f"SELECT count(*) FROM {TIMELINE_ENTRIES} WHERE conference = ?", (slug,)
            ).fetchone()[0]
        )
        for slug in slugs
    }


def day_counts(conn: Connection, slugs: Iterable[str] | None) -> dict[str, int]:
    """Days per conference (of `slugs`, or of all): for a progress bar too."""
    if slugs is None:
        return {
            r[0]: int(r[1])
            for r in conn.execute(
                f"SELECT conference, count(*) FROM {TIMELINE_DAYS} GROUP BY conference"
            )
        }
    return {
        slug: int(
            conn.execute(
                f"SELECT count(*) FROM {TIMELINE_DAYS} WHERE conference = ?", (slug,)
            ).fetchone()[0]
        )
        for slug in slugs
    }


def published_positions(conn: Connection, target_id: str, slugs: Iterable[str]) -> dict[str, int]:
    """The position each of `slugs` was last published at in this target (if ever)."""
    out: dict[str, int] = {}
    for slug in slugs:
        row = conn.execute(
            f"SELECT position FROM {CONFERENCES} WHERE target = ? AND conference = ?",
            (target_id, slug),
        ).fetchone()
        if row:
            out[slug] = int(row[0])
    return out


def published_conferences(conn: Connection, target_id: str) -> set[str]:
    """Every conference this target holds: read only when feeds/ itself changed."""
    return {
        r[0]
        for r in conn.execute(
            f"SELECT conference FROM {CONFERENCES} WHERE target = ?", (target_id,)
        )
    }


# -- the audit ---------------------------------------------------------------------------


def last_file_id(conn: Connection, target_id: str) -> int:
    row = conn.execute(f"SELECT max(id) FROM {FILES} WHERE target = ?", (target_id,)).fetchone()
    return int(row[0] or 0)


def audit_window(conn: Connection, target_id: str, after: int, limit: int) -> list[FileRecord]:
    """Up to `limit` files of the target after id `after`, wrapping round to the first:
    the next window of the rotating audit (each file at most once)."""
    query = (
        f"SELECT id, conference, name, size, mtime_ns FROM {FILES} "
        "WHERE target = ? AND id {} ? ORDER BY id LIMIT ?"
    )
    rows = conn.execute(query.format(">"), (target_id, after, limit)).fetchall()
    if len(rows) < limit:
        rows += conn.execute(query.format("<="), (target_id, after, limit - len(rows))).fetchall()
    return [FileRecord(*r) for r in rows]


# -- recording a publish -------------------------------------------------------------------


def record(
    conn: Connection,
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
    with write_transaction(conn):
        ensure(conn)
        current = target(conn, target_id)
        position = head
        if current is None:
            if seen is not None:  # the state was dropped while this publish ran
                signature = ""
            # A feeds directory made anew (deleted, or a copy moved in): what was
            # remembered of the old one at this path is gone with it.
            for old in conn.execute(
                f"SELECT id FROM {TARGETS} WHERE path = ? AND id <> ?", (path, target_id)
            ).fetchall():
                _forget_target(conn, old[0])
            conn.execute(
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
            conn.execute(
                f"UPDATE {TARGETS} SET path = ?, position = ?, signature = ?, "
                "folders_mtime_ns = ?, generation = generation + 1, published_at = ? "
                "WHERE id = ?",
                (path, position, signature, folders_mtime_ns, now, target_id),
            )
        if forget_all:
            conn.execute(f"DELETE FROM {FILES} WHERE target = ?", (target_id,))
            conn.execute(f"DELETE FROM {CONFERENCES} WHERE target = ?", (target_id,))
        for slug in forget:
            _forget_conference(conn, target_id, slug)
        for slug, done in published.items():
            if done.fresh and not forget_all:
                conn.execute(
                    f"DELETE FROM {FILES} WHERE target = ? AND conference = ?", (target_id, slug)
                )
            conn.execute(
                f"INSERT INTO {CONFERENCES} (target, conference, position) VALUES (?, ?, ?) "
                "ON CONFLICT (target, conference) DO UPDATE SET position = excluded.position",
                (target_id, slug, done.position),
            )
            conn.executemany(
                f"INSERT INTO {FILES} (target, conference, name, size, mtime_ns) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (target, conference, name) "
                "DO UPDATE SET size = excluded.size, mtime_ns = excluded.mtime_ns",
                [(target_id, slug, name, size, mtime) for name, size, mtime in done.files],
            )


def _forget_conference(conn: Connection, target_id: str, slug: str) -> None:
    conn.execute(f"DELETE FROM {FILES} WHERE target = ? AND conference = ?", (target_id, slug))
    conn.execute(
        f"DELETE FROM {CONFERENCES} WHERE target = ? AND conference = ?", (target_id, slug)
    )


def _forget_target(conn: Connection, target_id: str) -> None:
    for table in (FILES, CONFERENCES):
        conn.execute(f"DELETE FROM {table} WHERE target = ?", (target_id,))
    conn.execute(f"DELETE FROM {TARGETS} WHERE id = ?", (target_id,))
