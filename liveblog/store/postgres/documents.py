"""Feed documents in PostgreSQL (`store.documents.FeedDocuments`): one row per document.

The table is created by migration m003 (`postgres/schema.py`) from `DOCUMENTS_DDL`.
Paths sort in the "C" collation (byte order): a prefix is a primary-key range, and the
conferences are found by skipping from one folder to the next (one index probe each).
Bodies are `bytea` (TOAST compresses the XML); the ETag and size are kept beside them,
so a conditional GET reads neither.
"""

from __future__ import annotations

import builtins
import contextlib
import datetime as dt
import time
from collections.abc import Iterable, Iterator, Sequence

from ...errors import StoreBusy
from ..documents import Document, DocumentVersion, check_path
from .driver import PgConnection

TABLE = "feed_documents"
DOCUMENTS_DDL = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    path text COLLATE "C" PRIMARY KEY,
    body bytea NOT NULL,
    content_type text NOT NULL,
    etag text NOT NULL,
    size bigint NOT NULL,
    modified timestamptz NOT NULL
)
"""
"""Applied by migration m003; the app role needs SELECT, INSERT, UPDATE, DELETE on it."""

PUT_BATCH_BYTES = 8 * 1024 * 1024
"""Bodies sent in one INSERT statement, at most (several statements, one transaction)."""
LOCK_POLL_SECONDS = 0.05
# A session-level advisory lock (its own key space: hashtext of a name no one else uses):
# it dies with the connection, so a killed publisher never keeps it.
_LOCK_KEY = "hashtext('liveblog:feed-documents:publish')"

_COLUMNS = "path, etag, modified, size, content_type"
# Only a changed body (or type) replaces a row: `modified` then moves, else it stays.
_PUT = f"""
INSERT INTO {TABLE} AS d (path, body, content_type, etag, size, modified)
SELECT * FROM unnest(%s::text[], %s::bytea[], %s::text[], %s::text[], %s::bigint[],
                     %s::timestamptz[])
ON CONFLICT (path) DO UPDATE SET
    body = excluded.body, content_type = excluded.content_type, etag = excluded.etag,
    size = excluded.size, modified = excluded.modified
