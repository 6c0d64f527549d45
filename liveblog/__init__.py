"""liveblog: an event-sourced live-blogging backend.

The public API, for code that embeds liveblog rather than calling its CLI:

    from liveblog import Liveblog
    with Liveblog("events.db", author="Jo Reporter") as blog:
        blog.note("The room is full")
        print(blog.summary(2, fmt="markdown"))

The service by audience, for a front end that needs one part: `Reporter` (the protocol
the local `ReportingService` and the remote CLI implement), `Importing`, `Reading`,
`Administration`; `Liveblog` composes them all.

Storage is reached through protocols (`EventStore` and its parts, see
`liveblog.store.eventstore`; the sub-stores `Timeline`, `ProjectionState`,
`PublishState`, `WebhookStore`, `TokenStore`, gathered by `Stores`) and opened by
`open_store(--db value)` / `open_stores(--db value)`, a path or a `postgresql://` URL;
the backends' classes stay in `liveblog.store.sqlite` and `liveblog.store.postgres`.
A `Projection` is bound to its store (`Stores.projections()`); a `Leadership` says which
one of several nodes on a store leads (`Stores.leadership(name, holder)`). Every error
is in `liveblog.errors` (one tree).

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
    from .projections import Projection, ProjectionRunner
    from .service.administration import Administration
    from .service.facade import Liveblog
    from .service.importing import Importing
    from .service.reading import Reading
    from .service.reporting import Reporter, ReportingService
    from .store import (
        Appended,
        ChangeSignal,
        ClosedDay,
        Conference,
        ContextQueries,
        Day,
        DeliveryQueue,
        Edit,
        EventStore,
        FileRecord,
        Holder,
        OriginalEntry,
        ProjectionState,
        Published,
        PublishState,
        Record,
        Stores,
        SubscriptionStore,
        SummaryVersions,
        Target,
        Timeline,
        TimelineEntry,
        TokenInfo,
        TokenStore,
        Tombstone,
        UnitOfWork,
        WebhookStore,
        open_store,
        open_stores,
    )
    from .store.leadership import Leadership

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
    "ClosedDay",
    "Conference",
    "ContextQueries",
    "Day",
    "DeliveryQueue",
    "Edit",
    "EventStore",
    "FileRecord",
    "Holder",
    "OriginalEntry",
    "ProjectionState",
    "PublishState",
    "Published",
    "Record",
    "Stores",
    "SubscriptionStore",
    "SummaryVersions",
    "Target",
    "Timeline",
    "TimelineEntry",
    "TokenInfo",
    "TokenStore",
    "Tombstone",
    "UnitOfWork",
    "WebhookStore",
    "open_store",
    "open_stores",
)
_SERVICE = {
    "Reporter": ".service.reporting",
    "ReportingService": ".service.reporting",
    "Reading": ".service.reading",
    "Importing": ".service.importing",
    "Administration": ".service.administration",
}

_WHERE = {
    "Liveblog": ".service.facade",
    "Projection": ".projections",
    "ProjectionRunner": ".projections",
    "Leadership": ".store.leadership",
    "Event": ".domain.envelope",
    "from_export": ".domain.envelope",
    "EventData": ".domain.events",
    "EVENT_TYPES": ".domain.events",
    **_SERVICE,
    **{name: ".store" for name in _STORE},
    **{name: ".errors" for name in _ERRORS},
}

__all__ = [
    "EVENT_TYPES",
    "Administration",
    "AmbiguousId",
    "Appended",
    "ChangeSignal",
    "ClosedDay",
    "Conference",
    "ConflictingEvent",
    "ContextError",
    "ContextQueries",
    "Day",
    "DeliveryQueue",
    "DriverError",
    "Edit",
    "Event",
    "EventData",
    "EventStore",
    "FeedsDirError",
    "FileRecord",
    "Forbidden",
    "Holder",
    "Importing",
    "InvalidEvent",
    "InvalidWebhook",
    "Leadership",
    "Liveblog",
    "LiveblogError",
    "MissingLog",
    "NewerSchemaVersion",
    "NotFound",
    "NotOurDatabase",
    "OriginalEntry",
    "Projection",
    "ProjectionRunner",
    "ProjectionState",
    "PublishState",
    "Published",
    "ReadOnlyDatabase",
    "Reading",
    "Record",
    "RefusedAddress",
    "RefusedCommand",
    "Reporter",
    "ReportingService",
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
    "Stores",
    "SubscriptionStore",
    "SummaryVersions",
    "Target",
    "Timeline",
    "TimelineEntry",
    "TokenInfo",
    "TokenStore",
    "Tombstone",
    "UnitOfWork",
    "UnknownConference",
    "UnknownEventType",
    "UnopenableDatabase",
    "Unreachable",
    "UnreadableEvent",
    "UnsupportedStore",
    "VersionConflict",
    "WebhookStore",
    "from_export",
    "open_store",
    "open_stores",
]


__getattr__ = lazy_getattr(__name__, _WHERE)
