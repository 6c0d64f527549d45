"""The event vocabulary: one frozen pydantic model per wire type, and the registry.

A model holds only the type's own fields (the export format's `data`); who, when and
where live in the envelope (`liveblog.domain.envelope`). Each model declares the schema version
it writes; older versions stored in a log are upcast on read (`liveblog.domain.upcasting`),
never rewritten.

**The registry.** Each model also declares, as class attributes, everything the rest of
the code asks of its type, and every other list of types is derived from `REGISTRY`:

- `DESCRIPTION`: one line saying what the event records (help text, API docs);
- `SCHEMA_VERSION` and `UPCASTERS`: the version written, and one upcaster for each older
  version (`UPCASTERS[n]` turns version-n data into version n+1);
- `ENTRY`: for a type that becomes an entry of the timeline, its `EntryKind` (the kind's
  name, and which correction fields it accepts, mapped to the field each one replaces);
  None for the structural types (days, sessions ending, corrections…);
- `COMMAND`: the reporting command that appends it (`Command`: CLI name, arguments, help);
- `EXAMPLE`: sample data, valid for the model (tests, API docs).

Adding an event type is: its model here, with those attributes; then its renderings
(one line, the feeds, the summary) where `tests/test_registry*.py` says they are missing.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Annotated, Any, ClassVar, Literal, TypeAlias, get_args

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    StringConstraints,
    TypeAdapter,
    field_validator,
    model_serializer,
    model_validator,
)

from .text import Body, Caption, EventId, Name, Reason, Title, Url, clean_line

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

Data = dict[str, Any]
Upcaster = Callable[[Data], Data]
"""Turns one type's `data` from schema version N into version N+1 (a copy it may edit)."""


@dataclass(frozen=True)
class EntryKind:
    """What makes an event type an entry of the timeline.

    `correctable` maps each field of `entry.corrected` that may target this kind to the
    field of the entry it replaces (a correction's `text` is a talk's `title`).
    """

    name: str
    correctable: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Argument:
    """One input of a reporting command: a positional argument or an --option.

    `name` is the model field (or, for a field the service fills in, the keyword the
    service method takes); `option` gives the flag spelling (`--caption`), None for a
    positional argument. The value's type, choices and default come from the model's
    field of that name (an int with bounds, a Literal, a default that is not None);
    a name that is no field of the model is a string. `flag` makes an option a
    yes/no switch (`--last`).
    """

    name: str
    help: str = ""
    option: str | None = None
    required: bool = False
    metavar: str | None = None
    multiple: bool = False
    flag: bool = False


@dataclass(frozen=True)
class Command:
    """The reporting command that appends an event type.

    `name` is the CLI's words (`("talk", "start")`, `("note",)`); `method` the
    reporting service's method that the CLI, the API's drafts and the remote CLI call
    (`liveblog.service.reporting.Reporter`). The front ends are derived from it: the CLI's
    command (help, arguments in this order), the draft's fields and their JSON types.

    `placed`: an entry posted in the reporter's context (day, session, talk filled in
    by the service): the service's one generic entry path appends it, so it needs no
    method of its own (`method` is then a typed convenience for embedders).
    `names_conference`: the command's subject is the conference itself (its first
    argument, named `conference`, is the slug it opens): it takes no --conference, and
    `at_help` says what its --at means.
    """

    name: tuple[str, ...]
    method: str
    help: str
    arguments: tuple[Argument, ...] = ()
    placed: bool = False
    names_conference: bool = False
    at_help: str | None = None


SHORT_ID = 8
"""How many characters of an event id the one-line renderings show."""


def short(event_id: str) -> str:
    """An event id as the one-line renderings show it."""
    return event_id[:SHORT_ID]


def excerpt(text: str, width: int = 60) -> str:
    """`text` on one line, cut to `width` characters with an ellipsis."""
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1].rstrip() + "…"


