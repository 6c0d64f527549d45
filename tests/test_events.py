"""The event vocabulary: pydantic models, the envelope and the export format."""

from __future__ import annotations

import datetime as dt
import json
import zoneinfo
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import ValidationError

from liveblog import errors
from liveblog.domain.envelope import (
    EXPORT_KEYS,
    Event,
    from_export,
    from_export_line,
    make_event,
    parse_data,
)
from liveblog.domain.events import (
    EVENT_TYPES,
    ConferenceClosed,
    ConferenceOpened,
    DayClosed,
    DayOpened,
    EntryCorrected,
    EntryHighlighted,
    EntryPinned,
    EntryRetracted,
    EntryUnhighlighted,
    EntryUnpinned,
    EventData,
    LinkPosted,
    NotePosted,
    PhotoPosted,
    QuoteCaptured,
    SessionEnded,
    SessionStarted,
    TalkEnded,
    TalkStarted,
    event_adapter,
)

LONDON = zoneinfo.ZoneInfo("Europe/London")
AT = dt.datetime(2011, 6, 9, 9, 30, tzinfo=LONDON)

SAMPLES: dict[str, EventData] = {
    "conference.opened": ConferenceOpened(
        title="SOCITM 2011",
        venue="Manchester Central",
        timezone="Europe/London",
        url="https://example.org/socitm-2011",
        language="en-GB",
    ),
    "conference.closed": ConferenceClosed(),
    "day.opened": DayOpened(number=2, date=dt.date(2011, 6, 9), title="Day 2 Reflections"),
    "day.closed": DayClosed(number=2),
    "session.started": SessionStarted(
        day=2, title="Opening plenary", kind="plenary", room="Hall 1", hosts=("Ann", "Bob")
    ),
    "session.ended": SessionEnded(session="s-1"),
    "talk.started": TalkStarted(
        day=2,
        session="s-1",
        title="Sharing services",
        speaker="Andy Burns",
        role="Chief Executive",
        organisation="Somewhere Council",
    ),
    "talk.ended": TalkEnded(talk="t-1"),
    "quote.captured": QuoteCaptured(
        day=2, session="s-1", talk="t-1", text="We must\n\tshare services", speaker="Andy Burns"
    ),
    "note.posted": NotePosted(day=2, session="s-1", text="A packed hall — “standing room only”"),
    "photo.posted": PhotoPosted(
        day=2, url="https://example.org/photos/1.jpg?size=large", caption="The stage"
    ),
    "link.posted": LinkPosted(
        day=2,
        session="s-1",
        url="https://example.org/slides.pdf",
        title="The slides",
        description="All 40 of them",
    ),
    "entry.corrected": EntryCorrected(target="q-1", text="We must share", speaker="A. Burns"),
    "entry.retracted": EntryRetracted(target="q-1", reason="wrong talk"),
    "entry.pinned": EntryPinned(target="q-1"),
    "entry.unpinned": EntryUnpinned(target="q-1"),
    "entry.highlighted": EntryHighlighted(target="q-1", label="The  announcement\n"),
    "entry.unhighlighted": EntryUnhighlighted(target="q-1"),
}

ALL_TYPES = sorted(EVENT_TYPES)


def envelope(data: EventData, **overrides: Any) -> Event:
    fields: dict[str, Any] = {
        "id": "evt-1",
        "conference": "socitm-2011",
        "occurred_at": AT,
        "author": "ann",
        "data": data,
    }
    fields.update(overrides)
    return make_event(**fields)


