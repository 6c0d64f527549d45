"""`Stores` for SQLite: every sub-store on the event store's one connection."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .leadership import SqliteLeadership
    from .log import EventLog
    from .projections import BoundProjection
    from .published import SqlitePublished
    from .timeline import SqliteProjectionState, SqliteTimeline
    from .tokens import SqliteTokenStore
    from .webhooks import SqliteWebhookStore


class SqliteStores:
    """The sub-stores of one `EventLog`, built on first use on its connection (one
    connection, one transaction: the log's unit of work covers them all).

    The modules of the sub-stores are imported on first use too: `liveblog note` needs
    the log alone and must not load the timeline's or the webhooks' code.
    """

    def __init__(self, events: EventLog) -> None:
        self._events = events
        self._timeline: SqliteTimeline | None = None
        self._projection_state: SqliteProjectionState | None = None
        self._published: SqlitePublished | None = None
        self._webhooks: SqliteWebhookStore | None = None
        self._tokens: SqliteTokenStore | None = None
        self._configuration_checked = False

    @property
    def events(self) -> EventLog:
        return self._events

    @property
    def timeline(self) -> SqliteTimeline:
        if self._timeline is None:
            from .timeline import SqliteTimeline

            self._timeline = SqliteTimeline(self._events.conn)
        return self._timeline

    @property
    def projection_state(self) -> SqliteProjectionState:
        if self._projection_state is None:
            from .timeline import SqliteProjectionState

            self._projection_state = SqliteProjectionState(self._events.conn)
        return self._projection_state

    @property
    def published(self) -> SqlitePublished:
        if self._published is None:
            from .published import SqlitePublished

            self._published = SqlitePublished(self._events.conn)
        return self._published

    def _configuration(self) -> None:
        """The webhook and token tables present: recreated, empty, if dropped by hand
        (read-only: read what is there)."""
        if not self._configuration_checked:
            if not self._events.readonly:
                from .schema import ensure_config_tables

                ensure_config_tables(self._events.conn)
            self._configuration_checked = True

    @property
    def webhooks(self) -> SqliteWebhookStore:
        self._configuration()
        if self._webhooks is None:
            from .webhooks import SqliteWebhookStore

            self._webhooks = SqliteWebhookStore(self._events.conn)
        return self._webhooks

    @property
    def tokens(self) -> SqliteTokenStore:
        self._configuration()
        if self._tokens is None:
            from .tokens import SqliteTokenStore

            self._tokens = SqliteTokenStore(self._events.conn)
        return self._tokens

    @property
    def documents(self) -> None:
        """Feed documents live in the feeds directory on SQLite, not in the store."""
        return None

    def projections(self) -> tuple[BoundProjection, ...]:
        """The timeline projection, bound to the log's connection."""
        from .projections import default_projections

        return default_projections(self._events.conn)

    def leadership(self, name: str, holder: str) -> SqliteLeadership:
        """The flock `<events.db>.lock` (for "scheduler"): one process per file."""
        from .leadership import SqliteLeadership

        return SqliteLeadership(self._events.path, name, holder)

    def recheck_configuration(self) -> None:
        self._configuration_checked = False

    def close(self) -> None:
        self._events.close()

    def __enter__(self) -> SqliteStores:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["SqliteStores"]