class EventData(BaseModel):
    """Base of every event type: immutable, and unknown fields are an error."""

    # defer_build: a CLI command touches two or three types; building all thirteen
    # schemas at import would cost every keystroke-to-prompt tens of milliseconds.
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    SCHEMA_VERSION: ClassVar[int] = 1
    """The schema version this release writes for the type."""
    UPCASTERS: ClassVar[Mapping[int, Upcaster]] = MappingProxyType({})
    """Version n → n+1, for every n below SCHEMA_VERSION."""
    DESCRIPTION: ClassVar[str] = ""
    """What the event records, in one line."""
    ENTRY: ClassVar[EntryKind | None] = None
    """Set for types that become entries of the timeline (correctable, retractable)."""
    COMMAND: ClassVar[Command | None] = None
    """The reporting command that appends this type."""
    EXAMPLE: ClassVar[Mapping[str, Any]] = MappingProxyType({})
    """Sample `data` (without `type`), valid for the model."""

    type: str

    def data(self) -> dict[str, Any]:
        """The export format's `data`: every field but `type`, JSON-ready."""
        return self.model_dump(mode="json", exclude={"type"})

    def line(self) -> str:
        """What the event says, in a few words (the CLI's output, `liveblog log`).

        Every type renders its own: a type without one is a bug, not an empty line."""
        raise NotImplementedError(f"{type(self).__name__} has no one-line rendering")


class ConferenceOpened(EventData):
    DESCRIPTION: ClassVar[str] = "A conference opened for coverage: its title, venue and timezone."
    EXAMPLE: ClassVar[Mapping[str, Any]] = MappingProxyType(
        {"title": "SOCITM 2011", "venue": "Birmingham", "timezone": "Europe/London"}
    )
    COMMAND: ClassVar[Command | None] = Command(
        name=("conference", "open"),
        method="open_conference",
        help="Begin covering conference SLUG (lowercase letters, digits, dashes).",
        arguments=(
            Argument("conference", metavar="SLUG", required=True),
            Argument("title", "The conference's title.", "--title", required=True),
            Argument("venue", "Where it takes place.", "--venue"),
            Argument(
                "timezone",
                "IANA timezone, e.g. Europe/London: how times without an offset are read.",
                "--timezone",
                metavar="TZ",
            ),
            Argument("url", "The coverage's public base URL.", "--url", metavar="BASE_URL"),
            Argument("language", "Language of the coverage.", "--language"),
        ),
        names_conference=True,
        at_help="When coverage began (default: now).",
    )
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

    def line(self) -> str:
        return excerpt(self.title)


class ConferenceClosed(EventData):
    DESCRIPTION: ClassVar[str] = "The conference's coverage ended."
    COMMAND: ClassVar[Command | None] = Command(
        name=("conference", "close"),
        method="close_conference",
        help="End coverage of the conference (closing your open talk, session and the day).",
    )
    type: Literal["conference.closed"] = "conference.closed"

    def line(self) -> str:
        return ""  # the type says it all


class DayOpened(EventData):
    DESCRIPTION: ClassVar[str] = "A day of the conference began (its number and date)."
    EXAMPLE: ClassVar[Mapping[str, Any]] = MappingProxyType({"number": 2, "date": "2011-06-09"})
    COMMAND: ClassVar[Command | None] = Command(
        name=("day", "open"),
        method="open_day",
        help="Open day NUMBER of the conference (days are shared by all its reporters).",
        arguments=(
            Argument("number", required=True),
            Argument(
                "date", "The day's date (default: the --at date).", "--date", metavar="YYYY-MM-DD"
            ),
            Argument("title", 'Its own title, e.g. "Day 2 Reflections".', "--title"),
        ),
    )
    type: Literal["day.opened"] = "day.opened"
    number: DayNumber
    date: dt.date
    title: Title | None = None

    def line(self) -> str:
        label = f"day {self.number} ({self.date.isoformat()})"
        return f"{label}: {excerpt(self.title)}" if self.title else label


class DayClosed(EventData):
    DESCRIPTION: ClassVar[str] = "A day of the conference ended."
    EXAMPLE: ClassVar[Mapping[str, Any]] = MappingProxyType({"number": 2})
    COMMAND: ClassVar[Command | None] = Command(
        name=("day", "close"),
        method="close_day",
        help="Close the open day (and your open talk and session).",
    )
    type: Literal["day.closed"] = "day.closed"
    number: DayNumber

    def line(self) -> str:
        return f"day {self.number}"


def _single_host_to_hosts(data: Data) -> Data:
    """session.started 1 → 2: the single optional `host` became the list `hosts`."""
    host = data.pop("host", None)
    data["hosts"] = [host] if host else []
    return data