def export_line(event_type: str, data: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    line: dict[str, Any] = {
        "id": "evt-1",
        "type": event_type,
        "conference": "socitm-2011",
        "occurred_at": "2011-06-09T09:30:00+01:00",
        "author": "ann",
        "data": data,
    }
    line.update(overrides)
    return line


def test_samples_cover_every_event_type() -> None:
    assert set(SAMPLES) == set(EVENT_TYPES)
    assert len(EVENT_TYPES) == 18
    for name, model in EVENT_TYPES.items():
        assert isinstance(SAMPLES[name], model)
        assert SAMPLES[name].type == name


# -- round trips -------------------------------------------------------------------------


@pytest.mark.parametrize("event_type", ALL_TYPES)
def test_round_trips_through_the_export_format(event_type: str) -> None:
    event = envelope(SAMPLES[event_type])
    exported = event.to_export()
    assert list(exported) == list(EXPORT_KEYS)
    assert exported["type"] == event_type
    assert exported["schema_version"] == EVENT_TYPES[event_type].SCHEMA_VERSION
    assert exported["position"] is None and exported["recorded_at"] is None

    back = from_export(exported)
    assert back == event
    assert type(back.data) is EVENT_TYPES[event_type]
    assert back.to_export() == exported
    assert back.same_content(event)

    # As a line of JSON, too: what `export` writes and `import` reads.
    from_json = from_export(json.loads(json.dumps(exported)))
    assert from_json.to_export() == exported
    assert from_json.same_content(event)


@pytest.mark.parametrize("event_type", ALL_TYPES)
def test_round_trips_a_stored_event(event_type: str) -> None:
    recorded = dt.datetime(2011, 6, 9, 8, 31, 5, 123456, tzinfo=dt.UTC)
    event = envelope(SAMPLES[event_type]).model_copy(
        update={"position": 42, "version": 7, "recorded_at": recorded}
    )
    exported = event.to_export()
    assert exported["position"] == 42
    assert exported["version"] == 7
    assert exported["recorded_at"] == "2011-06-09T08:31:05.123456+00:00"
    back = from_export(json.loads(json.dumps(exported)))
    assert back.to_export() == exported
    assert (back.position, back.version, back.recorded_at) == (42, 7, recorded)


@pytest.mark.parametrize("event_type", ALL_TYPES)
def test_round_trips_through_a_json_line(event_type: str) -> None:
    """`from_export_line` (what import reads) agrees with `from_export`."""
    event = envelope(SAMPLES[event_type]).model_copy(update={"position": 3, "version": 2})
    exported = event.to_export()
    back = from_export_line(json.dumps(exported, ensure_ascii=False))
    assert back.to_export() == exported
    assert back.same_content(event)
    assert type(back.data) is EVENT_TYPES[event_type]


def test_export_keeps_the_reporters_offset() -> None:
    event = envelope(SAMPLES["note.posted"])
    assert event.to_export()["occurred_at"] == "2011-06-09T09:30:00+01:00"
    assert from_export(event.to_export()).occurred_at == AT


# -- immutability and strictness ---------------------------------------------------------


@pytest.mark.parametrize("event_type", ALL_TYPES)
def test_event_data_is_frozen(event_type: str) -> None:
    data = SAMPLES[event_type]
    field = ([name for name in type(data).model_fields if name != "type"] or ["type"])[0]
    before = data.model_dump()
    with pytest.raises(ValidationError, match="frozen"):
        setattr(data, field, getattr(data, field))
    assert data.model_dump() == before


def test_the_envelope_is_frozen() -> None:
    event = envelope(SAMPLES["note.posted"])
    with pytest.raises(ValidationError, match="frozen"):
        event.author = "mallory"  # type: ignore[misc]
    with pytest.raises(ValidationError, match="frozen"):
        event.position = 3  # type: ignore[misc]
    assert event.author == "ann"
    assert event.position is None


@pytest.mark.parametrize("event_type", ALL_TYPES)
def test_extra_fields_are_refused(event_type: str) -> None:
    payload = {**SAMPLES[event_type].model_dump(mode="json"), "colour": "blue"}
    with pytest.raises(ValidationError) as info:
        EVENT_TYPES[event_type].model_validate(payload)
    assert [e["type"] for e in info.value.errors()] == ["extra_forbidden"]

    data = {**SAMPLES[event_type].data(), "colour": "blue"}
    with pytest.raises(errors.InvalidEvent) as refused:
        from_export(export_line(event_type, data))
    assert str(refused.value) == f"invalid {event_type}: colour: unknown field"


def test_extra_envelope_keys_are_refused() -> None:
    line = export_line("day.closed", {"number": 2}, colour="blue")
    with pytest.raises(errors.InvalidEvent, match=r"^unknown key\(s\): colour$"):
        from_export(line)


def test_data_must_not_repeat_type() -> None:
    with pytest.raises(errors.InvalidEvent, match="must not repeat `type`"):
        from_export(export_line("day.closed", {"type": "day.closed", "number": 2}))


@pytest.mark.parametrize(
    "key", ["id", "type", "conference", "occurred_at", "author", "data"], ids=str
)
def test_required_envelope_keys(key: str) -> None:
    line = export_line("day.closed", {"number": 2})
    del line[key]
    with pytest.raises(errors.InvalidEvent, match=f"^{key}: required$"):
        from_export(line)


def test_missing_data_field_is_named() -> None:
    with pytest.raises(errors.InvalidEvent) as info:
        from_export(export_line("talk.started", {"day": 2, "session": "s-1", "title": "T"}))
    assert str(info.value) == "invalid talk.started: speaker: required"


def test_a_correction_must_change_something() -> None:
    with pytest.raises(ValidationError, match="needs new text, a speaker or a caption"):
        EntryCorrected(target="q-1")


@pytest.mark.parametrize("kind", ["party", "PLENARY", ""])
def test_unknown_session_kind_is_refused(kind: str) -> None:
    with pytest.raises(errors.InvalidEvent, match="kind: Input should be 'session'"):
        parse_data("session.started", {"day": 1, "title": "T", "kind": kind})


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("id", "has space"),
        ("id", "-leading-dash"),
        ("id", "x" * 81),
        ("id", "abc\n"),
        ("conference", "Upper"),
        ("conference", "trailing-"),
        ("conference", "slug\n"),
    ],
)
def test_envelope_ids_and_slugs_are_url_safe(field: str, value: str) -> None:
    with pytest.raises(errors.InvalidEvent, match=f"{field}: must be "):
        from_export(export_line("day.closed", {"number": 2}, **{field: value}))


