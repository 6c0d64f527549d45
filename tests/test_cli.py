"""The reporter CLI in-process (CliRunner) against a real events.db.

Every reporting command must print exactly one line per event it appended, and every
refused command must exit 1 with one `Error:` line on stderr and write nothing.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import zoneinfo
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

Invoke = Callable[..., Result]
Event = dict[str, Any]

APPENDED = re.compile(
    r"^#(?P<position>\d+) (?P<type>[a-z]+\.[a-z]+) (?P<short>\S{1,8})(?:  (?P<text>.+))?$"
)
LONDON = zoneinfo.ZoneInfo("Europe/London")


# -- helpers -------------------------------------------------------------------------


def out_lines(text: str) -> list[str]:
    """Lines of CLI output; only "\\n" ends a line (text may hold U+2028 and friends)."""
    return text.split("\n")[:-1] if text else []


def export(invoke: Invoke, since: int = 0) -> list[Event]:
    result = invoke("export", "--since", str(since))
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in out_lines(result.stdout)]


def head(invoke: Invoke) -> int:
    events = export(invoke)
    return events[-1]["position"] if events else 0


def report(invoke: Invoke, *args: str, author: str = "ann") -> list[Event]:
    """Run a reporting command that must succeed; check its output names each event it
    appended, one line each, in order; return those events (export format)."""
    before = head(invoke)
    result = invoke(*args, author=author)
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    new = export(invoke, since=before)
    lines = out_lines(result.stdout)
    assert len(lines) == len(new), (lines, new)
    for line, event in zip(lines, new, strict=True):
        match = APPENDED.match(line)
        assert match, line
        assert int(match["position"]) == event["position"]
        assert match["type"] == event["type"]
        assert event["id"].startswith(match["short"])
        assert event["author"] == author
    return new


def one(invoke: Invoke, *args: str, author: str = "ann") -> Event:
    events = report(invoke, *args, author=author)
    assert len(events) == 1, events
    return events[0]


def types(events: list[Event]) -> list[str]:
    return [e["type"] for e in events]


def refused(invoke: Invoke, *args: str, author: str = "ann", input: str | None = None) -> str:
    """Run a command that must be refused: exit 1, one `Error:` line, nothing written."""
    before = invoke("export").stdout
    result = invoke(*args, author=author, input=input)
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    err = out_lines(result.stderr)
    assert len(err) == 1, result.stderr
    assert err[0].startswith("Error: ")
    assert "Traceback" not in result.output
    assert invoke("export").stdout == before
    return err[0]


def line(
    id: str,
    type: str,
    data: dict[str, Any],
    *,
    at: str = "2011-06-09T09:00:00+01:00",
    author: str = "ann",
    conference: str = "socitm-2011",
    **extra: Any,
) -> str:
    """One line of the import format (without what the receiving log assigns)."""
    obj = {
        "id": id,
        "type": type,
        "conference": conference,
        "occurred_at": at,
        "author": author,
        "data": data,
        **extra,
    }
    return json.dumps(obj, ensure_ascii=False)


def without_recorded_at(events: list[Event]) -> list[Event]:
    return [{k: v for k, v in e.items() if k != "recorded_at"} for e in events]


# Events with chosen ids, so tests can name them.
FIXED = [
    line(
        "conf-1",
        "conference.opened",
        {"title": "SOCITM 2011", "timezone": "Europe/London"},
        at="2011-06-09T08:30:00+01:00",
    ),
    line("day-1", "day.opened", {"number": 2, "date": "2011-06-09"}),
    line("sess-1", "session.started", {"day": 2, "title": "Plenary", "kind": "plenary"}),
    line("note-aaa1", "note.posted", {"day": 2, "session": "sess-1", "text": "first"}),
    line("note-aaa2", "note.posted", {"day": 2, "session": "sess-1", "text": "second"}),
    line(
        "photo-1",
        "photo.posted",
        {"day": 2, "url": "https://example.org/p.jpg", "caption": "The hall"},
    ),
    line("note-r", "note.posted", {"day": 2, "text": "withdrawn"}),
    line("retr-1", "entry.retracted", {"target": "note-r", "reason": "wrong"}),
]


def load_fixed(invoke: Invoke) -> None:
    result = invoke("import", "-", input="\n".join(FIXED) + "\n")
    assert result.exit_code == 0, result.output
    assert result.stdout == f"imported {len(FIXED)} events (0 already in the log)\n"


def open_conference(invoke: Invoke, slug: str, author: str = "ann") -> Event:
    return one(
        invoke,
        "conference",
        "open",
        slug,
        "--title",
        slug.upper(),
        "--timezone",
        "Europe/London",
        "--at",
        "2011-06-09T08:00",
        author=author,
    )


# -- reporting commands ----------------------------------------------------------------


def test_conference_open(invoke: Invoke) -> None:
    event = one(
        invoke,
        "conference",
        "open",
        "socitm-2011",
        "--title",
        "SOCITM 2011",
        "--venue",
        "Birmingham ICC",
        "--timezone",
        "Europe/London",
        "--url",
        "https://blog.example.org/socitm-2011",
        "--at",
        "2011-06-08T08:30",
    )
    assert event["type"] == "conference.opened"
    assert event["conference"] == "socitm-2011"
    assert event["occurred_at"] == "2011-06-08T08:30:00+01:00"
    assert event["position"] == 1
    assert event["version"] == 1
    assert event["data"] == {
        "title": "SOCITM 2011",
        "venue": "Birmingham ICC",
        "timezone": "Europe/London",
        "url": "https://blog.example.org/socitm-2011",
        "language": "en",
    }
    assert "SOCITM 2011" in invoke("log").stdout


def test_conference_open_defaults_to_utc(invoke: Invoke) -> None:
    event = one(invoke, "conference", "open", "c1", "--title", "C", "--at", "2011-06-09T08:30")
    assert event["data"]["timezone"] == "UTC"
    assert event["occurred_at"] == "2011-06-09T08:30:00+00:00"


def test_day_open_with_date_and_title(invoke: Invoke) -> None:
    open_conference(invoke, "socitm-2011")
    event = one(
        invoke,
        "day",
        "open",
        "2",
        "--date",
        "2011-06-09",
        "--title",
        "Day 2 Reflections",
        "--at",
        "2011-06-09T08:45",
    )
    assert event["type"] == "day.opened"
    assert event["conference"] == "socitm-2011"
    assert event["data"] == {"number": 2, "date": "2011-06-09", "title": "Day 2 Reflections"}
    assert event["occurred_at"] == "2011-06-09T08:45:00+01:00"


def test_day_open_date_defaults_to_the_at_date(invoke: Invoke) -> None:
    open_conference(invoke, "socitm-2011")
    event = one(invoke, "day", "open", "1", "--at", "2011-06-08T09:00")
    assert event["data"]["date"] == "2011-06-08"
    assert event["data"]["title"] is None


def test_session_start_with_kind_room_and_hosts(invoke: Invoke, day_open: None) -> None:
    event = one(
        invoke,
        "session",
        "start",
        "Shared services",
        "--kind",
        "breakout",
        "--room",
        "Hall 3",
        "--host",
        "Jos Creese",
        "--host",
        "Ann Smith",
        "--at",
        "2011-06-09T09:30",
    )
    assert event["type"] == "session.started"
    assert event["schema_version"] == 2
    assert event["data"] == {
        "day": 2,
        "title": "Shared services",
        "kind": "breakout",
        "room": "Hall 3",
        "hosts": ["Jos Creese", "Ann Smith"],
    }
    assert event["occurred_at"] == "2011-06-09T09:30:00+01:00"


def test_session_start_defaults(invoke: Invoke, day_open: None) -> None:
    event = one(invoke, "session", "start", "Opening")
    assert event["data"]["kind"] == "session"
    assert event["data"]["room"] is None
    assert event["data"]["hosts"] == []


def test_talk_start_inside_the_open_session(invoke: Invoke, day_open: None) -> None:
    session = one(invoke, "session", "start", "Plenary", "--kind", "plenary")
    talk = one(
        invoke,
        "talk",
        "start",
        "The cloud",
        "--speaker",
        "Andy Burns",
        "--role",
        "Chief Executive",
        "--org",
        "Example Council",
    )
    assert talk["type"] == "talk.started"
    assert talk["data"] == {
        "day": 2,
        "session": session["id"],
        "title": "The cloud",
        "speaker": "Andy Burns",
        "role": "Chief Executive",
        "organisation": "Example Council",
    }


def test_quote_speaker_defaults_to_the_open_talk(invoke: Invoke, day_open: None) -> None:
    session = one(invoke, "session", "start", "Plenary")
    talk = one(invoke, "talk", "start", "The cloud", "--speaker", "Andy Burns")
    quote = one(invoke, "quote", "We must share services")
    assert quote["type"] == "quote.captured"
    assert quote["data"] == {
        "day": 2,
        "session": session["id"],
        "talk": talk["id"],
        "text": "We must share services",
        "speaker": "Andy Burns",
    }
    result_line = invoke("log").stdout.splitlines()[-1]
    assert "Andy Burns" in result_line


def test_quote_speaker_override(invoke: Invoke, day_open: None) -> None:
    one(invoke, "session", "start", "Panel", "--kind", "panel")
    talk = one(invoke, "talk", "start", "Q&A", "--speaker", "Andy Burns")
    quote = one(invoke, "quote", "Not so fast", "--speaker", "Jane Doe")
    assert quote["data"]["speaker"] == "Jane Doe"
    assert quote["data"]["talk"] == talk["id"]


def test_quote_with_speaker_needs_no_talk(invoke: Invoke, day_open: None) -> None:
    quote = one(invoke, "quote", "Welcome all", "--speaker", "The Chair")
    assert quote["data"] == {
        "day": 2,
        "session": None,
        "talk": None,
        "text": "Welcome all",
        "speaker": "The Chair",
    }


def test_quote_speaker_follows_a_corrected_talk_speaker(invoke: Invoke, day_open: None) -> None:
    """The default speaker is the current talk's speaker as the log now says it."""
    one(invoke, "session", "start", "Plenary")
    talk = one(invoke, "talk", "start", "The cloud", "--speaker", "Andy Brns")
    one(invoke, "correct", talk["id"][:8], "--speaker", "Andy Burns")
    quote = one(invoke, "quote", "We must share services")
    assert quote["data"]["speaker"] == "Andy Burns"


