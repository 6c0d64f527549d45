"""The envelope: who, when and where around an event's own data, and the export format.

One JSON object per line in `export`, `log --json` and `import`:
`id, type, conference, occurred_at, recorded_at, author, position, version,
schema_version, data`. The log assigns `position`, `version` and `recorded_at`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    SerializeAsAny,
    ValidationError,
    field_validator,
)

from ..errors import InvalidEvent, NewerSchemaVersion, UnknownEventType
from .events import EVENT_TYPES, AnyEvent, EventData, event_adapter
from .text import EventId, Name, Slug
from .upcasting import upcast

EXPORT_KEYS = (
    "id",
    "type",
    "conference",
    "occurred_at",
    "recorded_at",
    "author",
    "position",
    "version",
    "schema_version",
    "data",
)


class Event(BaseModel):
    """An event, either about to be appended (no position yet) or read from the log."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: EventId
    conference: Slug
    occurred_at: AwareDatetime
    author: Name
    # Typed by the base class so building the envelope does not build every event
    # schema; `data` always arrives already validated (parse_data or a model instance).
    data: SerializeAsAny[EventData]
    recorded_at: AwareDatetime | None = None
    position: int | None = None
    version: int | None = None

    @field_validator("occurred_at", "recorded_at")
    @classmethod
    def _whole_minute_offset(cls, value: dt.datetime | None) -> dt.datetime | None:
        # Historic zones have offsets in seconds (London before 1847: -00:01:15), which
        # ISO 8601 / RFC 3339 readers refuse; such a time is kept as the same instant in UTC.
        if value is not None:
            offset = value.utcoffset()
            if offset is not None and offset.seconds % 60:
                return value.astimezone(dt.UTC)
        return value

    @property
    def type(self) -> str:
        return self.data.type

    @property
    def schema_version(self) -> int:
        return type(self.data).SCHEMA_VERSION

    def to_export(self) -> dict[str, Any]:
        """The event as one line of the export format (a JSON-ready dict)."""
        return {
            "id": self.id,
            "type": self.type,
            "conference": self.conference,
            "occurred_at": format_time(self.occurred_at),
            "recorded_at": format_time(self.recorded_at) if self.recorded_at else None,
            "author": self.author,
            "position": self.position,
            "version": self.version,
            "schema_version": self.schema_version,
            "data": self.data.data(),
        }

    def same_content(self, other: Event) -> bool:
        """Equal as a client wrote it: ignores what the log assigns."""
        return (
            self.id == other.id
            and self.conference == other.conference
            and format_time(self.occurred_at) == format_time(other.occurred_at)
            and self.author == other.author
            and self.data == other.data
        )


def format_time(value: dt.datetime) -> str:
    return value.isoformat()


_PATTERN_WORDS = {
    "conference": "must be lowercase letters, digits and dashes (like socitm-2011)",
    "id": "must be letters, digits and . _ : - (up to 80), starting with a letter or digit",
    "target": "must be an event id",
    "session": "must be an event id",
    "talk": "must be an event id",
    "url": "must be an absolute http:// or https:// URL",
    "language": "must be a language tag such as en or en-GB",
}


def describe(error: ValidationError) -> str:
    """A pydantic error as one line a reporter can act on."""
    parts = []
    for item in error.errors(include_url=False):
        loc = [p if isinstance(p, str) and p.isprintable() else repr(p) for p in item["loc"]]
        if loc and loc[0] in EVENT_TYPES:  # the discriminator's tag: noise to a user
            loc = loc[1:]
        where = ".".join(loc)
        message = item["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
        if item["type"] == "extra_forbidden":
            message = "unknown field"
        elif item["type"] == "missing":
            message = "required"
        elif item["type"] == "string_pattern_mismatch":
            message = _PATTERN_WORDS.get(loc[-1] if loc else "", "has characters not allowed here")
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts)


def parse_data(
    event_type: str, data: Any, schema_version: int | None = None, *, union: bool = False
) -> EventData:
    """Validate `data` as an event of `event_type`, upcasting an older schema version.

    `union` parses through the discriminated union (input from outside); otherwise the
    type's own model is used directly, which builds only that schema.
    """
    model = EVENT_TYPES.get(event_type) if isinstance(event_type, str) else None
    if model is None:
        raise UnknownEventType(f"unknown event type {event_type!r}")
    current = model.SCHEMA_VERSION
    if schema_version is None:
        schema_version = current
    if not isinstance(schema_version, int) or isinstance(schema_version, bool):
        raise InvalidEvent("schema_version: must be an integer")
    if schema_version > current:
        raise NewerSchemaVersion(
            f"{event_type} schema version {schema_version} is newer than this release "
            f"understands ({current}); upgrade liveblog"
        )
    if schema_version < 1:
        raise InvalidEvent(f"schema_version: must be at least 1, not {schema_version}")
    if not isinstance(data, dict):
        raise InvalidEvent("data: must be a JSON object")
    if "type" in data:
        raise InvalidEvent("data: must not repeat `type`")
    data = upcast(event_type, schema_version, data, current)
    try:
        payload = {"type": event_type, **data}
        parsed: EventData = (
            event_adapter.validate_python(payload) if union else model.model_validate(payload)
        )
    except ValidationError as exc:
        raise InvalidEvent(f"invalid {event_type}: {describe(exc)}") from None
    return parsed