# -- text ----------------------------------------------------------------------------------

# (model, the field under test, the other fields it needs)
TEXT_FIELDS: list[tuple[type[EventData], str, dict[str, Any]]] = [
    (NotePosted, "text", {"day": 1}),
    (QuoteCaptured, "text", {"day": 1, "speaker": "Andy"}),
    (QuoteCaptured, "speaker", {"day": 1, "text": "Hello"}),
    (SessionStarted, "title", {"day": 1}),
    (TalkStarted, "title", {"day": 1, "session": "s-1", "speaker": "Andy"}),
    (TalkStarted, "speaker", {"day": 1, "session": "s-1", "title": "T"}),
    (TalkStarted, "role", {"day": 1, "session": "s-1", "title": "T", "speaker": "A"}),
    (PhotoPosted, "caption", {"day": 1, "url": "https://example.org/p.jpg"}),
    (ConferenceOpened, "title", {}),
    (ConferenceOpened, "venue", {"title": "T"}),
    (DayOpened, "title", {"number": 1, "date": "2011-06-09"}),
    (EntryRetracted, "reason", {"target": "q-1"}),
    (EntryCorrected, "text", {"target": "q-1"}),
]
TEXT_IDS = [f"{model.__name__}.{field}" for model, field, _ in TEXT_FIELDS]

MAX_LENGTH = {
    (NotePosted, "text"): 10_000,
    (QuoteCaptured, "text"): 10_000,
    (EntryCorrected, "text"): 10_000,
    (PhotoPosted, "caption"): 2_000,
    (EntryRetracted, "reason"): 2_000,
    (SessionStarted, "title"): 300,
    (TalkStarted, "title"): 300,
    (ConferenceOpened, "title"): 300,
    (DayOpened, "title"): 300,
    (QuoteCaptured, "speaker"): 200,
    (TalkStarted, "speaker"): 200,
    (TalkStarted, "role"): 200,
    (ConferenceOpened, "venue"): 200,
}


@pytest.mark.parametrize("blank", ["", " ", "  \t\n  ", "\r\n", "\x00\x1b", " \x7f "])
@pytest.mark.parametrize(("model", "field", "others"), TEXT_FIELDS, ids=TEXT_IDS)
def test_blank_text_is_refused_with_a_clear_message(
    model: type[EventData], field: str, others: dict[str, Any], blank: str
) -> None:
    with pytest.raises(ValidationError) as info:
        model(**others, **{field: blank})
    (error,) = info.value.errors()
    assert error["loc"] == (field,)
    assert "must not be empty" in error["msg"]

    event_type = model.model_fields["type"].default
    with pytest.raises(errors.InvalidEvent) as refused:
        parse_data(event_type, {**others, field: blank})
    assert str(refused.value) == f"invalid {event_type}: {field}: must not be empty"


