"""The PostgreSQL driver: psycopg 3 connections from a per-process pool, errors mapped.

One store object holds one connection (taken from the pool when the store opens, given
back when it closes): a unit of work needs every statement on the same connection.
The pool is shared by every store object of the process that names the same URL, so a
server opening a store per request reuses warm connections instead of reconnecting.

Transactions are ours, as with SQLite: the connection is in autocommit mode, and
`writing()` / `snapshot()` issue BEGIN … COMMIT themselves, re-entrant (an inner block
joins the outer one). A statement run outside both commits on its own.

Everything psycopg raises is mapped into the `StoreError` tree here (`mapped`), by the
SQLSTATE class, so nothing outside `store/` knows the driver.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import psycopg
import psycopg.errors
from psycopg_pool import ConnectionPool

from ...errors import (
    DriverError,
    StoreBusy,
    StoreDamaged,
    StoreFull,
    StoreIOFailed,
    StoreMisused,
    StoreRefused,
    StoreUnavailable,
    UnopenableDatabase,
)

Params = Sequence[Any] | dict[str, Any]
Row = tuple[Any, ...]

CONNECT_TIMEOUT_S = 10
"""How long opening a connection may take before the store reports it unreachable."""
LOCK_TIMEOUT_MS = 30_000
"""As SQLite's busy timeout: a writer waits this long for another's lock, then StoreBusy."""
POOL_MAX = 16
"""Connections per process and URL: a server's requests (each gives its connection back
when it ends), the feeds readers, the deliverer, the scheduler and its feeds worker."""

_SESSION_SETTING = re.compile(r"\s*(SET|RESET)\s+(?!LOCAL\b)", re.IGNORECASE)
"""A statement that changes the session (not one transaction): replayed on reconnect."""
_URL_PASSWORD = re.compile(r"(://[^:/@]*:)[^@]*@")

# SQLSTATE classes (the first two characters) and a few exact codes.
_BY_CLASS: dict[str, type[DriverError]] = {
    "08": StoreUnavailable,  # connection exception
    "23": StoreRefused,  # integrity constraint violation
    "40": StoreBusy,  # serialization failure, deadlock
    "53": StoreFull,  # insufficient resources (disk full, out of memory, too many conns)
    "57": StoreUnavailable,  # operator intervention (shutdown, query cancelled)
    "58": StoreIOFailed,  # system error (I/O)
    "XX": StoreDamaged,  # internal error, data corrupted
    "42": StoreMisused,  # syntax error or access rule violation
    "22": StoreMisused,  # data exception
    "25": StoreMisused,  # invalid transaction state
    "P0": StoreRefused,  # raised by a PL/pgSQL trigger (the log's append-only guard)
}
_BY_CODE: dict[str, type[DriverError]] = {
    "55P03": StoreBusy,  # lock_not_available (lock_timeout)
    "42501": StoreRefused,  # insufficient_privilege: the grants refuse it
    "57014": StoreBusy,  # query_canceled (statement_timeout)
}


def redact(url: str) -> str:
    """The URL without its password (for messages and logs)."""
    return _URL_PASSWORD.sub(r"\1***@", url)


def mapped(exc: BaseException) -> DriverError:
    """The project's exception for a psycopg exception (message kept, SQLSTATE as code)."""
    code = str(getattr(exc, "sqlstate", "") or "")
    kind = _BY_CODE.get(code) or _BY_CLASS.get(code[:2])
    if kind is None:
        if isinstance(exc, psycopg.OperationalError):
            kind = StoreUnavailable
        elif isinstance(exc, psycopg.IntegrityError):
            kind = StoreRefused
        elif isinstance(exc, (psycopg.ProgrammingError, psycopg.InterfaceError)):
            kind = StoreMisused
        else:
            kind = DriverError
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return kind(message, code)


