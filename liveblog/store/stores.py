"""One open store and the sub-stores built on it: what a front end or a service opens.

    from liveblog.store.factory import open_stores
    with open_stores("events.db") as stores:  # --db / LIVEBLOG_DB
        stores.events.head()
        stores.timeline.conferences()

Every sub-store shares the event store's unit of work (`events.writing()` /
`events.snapshot()`): a transaction opened on the event store covers the timeline, the
publisher's state, the webhooks and the tokens at once, which is what lets a projection
advance with the events it applied and a delivery cursor move with the deliveries it
queued. Sub-stores are built on first use, so opening the store for one append builds
none of them.

A second backend implements this protocol next to its event store and returns it from
`liveblog.store.factory` for its scheme; nothing outside `store/` changes.

Two things are not sub-stores of the unit of work: `projections()`, the backend's default
projections bound to the store's connection (`liveblog.projections.runner_for(stores)`
runs them), and `leadership(name, holder)`, a lock held by one process at a time across
every node on the store (`liveblog.store.leadership`): the scheduler's "only one of us
projects and publishes".
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from ..projections.runner import Projection
    from .documents import FeedDocuments
    from .eventstore import EventStore
    from .leadership import Leadership
    from .publishing import PublishState
    from .timeline import ProjectionState, Timeline
    from .tokens import TokenStore
    from .webhooks import WebhookStore


class Stores(Protocol):
    """The event store and its sub-stores, on one unit of work.

    `webhooks` and `tokens` are configuration: on a writable store, first use creates
    whatever of their tables is missing (a new file, a table dropped by hand); on a
    read-only one they read what is there. `recheck_configuration()` makes the next use
    look again (after `rebuild`, which brings dropped tables back, empty).
    """

    @property
    def events(self) -> EventStore: ...

    @property
    def timeline(self) -> Timeline: ...

    @property
    def projection_state(self) -> ProjectionState: ...

    @property
    def published(self) -> PublishState: ...

    @property
    def webhooks(self) -> WebhookStore: ...

    @property
    def tokens(self) -> TokenStore: ...

    @property
    def documents(self) -> FeedDocuments | None:
        """The feed documents kept in the store, so that every node serves the same
        bytes (`liveblog.store.documents`); None where the feeds directory is the only
        copy (SQLite: one machine)."""
        ...

    def projections(self) -> Sequence[Projection]:
        """The backend's default projections, bound to this store's connection."""
        ...

    def leadership(self, name: str, holder: str) -> Leadership:
        """The lock `name` among every process on this store; `holder` says who we are
        (in the refusal or standby message of the others). Not yet tried: call
        `try_acquire()`."""
        ...

    def recheck_configuration(self) -> None: ...

    def close(self) -> None:
        """Close the event store (and with it every sub-store)."""

    def __enter__(self) -> Stores: ...

    def __exit__(self, *exc: object) -> None: ...


__all__ = ["Stores"]
