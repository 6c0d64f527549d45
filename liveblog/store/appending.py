"""The decisions of an append that both backends make alike (`EventStore.append`).

Each backend appends under its own lock, reading the head and versions its own way;
what it does with the batch is the same: which events are new, which repeat a stored
one and which conflict with it, the row each new event becomes, and what the call
answers for each event given.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from ..domain.envelope import Event, format_time
from ..domain.events import EventData
from ..errors import ConflictingEvent, InvalidEvent
from .records import Appended

Stored = dict[str, tuple[int, int, dt.datetime]]
"""Event id → (position, version, recorded_at) of each event an append wrote."""


def encode_data(data: EventData) -> str:
    """Compact JSON of the type's own fields (pydantic's serializer: fast, UTF-8)."""
    return data.model_dump_json(exclude={"type"})


def check_batch(batch: list[Event], expected_version: int | None) -> None:
    """Refuse a batch that `expected_version` cannot speak for (several conferences)."""
    if expected_version is not None and len({event.conference for event in batch}) != 1:
        raise InvalidEvent("expected_version needs a batch of a single conference")


def new_events(batch: list[Event], existing: Mapping[str, Event]) -> dict[str, Event]:
    """The events of `batch` to write, by id, in order: an id stored already (or given
    earlier in the batch) with the same content is a repeat; with other content,
    ConflictingEvent."""
    new: dict[str, Event] = {}
    for event in batch:
        prior = new.get(event.id) or existing.get(event.id)
        if prior is None:
            new[event.id] = event
        elif not prior.same_content(event):
            raise ConflictingEvent(event.id)
    return new


def event_row(event: Event, position: int, version: int, stamp: str) -> tuple[object, ...]:
    """The `events` row of a new event (`rows.EVENT_COLUMNS`' order)."""
    return (
        position,
        event.id,
        event.type,
        event.conference,
        format_time(event.occurred_at),
        stamp,
        event.author,
        version,
        event.schema_version,
        encode_data(event.data),
    )


def appended(
    batch: list[Event], new: dict[str, Event], existing: Mapping[str, Event], stored: Stored
) -> list[Appended]:
    """What `append` answers: each event of `batch`, created or as it was stored."""
    out: list[Appended] = []
    for event in batch:
        if event.id in stored:
            # The same new id twice in one batch: the second is a repeat.
            first = new.pop(event.id, None) is not None
            out.append(Appended(event, created=first, stored=stored[event.id]))
        else:
            out.append(Appended(existing[event.id], created=False))
    return out
