"""The timeline's read side (`liveblog.store.timeline.Timeline`), for every implementation.

`TimelineContract` holds the tests, written against the protocol only: a backend
passes by giving `make_world`, a place to append events and read the timeline they
project to (caught up). `TestSqliteTimeline` is the SQLite one; a second backend is one
more subclass. SQLite-only behaviour (its tables, the view, the fast path) is tested in
tests/test_projections.py.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import pytest

from liveblog.domain.envelope import Event, make_event
from liveblog.domain.events import (
    ConferenceOpened,
    DayClosed,
    DayOpened,
    EntryCorrected,
    EntryRetracted,
    EventData,
    LinkPosted,
    NotePosted,
    PhotoPosted,
    QuoteCaptured,
    SessionEnded,
    SessionStarted,
    TalkStarted,
)
from liveblog.store.timeline import Timeline

TZ = dt.timezone(dt.timedelta(hours=1))


class World(Protocol):
    def append(self, *events: Event) -> None:
        """Append to the log, in order."""

    def timeline(self) -> Timeline:
        """The timeline, caught up with everything appended."""


def at(hhmm: str, day: int = 9) -> dt.datetime:
    hours, minutes = (int(x) for x in hhmm.split(":"))
    return dt.datetime(2011, 6, day, hours, minutes, tzinfo=TZ)


def ev(
    id_: str, data: EventData, when: str, *, author: str = "ann", conference: str = "c1"
) -> Event:
    return make_event(id=id_, conference=conference, occurred_at=at(when), author=author, data=data)


def opening(conference: str = "c1", *, author: str = "ann") -> list[Event]:
    return [
        ev(
            f"{conference}-open",
            ConferenceOpened(title=conference.upper(), timezone="Europe/London"),
            "08:00",
            author=author,
            conference=conference,
        ),
        ev(
            f"{conference}-day2",
            DayOpened(number=2, date=dt.date(2011, 6, 9)),
            "08:30",
            author=author,
            conference=conference,
        ),
    ]


IN_T1: dict[str, Any] = {"day": 2, "session": "s1", "talk": "t1"}


def coverage() -> list[Event]:
    """Day 2 of c1: a session, a talk, a quote (the talk's speaker), a quote of someone
    else, a note, a photo and a link."""
    return [
        *opening(),
        ev("s1", SessionStarted(day=2, title="Plenary", kind="plenary", room="Hall"), "09:00"),
        ev("t1", TalkStarted(day=2, session="s1", title="Sharing", speaker="Andy"), "09:05"),
        ev("q1", QuoteCaptured(**IN_T1, text="We share.", speaker="Andy"), "09:10"),
        ev("q2", QuoteCaptured(**IN_T1, text="Not me.", speaker="Bea"), "09:11"),
        ev("n1", NotePosted(**IN_T1, text="Full room."), "09:12", author="bob"),
        ev("p1", PhotoPosted(day=2, url="https://example.org/p.jpg", caption="The hall"), "09:13"),
        ev("l1", LinkPosted(day=2, url="https://example.org/s.pdf", title="Slides"), "09:14"),
    ]  # fmt: skip


def fix(id_: str, target: str, when: str, **changes: Any) -> Event:
    return ev(id_, EntryCorrected(target=target, **changes), when)


def by_id(timeline: Timeline, conference: str = "c1", day: int = 2) -> dict[str, Any]:
    return {e.id: e for e in timeline.day_entries(conference, day)}


class TimelineContract:
    """The behaviour every `Timeline` implementation keeps."""

    @pytest.fixture
    def make_world(self, tmp_path: Path) -> Iterator[World]:
        raise NotImplementedError  # each implementation's subclass gives its own

    @pytest.fixture
    def world(self, make_world: World) -> World:
        make_world.append(*coverage())
        return make_world

    # -- entries and their current data ---------------------------------------------------

    def test_entries_carry_kind_place_and_data(self, world: World) -> None:
        entries = by_id(world.timeline())
        assert {i: e.kind for i, e in entries.items()} == {
            "s1": "session",
            "t1": "talk",
            "q1": "quote",
            "q2": "quote",
            "n1": "note",
            "p1": "photo",
            "l1": "link",
        }
        assert (entries["s1"].session, entries["s1"].talk) == ("s1", None)
        assert (entries["t1"].session, entries["t1"].talk) == ("s1", "t1")
        assert (entries["n1"].session, entries["n1"].talk, entries["n1"].author) == (
            "s1",
            "t1",
            "bob",
        )
        assert entries["l1"].data["title"] == "Slides"
        assert entries["l1"].data["url"] == "https://example.org/s.pdf"
        assert entries["s1"].data["kind"] == "plenary"
        assert entries["q1"].occurred_at == "2011-06-09T09:10:00+01:00"
        assert entries["q1"].utc_at.startswith("2011-06-09T08:10:00")
        assert not any(e.retracted or e.updated_at for e in entries.values())

    def test_day_entries_are_in_time_order_then_position(self, make_world: World) -> None:
        make_world.append(
            *opening(),
            ev("late", NotePosted(day=2, text="posted first, happened later"), "10:00"),
            ev("early", NotePosted(day=2, text="posted later, happened first"), "09:00"),
            ev("tie", NotePosted(day=2, text="same minute as early"), "09:00"),
        )
        assert [e.id for e in make_world.timeline().day_entries("c1", 2)] == [
            "early",
            "tie",
            "late",
        ]

    # -- corrections ------------------------------------------------------------------------

    def test_a_correction_replaces_the_field_its_kind_maps_it_to(self, world: World) -> None:
        world.append(
            fix("f1", "t1", "10:00", text="Sharing services"),  # a talk's text is its title
            fix("f2", "p1", "10:01", caption="The full hall"),
            fix("f3", "l1", "10:02", text="The slides", description="40 of them"),
            fix("f4", "q2", "10:03", text="Not me, really.", speaker="Bea Jones"),
        )
        entries = by_id(world.timeline())
        assert entries["t1"].data["title"] == "Sharing services"
        assert entries["t1"].data["speaker"] == "Andy"
        assert entries["p1"].data["caption"] == "The full hall"
        assert (entries["l1"].data["title"], entries["l1"].data["description"]) == (
            "The slides",
            "40 of them",
        )
        assert (entries["q2"].data["text"], entries["q2"].data["speaker"]) == (
            "Not me, really.",
            "Bea Jones",
        )
        assert entries["l1"].updated_at == "2011-06-09T10:02:00+01:00"
        assert entries["n1"].updated_at is None

    def test_later_corrections_win_and_fields_not_corrected_stay(self, world: World) -> None:
        world.append(
            fix("f1", "q2", "10:00", text="first fix"),
            fix("f2", "q2", "10:05", speaker="Bea Jones"),
            fix("f3", "q2", "10:10", text="second fix"),
        )
        q2 = by_id(world.timeline())["q2"]
        assert (q2.data["text"], q2.data["speaker"]) == ("second fix", "Bea Jones")
        assert q2.updated_at == "2011-06-09T10:10:00+01:00"

    def test_a_field_the_kind_does_not_take_is_ignored(self, world: World) -> None:
        world.append(fix("f1", "n1", "10:00", caption="not a photo"))
        n1 = by_id(world.timeline())["n1"]
        assert "caption" not in n1.data
        assert n1.data["text"] == "Full room."

    def test_a_talks_new_speaker_follows_to_its_quotes_that_named_the_old(
        self, world: World
    ) -> None:
        world.append(fix("f1", "t1", "10:00", speaker="Andrew"))
        entries = by_id(world.timeline())
        assert entries["t1"].data["speaker"] == "Andrew"
        assert entries["q1"].data["speaker"] == "Andrew"  # it named the talk's speaker
        assert entries["q2"].data["speaker"] == "Bea"  # someone else's words
        assert entries["q1"].updated_at is None  # the quote itself was not corrected

    def test_a_correction_of_an_unknown_entry_changes_nothing(self, world: World) -> None:
        before = by_id(world.timeline())
        world.append(fix("f1", "nonesuch", "10:00", text="?"))
        assert by_id(world.timeline()) == before

    # -- retractions and tombstones ------------------------------------------------------

    def test_a_retraction_flags_the_entry_and_leaves_a_tombstone(self, world: World) -> None:
        world.append(
            ev("r1", EntryRetracted(target="n1", reason="duplicate"), "10:00"),
            ev("r2", EntryRetracted(target="l1"), "10:05", author="bob"),
        )
        timeline = world.timeline()
        entries = by_id(timeline)
        assert (entries["n1"].retracted, entries["n1"].retraction_reason) == (True, "duplicate")
        assert entries["n1"].retracted_at == "2011-06-09T10:00:00+01:00"
        assert entries["n1"].data["text"] == "Full room."  # kept, flagged
        stones = timeline.tombstones("c1", 10)
        assert [(t.id, t.by, t.reason) for t in stones] == [
            ("l1", "bob", None),
            ("n1", "ann", "duplicate"),
        ]
        assert timeline.tombstones("c1", 1)[0].id == "l1"
        assert stones[0].when == at("10:05")
        live = {e.id for e in timeline.live_entries("c1", 50, 0)}
        assert live == {"s1", "t1", "q1", "q2", "p1"}

    # -- as-of reads: archives -----------------------------------------------------------

    def test_original_entries_and_edits_before_a_position(self, world: World) -> None:
        world.append(
            fix("f1", "q1", "10:00", text="We share, we do."),
            ev("r1", EntryRetracted(target="q1", reason="misheard"), "10:05"),
        )
        timeline = world.timeline()
        entries = by_id(timeline)
        low, high = entries["s1"].position, entries["l1"].position
        originals = timeline.original_entries("c1", low, high)
        assert [o.id for o in originals] == ["s1", "t1", "q1", "q2", "n1", "p1", "l1"]
        assert [o.position for o in originals] == sorted(o.position for o in originals)
        q1 = next(o for o in originals if o.id == "q1")
        assert (q1.kind, q1.data["text"]) == ("quote", "We share.")  # as posted
        head = timeline.head()
        edits = timeline.edits(["q1", "q2"], head + 1)
        assert list(edits) == ["q1"]
        assert [(e.type, dict(e.changes)) for e in edits["q1"]] == [
            ("entry.corrected", {"text": "We share, we do."}),
            ("entry.retracted", {"reason": "misheard"}),
        ]
        assert [e.type for e in timeline.edits(["q1"], head)["q1"]] == ["entry.corrected"]
        assert timeline.edits(["q1"], head - 1) == {}

    def test_an_archive_block_is_full_and_followed_or_none(self, world: World) -> None:
        timeline = world.timeline()
        positions = [e.position for e in timeline.day_entries("c1", 2)]
        assert timeline.archive_block("c1", 0, 3) == positions[:4]
        assert timeline.archive_block("c1", positions[2], 3) == positions[3:7]
        assert timeline.archive_block("c1", positions[3], 3) is None  # not followed yet
        assert timeline.archive_block("c1", 0, 7) is None

    # -- the live page ------------------------------------------------------------------

    def test_live_entries_are_the_newest_then_corrected_archived_ones(self, world: World) -> None:
        timeline = world.timeline()
        positions = {e.id: e.position for e in timeline.day_entries("c1", 2)}
        newest = {e.id for e in timeline.live_entries("c1", 2, 0)}
        assert newest == {"p1", "l1"}
        world.append(fix("f1", "s1", "10:00", text="Opening plenary"))
        timeline = world.timeline()
        archived_to = positions["n1"]  # s1…n1 archived, p1 and l1 live
        chosen = {e.id: e for e in timeline.live_entries("c1", 3, archived_to)}
        assert set(chosen) == {"p1", "l1", "s1"}  # room for the corrected archived one
        assert chosen["s1"].data["title"] == "Opening plenary"
        assert {e.id for e in timeline.live_entries("c1", 4, archived_to)} == {
            "p1",
            "l1",
            "s1",
            "n1",
        }

    # -- conferences, days, reporters -----------------------------------------------------

    def test_conferences_and_days(self, world: World) -> None:
        world.append(
            *opening("a0", author="cat"),
            ev("c1-day3", DayOpened(number=3, date=dt.date(2011, 6, 10)), "08:00"),
            ev("c1-day2-closed", DayClosed(number=2), "17:00"),
        )
        timeline = world.timeline()
        assert timeline.conference_slugs() == ["a0", "c1"]
        conference = timeline.conference("c1")
        assert conference is not None
        assert (conference.title, conference.timezone, conference.closed_at) == (
            "C1",
            "Europe/London",
            None,
        )
        assert conference.opened_at == at("08:00")
        assert timeline.conference("nonesuch") is None
        assert [n for n, _ in timeline.days("c1")] == [2, 3]
        assert [d.number for d in timeline.closed_days("c1")] == [2]
        day = timeline.day("c1", 2)
        assert day is not None
        assert (day.date, day.closed_at) == ("2011-06-09", "2011-06-09T17:00:00+01:00")
        assert timeline.day("c1", 9) is None
        assert timeline.day_reporters("c1", 2) == ["ann", "bob"]
        assert timeline.entry_counts(None) == {"c1": 7}
        assert timeline.entry_counts(["c1", "a0"]) == {"c1": 7, "a0": 0}
        assert timeline.day_counts(None) == {"a0": 1, "c1": 2}
        assert timeline.entries_of_days("c1", [2, 3]) == 7
        assert timeline.any_conference()

    def test_a_day_changes_with_every_event_that_changes_its_summary(self, world: World) -> None:
        timeline = world.timeline()
        (before,) = [p for n, p in timeline.days("c1") if n == 2]
        world.append(fix("f1", "n1", "10:00", text="A full room."))
        timeline = world.timeline()
        (after,) = [p for n, p in timeline.days("c1") if n == 2]
        assert after == timeline.head() > before

    # -- what changed after a position: the publisher's selection --------------------------

    def test_changed_after_selects_the_conferences_with_newer_events(self, world: World) -> None:
        world.append(*opening("c2", author="cat"))
        timeline = world.timeline()
        mark = timeline.head()
        assert [slug for slug, _ in timeline.every_conference()] == ["c1", "c2"]
        assert timeline.changed_after(mark) == []
        world.append(ev("n9", NotePosted(day=2, text="later"), "11:00"))
        timeline = world.timeline()
        assert timeline.changed_after(mark) == [("c1", timeline.head())]
        assert [slug for slug, _ in timeline.changed_after(0)] == ["c2", "c1"]  # oldest first
        count, oldest = timeline.lagging(0, 1)
        assert (count, [slug for slug, _ in oldest]) == (2, ["c2"])
        assert timeline.last_positions(["c1", "nope"]) == {"c1": timeline.head()}

    def test_any_event_of_a_conference_counts_as_a_change(self, world: World) -> None:
        mark = world.timeline().head()
        world.append(ev("s1-end", SessionEnded(session="s1"), "12:00"))
        timeline = world.timeline()
        assert timeline.changed_after(mark) == [("c1", timeline.head())]
        ended = by_id(timeline)["s1"].ended_at
        assert ended == "2011-06-09T12:00:00+01:00"

    # -- positions ---------------------------------------------------------------------------

    def test_times_of_positions(self, world: World) -> None:
        timeline = world.timeline()
        head = timeline.head()
        assert timeline.occurred_at(head) == at("09:14")
        assert timeline.occurred_at(head + 1) is None
        stamps = [timeline.recorded_at(p) for p in range(1, head + 1)]
        assert all(stamps) and stamps == sorted(stamps)  # type: ignore[type-var]
        assert timeline.recorded_at(head + 1) is None

    def test_a_snapshot_is_reentrant(self, world: World) -> None:
        timeline = world.timeline()
        with timeline.snapshot(), timeline.snapshot():
            assert timeline.head() == timeline.head()


class TestSqliteTimeline(TimelineContract):
    @pytest.fixture
    def make_world(self, tmp_path: Path) -> Iterator[World]:
        from liveblog.projections import runner_for
        from liveblog.store import EventLog
        from liveblog.store.sqlite.timeline import SqliteTimeline

        log = EventLog(tmp_path / "events.db")

        class SqliteWorld:
            def append(self, *events: Event) -> None:
                log.append(list(events))

            def timeline(self) -> Timeline:
                runner_for(log).catch_up()
                return SqliteTimeline(log.conn)

        try:
            yield SqliteWorld()
        finally:
            log.close()


class TestPostgresTimeline(TimelineContract):
    @pytest.fixture
    def make_world(self, pg_url: str) -> Iterator[World]:
        from pg_projection import pg_catch_up

        from liveblog.store.postgres.log import PostgresEventStore
        from liveblog.store.postgres.timeline import PostgresTimeline

        store = PostgresEventStore(pg_url)

        class PostgresWorld:
            def append(self, *events: Event) -> None:
                store.append(list(events))

            def timeline(self) -> Timeline:
                pg_catch_up(store)
                return PostgresTimeline(store.conn, pg_url)

        try:
            yield PostgresWorld()
        finally:
            store.close()
