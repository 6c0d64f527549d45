"""The store's plain records: what a backend hands back, whatever it stores them in.

`Record` is an event as stored, for replays of millions (no pydantic); `Appended` is
one event of an `append` and whether that call stored it. Both are backend-neutral:
every `EventStore` implementation builds them.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

from ..domain.envelope import Event
from ..domain.events import EVENT_TYPES
from ..domain.upcasting import upcast

CURRENT_SCHEMA = {name: model.SCHEMA_VERSION for name, model in EVENT_TYPES.items()}
"""Each type's schema version as this release writes it."""
_CURRENT = CURRENT_SCHEMA


class Record:
    """A stored event as plain data, for projections that replay millions of them.

    Every event was validated when appended, so replays skip pydantic. `data` is
    decoded (and upcast to the current schema version) only when first read: a
    projection that maps rows inside the store never pays for it. `raw` is the data's
    JSON text as stored; a store may leave it None and give a `loader` (position →
    that text) that fetches it on first use.
    """

    __slots__ = (
        "_data",
        "author",
        "conference",
        "id",
        "loader",
        "occurred_at",
        "position",
        "raw",
        "recorded_at",
        "schema_version",
        "type",
        "version",
    )

    def __init__(
        self,
        position: int,
        id: str,
        type: str,
        conference: str,
        occurred_at: str,
        recorded_at: str,
        author: str,
        version: int,
        schema_version: int,
        raw: str | None,
    ) -> None:
        self.loader: Callable[[int], str] | None = None
        self.position = position
        self.id = id
        self.type = type
        self.conference = conference
        self.occurred_at = occurred_at
        self.recorded_at = recorded_at
        self.author = author
        self.version = version
        self.schema_version = schema_version
        self.raw = raw
        self._data: dict[str, Any] | None = None

    @property
    def current(self) -> bool:
        """Stored under the schema version this release writes (no upcast needed)."""
        return self.schema_version == _CURRENT.get(self.type, self.schema_version)

    @property
    def data(self) -> dict[str, Any]:
        if self._data is None:
            if self.raw is None and self.loader is not None:
                self.raw = self.loader(self.position)
            payload = json.loads(self.raw or "null")
            if not self.current:
                payload = upcast(self.type, self.schema_version, payload, _CURRENT[self.type])
            self._data = payload
        return self._data

    def __repr__(self) -> str:
        return f"Record(#{self.position} {self.type} {self.id})"


class Appended:
    """One event of an `append`: as stored, and whether this call stored it.

    The stored copy (with position, version, recorded_at) is built on first access:
    a bulk import only counts what it created and never pays for the copies.
    """

    __slots__ = ("_event", "_stored", "created")

    def __init__(
        self,
        event: Event,
        created: bool,
        stored: tuple[int, int, dt.datetime] | None = None,
    ) -> None:
        self._event = event
        self._stored = stored
        self.created = created

    @property
    def event(self) -> Event:
        if self._stored is not None:
            position, version, recorded_at = self._stored
            self._event = self._event.model_copy(
                update={"position": position, "version": version, "recorded_at": recorded_at}
            )
            self._stored = None
        return self._event

    def __repr__(self) -> str:
        return f"Appended({self.event!r}, created={self.created})"


__all__ = ["CURRENT_SCHEMA", "Appended", "Record"]
