"""liveblog: an event-sourced live-blogging backend.

The public API, for code that embeds liveblog rather than calling its CLI:

    from liveblog import Liveblog
    with Liveblog("events.db", author="Jo Reporter") as blog:
        blog.note("The room is full")
        print(blog.summary(2, fmt="markdown"))

Names are imported on first use, so `import liveblog` stays cheap for the CLI.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .lazy import lazy_getattr

if TYPE_CHECKING:
    from .envelope import Event, from_export
    from .errors import (
        AmbiguousId,
        ConflictingEvent,
        ContextError,
        InvalidEvent,
        LiveblogError,
        NewerSchemaVersion,
        NotFound,
        RefusedCommand,
        SchemaTooNew,
        StoreError,
        UnknownEventType,
        UnreadableEvent,
        VersionConflict,
    )
    from .events import EVENT_TYPES, EventData
    from .projections import ProjectionRunner
    from .service import Liveblog
    from .store import EventLog

_WHERE = {
    "Liveblog": ".service",
    "EventLog": ".store",
    "ProjectionRunner": ".projections",
    "Event": ".envelope",
    "from_export": ".envelope",
    "EventData": ".events",
    "EVENT_TYPES": ".events",
    **{
        name: ".errors"
        for name in (
            "AmbiguousId",
            "ConflictingEvent",
            "ContextError",
            "InvalidEvent",
            "LiveblogError",
            "NewerSchemaVersion",
            "NotFound",
            "RefusedCommand",
            "SchemaTooNew",
            "StoreError",
            "UnknownEventType",
            "UnreadableEvent",
            "VersionConflict",
        )
    },
}

__all__ = [
    "EVENT_TYPES",
    "AmbiguousId",
    "ConflictingEvent",
    "ContextError",
    "Event",
    "EventData",
    "EventLog",
    "InvalidEvent",
    "Liveblog",
    "LiveblogError",
    "NewerSchemaVersion",
    "NotFound",
    "ProjectionRunner",
    "RefusedCommand",
    "SchemaTooNew",
    "StoreError",
    "UnknownEventType",
    "UnreadableEvent",
    "VersionConflict",
    "from_export",
]


__getattr__ = lazy_getattr(__name__, _WHERE)