def test_note_and_photo(invoke: Invoke, day_open: None) -> None:
    session = one(invoke, "session", "start", "Plenary")
    note = one(invoke, "note", "The room is full", "--at", "2011-06-09T09:41")
    assert note["type"] == "note.posted"
    assert note["data"] == {
        "day": 2,
        "session": session["id"],
        "talk": None,
        "text": "The room is full",
    }
    assert note["occurred_at"] == "2011-06-09T09:41:00+01:00"
    photo = one(invoke, "photo", "https://img.example.org/hall.jpg", "--caption", "A packed hall")
    assert photo["type"] == "photo.posted"
    assert photo["data"] == {
        "day": 2,
        "session": session["id"],
        "talk": None,
        "url": "https://img.example.org/hall.jpg",
        "caption": "A packed hall",
    }


def test_note_keeps_paragraphs_and_unicode(invoke: Invoke, day_open: None) -> None:
    text = 'First «point» — 😀\n\nSecond: שלום <b>&amp;</b> "quoted"'
    note = one(invoke, "note", text)
    assert note["data"]["text"] == text


def test_text_at_the_length_limit_is_accepted(invoke: Invoke, day_open: None) -> None:
    note = one(invoke, "note", "x" * 10_000)
    assert len(note["data"]["text"]) == 10_000


def test_talk_end_and_session_end(invoke: Invoke, day_open: None) -> None:
    session = one(invoke, "session", "start", "Plenary")
    talk = one(invoke, "talk", "start", "The cloud", "--speaker", "Andy Burns")
    ended = one(invoke, "talk", "end")
    assert ended["type"] == "talk.ended"
    assert ended["data"] == {"talk": talk["id"]}
    closed = one(invoke, "session", "end")
    assert closed["type"] == "session.ended"
    assert closed["data"] == {"session": session["id"]}
    # No talk is open any more: a quote needs --speaker.
    refused(invoke, "quote", "orphan")


def test_session_end_closes_its_open_talk(invoke: Invoke, day_open: None) -> None:
    session = one(invoke, "session", "start", "Plenary")
    talk = one(invoke, "talk", "start", "The cloud", "--speaker", "Andy Burns")
    events = report(invoke, "session", "end")
    assert types(events) == ["talk.ended", "session.ended"]
    assert events[0]["data"] == {"talk": talk["id"]}
    assert events[1]["data"] == {"session": session["id"]}


def test_starting_a_talk_ends_the_open_one(invoke: Invoke, day_open: None) -> None:
    session = one(invoke, "session", "start", "Plenary")
    first = one(invoke, "talk", "start", "One", "--speaker", "A")
    events = report(invoke, "talk", "start", "Two", "--speaker", "B", "--at", "2011-06-09T10:00")
    assert types(events) == ["talk.ended", "talk.started"]
    assert events[0]["data"] == {"talk": first["id"]}
    assert events[1]["data"]["session"] == session["id"]
    assert {e["occurred_at"] for e in events} == {"2011-06-09T10:00:00+01:00"}
    assert one(invoke, "quote", "hello")["data"]["speaker"] == "B"


def test_starting_a_session_closes_the_open_talk_and_session(
    invoke: Invoke, day_open: None
) -> None:
    session = one(invoke, "session", "start", "Morning")
    talk = one(invoke, "talk", "start", "One", "--speaker", "A")
    events = report(invoke, "session", "start", "Afternoon", "--room", "B")
    assert types(events) == ["talk.ended", "session.ended", "session.started"]
    assert events[0]["data"] == {"talk": talk["id"]}
    assert events[1]["data"] == {"session": session["id"]}
    assert events[2]["data"]["title"] == "Afternoon"
    # The new session has no talk yet.
    refused(invoke, "quote", "orphan")
    assert one(invoke, "note", "n")["data"]["session"] == events[2]["id"]


def test_starting_a_session_with_no_talk_closes_only_the_session(
    invoke: Invoke, day_open: None
) -> None:
    one(invoke, "session", "start", "Morning")
    assert types(report(invoke, "session", "start", "Afternoon")) == [
        "session.ended",
        "session.started",
    ]


def test_day_close_closes_the_reporters_talk_and_session(invoke: Invoke, day_open: None) -> None:
    session = one(invoke, "session", "start", "Plenary")
    talk = one(invoke, "talk", "start", "The cloud", "--speaker", "Andy Burns")
    events = report(invoke, "day", "close", "--at", "2011-06-09T17:30")
    assert types(events) == ["talk.ended", "session.ended", "day.closed"]
    assert events[0]["data"] == {"talk": talk["id"]}
    assert events[1]["data"] == {"session": session["id"]}
    assert events[2]["data"] == {"number": 2}
    assert {e["occurred_at"] for e in events} == {"2011-06-09T17:30:00+01:00"}
    assert "no day is open" in refused(invoke, "note", "late")