class SessionStarted(EventData):
    """Schema 2 replaced the single optional `host` of schema 1 with `hosts`."""

    DESCRIPTION: ClassVar[str] = "A session began: a plenary, a break-out, a roundtable…"
    UPCASTERS: ClassVar[Mapping[int, Upcaster]] = MappingProxyType({1: _single_host_to_hosts})
    ENTRY: ClassVar[EntryKind | None] = EntryKind("session", {"text": "title"})
    EXAMPLE: ClassVar[Mapping[str, Any]] = MappingProxyType(
        {"day": 2, "title": "Morning plenary", "kind": "plenary", "room": "Hall 1"}
    )
    SCHEMA_VERSION: ClassVar[int] = 2
    COMMAND: ClassVar[Command | None] = Command(
        name=("session", "start"),
        method="start_session",
        help="Start a session called TITLE (ending your open one first).",
        arguments=(
            Argument("title", required=True),
            Argument("kind", "What sort of session.", "--kind"),
            Argument("room", "Where it is held.", "--room"),
            Argument(
                "hosts", "A host or chair (repeatable).", "--host", metavar="NAME", multiple=True
            ),
        ),
    )
    type: Literal["session.started"] = "session.started"
    day: DayNumber
    title: Title
    kind: SessionKind = "session"
    room: Name | None = None
    hosts: Annotated[tuple[Name, ...], Field(max_length=20)] = ()

    def line(self) -> str:
        where = ", ".join(x for x in (self.kind, self.room) if x)
        return f"{excerpt(self.title)} [{where}]"


class SessionEnded(EventData):
    DESCRIPTION: ClassVar[str] = "A session ended."
    EXAMPLE: ClassVar[Mapping[str, Any]] = MappingProxyType({"session": "3f2a9c1e"})
    COMMAND: ClassVar[Command | None] = Command(
        name=("session", "end"),
        method="end_session",
        help="End your open session (and its open talk).",
    )
    type: Literal["session.ended"] = "session.ended"
    session: EventId
    """The id of the `session.started` event this ends."""

    def line(self) -> str:
        return f"session {short(self.session)}"


class TalkStarted(EventData):
    DESCRIPTION: ClassVar[str] = "A talk began inside a session: its title and speaker."
    ENTRY: ClassVar[EntryKind | None] = EntryKind("talk", {"text": "title", "speaker": "speaker"})
    EXAMPLE: ClassVar[Mapping[str, Any]] = MappingProxyType(
        {
            "day": 2,
            "session": "3f2a9c1e",
            "title": "Shared services",
            "speaker": "Jane Smith",
            "role": "President",
            "organisation": "SOCITM",
        }
    )
    COMMAND: ClassVar[Command | None] = Command(
        name=("talk", "start"),
        method="start_talk",
        help="Start a talk called TITLE (ending your open talk first).",
        arguments=(
            Argument("title", required=True),
            Argument("speaker", "Who gives the talk.", "--speaker", required=True, metavar="NAME"),
            Argument("role", "The speaker's role, e.g. Chief Executive.", "--role"),
            Argument(
                "organisation",
                "The speaker's organisation.",
                "--org",
                metavar="ORGANISATION",
            ),
        ),
    )
    type: Literal["talk.started"] = "talk.started"
    day: DayNumber
    session: EventId
    title: Title
    speaker: Name
    role: Name | None = None
    organisation: Name | None = None

    def line(self) -> str:
        return f"{excerpt(self.title)} — {self.speaker}"


class TalkEnded(EventData):
    DESCRIPTION: ClassVar[str] = "A talk ended."
    EXAMPLE: ClassVar[Mapping[str, Any]] = MappingProxyType({"talk": "7b0d4e2a"})
    COMMAND: ClassVar[Command | None] = Command(
        name=("talk", "end"), method="end_talk", help="End your open talk."
    )
    type: Literal["talk.ended"] = "talk.ended"
    talk: EventId

    def line(self) -> str:
        return f"talk {short(self.talk)}"


class _Placed(EventData):
    """An entry made inside the reporter's context at the time: day, session, talk."""

    day: DayNumber
    session: EventId | None = None
    talk: EventId | None = None


