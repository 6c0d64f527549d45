"""The SQLite driver: pysqlite3's bundled library, never the system Python's older one.

SQLite before 3.51.3 can corrupt a WAL database when a checkpoint races a reset; the
pysqlite3 wheel bundles a fixed release. sqlite-utils picks pysqlite3 up the same way.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from ...errors import (
    DriverError,
    StoreBusy,
    StoreDamaged,
    StoreFull,
    StoreIOFailed,
    StoreMisused,
    StoreRefused,
    StoreUnavailable,
)

try:
    from pysqlite3 import dbapi2 as sqlite3
except ImportError:  # pragma: no cover - only on a platform without the wheel
    import sqlite3

MINIMUM_SQLITE = (3, 51, 3)
BUSY_TIMEOUT_MS = 30_000

# The driver's own classes: only this module catches them (see `mapped`).
_DriverFailure = (sqlite3.Error, sqlite3.Warning)

if sqlite3.sqlite_version_info < MINIMUM_SQLITE:  # pragma: no cover
    raise ImportError(
        f"liveblog needs SQLite >= {'.'.join(map(str, MINIMUM_SQLITE))}, "
        f"found {sqlite3.sqlite_version}: install pysqlite3>=0.6.1"
    )

Params = Sequence[Any] | dict[str, Any]
Row = tuple[Any, ...]

# SQLite's primary result codes (the part of `sqlite_errorname` before any `_` detail).
_BY_CODE: dict[str, type[DriverError]] = {
    "SQLITE_BUSY": StoreBusy,
    "SQLITE_LOCKED": StoreBusy,
    "SQLITE_FULL": StoreFull,
    "SQLITE_IOERR": StoreIOFailed,
    "SQLITE_CANTOPEN": StoreIOFailed,
    "SQLITE_PROTOCOL": StoreIOFailed,
    "SQLITE_CORRUPT": StoreDamaged,
    "SQLITE_NOTADB": StoreDamaged,
    "SQLITE_CONSTRAINT": StoreRefused,
    "SQLITE_MISUSE": StoreMisused,
}


def mapped(exc: BaseException) -> DriverError:
    """The project's exception for a driver exception (same message, `code` kept).

    By SQLite's result code first (it says what happened: BUSY, FULL, CORRUPT…), then by
    the DB-API class for the errors the driver raises itself (a closed connection, a
    wrong number of parameters) that carry no code.
    """
    code = str(getattr(exc, "sqlite_errorname", "") or "")
    primary = code if code.count("_") < 2 else code[: code.index("_", len("SQLITE_"))]
    kind = _BY_CODE.get(primary)
    if kind is None:
        if isinstance(exc, sqlite3.IntegrityError):
            kind = StoreRefused
        elif isinstance(exc, sqlite3.OperationalError):
            kind = StoreUnavailable
        elif isinstance(exc, (sqlite3.ProgrammingError, sqlite3.InterfaceError, sqlite3.Warning)):
            kind = StoreMisused
        else:
            kind = DriverError
    return kind(str(exc), code)


class Cursor:
    """The rows of one statement: fetch them, or iterate; driver errors mapped.

    Rows are plain tuples. Iteration delegates to the driver's own iterator and maps
    only when stepping the statement fails.
    """

    __slots__ = ("_cursor",)

    def __init__(self, cursor: Any) -> None:
        self._cursor = cursor

    def fetchone(self) -> Any:
        """The next row (a tuple), or None when there is none.

        Typed `Any` rather than `Row | None`: most callers read an aggregate that
        always has a row (`SELECT max(…)`, a PRAGMA) and index it at once.
        """
        try:
            return self._cursor.fetchone()
        except _DriverFailure as exc:
            raise mapped(exc) from exc

    def fetchall(self) -> list[Row]:
        try:
            rows: list[Row] = self._cursor.fetchall()
        except _DriverFailure as exc:
            raise mapped(exc) from exc
        return rows

    def fetchmany(self, size: int) -> list[Row]:
        try:
            rows: list[Row] = self._cursor.fetchmany(size)
        except _DriverFailure as exc:
            raise mapped(exc) from exc
        return rows

    def __iter__(self) -> Iterator[Row]:
        # `yield from` steps the driver's cursor from C: a loop over a million rows costs
        # what it did unwrapped (a `__next__` in Python would add a frame per row).
        try:
            yield from self._cursor
        except _DriverFailure as exc:
            raise mapped(exc) from exc

    def __next__(self) -> Row:
        try:
            row: Row = next(self._cursor)
        except _DriverFailure as exc:
            raise mapped(exc) from exc
        return row

    @property
    def rowcount(self) -> int:
        return int(self._cursor.rowcount)

    @property
    def lastrowid(self) -> int | None:
        found = self._cursor.lastrowid
        return None if found is None else int(found)

    @property
    def description(self) -> tuple[tuple[Any, ...], ...] | None:
        found: tuple[tuple[Any, ...], ...] | None = self._cursor.description
        return found


class Connection:
    """One SQLite connection (pysqlite3's, which ships no types), typed.

    Every call that reaches the database maps the driver's exceptions into the
    `StoreError` tree (`mapped`), so no code outside the store needs to know the
    driver. Transactions are ours (`isolation_level=None`): see `write_transaction`.
    """

    __slots__ = ("_conn",)

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    def execute(self, sql: str, params: Params = ()) -> Cursor:
        try:
            return Cursor(self._conn.execute(sql, params))
        except _DriverFailure as exc:
            raise mapped(exc) from exc

    def executemany(self, sql: str, rows: Iterable[Params]) -> Cursor:
        try:
            return Cursor(self._conn.executemany(sql, rows))
        except _DriverFailure as exc:
            raise mapped(exc) from exc

    def executescript(self, script: str) -> Cursor:
        try:
            return Cursor(self._conn.executescript(script))
        except _DriverFailure as exc:
            raise mapped(exc) from exc

    def commit(self) -> None:
        try:
            self._conn.commit()
        except _DriverFailure as exc:
            raise mapped(exc) from exc

    def rollback(self) -> None:
        try:
            self._conn.rollback()
        except _DriverFailure as exc:
            raise mapped(exc) from exc

    def close(self) -> None:
        try:
            self._conn.close()
        except _DriverFailure as exc:
            raise mapped(exc) from exc

    @property
    def in_transaction(self) -> bool:
        return bool(self._conn.in_transaction)

    @property
    def total_changes(self) -> int:
        return int(self._conn.total_changes)

    def set_progress_handler(self, handler: Callable[[], int] | None, n: int) -> None:
        """Call `handler` every `n` virtual-machine steps; a true result interrupts."""
        self._conn.set_progress_handler(handler, n)

    def interrupt(self) -> None:
        self._conn.interrupt()

    @property
    def driver_connection(self) -> Any:
        """pysqlite3's own connection, for a library that needs one (sqlite-utils'
        migrations); its errors must be mapped by the caller (`driver_errors`)."""
        return self._conn


@contextlib.contextmanager
def driver_errors() -> Iterator[None]:
    """Map the driver's exceptions raised by code that uses `driver_connection`."""
    try:
        yield
    except _DriverFailure as exc:
        raise mapped(exc) from exc


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
    try:
        raw = sqlite3.connect(
            str(path), isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000, uri=uri
        )
    except _DriverFailure as exc:
        raise mapped(exc) from exc
    conn = Connection(raw)
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
        except StoreBusy:
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