@pytest.mark.parametrize(("model", "field", "others"), TEXT_FIELDS, ids=TEXT_IDS)
def test_over_long_text_is_refused(
    model: type[EventData], field: str, others: dict[str, Any]
) -> None:
    limit = MAX_LENGTH[(model, field)]
    at_limit = model(**others, **{field: "x" * limit})
    assert len(getattr(at_limit, field)) == limit
    # The limit applies to the cleaned text: surrounding whitespace does not count.
    padded = model(**others, **{field: "  " + "x" * limit + "  "})
    assert getattr(padded, field) == "x" * limit

    event_type = model.model_fields["type"].default
    with pytest.raises(errors.InvalidEvent) as refused:
        parse_data(event_type, {**others, field: "x" * (limit + 1)})
    message = str(refused.value)
    assert message.startswith(f"invalid {event_type}: {field}: ")
    assert str(limit) in message


def test_over_long_text_message_speaks_of_characters() -> None:
    """A reporter should read `at most N characters`, not `N items after validation`."""
    unclear = []
    for model, field, others in TEXT_FIELDS:
        limit = MAX_LENGTH[(model, field)]
        event_type = model.model_fields["type"].default
        with pytest.raises(errors.InvalidEvent) as refused:
            parse_data(event_type, {**others, field: "x" * (limit + 1)})
        if f"at most {limit} characters" not in str(refused.value):
            unclear.append(str(refused.value))
    assert unclear == []


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("a\x00b\x1bc", "abc"),
        ("bell\x07 and delete\x7f", "bell and delete"),
        ("first paragraph\n\nsecond\tindented", "first paragraph\n\nsecond\tindented"),
        ("windows\r\nline\rends", "windows\nline\nends"),
        ("  \n trimmed \t\n", "trimmed"),
        ("vertical\x0btab and form\x0cfeed", "verticaltab and formfeed"),
        ("unicode “quotes” — é ü 中文 stay", "unicode “quotes” — é ü 中文 stay"),
    ],
)
def test_body_text_loses_control_characters_but_keeps_tabs_and_newlines(
    raw: str, clean: str
) -> None:
    assert NotePosted(day=1, text=raw).text == clean
    assert QuoteCaptured(day=1, text=raw, speaker="A").text == clean
    assert PhotoPosted(day=1, url="https://example.org/p", caption=raw).caption == clean
    assert EntryRetracted(target="q-1", reason=raw).reason == clean


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("a\x00b\x1bc", "abc"),
        ("two\nlines", "two lines"),
        ("many \r\n\t  spaces", "many spaces"),
        ("carriage\rreturn", "carriage return"),
        ("  padded\n", "padded"),
        ("del\x7fete", "delete"),
    ],
)
def test_titles_and_names_are_one_line(raw: str, clean: str) -> None:
    assert SessionStarted(day=1, title=raw).title == clean
    assert ConferenceOpened(title=raw, venue=raw).venue == clean
    talk = TalkStarted(day=1, session="s", title=raw, speaker=raw, role=raw, organisation=raw)
    assert (talk.title, talk.speaker, talk.role, talk.organisation) == (clean,) * 4
    assert SessionStarted(day=1, title="T", room=raw, hosts=(raw,)).hosts == (clean,)


def test_cleaning_applies_to_imported_events() -> None:
    line = export_line("quote.captured", {"day": 2, "text": "a\x00b\x1bc\n\td", "speaker": "A\nB"})
    event = from_export(line)
    assert event.data.data()["text"] == "abc\n\td"
    assert event.data.data()["speaker"] == "A B"


@pytest.mark.parametrize(
    "url",
    ["ftp://example.org/x", "example.org/x", "https://", "https:// spaced.org", "javascript:x"],
)
def test_urls_must_be_absolute_http(url: str) -> None:
    with pytest.raises(ValidationError):
        PhotoPosted(day=1, url=url, caption="c")


# -- times and zones -----------------------------------------------------------------------


def test_naive_occurred_at_is_refused() -> None:
    with pytest.raises(errors.InvalidEvent, match="occurred_at: Input should have timezone"):
        make_event(
            id="e",
            conference="c",
            occurred_at=dt.datetime(2011, 6, 9, 9, 30),
            author="ann",
            data=SAMPLES["day.closed"],
        )
    with pytest.raises(errors.InvalidEvent, match="occurred_at: Input should have timezone"):
        from_export(export_line("day.closed", {"number": 2}, occurred_at="2011-06-09T09:30:00"))


def test_naive_recorded_at_is_refused() -> None:
    line = export_line("day.closed", {"number": 2}, recorded_at="2011-06-09T09:30:00")
    with pytest.raises(errors.InvalidEvent, match="recorded_at"):
        from_export(line)