def test_day_close_with_nothing_open(invoke: Invoke, day_open: None) -> None:
    assert types(report(invoke, "day", "close")) == ["day.closed"]
    # The next day can be opened once this one is closed.
    assert one(invoke, "day", "open", "3")["data"]["number"] == 3


def test_conference_close_closes_everything_open(invoke: Invoke, day_open: None) -> None:
    one(invoke, "session", "start", "Plenary")
    one(invoke, "talk", "start", "The cloud", "--speaker", "Andy Burns")
    events = report(invoke, "conference", "close", "--at", "2011-06-09T18:00")
    assert types(events) == ["talk.ended", "session.ended", "day.closed", "conference.closed"]
    assert events[-1]["data"] == {}
    assert "no conference is open" in refused(invoke, "note", "after the end")


def test_conference_close_without_a_day(invoke: Invoke) -> None:
    open_conference(invoke, "c1")
    assert types(report(invoke, "conference", "close")) == ["conference.closed"]


def test_positions_and_versions_are_gap_free(invoke: Invoke, day_open: None) -> None:
    open_conference(invoke, "other", author="bob")
    one(invoke, "note", "in socitm")
    one(invoke, "day", "open", "1", author="bob")
    one(invoke, "note", "in other", author="bob")
    events = export(invoke)
    assert [e["position"] for e in events] == list(range(1, len(events) + 1))
    for slug in ("socitm-2011", "other"):
        versions = [e["version"] for e in events if e["conference"] == slug]
        assert versions == list(range(1, len(versions) + 1))


# -- --at ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        ("2011-06-09T10:05", "2011-06-09T10:05:00+01:00"),  # BST
        ("2011-01-12T10:05", "2011-01-12T10:05:00+00:00"),  # GMT
        ("2011-06-09T10:05:30.250", "2011-06-09T10:05:30.250000+01:00"),
        ("2011-06-09 10:05", "2011-06-09T10:05:00+01:00"),
        ("2011-06-09T10:05Z", "2011-06-09T10:05:00+00:00"),
        ("2011-06-09T10:05:00+02:00", "2011-06-09T10:05:00+02:00"),
        ("2011-06-09T10:05:00-04:30", "2011-06-09T10:05:00-04:30"),
    ],
)
def test_at_is_read_in_the_conference_timezone(
    invoke: Invoke, day_open: None, at: str, expected: str
) -> None:
    assert one(invoke, "note", "timed", "--at", at)["occurred_at"] == expected


@pytest.mark.parametrize("at", ["10:05", "9:05", "10:05:30"])
def test_at_time_of_day_is_on_the_open_days_date(invoke: Invoke, day_open: None, at: str) -> None:
    """A bare HH:MM belongs to the day being covered (day 2 is 2011-06-09), not to the
    reporter's calendar: typing a session up afterwards puts it on the right day."""
    occurred = dt.datetime.fromisoformat(one(invoke, "note", "timed", "--at", at)["occurred_at"])
    clock = dt.time.fromisoformat(at.zfill(len(at) + (at.index(":") == 1)))
    assert occurred.time() == clock
    assert occurred.date() == dt.date(2011, 6, 9)
    assert occurred.utcoffset() == dt.timedelta(hours=1)  # BST, the conference's zone


def test_at_time_of_day_without_an_open_day_is_today(invoke: Invoke) -> None:
    invoke("conference", "open", "c", "--title", "C", "--timezone", "Europe/London")
    result = invoke("day", "open", "1", "--at", "10:05")
    assert result.exit_code == 0, result.output
    occurred = dt.datetime.fromisoformat(export(invoke)[-1]["occurred_at"])
    today = dt.datetime.now(LONDON).date()
    assert abs((occurred.date() - today).days) <= 1
    assert occurred.time() == dt.time(10, 5)


@pytest.mark.parametrize("at", ["0001-01-01T00:00", "9999-12-31T23:59:59-12:00", "1899-12-31"])
def test_at_in_a_far_off_year_is_refused(invoke: Invoke, day_open: None, at: str) -> None:
    before = export(invoke)
    result = invoke("note", "typo", "--at", at)
    assert result.exit_code == 1
    assert "out of range" in result.output
    assert export(invoke) == before


def test_default_at_is_now(invoke: Invoke, day_open: None) -> None:
    before = dt.datetime.now(dt.UTC)
    note = one(invoke, "note", "now")
    after = dt.datetime.now(dt.UTC)
    occurred = dt.datetime.fromisoformat(note["occurred_at"])
    assert before <= occurred <= after
    assert occurred.utcoffset() == occurred.astimezone(LONDON).utcoffset()


def test_at_before_standard_time_keeps_the_log_readable(invoke: Invoke) -> None:
    """Europe/London before 1847 is local mean time, -00:01:15: an offset in seconds.

    Whatever the CLI does with it, a command it accepts must leave a readable log.
    """
    result = invoke(
        "conference", "open", "old", "--title", "Old", "--timezone", "Europe/London",
        "--at", "1840-06-09T10:00",
    )  # fmt: skip
    assert result.exit_code in (0, 1), result.output
    events = export(invoke)  # must not raise
    if result.exit_code == 0:
        occurred = dt.datetime.fromisoformat(events[0]["occurred_at"])
        expected = dt.datetime(1840, 6, 9, 10, 0, tzinfo=LONDON)
        assert occurred == expected
    else:
        assert events == []


# -- correct and retract -----------------------------------------------------------------


def test_correct_by_unique_prefix(invoke: Invoke, day_open: None) -> None:
    note = one(invoke, "note", "Teh room is full")
    correction = one(invoke, "correct", note["id"][:8], "The room is full")
    assert correction["type"] == "entry.corrected"
    assert correction["data"] == {
        "target": note["id"],
        "text": "The room is full",
        "speaker": None,
        "caption": None,
    }
    assert correction["conference"] == "socitm-2011"


def test_correct_by_full_id(invoke: Invoke, day_open: None) -> None:
    note = one(invoke, "note", "typo")
    assert one(invoke, "correct", note["id"], "fixed")["data"]["target"] == note["id"]


def test_correct_last_with_new_text(invoke: Invoke, day_open: None) -> None:
    one(invoke, "note", "first")
    latest = one(invoke, "note", "secnod")
    correction = one(invoke, "correct", "--last", "second")
    assert correction["data"]["target"] == latest["id"]
    assert correction["data"]["text"] == "second"


def test_correct_last_is_this_reporters_latest_entry(invoke: Invoke, day_open: None) -> None:
    mine = one(invoke, "note", "ann's note")
    one(invoke, "note", "bob's note", author="bob")
    correction = one(invoke, "correct", "--last", "ann's fixed note")
    assert correction["data"]["target"] == mine["id"]


def test_correct_last_speaker_of_a_quote(invoke: Invoke, day_open: None) -> None:
    quote = one(invoke, "quote", "words", "--speaker", "Jon Smyth")
    correction = one(invoke, "correct", "--last", "--speaker", "Jon Smith")
    assert correction["data"] == {
        "target": quote["id"],
        "text": None,
        "speaker": "Jon Smith",
        "caption": None,
    }


