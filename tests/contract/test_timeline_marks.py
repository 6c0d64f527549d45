"""Pins, key moments and `changed_position` (the reader's page), for every `Timeline`.

Reuses the worlds of tests/contract/test_timeline.py: each backend's subclass there
gives `make_world`; these tests add the marks' contract on top.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import pytest
import test_timeline as base
from test_timeline import World, by_id, coverage, ev, fix

from liveblog.domain.envelope import Event
from liveblog.domain.events import (
    EntryHighlighted,
    EntryPinned,
    EntryRetracted,
    EntryUnhighlighted,
    EntryUnpinned,
    NotePosted,
)
from liveblog.service.marks import fold, key_moment
from liveblog.service.marks import pinned as pinned_now
from liveblog.store.eventstore import EventStore
from liveblog.store.timeline import Timeline


class MarksContract:
    @pytest.fixture
    def make_world(self, tmp_path: Path) -> Iterator[World]:
        raise NotImplementedError

    @pytest.fixture
    def world(self, make_world: World) -> World:
        make_world.append(*coverage())
        return make_world

    def test_an_entry_changes_at_its_own_position_first(self, world: World) -> None:
        entries = by_id(world.timeline())
        assert all(e.changed_position == e.position for e in entries.values())
        assert not any(e.pinned or e.highlighted for e in entries.values())

    def test_pinning_another_entry_unpins_the_first_by_the_same_event(self, world: World) -> None:
        world.append(ev("pin1", EntryPinned(target="q1"), "09:20"))
        timeline = world.timeline()
        first = timeline.head()
        pinned = timeline.pinned_entry("c1")
        assert pinned is not None and pinned.id == "q1" and pinned.changed_position == first
        world.append(ev("pin2", EntryPinned(target="n1"), "09:21"))
        timeline = world.timeline()
        second = timeline.head()
        entries = by_id(timeline)
        assert not entries["q1"].pinned and entries["q1"].changed_position == second
        assert entries["n1"].pinned and entries["n1"].changed_position == second
        assert [e.id for e in timeline.changes("c1", first, 10)] == ["q1", "n1"]
        world.append(ev("unpin", EntryUnpinned(target="n1"), "09:22"))
        assert world.timeline().pinned_entry("c1") is None

    def test_key_moments_by_time_with_their_labels(self, world: World) -> None:
        world.append(
            ev("h1", EntryHighlighted(target="n1", label="The room"), "09:20"),
            ev("h2", EntryHighlighted(target="q1"), "09:21"),
            ev("h3", EntryHighlighted(target="p1"), "09:22"),
            ev("u3", EntryUnhighlighted(target="p1"), "09:23"),
        )
        moments = world.timeline().key_moments("c1")
        assert [(e.id, e.highlight_label) for e in moments] == [("q1", None), ("n1", "The room")]
        assert not by_id(world.timeline())["p1"].highlighted

    def test_a_retracted_entry_is_neither_pinned_nor_a_key_moment(self, world: World) -> None:
        world.append(
            ev("pin", EntryPinned(target="q1"), "09:20"),
            ev("hl", EntryHighlighted(target="q1"), "09:21"),
            ev("r", EntryRetracted(target="q1"), "09:22"),
        )
        timeline = world.timeline()
        assert timeline.pinned_entry("c1") is None and timeline.key_moments("c1") == []
        q1 = by_id(timeline)["q1"]
        assert q1.retracted and not q1.pinned and q1.changed_position == timeline.head()
        # retracted entries are part of the changes (the page removes them)
        assert [e.id for e in timeline.changes("c1", timeline.head() - 1, 10)] == ["q1"]

    def test_changes_after_a_position_in_order_and_bounded(self, world: World) -> None:
        world.append(fix("f1", "q2", "09:20", text="Not me, no."))
        timeline = world.timeline()
        head = timeline.head()
        changed = timeline.changes("c1", 0, 100)
        assert [e.changed_position for e in changed] == sorted(e.changed for e in changed)
        assert changed[-1].id == "q2" and changed[-1].changed_position == head
        assert len(timeline.changes("c1", 0, 3)) == 3
        assert timeline.changes("c1", head, 10) == []
        assert timeline.changes("other", 0, 10) == []

    def test_entries_by_id(self, world: World) -> None:
        found = world.timeline().entries_by_id("c1", ["t1", "s1", "nope"])
        assert sorted(e.id for e in found) == ["s1", "t1"]
        assert world.timeline().entries_by_id("other", ["t1"]) == []

    # -- the live feed: archived entries whose marks moved come back ----------------------

    def test_live_entries_bring_back_archived_entries_whose_marks_moved(self, world: World) -> None:
        positions = {e.id: e.position for e in world.timeline().day_entries("c1", 2)}
        archived_to = positions["n1"]  # s1…n1 archived, p1 and l1 live

        def live(size: int) -> dict[str, Any]:
            return {e.id: e for e in world.timeline().live_entries("c1", size, archived_to)}

        assert set(live(3)) == {"p1", "l1", "n1"}  # no change: the newest archived one
        world.append(ev("h1", EntryHighlighted(target="q1", label="Sharing"), "09:20"))
        chosen = live(3)
        assert set(chosen) == {"p1", "l1", "q1"}
        assert chosen["q1"].highlighted and chosen["q1"].highlight_label == "Sharing"
        # the latest change first: the pin of t1, then q1's highlight
        world.append(ev("pin1", EntryPinned(target="t1"), "09:21"))
        assert set(live(3)) == {"p1", "l1", "t1"} and live(3)["t1"].pinned
        assert set(live(4)) == {"p1", "l1", "t1", "q1"}
        # an unhighlight comes back too (readers drop the category); so does the entry
        # a new pin unpins, by that same event
        world.append(
            ev("u1", EntryUnhighlighted(target="q1"), "09:22"),
            ev("pin2", EntryPinned(target="s1"), "09:23"),
        )
        chosen = live(4)
        assert set(chosen) == {"p1", "l1", "s1", "t1"}
        assert chosen["s1"].pinned and not chosen["t1"].pinned
        assert set(live(5)) == {"p1", "l1", "s1", "t1", "q1"} and not live(5)["q1"].highlighted
        # a retracted entry never comes back, and takes no one's place
        world.append(ev("r1", EntryRetracted(target="s1"), "09:24"))
        assert set(live(4)) == {"p1", "l1", "t1", "q1"}
        # corrections, as before: the latest change wins the room
        world.append(fix("f1", "q2", "09:25", text="Not me, no."))
        assert set(live(3)) == {"p1", "l1", "q2"}
        assert set(live(7)) == {"p1", "l1", "q2", "q1", "t1", "n1"}  # every one not retracted

    # -- what the reads cost: each an index walk as long as its answer --------------------

    def explain(self, conn: Any, sql: str, params: Any) -> list[str]:
        """The backend's plan of one statement, a line per step."""
        raise NotImplementedError

    def analyze(self, conn: Any) -> None:
        """Give the planner its statistics, as a live database has them."""

    def scans_entries(self, step: str) -> bool:
        """Whether a step of a plan reads every entry (of the table, or of an index)."""
        raise NotImplementedError

    def test_the_pages_reads_walk_their_indexes_never_the_conference(self, world: World) -> None:
        world.append(
            *(ev(f"x{i:04d}", NotePosted(day=2, text=f"Note {i}."), "09:15") for i in range(1500))
        )
        world.append(
            ev("pin", EntryPinned(target="q1"), "09:20"),
            ev("h1", EntryHighlighted(target="n1"), "09:21"),
            ev("h2", EntryHighlighted(target="p1", label="The hall"), "09:22"),
            fix("f1", "q2", "09:23", text="Not me, no."),
        )
        timeline = world.timeline()
        archived_to = by_id(timeline)["x1497"].position  # two live entries, room for three
        real = timeline.conn  # type: ignore[attr-defined]
        self.analyze(real)
        reads: dict[str, list[tuple[str, Any]]] = {}
        for name, read in (
            ("key_moments", lambda: timeline.key_moments("c1")),
            ("pinned_entry", lambda: timeline.pinned_entry("c1")),
            ("live_entries", lambda: timeline.live_entries("c1", 5, archived_to)),
        ):
            recorder = Recorder(real)
            timeline.conn = recorder  # type: ignore[attr-defined]
            try:
                answer = read()
            finally:
                timeline.conn = real  # type: ignore[attr-defined]
            reads[name] = recorder.statements
            assert answer  # each finds what it looks for
        expected = {
            "key_moments": "timeline_entries_highlighted",
            "pinned_entry": "timeline_entries_pinned",
            "live_entries": "timeline_entries_changed",
        }
        for name, statements in reads.items():
            plans = [self.explain(real, sql, params) for sql, params in statements]
            text = "\n".join(
                f"{sql}\n  " + "\n  ".join(plan)
                for (sql, _), plan in zip(statements, plans, strict=True)
            )
            assert any(expected[name] in line for plan in plans for line in plan), text
            assert not any(self.scans_entries(line) for plan in plans for line in plan), text