@pytest.mark.parametrize(
    "zone", ["Mars/Olympus_Mons", "", "../../etc/passwd", "/etc/localtime", "BST", " UTC"]
)
def test_invalid_timezone_is_refused(zone: str) -> None:
    with pytest.raises(ValidationError, match="unknown timezone"):
        ConferenceOpened(title="T", timezone=zone)
    with pytest.raises(errors.InvalidEvent) as refused:
        from_export(export_line("conference.opened", {"title": "T", "timezone": zone}))
    message = str(refused.value)
    assert "timezone: unknown timezone" in message
    assert "Europe/London" in message  # says what a valid one looks like


def test_a_timezone_directory_is_refused_like_any_unknown_zone() -> None:
    """A tz database *directory* name is not a zone: a validation error, not an OSError."""
    with pytest.raises(ValidationError, match="unknown timezone"):
        ConferenceOpened(title="T", timezone="Europe")
    with pytest.raises(errors.InvalidEvent, match="unknown timezone"):
        from_export(export_line("conference.opened", {"title": "T", "timezone": "America"}))


@pytest.mark.parametrize("zone", ["UTC", "Europe/London", "America/New_York", "Asia/Kolkata"])
def test_valid_timezones_are_accepted(zone: str) -> None:
    assert ConferenceOpened(title="T", timezone=zone).timezone == zone


@pytest.mark.parametrize("number", [0, -1, 367])
def test_day_numbers_are_bounded(number: int) -> None:
    with pytest.raises(ValidationError):
        DayOpened(number=number, date=dt.date(2011, 6, 9))


# -- types and schema versions -------------------------------------------------------------


@pytest.mark.parametrize("event_type", ["keynote.started", "", "Note.Posted", "note.posted\n"])
def test_unknown_type_is_refused(event_type: str) -> None:
    with pytest.raises(errors.UnknownEventType, match="unknown event type"):
        from_export(export_line(event_type, {"day": 1, "text": "t"}))
    with pytest.raises(errors.UnknownEventType):
        parse_data(event_type, {})
    assert issubclass(errors.UnknownEventType, errors.InvalidEvent)


@pytest.mark.parametrize("event_type", ALL_TYPES)
def test_newer_schema_version_is_refused(event_type: str) -> None:
    newer = EVENT_TYPES[event_type].SCHEMA_VERSION + 1
    line = export_line(event_type, SAMPLES[event_type].data(), schema_version=newer)
    with pytest.raises(errors.NewerSchemaVersion) as refused:
        from_export(line)
    message = str(refused.value)
    assert f"{event_type} schema version {newer} is newer" in message
    assert "upgrade liveblog" in message


@pytest.mark.parametrize("version", [0, -1, "2", 1.5, True])
def test_bad_schema_versions_are_refused(version: Any) -> None:
    line = export_line("day.closed", {"number": 2}, schema_version=version)
    with pytest.raises(errors.InvalidEvent, match="schema_version"):
        from_export(line)


def test_current_schema_version_is_written() -> None:
    assert SessionStarted.SCHEMA_VERSION == 2
    assert envelope(SAMPLES["session.started"]).schema_version == 2
    assert envelope(SAMPLES["note.posted"]).schema_version == 1


@pytest.mark.parametrize(
    ("data", "hosts"),
    [
        ({"day": 1, "title": "T", "host": "Bob"}, ("Bob",)),
        ({"day": 1, "title": "T", "host": None}, ()),
        ({"day": 1, "title": "T"}, ()),
        ({"day": 1, "title": "T", "host": "  Bob\nSmith "}, ("Bob Smith",)),
    ],
)
def test_old_session_started_is_upcast_on_read(data: dict[str, Any], hosts: tuple[str]) -> None:
    original = json.loads(json.dumps(data))
    event = from_export(export_line("session.started", data, schema_version=1))
    assert isinstance(event.data, SessionStarted)
    assert event.data.hosts == hosts
    assert event.schema_version == 2
    exported = event.to_export()
    assert exported["schema_version"] == 2
    assert "host" not in exported["data"]
    assert exported["data"]["hosts"] == list(hosts)
    assert data == original  # the caller's dict is not modified


def test_schema_1_host_is_not_a_field_of_schema_2() -> None:
    line = export_line("session.started", {"day": 1, "title": "T", "host": "Bob"})
    with pytest.raises(errors.InvalidEvent, match="host: unknown field"):
        from_export(line)


