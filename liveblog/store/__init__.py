"""Storage: the event store and its sub-stores, behind protocols.

    from liveblog.store import open_store
    with open_store("events.db") as store:  # --db / LIVEBLOG_DB
        store.append([...])

`eventstore` says what an event store does (the ordering contract above all), `records`
what it hands back; the sub-stores built on it: `timeline` (the timeline's read side and
the projections' state), `publishing` (the publisher's state), `webhooks` and `tokens`;
`stores` gathers them on one unit of work, and `factory` says which implementation a
`--db` value opens (`open_store`, `open_stores`). SQLite is one implementation, in
`store/sqlite/` (`EventLog`); nothing outside `store/` needs to know.

Names are imported on first use: `import liveblog.store` stays cheap for the CLI.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_getattr

if TYPE_CHECKING:
    from .eventstore import ChangeSignal, ContextQueries, EventStore, UnitOfWork
    from .factory import open_store, open_stores
    from .publishing import FileRecord, Published, PublishState, Target
    from .records import Appended, Record
    from .sqlite.log import EventLog as EventLog
    from .stores import Stores
    from .timeline import (
        ClosedDay,
        Conference,
        Day,
        Edit,
        OriginalEntry,
        ProjectionState,
        Timeline,
        TimelineEntry,
        Tombstone,
    )
    from .tokens import Holder, TokenInfo, TokenStore
    from .webhooks import DeliveryQueue, SubscriptionStore, SummaryVersions, WebhookStore

_TIMELINE = (
    "ClosedDay",
    "Conference",
    "Day",
    "Edit",
    "OriginalEntry",
    "ProjectionState",
    "Timeline",
    "TimelineEntry",
    "Tombstone",
)
_PUBLISHING = ("FileRecord", "PublishState", "Published", "Target")
_WEBHOOKS = ("DeliveryQueue", "SubscriptionStore", "SummaryVersions", "WebhookStore")
_TOKENS = ("Holder", "TokenInfo", "TokenStore")

_WHERE = {
    "ChangeSignal": ".eventstore",
    "ContextQueries": ".eventstore",
    "EventStore": ".eventstore",
    "UnitOfWork": ".eventstore",
    "open_store": ".factory",
    "open_stores": ".factory",
    "Appended": ".records",
    "Record": ".records",
    "Stores": ".stores",
    **{name: ".timeline" for name in _TIMELINE},
    **{name: ".publishing" for name in _PUBLISHING},
    # liveblog.store.webhooks imports the webhook records (liveblog.webhooks.model):
    # loaded only when one of these names is asked for.
    **{name: ".webhooks" for name in _WEBHOOKS},
    **{name: ".tokens" for name in _TOKENS},
    # The SQLite implementation, importable here for tests and benches; not exported.
    "EventLog": ".sqlite.log",
}

__all__ = [
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
]

__getattr__ = lazy_getattr(__name__, _WHERE)