def test_correct_caption_of_a_photo(invoke: Invoke, day_open: None) -> None:
    photo = one(invoke, "photo", "http://img.example.org/1.png", "--caption", "Hal")
    correction = one(invoke, "correct", photo["id"][:10], "--caption", "Hall")
    assert correction["data"]["caption"] == "Hall"


def test_correct_at_is_read_in_the_conference_timezone(invoke: Invoke, day_open: None) -> None:
    note = one(invoke, "note", "typo")
    correction = one(invoke, "correct", note["id"], "fixed", "--at", "2011-06-09T11:00")
    assert correction["occurred_at"] == "2011-06-09T11:00:00+01:00"


def test_correct_a_retracted_entry_is_refused(invoke: Invoke, day_open: None) -> None:
    note = one(invoke, "note", "oops")
    one(invoke, "retract", note["id"][:8])
    assert "retracted" in refused(invoke, "correct", note["id"][:8], "fixed")
    assert "retracted" in refused(invoke, "correct", "--last", "fixed")


def test_correct_a_field_that_does_not_apply_is_refused(invoke: Invoke, day_open: None) -> None:
    note = one(invoke, "note", "plain")
    assert "--caption" in refused(invoke, "correct", note["id"][:8], "--caption", "c")
    photo = one(invoke, "photo", "https://img.example.org/1.png", "--caption", "c")
    assert "TEXT" in refused(invoke, "correct", photo["id"][:8], "new text")


def test_retract_with_reason(invoke: Invoke, day_open: None) -> None:
    note = one(invoke, "note", "wrong")
    retraction = one(invoke, "retract", note["id"][:8], "--reason", "Misheard")
    assert retraction["type"] == "entry.retracted"
    assert retraction["data"] == {"target": note["id"], "reason": "Misheard"}


def test_retract_last(invoke: Invoke, day_open: None) -> None:
    one(invoke, "note", "keep")
    latest = one(invoke, "note", "drop")
    retraction = one(invoke, "retract", "--last")
    assert retraction["data"] == {"target": latest["id"], "reason": None}


def test_retract_twice_is_refused(invoke: Invoke, day_open: None) -> None:
    note = one(invoke, "note", "wrong")
    one(invoke, "retract", note["id"][:8])
    assert "retracted" in refused(invoke, "retract", note["id"][:8])


def test_retract_a_session(invoke: Invoke, day_open: None) -> None:
    session = one(invoke, "session", "start", "Cancelled")
    assert one(invoke, "retract", "--last")["data"]["target"] == session["id"]


# -- two reporters ---------------------------------------------------------------------


def test_two_reporters_in_parallel_sessions(invoke: Invoke, day_open: None) -> None:
    # bob shares ann's day without opening one.
    a_session = one(invoke, "session", "start", "Breakout A", "--room", "A")
    b_session = one(invoke, "session", "start", "Breakout B", "--room", "B", author="bob")
    assert b_session["data"]["day"] == 2
    a_talk = one(invoke, "talk", "start", "Cloud", "--speaker", "Sam")
    b_talk = one(invoke, "talk", "start", "Data", "--speaker", "Pat", author="bob")
    assert b_talk["data"]["session"] == b_session["id"]
    a_quote = one(invoke, "quote", "from A")
    b_quote = one(invoke, "quote", "from B", author="bob")
    assert (a_quote["data"]["speaker"], a_quote["data"]["talk"]) == ("Sam", a_talk["id"])
    assert (b_quote["data"]["speaker"], b_quote["data"]["talk"]) == ("Pat", b_talk["id"])
    assert a_quote["data"]["session"] == a_session["id"]
    assert b_quote["data"]["session"] == b_session["id"]

    # bob ends his talk and session: ann's stay open.
    assert one(invoke, "talk", "end", author="bob")["data"] == {"talk": b_talk["id"]}
    assert one(invoke, "session", "end", author="bob")["data"] == {"session": b_session["id"]}
    assert one(invoke, "quote", "still A")["data"]["talk"] == a_talk["id"]
    assert "no open talk" in refused(invoke, "talk", "end", author="bob")

    assert "session start" in refused(invoke, "talk", "start", "X", "--speaker", "Y", author="bob")
    # ann's talk ends on her command only.
    assert one(invoke, "talk", "end")["data"] == {"talk": a_talk["id"]}
    assert one(invoke, "note", "between talks")["data"]["session"] == a_session["id"]


def test_two_reporters_keep_their_own_context(invoke: Invoke, day_open: None) -> None:
    a_session = one(invoke, "session", "start", "Breakout A")
    b_session = one(invoke, "session", "start", "Breakout B", author="bob")
    a_talk = one(invoke, "talk", "start", "Cloud", "--speaker", "Sam")
    b_talk = one(invoke, "talk", "start", "Data", "--speaker", "Pat", author="bob")
    # bob starting a new talk ends only his own.
    events = report(invoke, "talk", "start", "Data 2", "--speaker", "Lee", author="bob")
    assert types(events) == ["talk.ended", "talk.started"]
    assert events[0]["data"] == {"talk": b_talk["id"]}
    b_talk2 = events[1]
    assert one(invoke, "quote", "A words")["data"]["talk"] == a_talk["id"]
    # bob closing the day closes his talk and session, not ann's.
    events = report(invoke, "day", "close", author="bob")
    assert types(events) == ["talk.ended", "session.ended", "day.closed"]
    assert events[0]["data"] == {"talk": b_talk2["id"]}
    assert events[1]["data"] == {"session": b_session["id"]}
    # The day is shared: it is closed for ann too, and her session went with it.
    assert "no day is open" in refused(invoke, "note", "late")
    assert "no open session" in refused(invoke, "session", "end")
    assert a_session["id"] != b_session["id"]


def test_an_author_name_with_stray_spaces_keeps_its_context(invoke: Invoke, day_open: None) -> None:
    """Names are stored trimmed, with inner runs of spaces collapsed; the reporter's
    context must be found under the name as typed too (LIVEBLOG_AUTHOR="Ann Smith ")."""
    author = " Ann  Smith "
    assert invoke("session", "start", "S", author=author).exit_code == 0
    session = export(invoke)[-1]
    assert session["author"] == "Ann Smith"
    result = invoke("talk", "start", "T", "--speaker", "Sam", author=author)
    assert result.exit_code == 0, result.output
    result = invoke("note", "n", author=author)
    assert result.exit_code == 0, result.output
    assert export(invoke)[-1]["data"]["session"] == session["id"]
    result = invoke("correct", "--last", "m", author=author)
    assert result.exit_code == 0, result.output
    # The same reporter under the clean name shares that context.
    assert types(report(invoke, "session", "end", author="Ann Smith")) == [
        "talk.ended",
        "session.ended",
    ]


# -- which conference --------------------------------------------------------------------


def test_conference_option_names_the_conference(invoke: Invoke) -> None:
    open_conference(invoke, "alpha")
    open_conference(invoke, "beta")
    assert one(invoke, "day", "open", "1", "--conference", "alpha")["conference"] == "alpha"
    note = one(invoke, "note", "in alpha", "--conference", "alpha")
    assert note["conference"] == "alpha"


def test_default_is_the_reporters_last_conference(invoke: Invoke) -> None:
    open_conference(invoke, "alpha")
    open_conference(invoke, "beta", author="bob")
    assert one(invoke, "day", "open", "1")["conference"] == "alpha"
    assert one(invoke, "day", "open", "1", author="bob")["conference"] == "beta"
    assert one(invoke, "note", "a")["conference"] == "alpha"
    assert one(invoke, "note", "b", author="bob")["conference"] == "beta"
    # Posting to beta once makes it ann's current conference.
    assert one(invoke, "note", "a in beta", "--conference", "beta")["conference"] == "beta"
    assert one(invoke, "note", "next")["conference"] == "beta"