# -- replays: incremental, rebuilt, in chunks of any size: the same marks -------------------


def script() -> list[Event]:
    """Marks and retractions interleaved, with the cases a projection could get wrong:
    a pin replacing another, the pinned entry retracted, a relabel, a mark of a retracted
    entry, of an unknown one, from another conference, a talk's speaker corrected."""
    return [
        *coverage(),
        *base.opening("c2"),
        ev("c2n", NotePosted(day=2, text="Elsewhere."), "09:15", conference="c2"),
        ev("m01", EntryPinned(target="q1"), "09:20"),
        ev("m02", EntryHighlighted(target="q1", label="A"), "09:21"),
        ev("m03", EntryPinned(target="n1"), "09:22"),
        ev("r01", EntryRetracted(target="n1"), "09:23"),
        ev("m04", EntryPinned(target="q2"), "09:24"),
        ev("m05", EntryHighlighted(target="q2"), "09:25"),
        ev("m06", EntryHighlighted(target="q2", label="B"), "09:26"),
        ev("m07", EntryUnhighlighted(target="q1"), "09:27"),
        ev("m08", EntryHighlighted(target="p1", label="P"), "09:28"),
        ev("r02", EntryRetracted(target="p1"), "09:29"),
        ev("m09", EntryHighlighted(target="p1"), "09:30"),
        ev("m10", EntryPinned(target="nope"), "09:31"),
        ev("m11", EntryPinned(target="q1"), "09:32", conference="c2"),
        ev("m12", EntryPinned(target="c2n"), "09:33", conference="c2"),
        ev("m13", EntryUnpinned(target="q2"), "09:34"),
        ev("m14", EntryPinned(target="l1"), "09:35"),
        ev("m15", EntryPinned(target="t1"), "09:36"),
        fix("f01", "t1", "09:37", speaker="Andrew"),
        ev("m16", EntryHighlighted(target="s1"), "09:38"),
        ev("m17", EntryUnpinned(target="l1"), "09:39"),
    ]


