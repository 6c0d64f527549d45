"""What every part of the service shares: the open log, the author, the caller's role.

`liveblog.service.facade.Liveblog` composes the parts (reporting, import, the read side,
administration); each front end depends on the one it needs. A part is built on an
open log and holds no other state of its own that the others depend on, except the
configuration tables' presence (`_hooks`), which the read side's `rebuild` resets.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from ..domain.text import clean_line
from ..errors import InvalidEvent
from . import roles

if TYPE_CHECKING:
    from ..domain.events import EventData
    from ..projections import ProjectionRunner
    from ..store import EventLog


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


class ServicePart:
    """One open log, used by one author (the reporter typing, or the API's caller).

    `role` is the API caller's token's (liveblog.service.roles); None, the local CLI's, may do
    everything. The part does not own the log: `close` closes it only when the
    composing facade opened it (`_owns_log`).
    """

    _owns_log = False
    _projections: ProjectionRunner | None = None
    _webhook_tables = False

    def __init__(self, log: EventLog, author: str, *, role: roles.Role | None = None) -> None:
        self.author = author_name(author)
        self.role = role
        self.log = log

    def close(self) -> None:
        if self._owns_log:
            self.log.close()

    @property
    def _hooks(self) -> Any:
        """The connection, with the configuration tables (webhooks, tokens) present:
        recreated, empty, if dropped by hand."""
        if not self._webhook_tables:
            from ..store.sqlite.schema import ensure_config_tables

            if not self.log.readonly:  # read-only: read what is there
                ensure_config_tables(self.log.conn)
            self._webhook_tables = True
        return self.log.conn

    @property
    def _writable_hooks(self) -> Any:
        """`_hooks` for a command that changes configuration: refused on a read-only log."""
        self.log.require_writable()
        return self._hooks