WHERE d.etag <> excluded.etag OR d.content_type <> excluded.content_type
RETURNING path
"""
# From one folder to the next: each step one probe of the primary key ('0' is the
# character after '/', so `name || '0'` is the first path past that folder).
_FOLDERS = f"""
WITH RECURSIVE folder(name) AS (
    (SELECT split_part(path, '/', 1) FROM {TABLE} ORDER BY path LIMIT 1)
    UNION ALL
    SELECT (SELECT split_part(d.path, '/', 1) FROM {TABLE} d
            WHERE d.path >= folder.name || '0' ORDER BY d.path LIMIT 1)
    FROM folder WHERE folder.name IS NOT NULL
)
SELECT name FROM folder WHERE name IS NOT NULL
"""


def _after(prefix: str) -> str | None:
    """The least string greater than every string starting with `prefix` (C order)."""
    if not prefix:
        return None
    last = ord(prefix[-1])
    if last >= 0x10FFFF:
        return None
    return prefix[:-1] + chr(last + 1)


def _version(row: tuple[str, str, dt.datetime, int, str]) -> DocumentVersion:
    path, etag, modified, size, content_type = row
    return DocumentVersion(path, etag, modified.astimezone(dt.UTC), int(size), content_type)


class PostgresDocuments:
    """`FeedDocuments` on one PgConnection (the event store's: its unit of work)."""

    def __init__(self, conn: PgConnection) -> None:
        self.conn = conn

    def writing(self) -> contextlib.AbstractContextManager[object]:
        # Not the log lock: documents do not hold up appends.
        return self.conn.writing()

    @contextlib.contextmanager
    def exclusive(self, seconds: float) -> Iterator[None]:
        deadline = time.monotonic() + seconds
        while not self.conn.execute(f"SELECT pg_try_advisory_lock({_LOCK_KEY})").fetchone()[0]:
            if time.monotonic() >= deadline:
                raise StoreBusy(
                    f"another publish has been writing the feed documents for {seconds:.0f} s "
                    "(try again when it is done)"
                )
            time.sleep(LOCK_POLL_SECONDS)
        try:
            yield
        finally:
            # A broken connection has lost the lock with its session: nothing to undo.
            with contextlib.suppress(Exception):
                self.conn.execute(f"SELECT pg_advisory_unlock({_LOCK_KEY})")

    def put(self, changes: Sequence[Document]) -> list[str]:
        changed: list[str] = []
        # One row per path (the last given): a statement may not update a row twice.
        latest = list({doc.path: doc for doc in changes}.values())
        with self.conn.writing():
            for batch in _batches(latest):
                columns: tuple[list[object], ...] = ([], [], [], [], [], [])
                for doc in batch:
                    row = (
                        check_path(doc.path),
                        doc.body,
                        doc.content_type,
                        doc.etag,
                        len(doc.body),
                        doc.modified,
                    )
                    for column, value in zip(columns, row, strict=True):
                        column.append(value)
                rows = self.conn.execute(_PUT, columns).fetchall()
                done = {path for (path,) in rows}
                changed += [doc.path for doc in batch if doc.path in done]
        order = {path: k for k, path in enumerate(doc.path for doc in changes)}
        return sorted(changed, key=order.__getitem__)

    def delete(self, paths: Iterable[str]) -> int:
        wanted = list(paths)
        if not wanted:
            return 0
        with self.conn.writing():
            cursor = self.conn.execute(f"DELETE FROM {TABLE} WHERE path = ANY(%s)", (wanted,))
            return cursor.rowcount

    def get(self, path: str) -> Document | None:
        row = self.conn.execute(
            f"SELECT body, content_type, etag, modified FROM {TABLE} WHERE path = %s", (path,)
        ).fetchone()
        if row is None:
            return None
        body, content_type, etag, modified = row
        return Document(path, bytes(body), content_type, etag, modified.astimezone(dt.UTC))

    def get_many(self, paths: Sequence[str]) -> builtins.list[Document]:
        wanted = builtins.list(paths)
        if not wanted:
            return []
        rows = self.conn.execute(
            f"SELECT path, body, content_type, etag, modified FROM {TABLE} WHERE path = ANY(%s)",
            (wanted,),
        ).fetchall()
        found = {
            path: Document(path, bytes(body), content_type, etag, modified.astimezone(dt.UTC))
            for path, body, content_type, etag, modified in rows
        }
        return [found[path] for path in dict.fromkeys(wanted) if path in found]

    def version(self, path: str) -> DocumentVersion | None:
        row = self.conn.execute(
            f"SELECT {_COLUMNS} FROM {TABLE} WHERE path = %s", (path,)
        ).fetchone()
        return None if row is None else _version(row)

    def list(self, prefix: str = "") -> list[DocumentVersion]:
        after = _after(prefix)
        if after is None:
            sql = f"SELECT {_COLUMNS} FROM {TABLE} WHERE path >= %s ORDER BY path"
            params: tuple[str, ...] = (prefix,)
        else:
            sql = f"SELECT {_COLUMNS} FROM {TABLE} WHERE path >= %s AND path < %s ORDER BY path"
            params = (prefix, after)
        return [_version(row) for row in self.conn.execute(sql, params)]

    def folders(self) -> builtins.list[str]:
        # Path order puts "a-b/…" before "a/…" ('-' sorts before '/'): sorted by name here.
        return sorted(name for (name,) in self.conn.execute(_FOLDERS).fetchall())


def _batches(changes: Sequence[Document]) -> Iterator[list[Document]]:
    batch: list[Document] = []
    size = 0
    for doc in changes:
        if batch and size + len(doc.body) > PUT_BATCH_BYTES:
            yield batch
            batch, size = [], 0
        batch.append(doc)
        size += len(doc.body)
    if batch:
        yield batch


__all__ = ["DOCUMENTS_DDL", "PostgresDocuments"]