def from_export(obj: Any) -> Event:
    """Parse one line of the export format; `position`, `version`, `recorded_at` may be absent.

    Unknown types and newer schema versions are refused; older ones are upcast.
    """
    if not isinstance(obj, dict):
        raise InvalidEvent("an event must be a JSON object")
    unknown = set(obj) - set(EXPORT_KEYS)
    if unknown:
        shown = (k if k.isprintable() else repr(k) for k in sorted(unknown))
        raise InvalidEvent(f"unknown key(s): {', '.join(shown)}")
    for key in ("id", "type", "conference", "occurred_at", "author", "data"):
        if key not in obj:
            raise InvalidEvent(f"{key}: required")
    data = parse_data(obj["type"], obj["data"], obj.get("schema_version"), union=True)
    envelope = {k: obj[k] for k in ("id", "conference", "occurred_at", "author")}
    for key in ("recorded_at", "position", "version"):
        if obj.get(key) is not None:
            envelope[key] = obj[key]
    try:
        return Event.model_validate({**envelope, "data": data})
    except ValidationError as exc:
        raise InvalidEvent(f"invalid event: {describe(exc)}") from None


def make_event(
    *,
    id: str,
    conference: str,
    occurred_at: dt.datetime,
    author: str,
    data: EventData,
) -> Event:
    """Build a new event, turning validation errors into one-line `InvalidEvent`s."""
    try:
        return Event(
            id=id, conference=conference, occurred_at=occurred_at, author=author, data=data
        )
    except ValidationError as exc:
        raise InvalidEvent(f"invalid event: {describe(exc)}") from None


__all__ = ["EXPORT_KEYS", "AnyEvent", "Event", "describe", "from_export", "make_event"]


# -- the fast path for bulk input --------------------------------------------------------

_wire_adapter: Any = None


def _wire() -> Any:
    """A discriminated union of whole export lines, one model per type, built on first use.

    Validating a line in one pass of pydantic-core (JSON parsing included) is several
    times faster than json.loads + two validations; it covers lines of the current
    schema version, and anything else falls back to `from_export` (upcasting, messages).
    """
    global _wire_adapter
    if _wire_adapter is None:
        from typing import Annotated, Literal, Union

        from pydantic import Field, TypeAdapter, create_model

        models = []
        for name, model in EVENT_TYPES.items():
            fields: dict[str, Any] = {
                "id": (EventId, ...),
                "type": (Literal[name], ...),
                "conference": (Slug, ...),
                "occurred_at": (AwareDatetime, ...),
                "recorded_at": (AwareDatetime | None, None),
                "author": (Name, ...),
                "position": (int | None, None),
                "version": (int | None, None),
                # strict: `true` is not schema version 1, as the slow path also says.
                "schema_version": (
                    Annotated[
                        int,
                        Field(strict=True, ge=model.SCHEMA_VERSION, le=model.SCHEMA_VERSION),
                    ],
                    model.SCHEMA_VERSION,
                ),
                "data": (model, ...),
            }
            models.append(
                create_model(
                    f"Wire_{name.replace('.', '_')}",
                    __config__=ConfigDict(extra="forbid"),
                    **fields,
                )
            )
        union: Any = Annotated[Union[tuple(models)], Field(discriminator="type")]  # noqa: UP007
        _wire_adapter = TypeAdapter(union)
    return _wire_adapter


def _odd_offset(wire: Any) -> bool:
    """An offset in seconds: left to the full path, which normalises it."""
    return any(
        t is not None and (t.utcoffset() or dt.timedelta()).seconds % 60
        for t in (wire.occurred_at, wire.recorded_at)
    )


def from_export_line(line: str | bytes) -> Event:
    """Parse one JSON line of the export format (see `from_export`)."""
    try:
        wire = _wire().validate_json(line)
    except ValidationError:
        wire = None
    if wire is None or "type" in wire.data.model_fields_set or _odd_offset(wire):
        import json

        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InvalidEvent(f"not JSON ({exc.msg})") from None
        return from_export(obj)
    # Every field was validated just now, by the same types: construct without a second pass.
    return Event.model_construct(
        id=wire.id,
        conference=wire.conference,
        occurred_at=wire.occurred_at,
        author=wire.author,
        data=wire.data,
        recorded_at=wire.recorded_at,
        position=wire.position,
        version=wire.version,
    )