class QuoteCaptured(_Placed):
    DESCRIPTION: ClassVar[str] = "Words someone said, and who said them."
    ENTRY: ClassVar[EntryKind | None] = EntryKind("quote", {"text": "text", "speaker": "speaker"})
    EXAMPLE: ClassVar[Mapping[str, Any]] = MappingProxyType(
        {"day": 2, "text": "Shared services are here to stay.", "speaker": "Jane Smith"}
    )
    COMMAND: ClassVar[Command | None] = Command(
        name=("quote",),
        method="quote",
        help="Capture words someone said.",
        arguments=(
            Argument("text", required=True),
            Argument(
                "speaker",
                "Who said it (default: your open talk's speaker).",
                "--speaker",
                metavar="NAME",
            ),
        ),
        placed=True,
    )
    type: Literal["quote.captured"] = "quote.captured"
    text: Body
    speaker: Name

    def line(self) -> str:
        return f"“{excerpt(self.text)}” — {self.speaker}"


class NotePosted(_Placed):
    DESCRIPTION: ClassVar[str] = "The reporter's own observation or paraphrase."
    ENTRY: ClassVar[EntryKind | None] = EntryKind("note", {"text": "text"})
    EXAMPLE: ClassVar[Mapping[str, Any]] = MappingProxyType({"day": 2, "text": "The room is full."})
    COMMAND: ClassVar[Command | None] = Command(
        name=("note",),
        method="note",
        help="Post your own observation or paraphrase.",
        arguments=(Argument("text", required=True),),
        placed=True,
    )
    type: Literal["note.posted"] = "note.posted"
    text: Body

    def line(self) -> str:
        return excerpt(self.text)


class PhotoPosted(_Placed):
    DESCRIPTION: ClassVar[str] = "A picture (an http(s) URL) with a caption."
    ENTRY: ClassVar[EntryKind | None] = EntryKind("photo", {"caption": "caption"})
    EXAMPLE: ClassVar[Mapping[str, Any]] = MappingProxyType(
        {"day": 2, "url": "https://example.org/hall.jpg", "caption": "A full hall"}
    )
    COMMAND: ClassVar[Command | None] = Command(
        name=("photo",),
        method="photo",
        help="Post a picture (an http(s) URL) with a caption.",
        arguments=(
            Argument("url", required=True),
            Argument("caption", "What the picture shows.", "--caption", required=True),
        ),
        placed=True,
    )
    type: Literal["photo.posted"] = "photo.posted"
    url: Url
    caption: Caption

    def line(self) -> str:
        return excerpt(self.caption)


class LinkPosted(_Placed):
    DESCRIPTION: ClassVar[str] = "A link worth sharing: slides, a paper, a report."
    ENTRY: ClassVar[EntryKind | None] = EntryKind(
        "link", {"text": "title", "description": "description"}
    )
    EXAMPLE: ClassVar[Mapping[str, Any]] = MappingProxyType(
        {
            "day": 2,
            "url": "https://example.org/slides.pdf",
            "title": "Jane Smith's slides",
            "description": "The 40 slides of the morning keynote.",
        }
    )
    COMMAND: ClassVar[Command | None] = Command(
        name=("link",),
        method="link",
        help="Share a link (an http(s) URL): slides, a paper, a report.",
        arguments=(
            Argument("url", required=True),
            Argument(
                "title", "What it links to, e.g. the talk's slides.", "--title", required=True
            ),
            Argument("description", "A sentence or two about it.", "--description"),
        ),
        placed=True,
    )
    type: Literal["link.posted"] = "link.posted"
    url: Url
    title: Title
    description: Body | None = None

    def line(self) -> str:
        return f"{excerpt(self.title)} <{self.url}>"


