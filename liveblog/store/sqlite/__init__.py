"""The SQLite implementation of the store protocols (`liveblog.store.eventstore`).

`EventLog` (log.py) is the event store; `driver` wraps pysqlite3 and maps its errors;
`opening`, `schema`, `backup`, `verify` and `replay` are about the file itself. Code
outside `liveblog/store/` opens it through `liveblog.store.factory`, never directly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..._lazy import lazy_getattr

if TYPE_CHECKING:
    from .log import EventLog, SqliteEventStore

__all__ = ["EventLog", "SqliteEventStore"]

# Imported on first use: the driver alone (a helper process, the schema) needs no models.
__getattr__ = lazy_getattr(__name__, {"EventLog": ".log", "SqliteEventStore": ".log"})
