"""Pins, key moments and `changed_position` (the reader's page), for every `Timeline`.

Reuses the worlds of tests/contract/test_timeline.py: each backend's subclass there
gives `make_world`; these tests add the marks' contract on top.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import test_timeline as base
from test_timeline import World, by_id, coverage, ev, fix

from liveblog.domain.events import (
    EntryHighlighted,
    EntryPinned,
    EntryRetracted,
    EntryUnhighlighted,
    EntryUnpinned,
)


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


class TestSqliteMarks(MarksContract):
    make_world = base.TestSqliteTimeline.make_world


class TestPostgresMarks(MarksContract):
    make_world = base.TestPostgresTimeline.make_world