class EntryCorrected(EventData):
    """New values for some fields of an entry; which ones a kind accepts is its ENTRY.

    `description` came with links: it is left out of every serialisation when unset, so the
    corrections written before it keep their exact bytes.
    """

    DESCRIPTION: ClassVar[str] = "New wording for an entry: its text, speaker or caption."
    EXAMPLE: ClassVar[Mapping[str, Any]] = MappingProxyType(
        {"target": "3f2a9c1e", "text": "Shared services are here to stay, she said."}
    )
    COMMAND: ClassVar[Command | None] = Command(
        name=("correct",),
        method="correct",
        help="Replace the text, speaker or caption of an entry (EVENT_ID may be a unique "
        "prefix).\n\nWith --last, the only argument is the new TEXT. --conference limits "
        "--last to\nyour entries in that conference.",
        arguments=(
            Argument("target", metavar="(EVENT_ID | --last)"),
            Argument("text"),
            Argument("last", "Correct your latest entry.", "--last", flag=True),
            Argument("speaker", "The right speaker.", "--speaker", metavar="NAME"),
            Argument("caption", "The right caption (photos).", "--caption"),
            Argument("description", "The right description (links).", "--description"),
        ),
    )
    type: Literal["entry.corrected"] = "entry.corrected"
    target: EventId
    text: Body | None = None
    speaker: Name | None = None
    caption: Caption | None = None
    description: Body | None = None

    @model_validator(mode="after")
    def _changes_something(self) -> EntryCorrected:
        if all(getattr(self, name) is None for name in CORRECTION_FIELDS):
            raise ValueError("a correction needs new text, a speaker or a caption")
        return self

    def changes(self) -> dict[str, Any]:
        """The correction fields it sets, by name."""
        return {n: getattr(self, n) for n in CORRECTION_FIELDS if getattr(self, n) is not None}

    @model_serializer(mode="wrap")
    def _description_only_when_set(self, handler: SerializerFunctionWrapHandler) -> Any:
        # Every serialisation (the log's JSON, `data()`, exports) leaves an unset
        # description out, so a correction without one keeps the bytes of before links.
        data = handler(self)
        if isinstance(data, dict) and data.get("description") is None:
            data.pop("description", None)
        return data

    def line(self) -> str:
        return f"{short(self.target)}: {', '.join(self.changes())}"


class EntryRetracted(EventData):
    DESCRIPTION: ClassVar[str] = "An entry withdrawn, with an optional reason."
    EXAMPLE: ClassVar[Mapping[str, Any]] = MappingProxyType(
        {"target": "3f2a9c1e", "reason": "Misattributed"}
    )
    COMMAND: ClassVar[Command | None] = Command(
        name=("retract",),
        method="retract",
        help="Withdraw an entry (EVENT_ID may be a unique prefix, or --last).",
        arguments=(
            Argument("target", metavar="(EVENT_ID | --last)"),
            Argument("last", "Retract your latest entry.", "--last", flag=True),
            Argument("reason", "Why it is withdrawn.", "--reason"),
        ),
    )
    type: Literal["entry.retracted"] = "entry.retracted"
    target: EventId
    reason: Reason | None = None

    def line(self) -> str:
        reason = f": {excerpt(self.reason)}" if self.reason else ""
        return f"{short(self.target)}{reason}"


# The reader's page: pins and key moments are events like every other (the timeline
# projects them; a rebuild gives them back).
HIGHLIGHT_LABEL_MAX = 80
HighlightLabel = Annotated[
    str, StringConstraints(max_length=HIGHLIGHT_LABEL_MAX), BeforeValidator(clean_line)
]
"""A key moment's label: short, one line."""


class EntryPinned(EventData):
    DESCRIPTION: ClassVar[str] = (
        "An entry pinned at the top of the live page (replacing the pinned one, if any)."
    )
    EXAMPLE: ClassVar[Mapping[str, Any]] = MappingProxyType({"target": "3f2a9c1e"})
    COMMAND: ClassVar[Command | None] = Command(
        name=("pin",),
        method="pin",
        help="Pin an entry at the top of the live page (EVENT_ID may be a unique prefix, "
        "or --last).\n\nAt most one entry is pinned per conference: pinning another "
        "replaces it.",
        arguments=(
            Argument("target", metavar="(EVENT_ID | --last)"),
            Argument("last", "Pin your latest entry.", "--last", flag=True),
        ),
    )
    type: Literal["entry.pinned"] = "entry.pinned"
    target: EventId

    def line(self) -> str:
        return short(self.target)


class EntryUnpinned(EventData):
    DESCRIPTION: ClassVar[str] = "The pinned entry taken off the top of the live page."
    EXAMPLE: ClassVar[Mapping[str, Any]] = MappingProxyType({"target": "3f2a9c1e"})
    # No argument: the service fills in the conference's pinned entry.
    COMMAND: ClassVar[Command | None] = Command(
        name=("unpin",),
        method="unpin",
        help="Take the pinned entry off the top of the live page.",
    )
    type: Literal["entry.unpinned"] = "entry.unpinned"
    target: EventId

    def line(self) -> str:
        return short(self.target)