# -- the discriminated union ---------------------------------------------------------------


@pytest.mark.parametrize("event_type", ALL_TYPES)
def test_the_union_parses_each_type(event_type: str) -> None:
    payload = SAMPLES[event_type].model_dump(mode="json")
    parsed = event_adapter.validate_python(payload)
    assert type(parsed) is EVENT_TYPES[event_type]
    assert parsed == SAMPLES[event_type]
    from_json = event_adapter.validate_json(json.dumps(payload))
    assert from_json == SAMPLES[event_type]


def test_the_union_refuses_unknown_and_missing_tags() -> None:
    with pytest.raises(ValidationError) as info:
        event_adapter.validate_python({"type": "keynote.started"})
    assert info.value.errors()[0]["type"] == "union_tag_invalid"
    with pytest.raises(ValidationError) as info:
        event_adapter.validate_python({"number": 2})
    assert info.value.errors()[0]["type"] == "union_tag_not_found"


def test_the_union_validates_the_chosen_type() -> None:
    with pytest.raises(ValidationError) as info:
        event_adapter.validate_python({"type": "day.closed", "number": 2, "title": "x"})
    assert info.value.errors()[0]["type"] == "extra_forbidden"


# -- one-line messages ---------------------------------------------------------------------

NL_KEY = "evil\nkey"


def _version_conflict() -> None:
    raise errors.VersionConflict("socitm\n2011", 1, 2)


ERROR_CASES: dict[str, Callable[[], object]] = {
    "not an object": lambda: from_export(["a list"]),
    "unknown envelope key": lambda: from_export(export_line("day.closed", {"number": 2}, x=1)),
    "unknown envelope key with newline": lambda: from_export(
        {**export_line("day.closed", {"number": 2}), NL_KEY: 1}
    ),
    "unknown data field with newline": lambda: from_export(
        export_line("day.closed", {"number": 2, NL_KEY: 1})
    ),
    "unknown type with newline": lambda: from_export(
        export_line("day.closed\nreally", {"number": 2})
    ),
    "id with newline": lambda: from_export(export_line("day.closed", {"number": 2}, id="a\nb")),
    "timezone with newline": lambda: from_export(
        export_line("conference.opened", {"title": "T", "timezone": "Europe/\nLondon"})
    ),
    "several errors": lambda: from_export(
        export_line("talk.started", {"day": 0, "title": "", "kind": "x"})
    ),
    "bad date": lambda: from_export(
        export_line("day.opened", {"number": 1, "date": "9 June\n2011"})
    ),
    "data not an object": lambda: from_export(export_line("day.closed", "number\n2")),
    "newer schema": lambda: from_export(
        export_line("day.closed", {"number": 2}, schema_version=99)
    ),
    "naive time": lambda: from_export(
        export_line("day.closed", {"number": 2}, occurred_at="2011-06-09\n09:00")
    ),
    "bad correction": lambda: parse_data("entry.corrected", {"target": "x"}),
    "version conflict": _version_conflict,
}


@pytest.mark.parametrize("case", list(ERROR_CASES))
def test_error_messages_are_one_line(case: str) -> None:
    with pytest.raises(errors.LiveblogError) as info:
        ERROR_CASES[case]()
    message = str(info.value)
    assert message.strip()
    assert "\n" not in message and "\r" not in message, repr(message)


def test_a_correction_without_a_description_keeps_the_bytes_of_before_links() -> None:
    # `description` came with link.posted; corrections written before it had no such key,
    # and new ones that do not set it must be stored and exported byte for byte the same.
    plain = EntryCorrected(target="q-1", text="We must share")
    assert plain.model_dump_json(exclude={"type"}) == (
        '{"target":"q-1","text":"We must share","speaker":null,"caption":null}'
    )
    assert "description" not in envelope(plain).to_export()["data"]
    described = EntryCorrected(target="l-1", description="The final version")
    assert described.data()["description"] == "The final version"


def test_a_key_moments_label_is_one_short_line() -> None:
    assert EntryHighlighted(target="q-1", label=" The\n announcement ").label == "The announcement"
    assert EntryHighlighted(target="q-1").label is None
    assert EntryHighlighted(target="q-1", label="x" * 80).label == "x" * 80
    with pytest.raises(ValidationError):
        EntryHighlighted(target="q-1", label="x" * 81)
