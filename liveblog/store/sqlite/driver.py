"""The SQLite driver: pysqlite3's bundled library, never the system Python's older one.

SQLite before 3.51.3 can corrupt a WAL database when a checkpoint races a reset; the
pysqlite3 wheel bundles a fixed release. sqlite-utils picks pysqlite3 up the same way.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

try:
    from pysqlite3 import dbapi2 as sqlite3
except ImportError:  # pragma: no cover - only on a platform without the wheel
    import sqlite3

MINIMUM_SQLITE = (3, 51, 3)
BUSY_TIMEOUT_MS = 30_000

Connection = Any  # pysqlite3 ships no type information
IntegrityError = sqlite3.IntegrityError
OperationalError = sqlite3.OperationalError
DatabaseError = sqlite3.DatabaseError

if sqlite3.sqlite_version_info < MINIMUM_SQLITE:  # pragma: no cover
    raise ImportError(
        f"liveblog needs SQLite >= {'.'.join(map(str, MINIMUM_SQLITE))}, "
        f"found {sqlite3.sqlite_version}: install pysqlite3>=0.6.1"
    )


def connect(path: str | Path) -> Connection:
    """Open `path` with the pragmas every liveblog connection needs (WAL included).

    For events.db, `liveblog.store.sqlite.opening` first checks whose file it is: switching to
    WAL writes to the file, so it must not happen to another program's database.
    """
    conn = open_raw(path)
    prepare_for_writing(conn)
    return conn


def open_raw(path: str | Path, *, uri: bool = False) -> Connection:
    """A connection that has not written anything yet: only the busy timeout is set.

    `isolation_level=None` leaves transactions to us: writes use BEGIN IMMEDIATE, since a
    deferred BEGIN that later upgrades to a write can fail with SQLITE_BUSY regardless of
    the busy timeout.
    """
    # One connection per thread (the default check): transactions here are per
    # connection, so two threads sharing one could join each other's transaction.
    conn = sqlite3.connect(str(path), isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000, uri=uri)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    return conn


def prepare_for_writing(conn: Connection) -> None:
    """WAL, full sync and recursive triggers: what a connection that appends needs."""
    _use_wal(conn)
    # FULL: an acknowledged append survives power loss, not only a crash of the process.
    conn.execute("PRAGMA synchronous = FULL")
    # Without it, INSERT OR REPLACE deletes rows without firing DELETE triggers.
    conn.execute("PRAGMA recursive_triggers = ON")


def _use_wal(conn: Connection) -> None:
    """Switch to WAL (persistent in the file), waiting out other processes.

    Changing the journal mode needs an exclusive lock and SQLite reports SQLITE_BUSY at
    once rather than calling the busy handler, so a process opening a new file while
    another is writing to it retries here, up to the busy timeout.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    delay = 0.001
    while True:
        try:
            mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
            if str(mode).lower() == "wal" or str(mode).lower() == "memory":
                return
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            if time.monotonic() >= deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.05)


@contextlib.contextmanager
def write_transaction(conn: Connection) -> Iterator[Connection]:
    """BEGIN IMMEDIATE … COMMIT, rolled back on any exception.

    Re-entrant: inside an open transaction it joins it, so a caller can read the
    reporter's context and append under one lock.
    """
    if conn.in_transaction:
        yield conn
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException:
        # Also after a failed COMMIT: never leave a transaction for the next writer to join.
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


@contextlib.contextmanager
def read_transaction(conn: Connection) -> Iterator[Connection]:
    """One consistent snapshot for several SELECTs (joins an open transaction)."""
    if conn.in_transaction:
        yield conn
        return
    conn.execute("BEGIN")
    try:
        yield conn
    finally:
        if conn.in_transaction:
            conn.execute("COMMIT")