class EntryHighlighted(EventData):
    DESCRIPTION: ClassVar[str] = "An entry marked as a key moment, with an optional label."
    EXAMPLE: ClassVar[Mapping[str, Any]] = MappingProxyType(
        {"target": "3f2a9c1e", "label": "The announcement"}
    )
    COMMAND: ClassVar[Command | None] = Command(
        name=("highlight",),
        method="highlight",
        help="Mark an entry as a key moment (EVENT_ID may be a unique prefix, or --last).\n\n"
        "Highlighting a key moment again with another --label changes its label.",
        arguments=(
            Argument("target", metavar="(EVENT_ID | --last)"),
            Argument("last", "Highlight your latest entry.", "--last", flag=True),
            Argument("label", "A short label (at most 80 characters).", "--label", metavar="TEXT"),
        ),
    )
    type: Literal["entry.highlighted"] = "entry.highlighted"
    target: EventId
    label: HighlightLabel | None = None

    def line(self) -> str:
        label = f": {self.label}" if self.label else ""
        return f"{short(self.target)}{label}"


class EntryUnhighlighted(EventData):
    DESCRIPTION: ClassVar[str] = "An entry no longer a key moment."
    EXAMPLE: ClassVar[Mapping[str, Any]] = MappingProxyType({"target": "3f2a9c1e"})
    COMMAND: ClassVar[Command | None] = Command(
        name=("unhighlight",),
        method="unhighlight",
        help="Make an entry no longer a key moment (EVENT_ID may be a unique prefix).",
        arguments=(Argument("target", metavar="EVENT_ID", required=True),),
    )
    type: Literal["entry.unhighlighted"] = "entry.unhighlighted"
    target: EventId

    def line(self) -> str:
        return short(self.target)


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
    | LinkPosted
    | EntryCorrected
    | EntryRetracted
    | EntryPinned
    | EntryUnpinned
    | EntryHighlighted
    | EntryUnhighlighted,
    Field(discriminator="type"),
]

REGISTRY: Mapping[str, type[EventData]] = MappingProxyType(
    {model.model_fields["type"].default: model for model in get_args(get_args(AnyEvent)[0])}
)
"""Wire name → model, for every type this release knows, in declaration order."""

EVENT_TYPES = REGISTRY  # the name the public API has always exported

ENTRY_TYPES: frozenset[str] = frozenset(t for t, m in REGISTRY.items() if m.ENTRY is not None)
"""Types that become an entry of the timeline, and so can be corrected or retracted."""

ENTRY_KINDS: Mapping[str, type[EventData]] = MappingProxyType(
    {m.ENTRY.name: m for m in REGISTRY.values() if m.ENTRY is not None}
)
"""Entry kind (`quote`, `link`…) → its model."""


MARK_TYPES: tuple[str, ...] = tuple(
    m.model_fields["type"].default
    for m in (EntryPinned, EntryUnpinned, EntryHighlighted, EntryUnhighlighted)
)
"""The reader's page marks (pins and key moments): each sets a flag of its target entry."""


CORRECTION_FIELDS: tuple[str, ...] = tuple(
    dict.fromkeys(name for m in REGISTRY.values() if m.ENTRY for name in m.ENTRY.correctable)
)
"""Every field a correction can set (`text`, `speaker`, …), derived from the entry kinds."""


def entry_kind(event_type: str) -> EntryKind:
    """The entry kind of `event_type`; a type that is not an entry is a bug, not a guess."""
    model = REGISTRY.get(event_type)
    if model is None or model.ENTRY is None:
        raise LookupError(f"{event_type!r} is not an entry type")
    return model.ENTRY


def entry_model(kind: str) -> type[EventData]:
    """The model of the entry kind `kind` (`quote` → QuoteCaptured); unknown raises."""
    try:
        return ENTRY_KINDS[kind]
    except KeyError:
        raise LookupError(f"{kind!r} is not an entry kind") from None


event_adapter: TypeAdapter[AnyEvent] = TypeAdapter(AnyEvent, config=ConfigDict(defer_build=True))
"""Parses any event's data (with its `type`) through the discriminated union."""
