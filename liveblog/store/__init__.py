"""Storage: the event store and its sub-stores, behind protocols.

    from liveblog.store import open_store
    with open_store("events.db") as store:  # --db / LIVEBLOG_DB
        store.append([...])

`eventstore` says what an event store does (the ordering contract above all), `records`
what it hands back, `factory` which implementation a `--db` value opens. SQLite is one
implementation, in `store/sqlite/` (`EventLog`); nothing outside `store/` needs to know.

Names are imported on first use: `import liveblog.store` stays cheap for the CLI.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_getattr

if TYPE_CHECKING:
    from .eventstore import ChangeSignal, ContextQueries, EventStore, UnitOfWork
    from .factory import open_store
    from .records import Appended, Record
    from .sqlite.log import EventLog as EventLog

_WHERE = {
    "ChangeSignal": ".eventstore",
    "ContextQueries": ".eventstore",
    "EventStore": ".eventstore",
    "UnitOfWork": ".eventstore",
    "open_store": ".factory",
    "Appended": ".records",
    "Record": ".records",
    # The SQLite implementation, importable here for tests and benches; not exported.
    "EventLog": ".sqlite.log",
}

__all__ = [
    "Appended",
    "ChangeSignal",
    "ContextQueries",
    "EventStore",
    "Record",
    "UnitOfWork",
    "open_store",
]

__getattr__ = lazy_getattr(__name__, _WHERE)
