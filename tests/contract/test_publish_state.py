"""The publisher's state (`liveblog.store.publishing.PublishState`), for every backend.

`PublishStateContract` holds the tests, written against the protocol only; a backend's
subclass gives `state` (an empty store's) and `drop_one` (a table dropped by hand)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from liveblog.store.publishing import Published, PublishState, Target

NOW = "2011-06-09T10:00:00+00:00"


def publish(state: PublishState, seen: Target | None, head: int, **options: Any) -> None:
    """Record one publish of target "t1" at /feeds (unless told otherwise)."""
    fields: dict[str, Any] = {
        "target_id": "t1",
        "path": "/feeds",
        "seen": seen,
        "head": head,
        "signature": "sig",
        "folders_mtime_ns": 7,
        "published": {},
        "forget_all": False,
        "now": NOW,
    }
    fields.update(options)
    state.record(**fields)


def files(*names: str, size: int = 10) -> list[tuple[str, int, int]]:
    return [(name, size, 1_000 + i) for i, name in enumerate(names)]


class PublishStateContract:
    @pytest.fixture
    def state(self, tmp_path: Path) -> Iterator[PublishState]:
        raise NotImplementedError  # each backend's subclass gives its own

    @pytest.fixture
    def drop_one(self, state: PublishState) -> Callable[[str], None]:
        raise NotImplementedError

    def test_created_on_demand_and_whole_again_after_a_table_is_dropped(
        self, state: PublishState, drop_one: Callable[[str], None]
    ) -> None:
        assert not state.present()
        state.ensure()
        assert state.present()
        state.ensure()  # cheap, and changes nothing
        publish(state, None, 5, published={"c1": Published(5, files("a"), True)})
        drop_one("publish_files")
        assert not state.present()
        state.ensure()
        assert state.present()
        assert state.target("t1") is None  # a partial set is dropped whole
        state.drop()
        assert not state.present()

    def test_a_first_publish_then_the_next(self, state: PublishState) -> None:
        state.ensure()
        assert state.target("t1") is None
        publish(
            state, None, 5, published={"c1": Published(5, files("live.atom", "day-1.html"), True)}
        )
        first = state.target("t1")
        assert first == Target("t1", "/feeds", 5, "sig", 7, 1, NOW)
        publish(
            state,
            first,
            9,
            folders_mtime_ns=8,
            published={"c2": Published(9, files("live.atom"), True)},
        )
        second = state.target("t1")
        assert second is not None
        assert (second.position, second.generation, second.folders_mtime_ns) == (9, 2, 8)
        assert state.published_positions("t1", ["c2", "c1", "nope"]) == {"c2": 9, "c1": 5}
        assert state.published_conferences("t1") == {"c1", "c2"}
        assert state.published_positions("other", ["c1"]) == {}

    def test_a_publish_racing_another_keeps_the_higher_mark_or_clears_the_signature(
        self, state: PublishState
    ) -> None:
        state.ensure()
        publish(state, None, 5)
        stale = state.target("t1")
        publish(state, stale, 9)  # another publish, meanwhile
        publish(state, stale, 6)  # this one found generation 1: same options, higher mark
        after = state.target("t1")
        assert after is not None and (after.position, after.signature) == (9, "sig")
        publish(state, stale, 10, signature="other")  # other options: a mix of both
        mixed = state.target("t1")
        assert mixed is not None and (mixed.position, mixed.signature) == (10, "")

    def test_state_dropped_while_a_publish_ran_clears_the_signature(
        self, state: PublishState
    ) -> None:
        state.ensure()
        publish(state, None, 5)
        seen = state.target("t1")
        state.drop()
        publish(state, seen, 6)
        target = state.target("t1")
        assert target is not None and (target.generation, target.signature) == (1, "")

    def test_a_new_directory_at_a_path_forgets_the_old_one(self, state: PublishState) -> None:
        state.ensure()
        publish(state, None, 5, published={"c1": Published(5, files("a"), True)})
        publish(state, None, 6, target_id="t2")
        assert state.target("t1") is None
        assert state.published_conferences("t1") == set()
        assert state.last_file_id("t1") == 0
        assert state.target("t2") is not None

    def test_files_fresh_forget_and_forget_all(self, state: PublishState) -> None:
        state.ensure()
        publish(
            state,
            None,
            5,
            published={
                "c1": Published(5, files("a", "b"), True),
                "c2": Published(5, files("x"), True),
            },
        )
        seen = state.target("t1")
        # c1 again, not fresh: files upserted (b's size changes), none forgotten.
        publish(state, seen, 6, published={"c1": Published(6, files("b", "c", size=20), False)})
        window = state.audit_window("t1", 0, 100)
        assert sorted((f.conference, f.name, f.size) for f in window) == [
            ("c1", "a", 10),
            ("c1", "b", 20),
            ("c1", "c", 20),
            ("c2", "x", 10),
        ]
        # Fresh: c1's files before are forgotten.
        seen = state.target("t1")
        publish(state, seen, 7, published={"c1": Published(7, files("d"), True)})
        assert sorted((f.conference, f.name) for f in state.audit_window("t1", 0, 100)) == [
            ("c1", "d"),
            ("c2", "x"),
        ]
        seen = state.target("t1")
        publish(state, seen, 8, forget=["c2"])
        assert state.published_conferences("t1") == {"c1"}
        assert [f.name for f in state.audit_window("t1", 0, 100)] == ["d"]
        seen = state.target("t1")
        publish(state, seen, 9, forget_all=True, published={"c3": Published(9, files("e"), True)})
        assert state.published_conferences("t1") == {"c3"}
        assert [f.name for f in state.audit_window("t1", 0, 100)] == ["e"]

    def test_the_audit_window_rotates_through_every_file_once(self, state: PublishState) -> None:
        state.ensure()
        names = [f"f{i}" for i in range(7)]
        publish(state, None, 5, published={"c1": Published(5, files(*names), True)})
        last = state.last_file_id("t1")
        every = state.audit_window("t1", 0, 100)
        assert [f.name for f in every] == names  # in id order
        assert [f.id for f in every] == sorted(f.id for f in every) and every[-1].id == last
        third = every[2].id
        window = state.audit_window("t1", third, 5)
        assert [f.name for f in window] == ["f3", "f4", "f5", "f6", "f0"]  # wrapped round
        assert [f.name for f in state.audit_window("t1", third, 100)] == [
            *names[3:],
            *names[:3],
        ]  # each file at most once


class TestSqlitePublishState(PublishStateContract):
    @pytest.fixture
    def state(self, tmp_path: Path) -> Iterator[PublishState]:
        from liveblog.store import EventLog
        from liveblog.store.sqlite.published import SqlitePublished

        log = EventLog(tmp_path / "events.db")
        try:
            yield SqlitePublished(log.conn)
        finally:
            log.close()

    @pytest.fixture
    def drop_one(self, state: PublishState) -> Callable[[str], None]:
        conn = state.conn  # type: ignore[attr-defined]
        return lambda table: conn.execute(f'DROP TABLE "{table}"')


class TestPostgresPublishState(PublishStateContract):
    @pytest.fixture
    def state(self, pg_url: str) -> Iterator[PublishState]:
        from liveblog.store.postgres.log import PostgresEventStore
        from liveblog.store.postgres.published import PostgresPublished

        store = PostgresEventStore(pg_url)
        try:
            yield PostgresPublished(store.conn)
        finally:
            store.close()

    @pytest.fixture
    def drop_one(self, state: PublishState) -> Callable[[str], None]:
        conn = state.conn  # type: ignore[attr-defined]
        return lambda table: conn.execute(f'DROP TABLE "{table}"')
