"""Property: what is written to the log reads back the same, and an export imported into
a fresh log exports the same again (apart from `recorded_at`, the receiving log's own).

Every example gets its own temporary directory: function-scoped fixtures are not reset
between hypothesis examples.
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
import zoneinfo
from collections.abc import Callable
from pathlib import Path
from typing import Any

import hypothesis.strategies as st
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given, settings

from liveblog.cli.main import cli
from liveblog.domain.envelope import Event
from liveblog.domain.events import (
    SESSION_KINDS,
    ConferenceClosed,
    ConferenceOpened,
    DayClosed,
    DayOpened,
    EntryCorrected,
    EntryRetracted,
    EventData,
    NotePosted,
    PhotoPosted,
    QuoteCaptured,
    SessionEnded,
    SessionStarted,
    TalkEnded,
    TalkStarted,
)
from liveblog.store import EventLog

SETTINGS = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# -- strategies ----------------------------------------------------------------------------

SPECIAL = [
    "😀👍🏽🎉",
    "👩‍💻 ZWJ family 👨‍👩‍👧",
    "שלום עולם",
    "مرحبا بالعالم",
    "\u202eright-to-left override\u202c",
    "<b>bold</b> &amp; <script>alert(1)</script>",
    "]]> <![CDATA[",
    "\"double\" 'single' “curly” «guillemets» „low“",
    "back\\slash \\n not a newline",
    "line\u2028separator\u2029paragraph",
    "next\x85line",
    "tab\there",
    "two\n\nparagraphs",
    '{"json": [1, 2]}',
    "null",
    "e\u0301 (combining) é (precomposed)",
    "\u200bzero\u200dwidth\ufeff",
    "日本語のテキスト",
    "Ελληνικά",
]

# No surrogates (unencodable) and no C0/C1 controls, which the text types strip; tab,
# newline and a few line-breaking characters are put back.
CHARS = st.characters(
    codec="utf-8",
    exclude_categories=("Cs", "Cc"),
    include_characters="\n\t\x85\u2028\u2029",
)
LEADS = st.sampled_from(["a", "Z", "ü", "字", "😀", "א", "9", "«"])


def texts(max_size: int) -> st.SearchStrategy[str]:
    """Text that is not blank once trimmed: a visible lead, then anything."""
    tail = st.one_of(st.text(CHARS, max_size=max_size), st.sampled_from(SPECIAL))
    return st.builds(lambda lead, rest: lead + rest, LEADS, tail)


BODIES = texts(80)
NAMES = texts(40)
OPTIONAL_NAMES = st.none() | NAMES
IDS = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._:-]{0,24}\Z")
SLUGS = st.from_regex(r"\A[a-z0-9](?:[a-z0-9-]{0,14}[a-z0-9])?\Z")
DAYS = st.integers(1, 366)
URLS = st.builds(
    lambda scheme, host, path: f"{scheme}://{host}/{path}",
    st.sampled_from(["http", "https"]),
    st.from_regex(r"\A[a-z0-9]{1,12}(\.[a-z0-9]{1,8}){0,2}(:[0-9]{2,5})?\Z"),
    st.one_of(
        st.from_regex(r"\A[A-Za-z0-9._~%/?#=&+-]{0,30}\Z"),
        st.sampled_from(["café/ü.jpg", "😀.png", "a?b=c&d=e#frag", "%E2%9C%93"]),
    ),
)
TIMEZONES = st.sampled_from(
    [
        "UTC",
        "Europe/London",
        "Asia/Kolkata",
        "Asia/Kathmandu",
        "America/St_Johns",
        "Pacific/Chatham",
        "Australia/Lord_Howe",
        "Pacific/Kiritimati",
        "Etc/GMT+12",
    ]
)
# Whole-minute offsets from -14:00 to +14:00 (every offset in use today).
OFFSETS = st.one_of(
    st.just(dt.UTC),
    st.integers(-14 * 60, 14 * 60).map(lambda m: dt.timezone(dt.timedelta(minutes=m))),
)
TIMES = st.datetimes(
    min_value=dt.datetime(1900, 1, 1),
    max_value=dt.datetime(2100, 12, 31),
    timezones=OFFSETS,
)


@st.composite
def corrections(draw: st.DrawFn) -> EntryCorrected:
    fields = draw(
        st.fixed_dictionaries({}, optional={"text": BODIES, "speaker": NAMES, "caption": BODIES})
    )
    if not fields:
        fields = {"text": draw(BODIES)}
    return EntryCorrected(target=draw(IDS), **fields)


DATA: dict[str, st.SearchStrategy[EventData]] = {
    "conference.opened": st.builds(
        ConferenceOpened,
        title=NAMES,
        venue=OPTIONAL_NAMES,
        timezone=TIMEZONES,
        url=st.none() | URLS,
        language=st.sampled_from(["en", "fr", "en-GB", "cy", "zh-Hant-TW"]),
    ),
    "conference.closed": st.builds(ConferenceClosed),
    "day.opened": st.builds(DayOpened, number=DAYS, date=st.dates(), title=OPTIONAL_NAMES),
    "day.closed": st.builds(DayClosed, number=DAYS),
    "session.started": st.builds(
        SessionStarted,
        day=DAYS,
        title=NAMES,
        kind=st.sampled_from(SESSION_KINDS),
        room=OPTIONAL_NAMES,
        hosts=st.lists(NAMES, max_size=4).map(tuple),
    ),
    "session.ended": st.builds(SessionEnded, session=IDS),
    "talk.started": st.builds(
        TalkStarted,
        day=DAYS,
        session=IDS,
        title=NAMES,
        speaker=NAMES,
        role=OPTIONAL_NAMES,
        organisation=OPTIONAL_NAMES,
    ),
    "talk.ended": st.builds(TalkEnded, talk=IDS),
    "quote.captured": st.builds(
        QuoteCaptured,
        day=DAYS,
        session=st.none() | IDS,
        talk=st.none() | IDS,
        text=BODIES,
        speaker=NAMES,
    ),
    "note.posted": st.builds(
        NotePosted, day=DAYS, session=st.none() | IDS, talk=st.none() | IDS, text=BODIES
    ),
    "photo.posted": st.builds(
        PhotoPosted,
        day=DAYS,
        session=st.none() | IDS,
        talk=st.none() | IDS,
        url=URLS,
        caption=BODIES,
    ),
    "entry.corrected": corrections(),
    "entry.retracted": st.builds(EntryRetracted, target=IDS, reason=st.none() | BODIES),
}


@st.composite
def event_batches(draw: st.DrawFn) -> list[Event]:
    """1-12 events of any types, unique ids, over one to three conferences."""
    conferences = draw(st.lists(SLUGS, min_size=1, max_size=3, unique=True))
    data = draw(st.lists(st.one_of(*DATA.values()), min_size=1, max_size=12))
    ids = draw(st.lists(IDS, min_size=len(data), max_size=len(data), unique=True))
    return [
        Event(
            id=event_id,
            conference=draw(st.sampled_from(conferences)),
            occurred_at=draw(TIMES),
            author=draw(NAMES),
            data=item,
        )
        for event_id, item in zip(ids, data, strict=True)
    ]


# -- helpers -----------------------------------------------------------------------------------


def cli_in(db: Path) -> Callable[..., Result]:
    runner = CliRunner()

    def run(*args: str, input: str | None = None) -> Result:
        result = runner.invoke(cli, ["--db", str(db), *args], input=input, catch_exceptions=False)
        return result

    return run


def export_text(db: Path) -> str:
    result = cli_in(db)("export")
    assert result.exit_code == 0, result.output
    return result.stdout


def parse(text: str) -> list[dict[str, Any]]:
    # Only "\n" ends a line: text fields may hold U+2028, U+0085 and the like.
    return [json.loads(line) for line in text.split("\n") if line]


def import_file(db: Path, source: Path) -> str:
    result = cli_in(db)("import", str(source))
    assert result.exit_code == 0, result.output
    return result.stdout


def import_line(event: Event) -> str:
    """The import format, leaving out what the receiving log assigns."""
    obj = event.to_export()
    for key in ("recorded_at", "position", "version"):
        del obj[key]
    return json.dumps(obj, ensure_ascii=False)


def write(db: Path, events: list[Event], via_import: bool) -> None:
    if via_import:
        source = db.with_suffix(".in.jsonl")
        source.write_text("".join(import_line(e) + "\n" for e in events), encoding="utf-8")
        expected = f"imported {len(events)} events (0 already in the log)\n"
        assert import_file(db, source) == expected
    else:
        with EventLog(db) as log:
            results = log.append(events)
        assert all(r.created for r in results)
        assert [r.event.position for r in results] == list(range(1, len(events) + 1))


def read_back(db: Path) -> list[Event]:
    with EventLog(db) as log:
        return list(log.read())


def assert_same_as_written(stored: list[Event], written: list[Event]) -> None:
    assert len(stored) == len(written)
    for position, (got, sent) in enumerate(zip(stored, written, strict=True), start=1):
        assert got.id == sent.id
        assert got.type == sent.type
        assert got.conference == sent.conference
        assert got.occurred_at == sent.occurred_at  # the instant
        assert got.occurred_at.utcoffset() == sent.occurred_at.utcoffset()  # and the offset
        assert got.occurred_at.isoformat() == sent.occurred_at.isoformat()
        assert got.author == sent.author
        assert got.data == sent.data
        assert got.data.data() == sent.data.data()
        assert got.position == position
        assert got.recorded_at is not None
        assert got.recorded_at.utcoffset() is not None


def without(events: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    return [{k: v for k, v in e.items() if k != key} for e in events]


# -- properties ---------------------------------------------------------------------------------


@SETTINGS
@given(events=event_batches(), via_import=st.booleans())
def test_export_import_export_roundtrip(events: list[Event], via_import: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        first_db, second_db = Path(tmp) / "first.db", Path(tmp) / "second.db"
        write(first_db, events, via_import)
        assert_same_as_written(read_back(first_db), events)

        first = export_text(first_db)
        assert len(parse(first)) == len(events)
        dump = Path(tmp) / "export.jsonl"
        dump.write_text(first, encoding="utf-8")
        expected = f"imported {len(events)} events (0 already in the log)\n"
        assert import_file(second_db, dump) == expected

        second = export_text(second_db)
        assert without(parse(second), "recorded_at") == without(parse(first), "recorded_at")
        assert_same_as_written(read_back(second_db), events)


@SETTINGS
@given(events=event_batches(), via_import=st.booleans())
def test_importing_an_export_twice_adds_nothing(events: list[Event], via_import: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        first_db, second_db = Path(tmp) / "first.db", Path(tmp) / "second.db"
        write(first_db, events, via_import)
        dump = Path(tmp) / "export.jsonl"
        dump.write_text(export_text(first_db), encoding="utf-8")

        # Into the log it came from: everything is already there.
        again = f"imported 0 events ({len(events)} already in the log)\n"
        assert import_file(first_db, dump) == again

        # Into a fresh log, twice.
        assert import_file(second_db, dump).startswith(f"imported {len(events)} events")
        once = export_text(second_db)
        assert import_file(second_db, dump) == again
        assert export_text(second_db) == once


@SETTINGS
@given(events=event_batches())
def test_log_json_is_the_export(events: list[Event]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "events.db"
        write(db, events, via_import=False)
        result = cli_in(db)("log", "--json")
        assert result.exit_code == 0
        assert result.stdout == export_text(db)
        human = cli_in(db)("log")
        assert human.exit_code == 0
        assert human.stdout.count("\n") == len(events)  # one line per event, however odd


# -- examples at the edges -------------------------------------------------------------------------


def test_occurred_at_offset_in_seconds_reads_back() -> None:
    """Historical zone offsets are not whole minutes (Monrovia kept -00:44:30 until 1972).

    RFC 3339 has no seconds in an offset: a log that accepts such a time must keep the
    instant, write an offset it can read back, and read back exactly what it holds."""
    monrovia = zoneinfo.ZoneInfo("Africa/Monrovia")
    occurred = dt.datetime(1970, 6, 9, 10, 0, tzinfo=monrovia)
    assert occurred.utcoffset() == -dt.timedelta(minutes=44, seconds=30)
    event = Event(
        id="monrovia-1",
        conference="c1",
        occurred_at=occurred,
        author="ann",
        data=ConferenceOpened(title="Monrovia 1970", timezone="Africa/Monrovia"),
    )
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "events.db"
        with EventLog(db) as log:
            log.append([event])
            (stored,) = list(log.read())
        assert stored.occurred_at == occurred  # the same instant
        offset = stored.occurred_at.utcoffset()
        assert offset is not None
        assert offset.total_seconds() % 60 == 0
        assert stored.occurred_at.utcoffset() == event.occurred_at.utcoffset()
        assert export_text(db) == export_text(db)  # readable, twice
        (line,) = parse(export_text(db))
        assert dt.datetime.fromisoformat(line["occurred_at"]) == occurred


def test_names_with_control_characters_read_back_as_written() -> None:
    """The text types strip control characters once, at the door; what the log stores
    must then read back unchanged (or a re-import of the same line conflicts)."""
    data = ConferenceOpened(title="Local \x01 Gov", venue="Hall\x00 \x07 B")
    event = Event(
        id="ctrl-1",
        conference="c1",
        occurred_at=dt.datetime(2011, 6, 9, 9, tzinfo=dt.UTC),
        author="ann",
        data=data,
    )
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "events.db"
        with EventLog(db) as log:
            log.append([event])
            (stored,) = list(log.read())
            assert stored.data == event.data
            # Appending the same event again (a retried post) is a no-op, not a conflict.
            (again,) = log.append([event])
            assert not again.created