def marks_of(timeline: Timeline) -> list[tuple[Any, ...]]:
    rows = [*timeline.day_entries("c1", 2), *timeline.day_entries("c2", 2)]
    return sorted(
        (e.id, e.pinned, e.highlighted, e.highlight_label, e.changed_position, e.retracted)
        for e in rows
    )


class Replays(Protocol):
    log: EventStore

    def timeline(self) -> Timeline: ...

    def rebuild(self, chunk: int | None) -> Timeline: ...


class ReplayContract:
    @pytest.fixture
    def replays(self, tmp_path: Path) -> Iterator[Replays]:
        raise NotImplementedError

    def test_every_replay_gives_the_same_marks(self, replays: Replays) -> None:
        for event in script():  # one event per catch-up: the incremental path
            replays.log.append([event])
            replays.timeline()
        incremental = marks_of(replays.timeline())
        assert incremental == marks_of(replays.rebuild(None))
        for chunk in (2, 3, 7):
            assert marks_of(replays.rebuild(chunk)) == incremental, chunk
        entries = {row[0]: row for row in incremental}
        head = replays.log.head()
        assert entries["t1"][1] and entries["t1"][4] == head - 2  # the last pin, then f01
        # unpinned by m15's pin; m17's stray unpin of it still counts as a change
        assert not entries["l1"][1] and entries["l1"][4] == head
        assert entries["q2"][2:4] == (True, "B")
        assert entries["p1"][1:4] == (False, False, None) and entries["p1"][5]
        assert entries["c2n"][1] and not entries["q1"][1]
        # the talk's quote in the talk's speaker's words follows the speaker's correction
        assert entries["q1"][4] == head - 2

    def test_the_service_reads_the_marks_as_the_projection_does(self, replays: Replays) -> None:
        replays.log.append(script())
        timeline = replays.timeline()
        for conference in ("c1", "c2"):
            folded = fold(replays.log, conference)
            pinned = timeline.pinned_entry(conference)
            assert folded.pinned == (pinned.id if pinned else None)
            moments = {e.id: e.highlight_label for e in timeline.key_moments(conference)}
            assert folded.key_moments == moments
            assert pinned_now(replays.log, conference) == folded.pinned
            every = {e.id for e in [*timeline.day_entries(conference, 2)]} | {"nope"}
            for target in every:
                found = key_moment(replays.log, conference, target)
                assert found == ((True, moments[target]) if target in moments else (False, None))
        assert fold(replays.log, "c1").pinned == "t1"
        assert fold(replays.log, "c1").key_moments == {"q2": "B", "s1": None}


