"""Leadership on PostgreSQL: a session advisory lock on a connection of its own.

`pg_try_advisory_lock` is held by the session that took it and dropped by the server
when that session ends, however it ends: `release()`, the process exiting, a SIGKILL
(the kernel closes the socket, the backend sees EOF), or a dead machine or a cut link
(TCP keepalives, set on both ends of the connection — libpq's options and the session's
`tcp_keepalives_*` — find the peer gone within KEEPALIVE_IDLE + INTERVAL × COUNT
seconds; `tcp_user_timeout` bounds a send that is never acknowledged). So no node ever keeps
a lock it cannot use, and a standby's next `try_acquire` takes over.

The connection is `connect_direct`'s (outside the pool: a pooled connection handed to
another user would carry the lock with it). A standby keeps its session between tries
(one query each, so it can try often); the session that wins keeps the lock. `held()`
asks the server whether this session still holds the lock (one catalog lookup): a
leader whose connection died, or whose session was terminated, learns it there and
steps down.

The key is two 32-bit integers: a constant that says "liveblog", and a hash of the name.
Advisory locks are per database: two liveblog databases on one server never collide.
Who holds it is read from `pg_locks` joined with `pg_stat_activity`: each leadership
connection names itself in `application_name` (the command, pid and host).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import socket
import threading
import zlib
from typing import Any

from ...errors import DriverError, RefusedCommand

NAMESPACE = 0x6C766267  # "lvbg": the first key of every liveblog advisory lock
KEEPALIVE_IDLE_S = 5
KEEPALIVE_INTERVAL_S = 2
KEEPALIVE_COUNT = 3
USER_TIMEOUT_MS = 10_000
APPLICATION_NAME_MAX = 63  # PostgreSQL truncates longer names (NAMEDATALEN - 1)


def lock_key(name: str) -> tuple[int, int]:
    """The advisory lock's two int4 keys for `name` (stable across processes)."""
    value = zlib.crc32(f"liveblog:{name}".encode())
    return NAMESPACE, value - 2**32 if value >= 2**31 else value


def application_name(holder: str) -> str:
    """What our session says it is: `liveblog serve pid 42 on host1`."""
    text = f"liveblog {holder} pid {os.getpid()} on {socket.gethostname()}"
    return text.encode()[:APPLICATION_NAME_MAX].decode(errors="ignore")


# pg_locks shows the two int4 keys of an advisory lock as classid and objid (oids,
# unsigned) with objsubid 2.
_HOLDER = """
SELECT a.application_name, a.backend_start, a.client_addr
FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
  AND l.classid = %s::oid AND l.objid = %s::oid
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
LIMIT 1
"""
_MINE = """
SELECT count(*) FROM pg_locks
WHERE locktype = 'advisory' AND granted AND objsubid = 2 AND pid = pg_backend_pid()
  AND classid = %s::oid AND objid = %s::oid
"""


def _oids(keys: tuple[int, int]) -> tuple[int, int]:
    return keys[0] & 0xFFFFFFFF, keys[1] & 0xFFFFFFFF


class PostgresLeadership:
    """The advisory lock `name` of the database at `url`; `holder` is our command."""

    standby = True
    """Nodes share the database: a process that does not lead stands by."""

    def __init__(self, url: str, name: str, holder: str) -> None:
        self.url = url
        self._name = name
        self.command = holder
        self.keys = lock_key(name)
        self._conn: Any = None  # a PgConnection while we hold the lock
        self._waiting: Any = None  # a standby's, kept between tries (see try_acquire)
        # One caller at a time on the connection (the scheduler's thread, a test).
        self._mutex = threading.Lock()

    @property
    def name(self) -> str:
        return self._name

    def _connect(self) -> Any:
        import psycopg.conninfo

        from .driver import connect_direct

        conninfo = psycopg.conninfo.make_conninfo(
            self.url,
            keepalives=1,
            keepalives_idle=KEEPALIVE_IDLE_S,
            keepalives_interval=KEEPALIVE_INTERVAL_S,
            keepalives_count=KEEPALIVE_COUNT,
            tcp_user_timeout=USER_TIMEOUT_MS,
            application_name=application_name(self.command),
        )
        conn = connect_direct(conninfo)
        try:
            # The server's side of the same watch: a leader cut off by the network (no
            # FIN, no RST) has its session ended, and the lock freed, within seconds
            # rather than the kernel's default two hours of keepalive silence.
            for setting, value in (
                ("tcp_keepalives_idle", KEEPALIVE_IDLE_S),
                ("tcp_keepalives_interval", KEEPALIVE_INTERVAL_S),
                ("tcp_keepalives_count", KEEPALIVE_COUNT),
                ("tcp_user_timeout", USER_TIMEOUT_MS),
            ):
                conn.execute(f"SET {setting} = {int(value)}")
        except BaseException:
            conn.close()
            raise
        return conn

    def try_acquire(self) -> bool:
        """One `pg_try_advisory_lock` on a session kept between a standby's tries: a
        try is then one round trip, not a new session (a backend started, TLS and
        authentication, four settings), so a standby may try often and take over
        soon after the leader's session ends. A session that failed is dropped and
        the next try opens another."""
        with self._mutex:
            if self._conn is not None:
                return True
            kept, self._waiting = self._waiting, None
            if kept is not None:
                try:
                    return self._try(kept)
                except DriverError:
                    pass  # the kept session ended (a restart, a cut): try on a new one
            return self._try(self._connect())

    def _try(self, conn: Any) -> bool:
        try:
            row = conn.execute("SELECT pg_try_advisory_lock(%s, %s)", self.keys).fetchone()
        except BaseException:
            conn.close()
            raise
        if not row[0]:
            self._waiting = conn
            return False
        self._conn = conn
        return True

    def held(self) -> bool:
        with self._mutex:
            if self._conn is None:
                return False
            try:
                row = self._conn.execute(_MINE, _oids(self.keys)).fetchone()
            except DriverError:
                row = None  # the session is gone (killed, terminated, network)
            if row is not None and row[0]:
                return True
            self._drop()
            return False

    def holder(self) -> str | None:
        from .driver import connect

        conn = connect(self.url)
        try:
            row = conn.execute(_HOLDER, _oids(self.keys)).fetchone()
        finally:
            conn.close()
        if row is None:
            return None
        name, since, address = row
        who = f"`{name}`" if name else "another liveblog process"
        details = []
        if address is not None:
            details.append(f"from {address}")
        if isinstance(since, dt.datetime):
            details.append(f"since {since.astimezone(dt.UTC).isoformat(timespec='seconds')}")
        return f"{who} ({', '.join(details)})" if details else who

    def refusal(self) -> RefusedCommand:
        """Said only by a caller that will not stand by (standby is True here)."""
        return RefusedCommand(f"another node leads {self._name}: {self.holder() or 'unknown'}")

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()  # ends the session: the server drops the lock

    def release(self) -> None:
        with self._mutex:
            if self._conn is not None:
                # Unlocked before the session is closed: the server ends a closed session
                # a moment after the client has gone, and a standby trying meanwhile
                # would wait a round for nothing. Unlocked here, it is free on return.
                with contextlib.suppress(DriverError):
                    self._conn.execute("SELECT pg_advisory_unlock(%s, %s)", self.keys)
            self._drop()
            waiting, self._waiting = self._waiting, None
            if waiting is not None:
                waiting.close()

    def __enter__(self) -> PostgresLeadership:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


__all__ = ["PostgresLeadership", "application_name", "lock_key"]