def test_default_is_the_only_open_conference(invoke: Invoke) -> None:
    open_conference(invoke, "alpha")
    assert one(invoke, "day", "open", "1", author="carl")["conference"] == "alpha"


def test_a_closed_last_conference_falls_back_to_the_only_open_one(invoke: Invoke) -> None:
    open_conference(invoke, "alpha")
    open_conference(invoke, "beta", author="bob")
    assert types(report(invoke, "conference", "close")) == ["conference.closed"]
    assert one(invoke, "day", "open", "1")["conference"] == "beta"


def test_several_open_conferences_need_the_option(invoke: Invoke) -> None:
    open_conference(invoke, "alpha")
    open_conference(invoke, "beta", author="bob")
    message = refused(invoke, "day", "open", "1", author="carl")
    assert "alpha" in message
    assert "beta" in message
    assert "--conference" in message
    assert one(invoke, "day", "open", "1", "--conference", "beta", author="carl")


def test_editing_another_conferences_entry(invoke: Invoke) -> None:
    open_conference(invoke, "alpha")
    one(invoke, "day", "open", "1")
    note = one(invoke, "note", "in alpha")
    open_conference(invoke, "beta")
    correction = one(invoke, "correct", note["id"][:8], "fixed")
    assert correction["conference"] == "alpha"


# -- log and export ----------------------------------------------------------------------


def test_log_human(invoke: Invoke, day_open: None) -> None:
    one(invoke, "quote", "Hello", "--speaker", "Sam", "--at", "2011-06-09T09:10")
    one(invoke, "note", "bob was here", "--at", "2011-06-09T09:11:30", author="bob")
    result = invoke("log")
    assert result.exit_code == 0
    lines = out_lines(result.stdout)
    events = export(invoke)
    assert len(lines) == len(events) == 4
    for text, event in zip(lines, events, strict=True):
        occurred = dt.datetime.fromisoformat(event["occurred_at"])
        fields = text.split("  ")
        assert fields[:6] == [
            f"#{event['position']}",
            occurred.isoformat(timespec="seconds"),
            event["conference"],
            event["author"],
            event["type"],
            event["id"][:8],
        ]
    assert lines[2].endswith("“Hello” — Sam")
    assert "2011-06-09T09:11:30+01:00" in lines[3]
    assert lines[3].endswith("bob was here")


def test_log_since(invoke: Invoke, day_open: None) -> None:
    one(invoke, "note", "third")
    lines = out_lines(invoke("log", "--since", "2").stdout)
    assert len(lines) == 1
    assert lines[0].startswith("#3  ")
    assert invoke("log", "--since", "3").stdout == ""


def test_log_json_is_the_export_format(invoke: Invoke, day_open: None) -> None:
    one(invoke, "note", 'Unicode ✓ 😀 "q" <b>')
    result = invoke("log", "--json")
    assert result.exit_code == 0
    assert result.stdout == invoke("export").stdout
    for obj in map(json.loads, out_lines(result.stdout)):
        assert list(obj) == [
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
        ]
    since = [json.loads(x) for x in out_lines(invoke("log", "--json", "--since", "1").stdout)]
    assert [e["position"] for e in since] == [2, 3]


def test_export_since(invoke: Invoke, day_open: None) -> None:
    one(invoke, "note", "n3")
    one(invoke, "note", "n4")
    everything = export(invoke)
    assert [e["position"] for e in everything] == [1, 2, 3, 4]
    assert export(invoke, since=2) == everything[2:]
    assert export(invoke, since=4) == []
    assert export(invoke, since=99) == []


@pytest.mark.parametrize("command", ["export", "log"])
def test_a_huge_since_is_refused_cleanly(invoke: Invoke, day_open: None, command: str) -> None:
    result = invoke(command, "--since", "99999999999999999999")
    assert result.exit_code in (1, 2), result.output
    assert result.stdout == ""
    assert out_lines(result.stderr)[-1].startswith("Error: ")


def test_export_of_an_empty_log(invoke: Invoke) -> None:
    result = invoke("export")
    assert result.exit_code == 0
    assert result.stdout == ""


# -- import --------------------------------------------------------------------------------


def test_import_from_file(invoke: Invoke, tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(FIXED) + "\n", encoding="utf-8")
    result = invoke("import", str(source))
    assert result.exit_code == 0, result.output
    assert result.stdout == f"imported {len(FIXED)} events (0 already in the log)\n"
    events = export(invoke)
    assert [e["id"] for e in events] == [json.loads(x)["id"] for x in FIXED]
    assert [e["position"] for e in events] == list(range(1, len(FIXED) + 1))
    for event, raw in zip(events, FIXED, strict=True):
        sent = json.loads(raw)
        assert event["author"] == sent["author"]
        assert event["occurred_at"] == sent["occurred_at"]
        assert event["recorded_at"] is not None
        for key, value in sent["data"].items():
            assert event["data"][key] == value


def test_import_from_stdin(invoke: Invoke) -> None:
    result = invoke("import", "-", input="\n\n".join(FIXED[:3]) + "\n\n")
    assert result.exit_code == 0, result.output
    assert result.stdout == "imported 3 events (0 already in the log)\n"
    assert [e["id"] for e in export(invoke)] == ["conf-1", "day-1", "sess-1"]


def test_import_the_same_file_twice_adds_nothing(invoke: Invoke, tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(FIXED) + "\n", encoding="utf-8")
    assert invoke("import", str(source)).exit_code == 0
    before = invoke("export").stdout
    result = invoke("import", str(source))
    assert result.exit_code == 0, result.output
    assert result.stdout == f"imported 0 events ({len(FIXED)} already in the log)\n"
    assert invoke("export").stdout == before


def test_import_own_export_adds_nothing(invoke: Invoke, day_open: None) -> None:
    one(invoke, "session", "start", "Plenary", "--host", "Jo")
    one(invoke, "quote", "Hi 😀", "--speaker", "Sam")
    exported = invoke("export").stdout
    result = invoke("import", "-", input=exported)
    assert result.exit_code == 0, result.output
    assert result.stdout == "imported 0 events (4 already in the log)\n"
    assert invoke("export").stdout == exported


def test_import_partly_known_file(invoke: Invoke) -> None:
    assert invoke("import", "-", input="\n".join(FIXED[:3])).exit_code == 0
    result = invoke("import", "-", input="\n".join(FIXED))
    assert result.stdout == f"imported {len(FIXED) - 3} events (3 already in the log)\n"
    assert len(export(invoke)) == len(FIXED)


def test_import_the_same_id_twice_in_a_file(invoke: Invoke) -> None:
    result = invoke("import", "-", input="\n".join([*FIXED[:2], FIXED[1]]))
    assert result.exit_code == 0, result.output
    assert result.stdout == "imported 2 events (1 already in the log)\n"


def test_import_upcasts_an_older_schema_version(invoke: Invoke) -> None:
    old = line(
        "sess-old",
        "session.started",
        {"day": 2, "title": "Old", "host": "Jo"},
        schema_version=1,
    )
    result = invoke("import", "-", input="\n".join([*FIXED[:2], old]))
    assert result.exit_code == 0, result.output
    session = export(invoke)[-1]
    assert session["schema_version"] == 2
    assert session["data"]["hosts"] == ["Jo"]