class Recorder:
    """A timeline's connection that keeps every statement it runs."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.statements: list[tuple[str, Any]] = []

    def execute(self, sql: str, params: Any = ()) -> Any:
        self.statements.append((sql, params))
        return self.conn.execute(sql, params)


class TestSqliteMarks(MarksContract):
    make_world = base.TestSqliteTimeline.make_world

    def scans_entries(self, step: str) -> bool:
        # "SCAN e" (every row) or "SCAN e USING INDEX i" (every entry of an index)
        return re.match(r"SCAN (e|timeline_entries)\b", step) is not None

    def explain(self, conn: Any, sql: str, params: Any) -> list[str]:
        return [str(row[3]) for row in conn.execute("EXPLAIN QUERY PLAN " + sql, params)]


class TestPostgresMarks(MarksContract):
    make_world = base.TestPostgresTimeline.make_world

    def scans_entries(self, step: str) -> bool:
        return re.search(r"Seq Scan on timeline_entries\b", step) is not None

    def explain(self, conn: Any, sql: str, params: Any) -> list[str]:
        return [str(row[0]) for row in conn.execute("EXPLAIN " + sql, params)]

    def analyze(self, conn: Any) -> None:
        conn.execute("ANALYZE")


class TestSqliteReplays(ReplayContract):
    @pytest.fixture
    def replays(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Replays]:
        from liveblog.projections import runner as runner_module
        from liveblog.projections import runner_for
        from liveblog.store import EventLog
        from liveblog.store.sqlite.timeline import SqliteTimeline

        log = EventLog(tmp_path / "events.db")

        class SqliteReplays:
            def __init__(self) -> None:
                self.log: EventStore = log

            def timeline(self) -> Timeline:
                runner_for(log).catch_up()
                return SqliteTimeline(log.conn)

            def rebuild(self, chunk: int | None) -> Timeline:
                with monkeypatch.context() as patch:
                    if chunk:  # the runner's chunk size: a rebuild in chunks that small
                        patch.setattr(runner_module, "CHUNK", chunk)
                    runner_for(log).rebuild()
                return SqliteTimeline(log.conn)

        try:
            yield SqliteReplays()
        finally:
            log.close()


class TestPostgresReplays(ReplayContract):
    @pytest.fixture
    def replays(self, pg_url: str) -> Iterator[Replays]:
        from pg_projection import pg_catch_up, pg_rebuild

        from liveblog.store.postgres.log import PostgresEventStore
        from liveblog.store.postgres.timeline import PostgresTimeline

        store = PostgresEventStore(pg_url)

        class PostgresReplays:
            def __init__(self) -> None:
                self.log: EventStore = store

            def timeline(self) -> Timeline:
                pg_catch_up(store)
                return PostgresTimeline(store.conn, pg_url)

            def rebuild(self, chunk: int | None) -> Timeline:
                pg_rebuild(store, chunk=chunk)
                return PostgresTimeline(store.conn, pg_url)

        try:
            yield PostgresReplays()
        finally:
            store.close()
