"""Reporting commands as data: what a remote CLI sends and the HTTP API applies.

A draft is a reporting command with the event id chosen by the client, e.g.

    {"id": "3f2a…", "type": "note.posted", "at": "2026-11-22T10:15:00+00:00",
     "data": {"text": "The room is full"}}

The server fills in the reporter's context (day, session, talk) from its own log, as the
local CLI does, so a draft written offline means the same when it is sent later. The id
makes a retried draft harmless: applying a draft whose id is already in the log returns
the stored event and appends nothing.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .errors import ConflictingEvent, InvalidEvent

if TYPE_CHECKING:
    from .envelope import Event
    from .service import Liveblog

# type -> (the Liveblog method, the data fields it takes and their JSON types)
_STR, _INT, _BOOL, _LIST = str, int, bool, list
COMMANDS: dict[str, tuple[str, dict[str, type]]] = {
    "conference.opened": (
        "open_conference",
        {"title": _STR, "venue": _STR, "timezone": _STR, "url": _STR, "language": _STR},
    ),
    "conference.closed": ("close_conference", {}),
    "day.opened": ("open_day", {"number": _INT, "date": _STR, "title": _STR}),
    "day.closed": ("close_day", {}),
    "session.started": (
        "start_session",
        {"title": _STR, "kind": _STR, "room": _STR, "hosts": _LIST},
    ),
    "session.ended": ("end_session", {}),
    "talk.started": (
        "start_talk",
        {"title": _STR, "speaker": _STR, "role": _STR, "organisation": _STR},
    ),
    "talk.ended": ("end_talk", {}),
    "quote.captured": ("quote", {"text": _STR, "speaker": _STR}),
    "note.posted": ("note", {"text": _STR}),
    "photo.posted": ("photo", {"url": _STR, "caption": _STR}),
    "entry.corrected": (
        "correct",
        {"target": _STR, "last": _BOOL, "text": _STR, "speaker": _STR, "caption": _STR},
    ),
    "entry.retracted": ("retract", {"target": _STR, "last": _BOOL, "reason": _STR}),
}


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
        "data": {k: v for k, v in data.items() if v is not None and v != () and v is not False},
    }


def _arguments(
    type_: str, conference: str | None, at: str | None, data: Mapping[str, Any]
) -> tuple[str, dict[str, Any]]:
    if type_ not in COMMANDS:
        raise InvalidEvent(f"unknown draft type {type_!r}: one of {', '.join(COMMANDS)}")
    method, fields = COMMANDS[type_]
    kwargs: dict[str, Any] = {"at": at}
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
        kwargs["ref" if name == "target" else name] = tuple(value) if expected is list else value
    if type_ == "conference.opened":
        if not conference:
            raise InvalidEvent("a conference.opened draft names its conference (slug)")
        kwargs["slug"] = conference
    else:
        kwargs["conference"] = conference
    missing = [name for name in _required(method) if kwargs.get(name) is None]
    if missing:
        shown = ", ".join("target" if m == "ref" else m for m in missing)
        raise InvalidEvent(f"a {type_} draft needs data field(s): {shown}")
    return method, kwargs


@functools.cache
def _required(method: str) -> tuple[str, ...]:
    """The arguments `Liveblog.<method>` cannot do without (a draft must carry them)."""
    import inspect

    from .service import Liveblog

    parameters = inspect.signature(getattr(Liveblog, method)).parameters.values()
    return tuple(
        p.name
        for p in parameters
        if p.name != "self"
        and p.default is inspect.Parameter.empty
        and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    )


def apply_draft(
    service: Liveblog,
    event_id: str,
    type_: str,
    *,
    conference: str | None = None,
    at: str | None = None,
    data: Mapping[str, Any] | None = None,
) -> tuple[list[Event], bool]:
    """Apply one draft as `service.author`; returns its events and whether any is new."""
    method, kwargs = _arguments(type_, conference, at, data or {})
    with service.log.writing():
        existing = service.log.get(event_id)
        if existing is not None:
            if existing.type != type_ or existing.author != service.author:
                raise ConflictingEvent(event_id)
            return [existing], False
        with service.giving_id(event_id):
            return getattr(service, method)(**kwargs), True