def test_imported_context_is_used_by_the_cli(invoke: Invoke) -> None:
    load_fixed(invoke)
    note = one(invoke, "note", "after import")
    assert note["conference"] == "socitm-2011"
    assert note["data"]["session"] == "sess-1"
    assert note["data"]["day"] == 2


GOOD = [FIXED[0], FIXED[1]]
BAD_IMPORT_LINES = {
    "bad-json": '{"id": "x1", "type": ',
    "not-an-object": "[1, 2, 3]",
    "unknown-type": line("x1", "talk.paused", {"day": 2}),
    "newer-schema-version": line("x1", "note.posted", {"day": 2, "text": "hi"}, schema_version=9),
    "schema-version-zero": line("x1", "note.posted", {"day": 2, "text": "hi"}, schema_version=0),
    "naive-time": line("x1", "note.posted", {"day": 2, "text": "hi"}, at="2011-06-09T09:00:00"),
    "not-a-time": line("x1", "note.posted", {"day": 2, "text": "hi"}, at="teatime"),
    "empty-text": line("x1", "note.posted", {"day": 2, "text": ""}),
    "blank-text": line("x1", "note.posted", {"day": 2, "text": " \n\t "}),
    "text-too-long": line("x1", "note.posted", {"day": 2, "text": "x" * 10_001}),
    "missing-data-field": line("x1", "quote.captured", {"day": 2, "text": "who?"}),
    "unknown-data-field": line("x1", "note.posted", {"day": 2, "text": "hi", "mood": "ok"}),
    "data-repeats-type": line("x1", "note.posted", {"type": "note.posted", "day": 2, "text": "a"}),
    "unknown-key": line("x1", "note.posted", {"day": 2, "text": "hi"}, colour="red"),
    "bad-id": line("bad id!", "note.posted", {"day": 2, "text": "hi"}),
    "bad-slug": line("x1", "note.posted", {"day": 2, "text": "hi"}, conference="Bad Slug!"),
    "empty-author": line("x1", "note.posted", {"day": 2, "text": "hi"}, author=""),
    "bad-url": line("x1", "photo.posted", {"day": 2, "url": "ftp://x/y", "caption": "c"}),
    "day-out-of-range": line("x1", "day.opened", {"number": 0, "date": "2011-06-09"}),
    "bad-timezone": line("x1", "conference.opened", {"title": "T", "timezone": "Mars/Base"}),
    "missing-occurred-at": json.dumps(
        {"id": "x1", "type": "note.posted", "conference": "c", "author": "a", "data": {}}
    ),
}


@pytest.mark.parametrize("bad", list(BAD_IMPORT_LINES.values()), ids=list(BAD_IMPORT_LINES))
def test_import_with_a_bad_line_writes_nothing(invoke: Invoke, tmp_path: Path, bad: str) -> None:
    load_fixed(invoke)
    before = invoke("export").stdout
    source = tmp_path / "batch.jsonl"
    good = [
        line("new-1", "note.posted", {"day": 2, "text": "good one"}),
        line("new-2", "note.posted", {"day": 2, "text": "good two"}),
    ]
    source.write_text("\n".join([*good, bad, *good]) + "\n", encoding="utf-8")
    result = invoke("import", str(source))
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    err = out_lines(result.stderr)
    assert len(err) == 1, result.stderr
    assert err[0].startswith("Error: ")
    assert f"{source}:3:" in err[0]
    assert invoke("export").stdout == before


def test_import_from_stdin_bad_line_names_it(invoke: Invoke) -> None:
    message = refused(invoke, "import", "-", input=f"{FIXED[0]}\n\nnot json\n")
    assert "stdin:3:" in message


def test_import_conflicting_id_names_the_line(invoke: Invoke) -> None:
    """The same id with other content (here within one file) is refused, naming the line."""
    clash = line("day-1", "day.opened", {"number": 3, "date": "2011-06-10"})
    message = refused(invoke, "import", "-", input="\n".join([*FIXED[:2], clash]))
    assert "day-1" in message
    assert "stdin:3:" in message


def test_import_conflicting_with_the_log_is_refused(invoke: Invoke) -> None:
    load_fixed(invoke)
    clash = line("note-aaa1", "note.posted", {"day": 2, "text": "rewritten"})
    message = refused(invoke, "import", "-", input=clash)
    assert "note-aaa1" in message


def test_import_a_file_that_is_not_utf8(invoke: Invoke, tmp_path: Path) -> None:
    load_fixed(invoke)
    before = invoke("export").stdout
    source = tmp_path / "latin1.jsonl"
    good = line("new-1", "note.posted", {"day": 2, "text": "good"})
    source.write_bytes(good.encode() + b"\n" + good.replace("good", "caf\xe9").encode("latin-1"))
    result = invoke("import", str(source))
    assert result.exit_code == 1, result.output
    err = out_lines(result.stderr)
    assert len(err) == 1
    assert err[0].startswith("Error: ")
    assert "internal error" not in err[0]
    assert invoke("export").stdout == before


def test_import_keeps_control_free_names_stable(invoke: Invoke) -> None:
    """Re-importing a file is idempotent even when a name carries a control character:
    what the log stores must read back as what was accepted."""
    raw = line("conf-x", "conference.opened", {"title": "Local \x01 Gov"}, conference="x")
    first = invoke("import", "-", input=raw)
    assert first.exit_code == 0, first.output
    second = invoke("import", "-", input=raw)
    assert second.exit_code == 0, second.output
    assert second.stdout == "imported 0 events (1 already in the log)\n"


# -- refused commands ------------------------------------------------------------------------


def setup_conference(invoke: Invoke) -> None:
    open_conference(invoke, "socitm-2011")


def setup_day(invoke: Invoke) -> None:
    setup_conference(invoke)
    one(invoke, "day", "open", "2", "--at", "2011-06-09T09:00")


def setup_session(invoke: Invoke) -> None:
    setup_day(invoke)
    one(invoke, "session", "start", "Plenary")


def setup_talk(invoke: Invoke) -> None:
    setup_session(invoke)
    one(invoke, "talk", "start", "The cloud", "--speaker", "Andy Burns")


def setup_closed(invoke: Invoke) -> None:
    setup_day(invoke)
    report(invoke, "conference", "close")


def setup_two_open(invoke: Invoke) -> None:
    open_conference(invoke, "alpha")
    open_conference(invoke, "beta", author="bob")


SETUPS: dict[str, Callable[[Invoke], None]] = {
    "empty": lambda invoke: None,
    "conference": setup_conference,
    "day": setup_day,
    "session": setup_session,
    "talk": setup_talk,
    "fixed": load_fixed,
    "closed": setup_closed,
    "two-open": setup_two_open,
}

LONG = "x" * 10_001