class Cursor:
    """The rows of one statement (plain tuples); driver errors mapped."""

    __slots__ = ("_cursor",)

    def __init__(self, cursor: psycopg.Cursor[Any]) -> None:
        self._cursor = cursor

    def fetchone(self) -> Any:
        """The next row, or None. Typed `Any`: most callers read an aggregate."""
        try:
            return self._cursor.fetchone()
        except psycopg.Error as exc:
            raise mapped(exc) from exc

    def fetchall(self) -> list[Row]:
        try:
            return list(self._cursor.fetchall())
        except psycopg.Error as exc:
            raise mapped(exc) from exc

    def fetchmany(self, size: int) -> list[Row]:
        try:
            return list(self._cursor.fetchmany(size))
        except psycopg.Error as exc:
            raise mapped(exc) from exc

    def __iter__(self) -> Iterator[Row]:
        try:
            yield from self._cursor
        except psycopg.Error as exc:
            raise mapped(exc) from exc

    @property
    def rowcount(self) -> int:
        return int(self._cursor.rowcount)


class PgConnection:
    """One psycopg connection (autocommit; transactions via `writing` / `snapshot`).

    `writing(lock_log=True)` also takes the log's write lock (see `LOG_LOCK`), once per
    transaction, even when it joins a transaction opened without it: the event store's
    unit of work is "read the context, then append" under that lock, while the
    sub-stores' own writes (delivery bookkeeping, feed documents) need no lock on the
    log and do not hold up appends.
    """

    def __init__(
        self, raw: psycopg.Connection[Any], release: Any = None, acquire: Any = None
    ) -> None:
        self._raw = raw
        self._release = release
        # A pooled connection the server dropped (a restart, a failover, an idle
        # timeout, pg_terminate_backend) is replaced before the next statement outside
        # a transaction: a long-lived store (the deliverer's, the publisher's) would
        # otherwise fail every call until its process restarts. The statement that met
        # the break still fails; session settings are replayed on the new connection.
        self._acquire = acquire
        self._session: list[str] = []
        self._depth = 0
        self._log_locked = False
        self._readonly_tx = False
        self._relaxed = False
        self.closed = False

    # -- statements ------------------------------------------------------------------

    def execute(self, sql: str, params: Params | None = None) -> Cursor:
        self._ready()
        try:
            cursor = Cursor(self._raw.execute(sql, params, prepare=None))
        except psycopg.Error as exc:
            raise mapped(exc) from exc
        if _SESSION_SETTING.match(sql):
            self._session.append(sql)
        return cursor

    def _ready(self) -> None:
        """Replace a connection the server has dropped, outside a transaction only."""
        if self._depth or self._acquire is None or not self._raw.closed:
            return
        with contextlib.suppress(Exception):
            self._release(self._raw)  # the pool discards a broken connection
        try:
            self._raw = self._acquire()
        except Exception as exc:
            raise StoreUnavailable(f"the database connection was lost: {_reason(exc)}") from None
        for setting in self._session:
            try:
                self._raw.execute(setting)
            except psycopg.Error as exc:
                raise mapped(exc) from exc

    def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        self._ready()
        try:
            with self._raw.cursor() as cur:
                cur.executemany(sql, rows)
        except psycopg.Error as exc:
            raise mapped(exc) from exc

    def copy_rows(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """`COPY … FROM STDIN` with these rows (bulk loads: imports, projection rebuilds)."""
        self._ready()
        try:
            with self._raw.cursor() as cur, cur.copy(sql) as copy:
                for row in rows:
                    copy.write_row(row)
        except psycopg.Error as exc:
            raise mapped(exc) from exc

    # -- transactions ----------------------------------------------------------------

    @property
    def in_transaction(self) -> bool:
        return self._depth > 0

    @contextlib.contextmanager
    def writing(self, *, lock_log: bool = False) -> Iterator[PgConnection]:
        """A read-write transaction (READ COMMITTED), re-entrant; rolled back on error."""
        if self._depth:
            if self._readonly_tx:
                raise StoreMisused("a write inside a read-only snapshot", "25006")
            if lock_log and not self._log_locked:
                self._lock_log()
            self._depth += 1
            try:
                yield self
            finally:
                self._depth -= 1
            return
        begin = "BEGIN ISOLATION LEVEL READ COMMITTED"
        self._ready()
        self._depth = 1
        try:
            if lock_log:
                # One round trip for both (a simple-protocol message of two statements):
                # the appender holding the lock waits for nothing more than it must.
                self.execute(f"{begin}; {LOG_LOCK}")
                self._log_locked = True
            else:
                self.execute(begin)
            yield self
            self.execute("COMMIT")
        except BaseException:
            self._rollback_quietly()
            raise
        finally:
            self._depth = 0
            self._log_locked = False

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[PgConnection]:
        """One consistent view for several reads (REPEATABLE READ, read only); joins an
        open transaction."""
        if self._depth:
            self._depth += 1
            try:
                yield self
            finally:
                self._depth -= 1
            return
        self.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        self._depth = 1
        self._readonly_tx = True
        try:
            yield self
            self.execute("COMMIT")
        except BaseException:
            self._rollback_quietly()
            raise
        finally:
            self._depth = 0
            self._readonly_tx = False

    def _lock_log(self) -> None:
        # The mechanism behind "commit order = position order": see LOG_LOCK.
        self.execute(LOG_LOCK)
        self._log_locked = True

    def _rollback_quietly(self) -> None:
        # After a failed COMMIT or a broken connection the rollback may fail too: the
        # original error is the one worth reporting.
        with contextlib.suppress(Exception):
            self._raw.execute("ROLLBACK")

    def relax_durability(self) -> None:
        """synchronous_commit off for this connection's later commits (the webhook
        deliverer's bookkeeping): a crash of the server may lose the last of them, never
        corrupt anything. Reset before the connection goes back to the pool."""
        self.execute("SET synchronous_commit = off")
        self._relaxed = True

    # -- lifetime --------------------------------------------------------------------

    @property
    def raw(self) -> psycopg.Connection[Any]:
        """psycopg's own connection (LISTEN, COPY); map its errors with `driver_errors`."""
        return self._raw

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self._depth:
            self._rollback_quietly()
            self._depth = 0
        if self._relaxed and self._release is not None:
            # The pool's next user (an event store appending) must commit durably; a
            # connection that cannot be reset is not given back.
            try:
                self._raw.execute("RESET synchronous_commit")
            except Exception:
                with contextlib.suppress(Exception):
                    self._raw.close()
        if self._release is not None:
            self._release(self._raw)
        else:
            with contextlib.suppress(Exception):
                self._raw.close()


LOG_LOCK_KEY = (0x4C42_4C47, 2)
"""The advisory lock's two int4 keys ("LBLG", 2); schema migrations use ("LBLG", 1)."""

LOG_LOCK = f"SELECT pg_advisory_xact_lock({LOG_LOCK_KEY[0]}, {LOG_LOCK_KEY[1]})"
"""Why positions are gap-free and commit-ordered on PostgreSQL.

Every append (and every `writing()` block of the event store) takes this lock before it
reads the head, and holds it through COMMIT: a transaction-level advisory lock is
released only when its transaction ends, never by the statement that took it. It
conflicts with itself only: one appender at a time, readers never blocked. The next
position is max(position) + 1 read under the lock — no sequence, which would hand out
numbers that roll back (gaps) and commit out of order — so when a reader sees position
N+1, the transaction that wrote N has already committed.

An advisory lock rather than `LOCK TABLE events IN EXCLUSIVE MODE`: the table lock in
that mode needs UPDATE, DELETE or TRUNCATE privilege on the table, and the
application's role is granted INSERT and SELECT on the log only. A writer that skips
the lock (a DBA's INSERT) is held to the same order by the `events_next` trigger
(store/postgres/schema.py): its row must be max + 1 as it sees the table, so it fails
instead of overtaking an append in flight."""


@contextlib.contextmanager
def driver_errors() -> Iterator[None]:
    """Map psycopg's exceptions raised by code that uses `PgConnection.raw`."""
    try:
        yield
    except psycopg.Error as exc:
        raise mapped(exc) from exc


# -- connecting ------------------------------------------------------------------------

_pools: dict[str, ConnectionPool[Any]] = {}
_pools_lock = threading.Lock()


def _configure(conn: psycopg.Connection[Any]) -> None:
    conn.autocommit = True
    conn.execute(f"SET lock_timeout = {LOCK_TIMEOUT_MS}")
    conn.execute("SET TIME ZONE 'UTC'")


def _check(conn: psycopg.Connection[Any]) -> None:
    # A connection handed back mid-transaction (a killed thread) is discarded by the pool.
    if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        raise psycopg.OperationalError("connection returned inside a transaction")


def pool_for(url: str) -> ConnectionPool[Any]:
    """The process's pool for `url` (created, and its first connection opened, on first use)."""
    with _pools_lock:
        pool = _pools.get(url)
        if pool is None:
            _probe(url)
            pool = ConnectionPool(
                url,
                min_size=0,
                max_size=POOL_MAX,
                kwargs={"connect_timeout": CONNECT_TIMEOUT_S},
                configure=_configure,
                reset=_check,
                open=True,
                timeout=CONNECT_TIMEOUT_S * 3,
                name="liveblog",
            )
            _pools[url] = pool
        return pool


def _probe(url: str) -> None:
    """Connect once outside the pool before making one: the pool retries a refused
    connection in the background until its timeout (30 s) and then says only that it
    could not get one, where a user needs the server's reason, at once."""
    try:
        psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT_S).close()
    except psycopg.Error as exc:
        raise UnopenableDatabase(
            f"cannot connect to PostgreSQL at {describe(url)}: {_reason(exc)}"
        ) from None


