"""Reporting commands as data: what a remote CLI sends and the HTTP API applies.

A draft is a reporting command with the event id chosen by the client, e.g.

    {"id": "3f2a…", "type": "note.posted", "at": "2026-11-22T10:15:00+00:00",
     "data": {"text": "The room is full"}}

The server fills in the reporter's context (day, session, talk) from its own log, as the
local CLI does, so a draft written offline means the same when it is sent later. The id
makes a retried draft harmless: applying a draft whose id is already in the log returns
the stored event and appends nothing.

Which types a draft may have, and the fields of each, are derived from the registry
(`liveblog.domain.events`): every type with a reporting `Command`, its `arguments` as fields.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from ..domain.events import REGISTRY, Argument, Command, EventData
from ..errors import ConflictingEvent, InvalidEvent

if TYPE_CHECKING:
    from ..domain.envelope import Event
    from .reporting import ReportingService


def json_type(model: type[EventData], argument: Argument) -> type:
    """The JSON type of a command's argument in a draft: a flag is a bool, a repeatable
    option a list of strings, an int field of the model an int; anything else a string."""
    if argument.flag:
        return bool
    if argument.multiple:
        return list
    field = model.model_fields.get(argument.name)
    return int if field is not None and field.annotation is int else str


def draft_fields(model: type[EventData], command: Command) -> dict[str, type]:
    """A draft's data fields for `command`, with their JSON types. The conference a
    command opens is the draft's own `conference`, not a data field."""
    return {
        a.name: json_type(model, a)
        for a in command.arguments
        if not (command.names_conference and a.name == "conference")
    }


COMMANDS: Mapping[str, tuple[str, dict[str, type]]] = MappingProxyType(
    {
        type_: (model.COMMAND.method, draft_fields(model, model.COMMAND))
        for type_, model in REGISTRY.items()
        if model.COMMAND is not None
    }
)
"""type -> (the reporting method, the data fields it takes and their JSON types)."""


def make_draft(
    event_id: str,
    type_: str,
    *,
    conference: str | None = None,
    at: str | None = None,
    **data: Any,
) -> dict[str, Any]:
    """A draft for the remote CLI; `at` defaults to now on the reporter's clock (a draft
    queued offline keeps the moment it was typed)."""
    return {
        "id": event_id,
        "type": type_,
        "conference": conference,
        "at": at or dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "data": {
            k: list(v) if isinstance(v, tuple) else v
            for k, v in data.items()
            if v is not None and v != () and v is not False
        },
    }


def draft_data(type_: str, conference: str | None, data: Mapping[str, Any]) -> dict[str, Any]:
    """A draft's data checked against its command: known fields of the right JSON types,
    the required ones present. Lists become tuples (what the service takes)."""
    if type_ not in COMMANDS:
        raise InvalidEvent(f"unknown draft type {type_!r}: one of {', '.join(COMMANDS)}")
    _, fields = COMMANDS[type_]
    command = REGISTRY[type_].COMMAND
    assert command is not None  # every type in COMMANDS has one
    checked: dict[str, Any] = {}
    for name, value in data.items():
        if name not in fields:
            raise InvalidEvent(f"a {type_} draft has no field {name!r}")
        expected = fields[name]
        if value is None:
            continue
        ok = isinstance(value, expected) and not (expected is int and isinstance(value, bool))
        if expected is list:
            ok = ok and all(isinstance(v, str) for v in value)
        if not ok:
            raise InvalidEvent(f"{type_} field {name!r} must be a {expected.__name__}")
        checked[name] = tuple(value) if expected is list else value
    if command.names_conference and not conference:
        raise InvalidEvent(f"a {type_} draft names its conference (slug)")
    missing = [
        a.name
        for a in command.arguments
        if a.required and a.name in fields and checked.get(a.name) is None
    ]
    if missing:
        raise InvalidEvent(f"a {type_} draft needs data field(s): {', '.join(missing)}")
    return checked


def apply_draft(
    service: ReportingService,
    event_id: str,
    type_: str,
    *,
    conference: str | None = None,
    at: str | None = None,
    data: Mapping[str, Any] | None = None,
) -> tuple[list[Event], bool]:
    """Apply one draft as `service.author`; returns its events and whether any is new."""
    fields = draft_data(type_, conference, data or {})
    with service.log.writing():
        existing = service.log.get(event_id)
        if existing is not None:
            if existing.type != type_ or existing.author != service.author:
                raise ConflictingEvent(event_id)
            return [existing], False
        return service.submit(type_, fields, event_id=event_id, conference=conference, at=at), True