# (id, setup, author, args, a fragment the message must contain)
BAD_INPUTS: list[tuple[str, str, str, list[str], str]] = [
    # context
    ("quote-no-talk", "session", "ann", ["quote", "words"], "--speaker"),
    ("quote-no-talk-says-what-to-run", "day", "ann", ["quote", "words"], "liveblog talk start"),
    ("note-no-day", "conference", "ann", ["note", "hi"], "liveblog day open"),
    ("photo-no-day", "conference", "ann", ["photo", "https://x.org/a.jpg", "--caption", "c"], ""),
    ("session-no-day", "conference", "ann", ["session", "start", "S"], "day open"),
    ("talk-no-session", "day", "ann", ["talk", "start", "T", "--speaker", "S"], "session start"),
    ("talk-in-others-session", "session", "bob", ["talk", "start", "T", "--speaker", "S"], ""),
    ("talk-end-not-open", "session", "ann", ["talk", "end"], "no open talk"),
    ("talk-end-others-talk", "talk", "bob", ["talk", "end"], "no open talk"),
    ("session-end-not-open", "day", "ann", ["session", "end"], "no open session"),
    ("session-end-no-day", "conference", "ann", ["session", "end"], ""),
    ("day-close-not-open", "conference", "ann", ["day", "close"], "day open"),
    ("no-conference", "empty", "ann", ["note", "hi"], "conference open"),
    ("blank-author", "day", "  ", ["note", "hi"], "author"),
    ("no-conference-day", "empty", "ann", ["day", "open", "1"], "conference open"),
    ("no-conference-close", "empty", "ann", ["conference", "close"], ""),
    ("several-open", "two-open", "carl", ["day", "open", "1"], "--conference"),
    ("closed-conference", "closed", "ann", ["note", "hi", "--conference", "socitm-2011"], "closed"),
    ("closed-conference-day", "closed", "ann", ["day", "open", "3"], ""),
    ("close-closed-conference", "closed", "ann", ["conference", "close"], ""),
    # --conference nope
    ("conf-nope-note", "day", "ann", ["note", "hi", "--conference", "nope"], "nope"),
    ("conf-nope-quote", "talk", "ann", ["quote", "q", "--conference", "nope"], "nope"),
    (
        "conf-nope-photo",
        "day",
        "ann",
        ["photo", "http://x.org/p", "--caption", "c", "--conference", "nope"],
        "nope",
    ),
    ("conf-nope-day-open", "conference", "ann", ["day", "open", "3", "--conference", "nope"], ""),
    ("conf-nope-day-close", "day", "ann", ["day", "close", "--conference", "nope"], "nope"),
    ("conf-nope-session", "day", "ann", ["session", "start", "S", "--conference", "nope"], ""),
    ("conf-nope-session-end", "session", "ann", ["session", "end", "--conference", "nope"], ""),
    (
        "conf-nope-talk",
        "session",
        "ann",
        ["talk", "start", "T", "--speaker", "S", "--conference", "nope"],
        "nope",
    ),
    ("conf-nope-talk-end", "talk", "ann", ["talk", "end", "--conference", "nope"], "nope"),
    ("conf-nope-close", "day", "ann", ["conference", "close", "--conference", "nope"], "nope"),
    # ids
    ("correct-unknown-id", "fixed", "ann", ["correct", "zzzz", "text"], "zzzz"),
    ("retract-unknown-id", "fixed", "ann", ["retract", "zzzz"], "zzzz"),
    ("correct-ambiguous", "fixed", "ann", ["correct", "note-aaa", "text"], "note-aaa1"),
    ("retract-ambiguous", "fixed", "ann", ["retract", "note-"], "several"),
    ("correct-retracted", "fixed", "ann", ["correct", "note-r", "text"], "retracted"),
    ("retract-retracted", "fixed", "ann", ["retract", "note-r", "--reason", "again"], "retract"),
    ("correct-not-an-entry", "fixed", "ann", ["correct", "conf-1", "text"], "conference.opened"),
    ("retract-not-an-entry", "fixed", "ann", ["retract", "day-1"], "day.opened"),
    ("correct-a-retraction", "fixed", "ann", ["correct", "retr-1", "text"], ""),
    ("correct-last-no-entries", "fixed", "bob", ["correct", "--last", "t"], "--last"),
    ("retract-last-no-entries", "day", "ann", ["retract", "--last"], "--last"),
    ("correct-caption-on-note", "fixed", "ann", ["correct", "note-aaa1", "--caption", "c"], ""),
    ("correct-speaker-on-note", "fixed", "ann", ["correct", "note-aaa1", "--speaker", "S"], ""),
    ("correct-text-on-photo", "fixed", "ann", ["correct", "photo-1", "new"], "TEXT"),
    ("correct-caption-on-session", "fixed", "ann", ["correct", "sess-1", "--caption", "c"], ""),
    ("correct-empty-text", "fixed", "ann", ["correct", "note-aaa1", ""], ""),
    ("correct-too-long", "fixed", "ann", ["correct", "note-aaa1", LONG], ""),
    ("retract-empty-reason", "fixed", "ann", ["retract", "note-aaa1", "--reason", " "], ""),
    ("correct-bad-at", "fixed", "ann", ["correct", "note-aaa1", "t", "--at", "soon"], "--at"),
    ("retract-bad-at", "fixed", "ann", ["retract", "note-aaa1", "--at", "soon"], "--at"),
    # text
    ("empty-note", "day", "ann", ["note", ""], "empty"),
    ("blank-note", "day", "ann", ["note", "  \n\t "], "empty"),
    ("control-only-note", "day", "ann", ["note", "\x01\x02\x7f"], "empty"),
    ("empty-quote", "talk", "ann", ["quote", ""], "empty"),
    ("empty-quote-speaker", "talk", "ann", ["quote", "words", "--speaker", ""], ""),
    ("empty-caption", "day", "ann", ["photo", "https://x.org/a.jpg", "--caption", ""], ""),
    ("empty-session-title", "day", "ann", ["session", "start", ""], ""),
    ("empty-talk-title", "session", "ann", ["talk", "start", "", "--speaker", "S"], ""),
    ("empty-speaker", "session", "ann", ["talk", "start", "T", "--speaker", " "], ""),
    ("empty-conference-title", "empty", "ann", ["conference", "open", "c", "--title", ""], ""),
    ("note-too-long", "day", "ann", ["note", LONG], "10000"),
    ("quote-too-long", "talk", "ann", ["quote", LONG], ""),
    ("caption-too-long", "day", "ann", ["photo", "https://x.org/a", "--caption", "c" * 2001], ""),
    ("title-too-long", "day", "ann", ["session", "start", "t" * 301], ""),
    ("speaker-too-long", "session", "ann", ["talk", "start", "T", "--speaker", "s" * 201], ""),
    ("room-too-long", "day", "ann", ["session", "start", "S", "--room", "r" * 201], ""),
    (
        "too-many-hosts",
        "day",
        "ann",
        ["session", "start", "S", *[a for i in range(21) for a in ("--host", f"h{i}")]],
        "",
    ),
    # times and dates
    ("at-words", "day", "ann", ["note", "hi", "--at", "yesterday"], "--at"),
    ("at-empty", "day", "ann", ["note", "hi", "--at", ""], "--at"),
    ("at-hour-25", "day", "ann", ["note", "hi", "--at", "25:00"], "--at"),
    ("at-minute-61", "day", "ann", ["note", "hi", "--at", "10:61"], "--at"),
    ("at-month-13", "day", "ann", ["note", "hi", "--at", "2011-13-01T10:00"], "--at"),
    ("at-bad-offset", "day", "ann", ["note", "hi", "--at", "2011-06-09T10:00+25:00"], "--at"),
    (
        "at-conference-open",
        "empty",
        "ann",
        ["conference", "open", "c", "--title", "T", "--at", "noon"],
        "--at",
    ),
    ("at-day-open", "conference", "ann", ["day", "open", "1", "--at", "noon"], "--at"),
    ("date-feb-30", "conference", "ann", ["day", "open", "1", "--date", "2011-02-30"], "--date"),
    ("date-words", "conference", "ann", ["day", "open", "1", "--date", "tomorrow"], "--date"),
    ("date-us-style", "conference", "ann", ["day", "open", "1", "--date", "06/09/2011"], "--date"),
    # conference and day
    (
        "bad-timezone",
        "empty",
        "ann",
        ["conference", "open", "c", "--title", "T", "--timezone", "Mars/Olympus"],
        "timezone",
    ),
    (
        "bad-timezone-path",
        "empty",
        "ann",
        ["conference", "open", "c", "--title", "T", "--timezone", "../../etc/passwd"],
        "timezone",
    ),
    (
        "empty-timezone",
        "empty",
        "ann",
        ["conference", "open", "c", "--title", "T", "--timezone", ""],
        "timezone",
    ),
    ("bad-slug", "empty", "ann", ["conference", "open", "Bad Slug!", "--title", "T"], ""),
    ("slug-uppercase", "empty", "ann", ["conference", "open", "SOCITM", "--title", "T"], ""),
    ("slug-leading-dash", "empty", "ann", ["conference", "open", "--title", "T", "--", "-x"], ""),
    ("slug-path", "empty", "ann", ["conference", "open", "../etc", "--title", "T"], ""),
    (
        "bad-conference-url",
        "empty",
        "ann",
        ["conference", "open", "c", "--title", "T", "--url", "ftp://example.org"],
        "",
    ),
    (
        "bad-language",
        "empty",
        "ann",
        ["conference", "open", "c", "--title", "T", "--language", "English!"],
        "",
    ),
    (
        "duplicate-conference",
        "conference",
        "bob",
        ["conference", "open", "socitm-2011", "--title", "Again"],
        "already",
    ),
    (
        "duplicate-closed-conference",
        "closed",
        "ann",
        ["conference", "open", "socitm-2011", "--title", "Again"],
        "already",
    ),
    ("day-open-while-open", "day", "ann", ["day", "open", "3"], "day close"),
    ("day-open-while-open-other", "day", "bob", ["day", "open", "3"], "still open"),
    # photos
    ("photo-ftp", "day", "ann", ["photo", "ftp://x.org/a.jpg", "--caption", "c"], ""),
    ("photo-javascript", "day", "ann", ["photo", "javascript:alert(1)", "--caption", "c"], ""),
    ("photo-relative", "day", "ann", ["photo", "/img/a.jpg", "--caption", "c"], ""),
    ("photo-no-host", "day", "ann", ["photo", "http://", "--caption", "c"], ""),
    ("photo-space", "day", "ann", ["photo", "http://x.org/a b.jpg", "--caption", "c"], ""),
    ("photo-file", "day", "ann", ["photo", "file:///etc/passwd", "--caption", "c"], ""),
]