# The pool logs each failed reconnection attempt as a warning; without a handler of
# the application's, Python would print them (several lines each) on a CLI's stderr.
logging.getLogger("psycopg.pool").addHandler(logging.NullHandler())


def connect(url: str) -> PgConnection:
    """A connection for one store object, from the process's pool for `url`.

    An unreachable server or a refused login is UnopenableDatabase, in one line that
    names the server without the password.
    """
    pool = pool_for(url)
    try:
        raw = pool.getconn()
    except Exception as exc:  # PoolTimeout wraps the connection error's text
        raise UnopenableDatabase(
            f"cannot connect to PostgreSQL at {describe(url)}: {_reason(exc)}"
        ) from None
    return PgConnection(raw, release=pool.putconn, acquire=pool.getconn)


def connect_direct(url: str) -> PgConnection:
    """A connection of its own, outside the pool: for a session that must end with the
    process (the leader's advisory lock, LISTEN) and never be handed to another user."""
    try:
        raw = psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT_S)
    except psycopg.Error as exc:
        raise UnopenableDatabase(
            f"cannot connect to PostgreSQL at {describe(url)}: {_reason(exc)}"
        ) from None
    _configure(raw)
    return PgConnection(raw)


def describe(url: str) -> str:
    """Host, port and database of a URL, for a message (never the password)."""
    try:
        info = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.Error:
        return "the given URL"
    host = str(info.get("host") or "localhost")
    port = str(info.get("port") or "5432")
    name = str(info.get("dbname") or info.get("user") or "")
    return f"{host}:{port}/{name}" if not host.startswith("/") else f"{host} (socket)/{name}"


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    cause = exc.__cause__ or exc.__context__
    if cause is not None and str(cause).strip():
        text = str(cause).strip()
    line = text.splitlines()[0] if text else type(exc).__name__
    return _URL_PASSWORD.sub(r"\1***@", line)


def close_pools() -> None:
    """Close every pool of this process (tests; a server's shutdown)."""
    with _pools_lock:
        pools = list(_pools.values())
        _pools.clear()
    for pool in pools:
        with contextlib.suppress(Exception):
            pool.close()


__all__ = [
    "LOCK_TIMEOUT_MS",
    "LOG_LOCK",
    "LOG_LOCK_KEY",
    "Cursor",
    "PgConnection",
    "close_pools",
    "connect",
    "connect_direct",
    "describe",
    "driver_errors",
    "mapped",
    "pool_for",
    "redact",
]
