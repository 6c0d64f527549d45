"""`Stores` for PostgreSQL: every sub-store on the event store's one connection."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .log import PostgresEventStore


class PostgresStores:
    """The sub-stores of one `PostgresEventStore`, built on first use on its connection,
    so that the event store's `writing()` covers them all. Their modules are imported on
    first use too (`liveblog note` needs the log alone)."""

    def __init__(self, events: PostgresEventStore) -> None:
        self._events = events
        self._built: dict[str, Any] = {}

    def _sub(self, name: str) -> Any:
        found = self._built.get(name)
        if found is None:
            conn = self._events.conn
            if name == "timeline":
                from .timeline import PostgresTimeline

                found = PostgresTimeline(conn, self._events.url)
            elif name == "projection_state":
                from .timeline import PostgresProjectionState

                found = PostgresProjectionState(conn)
            elif name == "published":
                from .published import PostgresPublished

                found = PostgresPublished(conn)
            elif name == "webhooks":
                from .webhooks import PostgresWebhookStore

                found = PostgresWebhookStore(conn, self._events.url)
            elif name == "tokens":
                from .tokens import PostgresTokenStore

                found = PostgresTokenStore(conn)
            elif name == "documents":
                from .documents import PostgresDocuments

                found = PostgresDocuments(conn)
            else:  # pragma: no cover - a typo in this module
                raise AttributeError(name)
            self._built[name] = found
        return found

    @property
    def events(self) -> PostgresEventStore:
        return self._events

    @property
    def timeline(self) -> Any:
        return self._sub("timeline")

    @property
    def projection_state(self) -> Any:
        return self._sub("projection_state")

    @property
    def published(self) -> Any:
        return self._sub("published")

    @property
    def webhooks(self) -> Any:
        return self._sub("webhooks")

    @property
    def tokens(self) -> Any:
        return self._sub("tokens")

    @property
    def documents(self) -> Any:
        """Feed documents kept in the database: every node serves the same bytes."""
        return self._sub("documents")

    def projections(self) -> Sequence[Any]:
        """The default projections, bound to this store's connection."""
        from .timeline import PostgresTimelineProjection

        return (PostgresTimelineProjection(self._events.conn),)

    def leadership(self, name: str, holder: str) -> Any:
        """The one-node-at-a-time lock `name` (projections and publishing: "scheduler")."""
        from .leadership import PostgresLeadership

        return PostgresLeadership(self._events.url, name, holder)

    def recheck_configuration(self) -> None:
        """Configuration tables are migrations on PostgreSQL: nothing to recheck."""

    def close(self) -> None:
        self._events.close()

    def __enter__(self) -> PostgresStores:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["PostgresStores"]