@pytest.mark.parametrize(
    ("setup", "author", "args", "fragment"),
    [case[1:] for case in BAD_INPUTS],
    ids=[case[0] for case in BAD_INPUTS],
)
def test_bad_input_is_refused(
    invoke: Invoke, setup: str, author: str, args: list[str], fragment: str
) -> None:
    SETUPS[setup](invoke)
    message = refused(invoke, *args, author=author)
    assert fragment in message


def test_bad_input_ids_are_unique() -> None:
    ids = [case[0] for case in BAD_INPUTS]
    assert len(ids) == len(set(ids))


def test_day_number_already_used(invoke: Invoke, day_open: None) -> None:
    report(invoke, "day", "close")
    assert "already" in refused(invoke, "day", "open", "2")


def test_a_refused_command_leaves_context_intact(invoke: Invoke, day_open: None) -> None:
    one(invoke, "session", "start", "Plenary")
    talk = one(invoke, "talk", "start", "The cloud", "--speaker", "Andy Burns")
    refused(invoke, "talk", "start", "T2", "--speaker", "S", "--at", "noon")
    refused(invoke, "session", "start", "S2", "--at", "noon")
    assert one(invoke, "quote", "still here")["data"]["talk"] == talk["id"]


USAGE_ERRORS: dict[str, list[str]] = {
    "unknown-command": ["frobnicate"],
    "unknown-subcommand": ["talk", "pause"],
    "unknown-option": ["note", "hi", "--colour", "red"],
    "conference-open-no-title": ["conference", "open", "c"],
    "conference-open-no-slug": ["conference", "open", "--title", "T"],
    "talk-start-no-speaker": ["talk", "start", "T"],
    "talk-start-no-title": ["talk", "start", "--speaker", "S"],
    "photo-no-caption": ["photo", "https://x.org/a.jpg"],
    "note-no-text": ["note"],
    "quote-no-text": ["quote"],
    "note-extra-argument": ["note", "one", "two"],
    "session-bad-kind": ["session", "start", "S", "--kind", "party"],
    "day-open-zero": ["day", "open", "0"],
    "day-open-not-a-number": ["day", "open", "two"],
    "day-open-no-number": ["day", "open"],
    "export-negative-since": ["export", "--since", "-1"],
    "log-bad-since": ["log", "--since", "soon"],
    "import-no-file": ["import"],
    "import-missing-file": ["import", "/nonexistent/events.jsonl"],
    "option-without-value": ["note", "hi", "--at"],
    # How an entry is named is a usage question too (answered before touching the log).
    "correct-nothing": ["correct", "abc"],
    "correct-nothing-last": ["correct", "--last"],
    "correct-no-target": ["correct"],
    "retract-no-target": ["retract"],
    "correct-id-and-last": ["correct", "abc", "t", "--last"],
    "retract-id-and-last": ["retract", "abc", "--last"],
}


@pytest.mark.parametrize("args", list(USAGE_ERRORS.values()), ids=list(USAGE_ERRORS))
def test_usage_errors_exit_2(invoke: Invoke, args: list[str]) -> None:
    setup_day(invoke)
    before = invoke("export").stdout
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert "Error:" in result.stderr
    assert "Traceback" not in result.output
    assert invoke("export").stdout == before


def test_no_command_shows_usage(invoke: Invoke) -> None:
    result = invoke()
    assert result.exit_code in (0, 2)
    assert "Usage:" in result.output


def test_reading_commands_leave_no_file_behind(tmp_path: Path) -> None:
    """A typo in --db must not create an empty events.db: export/log/status read an empty
    log, and summary says there is no log."""
    from click.testing import CliRunner

    from liveblog.cli.main import cli

    path = tmp_path / "typo.db"
    runner = CliRunner()
    for args in (["export"], ["log"], ["status"]):
        result = runner.invoke(cli, ["--db", str(path), *args])
        assert result.exit_code == 0, result.output
    result = runner.invoke(cli, ["--db", str(path), "summary", "1"])
    assert result.exit_code == 1
    assert "no event log" in result.output
    assert not path.exists()


def test_a_second_opening_imported_does_not_change_the_conference(invoke: Invoke) -> None:
    """The first conference.opened counts, for the CLI as for the projections."""
    first = line("c-1", "conference.opened", {"title": "SOCITM", "timezone": "Europe/London"})
    again = line("c-2", "conference.opened", {"title": "Other", "timezone": "Asia/Tokyo"})
    day = line("d-1", "day.opened", {"number": 2, "date": "2011-06-09"})
    assert invoke("import", "-", input="\n".join([first, again, day])).exit_code == 0
    note = one(invoke, "note", "timed", "--at", "10:00")
    assert note["occurred_at"] == "2011-06-09T10:00:00+01:00"  # London, not Tokyo
