"""liveblog: an event-sourced live-blogging backend.

The public API, for code that embeds liveblog rather than calling its CLI:

    from liveblog import Liveblog
    with Liveblog("events.db", author="Jo Reporter") as blog:
        blog.note("The room is full")
        print(blog.summary(2, fmt="markdown"))

Storage is reached through protocols (`EventStore` and its parts, see
`liveblog.store.eventstore`) and opened by `open_store(--db value)`; the SQLite classes
stay in `liveblog.store.sqlite`. Every error is in `liveblog.errors` (one tree).

Names are imported on first use, so `import liveblog` stays cheap for the CLI.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._lazy import lazy_getattr

if TYPE_CHECKING:
    from .domain.envelope import Event, from_export
    from .domain.events import EVENT_TYPES, EventData
    from .errors import (
        AmbiguousId,
        ConflictingEvent,
        ContextError,
        DriverError,
        FeedsDirError,
        Forbidden,
        InvalidEvent,
        InvalidWebhook,
        LiveblogError,
        MissingLog,
        NewerSchemaVersion,
        NotFound,
        NotOurDatabase,
        ReadOnlyDatabase,
        RefusedAddress,
        RefusedCommand,
        SchemaTooNew,
        SecretKeyError,
        ServerRefused,
        StoreBusy,
        StoreDamaged,
        StoreError,
        StoreFull,
        StoreIOFailed,
        StoreMisused,
        StoreRefused,
        StoreUnavailable,
        UnknownConference,
        UnknownEventType,
        UnopenableDatabase,
        Unreachable,
        UnreadableEvent,
        UnsupportedStore,
        VersionConflict,
    )
    from .projections import ProjectionRunner
    from .service.facade import Liveblog
    from .store import (
        Appended,
        ChangeSignal,
        ContextQueries,
        EventStore,
        Record,
        UnitOfWork,
        open_store,
    )

_ERRORS = (
    "AmbiguousId",
    "ConflictingEvent",
    "ContextError",
    "DriverError",
    "FeedsDirError",
    "Forbidden",
    "InvalidEvent",
    "InvalidWebhook",
    "LiveblogError",
    "MissingLog",
    "NewerSchemaVersion",
    "NotFound",
    "NotOurDatabase",
    "ReadOnlyDatabase",
    "RefusedAddress",
    "RefusedCommand",
    "SchemaTooNew",
    "SecretKeyError",
    "ServerRefused",
    "StoreBusy",
    "StoreDamaged",
    "StoreError",
    "StoreFull",
    "StoreIOFailed",
    "StoreMisused",
    "StoreRefused",
    "StoreUnavailable",
    "UnknownConference",
    "UnknownEventType",
    "UnopenableDatabase",
    "UnreadableEvent",
    "UnsupportedStore",
    "Unreachable",
    "VersionConflict",
)
_STORE = (
    "Appended",
    "ChangeSignal",
    "ContextQueries",
    "EventStore",
    "Record",
    "UnitOfWork",
    "open_store",
)

_WHERE = {
    "Liveblog": ".service.facade",
    "ProjectionRunner": ".projections",
    "Event": ".domain.envelope",
    "from_export": ".domain.envelope",
    "EventData": ".domain.events",
    "EVENT_TYPES": ".domain.events",
    **{name: ".store" for name in _STORE},
    **{name: ".errors" for name in _ERRORS},
}

__all__ = [
    "EVENT_TYPES",
    "AmbiguousId",
    "Appended",
    "ChangeSignal",
    "ConflictingEvent",
    "ContextError",
    "ContextQueries",
    "DriverError",
    "Event",
    "EventData",
    "EventStore",
    "FeedsDirError",
    "Forbidden",
    "InvalidEvent",
    "InvalidWebhook",
    "Liveblog",
    "LiveblogError",
    "MissingLog",
    "NewerSchemaVersion",
    "NotFound",
    "NotOurDatabase",
    "ProjectionRunner",
    "ReadOnlyDatabase",
    "Record",
    "RefusedAddress",
    "RefusedCommand",
    "SchemaTooNew",
    "SecretKeyError",
    "ServerRefused",
    "StoreBusy",
    "StoreDamaged",
    "StoreError",
    "StoreFull",
    "StoreIOFailed",
    "StoreMisused",
    "StoreRefused",
    "StoreUnavailable",
    "UnitOfWork",
    "UnknownConference",
    "UnknownEventType",
    "UnopenableDatabase",
    "Unreachable",
    "UnreadableEvent",
    "UnsupportedStore",
    "VersionConflict",
    "from_export",
    "open_store",
]


__getattr__ = lazy_getattr(__name__, _WHERE)
