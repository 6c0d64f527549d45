"""What every part of the service shares: the open log, the author, the caller's role.

`liveblog.service.facade.Liveblog` composes the parts (reporting, import, the read side,
administration); each front end depends on the one it needs. A part is built on an
open log and reaches the sub-stores (timeline, webhooks, tokens…) through `stores`,
built on that log (`liveblog.store.factory.stores_on`): one unit of work for all.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from ..domain.text import clean_line
from ..errors import InvalidEvent
from ..store.factory import stores_on
from . import roles

if TYPE_CHECKING:
    from ..domain.events import EventData
    from ..projections import ProjectionRunner
    from ..store.eventstore import EventStore
    from ..store.stores import Stores
    from ..store.tokens import TokenStore
    from ..store.webhooks import WebhookStore


def new_event_id() -> str:
    """A random, URL-safe id: unique prefixes stay short for `correct` / `retract`."""
    return uuid.uuid4().hex


def author_name(name: str) -> str:
    """The author as the log will store it: looked up exactly as stored."""
    cleaned = clean_line(name)
    if not isinstance(cleaned, str) or not cleaned:
        raise InvalidEvent("the author name must not be empty (--author or LIVEBLOG_AUTHOR)")
    if len(cleaned) > 200:
        raise InvalidEvent("the author name is longer than 200 characters")
    return cleaned


def build(cls: type[EventData], **fields: Any) -> EventData:
    """Construct event data, turning pydantic's errors into one-line InvalidEvent."""
    from pydantic import ValidationError

    from ..domain.envelope import describe

    try:
        return cls(**{k: v for k, v in fields.items() if v is not None})
    except ValidationError as exc:
        raise InvalidEvent(f"invalid {cls.model_fields['type'].default}: {describe(exc)}") from None


def location_of(events: EventStore) -> str:
    """The path of a SQLite event store's file, or the URL of another backend's."""
    found = getattr(events, "path", None) or getattr(events, "url", None)
    if found is None:  # pragma: no cover - every backend has one or the other
        raise TypeError(f"no location for a {type(events).__name__}")
    return str(found)


class ServicePart:
    """One open log, used by one author (the reporter typing, or the API's caller).

    `role` is the API caller's token's (liveblog.service.roles); None, the local CLI's, may do
    everything. The part does not own the log: `close` closes it only when the
    composing facade opened it (`_owns_log`).
    """

    _owns_log = False
    _projections: ProjectionRunner | None = None

    def __init__(self, log: EventStore, author: str, *, role: roles.Role | None = None) -> None:
        self.author = author_name(author)
        self.role = role
        self.log = log
        self.stores: Stores = stores_on(log)

    def close(self) -> None:
        if self._owns_log:
            self.log.close()

    @property
    def _location(self) -> str:
        """Where the store is, for what lives beside it (the secrets' key file): the
        path of a SQLite file, else the store's URL."""
        return location_of(self.log)

    @property
    def _hooks(self) -> WebhookStore:
        """The webhook store, its tables present (recreated, empty, if dropped by hand)."""
        return self.stores.webhooks

    @property
    def _writable_hooks(self) -> WebhookStore:
        """`_hooks` for a command that changes configuration: refused on a read-only log."""
        self.log.require_writable()
        return self.stores.webhooks

    @property
    def _tokens(self) -> TokenStore:
        return self.stores.tokens

    @property
    def _writable_tokens(self) -> TokenStore:
        self.log.require_writable()
        return self.stores.tokens
