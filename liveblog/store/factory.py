"""One place that turns a `--db` / `LIVEBLOG_DB` value into a store.

Accepted today:

* a path (`events.db`, `/srv/liveblog/events.db`), or `:memory:`: a SQLite file;
* `sqlite:///path` (absolute: `sqlite:////srv/events.db`; relative: `sqlite:///events.db`),
  the URL form of the same;
* `postgresql://…` or `postgres://…` (libpq's URL: user, password, host, port, database,
  `?sslmode=…`): a PostgreSQL database (`liveblog.store.postgres`).

Any other `scheme://` is refused with UnsupportedStore, in one line that never repeats
the URL (it may carry a password). The commands that are about a SQLite file itself
(`backup`, the SQLite `verify`) go through `sqlite_path` / `open_sqlite`, which refuse a
PostgreSQL URL the same way.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import UnsupportedStore

if TYPE_CHECKING:
    from .eventstore import EventStore
    from .sqlite.log import EventLog
    from .stores import Stores

_SCHEME = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://")
_SQLITE_URL = "sqlite:///"
_POSTGRES = {"postgresql", "postgres"}
_NOT_LIBPQ = {"postgresql+psycopg", "postgresql+asyncpg", "postgresql+psycopg2"}


def scheme_of(db: str | os.PathLike[str]) -> str:
    """`"sqlite"` for a path or a `sqlite:///` URL, else the URL's scheme (lower case)."""
    text = os.fspath(db)
    found = _SCHEME.match(text)
    return found["scheme"].lower() if found else "sqlite"


def sqlite_path(db: str | os.PathLike[str]) -> Path:
    """The SQLite file a `--db` value names; UnsupportedStore for another backend."""
    text = os.fspath(db)
    scheme = scheme_of(text)
    if scheme != "sqlite":
        if scheme in _POSTGRES:
            raise UnsupportedStore(
                f"--db / LIVEBLOG_DB names a PostgreSQL database ({scheme}://): this "
                "command works on a SQLite file; give the path of an events.db"
            )
        _refuse_unknown(scheme)
        raise UnsupportedStore(
            f"--db / LIVEBLOG_DB: unknown storage {scheme}://; give the path of an events.db"
        )
    if _SCHEME.match(text):
        if not text.startswith(_SQLITE_URL) or len(text) == len(_SQLITE_URL):
            raise UnsupportedStore(
                "--db / LIVEBLOG_DB: a SQLite URL is sqlite:///PATH (three slashes, then "
                "the path: sqlite:////srv/events.db for an absolute one)"
            )
        return Path(text[len(_SQLITE_URL) :])
    return Path(text)


def open_store(
    db: str | os.PathLike[str], *, readonly: bool = False, require_log: bool = True
) -> EventStore:
    """Open the event store `db` names (see the module docstring).

    `readonly` opens it for reading even when it could be written (`verify`, `backup`);
    `require_log=False` opens a store whose log is gone, to report it (`verify`).
    """
    if scheme_of(db) in _POSTGRES:
        from .postgres.log import PostgresEventStore

        return PostgresEventStore(os.fspath(db), readonly=readonly, require_log=require_log)
    return open_sqlite(db, readonly=readonly, require_log=require_log)


def _refuse_unknown(scheme: str) -> None:
    if scheme in _NOT_LIBPQ:
        raise UnsupportedStore(
            f"--db / LIVEBLOG_DB: {scheme}:// is a SQLAlchemy URL; give libpq's "
            "postgresql://user:password@host:port/database"
        )


def open_stores(
    db: str | os.PathLike[str], *, readonly: bool = False, require_log: bool = True
) -> Stores:
    """Open the store `db` names with its sub-stores (`liveblog.store.stores`): what the
    service, the API and the deliverer use. Arguments as `open_store`'s."""
    return stores_on(open_store(db, readonly=readonly, require_log=require_log))


def stores_on(events: EventStore) -> Stores:
    """The sub-stores of an event store already open (the API's per-thread log, a test's
    log), on its unit of work; closing them closes it."""
    from .sqlite.log import EventLog
    from .sqlite.stores import SqliteStores

    if isinstance(events, EventLog):
        return SqliteStores(events)
    if type(events).__name__ == "PostgresEventStore":
        # By name first: a SQLite-only process never imports psycopg.
        from .postgres.log import PostgresEventStore
        from .postgres.stores import PostgresStores

        if isinstance(events, PostgresEventStore):
            return PostgresStores(events)
    raise UnsupportedStore(f"no sub-stores for a {type(events).__name__}")


def open_sqlite(
    db: str | os.PathLike[str], *, readonly: bool = False, require_log: bool = True
) -> EventLog:
    """The SQLite implementation itself, for the commands that are about its file
    (`backup` copies it, `verify` checks its pages and triggers)."""
    path = sqlite_path(db)
    # Imported here: `liveblog --help` and the factory's callers stay light.
    from .sqlite.log import EventLog

    return EventLog(path, readonly=readonly, require_log=require_log)


__all__ = ["open_sqlite", "open_store", "open_stores", "scheme_of", "sqlite_path", "stores_on"]
