"""The event vocabulary: one frozen pydantic model per wire type.

A model holds only the type's own fields (the export format's `data`); who, when and
where live in the envelope (`liveblog.envelope`). Each model declares the schema version
it writes; older versions stored in a log are upcast on read (`liveblog.upcasting`),
never rewritten.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Annotated, Any, ClassVar, Literal, TypeAlias, get_args

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator, model_validator

from .text import Body, Caption, EventId, Name, Reason, Title, Url

SessionKind = Literal[
    "session",
    "plenary",
    "keynote",
    "breakout",
    "roundtable",
    "panel",
    "demo",
    "workshop",
    "lightning",
]

SESSION_KINDS: tuple[str, ...] = get_args(SessionKind)

DayNumber = Annotated[int, Field(ge=1, le=366)]


class EventData(BaseModel):
    """Base of every event type: immutable, and unknown fields are an error."""

    # defer_build: a CLI command touches two or three types; building all thirteen
    # schemas at import would cost every keystroke-to-prompt tens of milliseconds.
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    SCHEMA_VERSION: ClassVar[int] = 1
    """The schema version this release writes for the type."""

    type: str

    def data(self) -> dict[str, Any]:
        """The export format's `data`: every field but `type`, JSON-ready."""
        return self.model_dump(mode="json", exclude={"type"})


class ConferenceOpened(EventData):
    type: Literal["conference.opened"] = "conference.opened"
    title: Title
    venue: Name | None = None
    timezone: str = "UTC"
    url: Url | None = None
    language: Annotated[str, Field(pattern=r"^[a-z]{2,3}(?:-[A-Za-z0-9]{2,8})*$")] = "en"

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
            # OSError: a directory of the tz database ("Europe") is not a zone.
            raise ValueError(
                f"unknown timezone {value!r} (use an IANA name such as Europe/London)"
            ) from None
        return value


class ConferenceClosed(EventData):
    type: Literal["conference.closed"] = "conference.closed"


class DayOpened(EventData):
    type: Literal["day.opened"] = "day.opened"
    number: DayNumber
    date: dt.date
    title: Title | None = None


class DayClosed(EventData):
    type: Literal["day.closed"] = "day.closed"
    number: DayNumber


class SessionStarted(EventData):
    """Schema 2 replaced the single optional `host` of schema 1 with `hosts`."""

    SCHEMA_VERSION: ClassVar[int] = 2
    type: Literal["session.started"] = "session.started"
    day: DayNumber
    title: Title
    kind: SessionKind = "session"
    room: Name | None = None
    hosts: Annotated[tuple[Name, ...], Field(max_length=20)] = ()


class SessionEnded(EventData):
    type: Literal["session.ended"] = "session.ended"
    session: EventId
    """The id of the `session.started` event this ends."""


class TalkStarted(EventData):
    type: Literal["talk.started"] = "talk.started"
    day: DayNumber
    session: EventId
    title: Title
    speaker: Name
    role: Name | None = None
    organisation: Name | None = None


class TalkEnded(EventData):
    type: Literal["talk.ended"] = "talk.ended"
    talk: EventId


class _Placed(EventData):
    """An entry made inside the reporter's context at the time: day, session, talk."""

    day: DayNumber
    session: EventId | None = None
    talk: EventId | None = None


class QuoteCaptured(_Placed):
    type: Literal["quote.captured"] = "quote.captured"
    text: Body
    speaker: Name


class NotePosted(_Placed):
    type: Literal["note.posted"] = "note.posted"
    text: Body


class PhotoPosted(_Placed):
    type: Literal["photo.posted"] = "photo.posted"
    url: Url
    caption: Caption


class EntryCorrected(EventData):
    type: Literal["entry.corrected"] = "entry.corrected"
    target: EventId
    text: Body | None = None
    speaker: Name | None = None
    caption: Caption | None = None

    @model_validator(mode="after")
    def _changes_something(self) -> EntryCorrected:
        if self.text is None and self.speaker is None and self.caption is None:
            raise ValueError("a correction needs new text, a speaker or a caption")
        return self


class EntryRetracted(EventData):
    type: Literal["entry.retracted"] = "entry.retracted"
    target: EventId
    reason: Reason | None = None


AnyEvent: TypeAlias = Annotated[
    ConferenceOpened
    | ConferenceClosed
    | DayOpened
    | DayClosed
    | SessionStarted
    | SessionEnded
    | TalkStarted
    | TalkEnded
    | QuoteCaptured
    | NotePosted
    | PhotoPosted
    | EntryCorrected
    | EntryRetracted,
    Field(discriminator="type"),
]

EVENT_TYPES: dict[str, type[EventData]] = {
    model.model_fields["type"].default: model for model in get_args(get_args(AnyEvent)[0])
}
"""Wire name → model, for every type this release knows."""

ENTRY_TYPES = frozenset(
    {"session.started", "talk.started", "quote.captured", "note.posted", "photo.posted"}
)
"""Types that become an entry of the timeline, and so can be corrected or retracted."""

event_adapter: TypeAdapter[AnyEvent] = TypeAdapter(AnyEvent, config=ConfigDict(defer_build=True))
"""Parses any event's data (with its `type`) through the discriminated union."""
