"""Bound projections (liveblog.projections.runner): the runner names no driver.

A projection is built on its backend's connection (`Stores.projections()`); the runner
only calls `create()` and `apply(records)` inside the state's transaction, so any
object with those methods is driven the same way, on either backend.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from liveblog.projections import ProjectionRunner, runner_for
from liveblog.service.facade import Liveblog
from liveblog.store import Record
from liveblog.store.factory import open_stores
from liveblog.store.sqlite.timeline import TimelineProjection


class InMemory:
    """A projection with no connection at all: what it was given, in a list."""

    name = "in_memory"
    version = 1
    tables: Sequence[str] = ()

    def __init__(self) -> None:
        self.creates = 0
        self.seen: list[int] = []

    def create(self) -> None:
        self.creates += 1

    def apply(self, records: Sequence[Record]) -> None:
        self.seen.extend(r.position for r in records)


def sample(db: str) -> None:
    with Liveblog(db, "ann") as blog:
        blog.open_conference("demo", title="Demo", timezone="UTC", at="2026-01-05T09:00")
        blog.open_day(1, at="2026-01-05T09:01")
        blog.note("one", at="2026-01-05T09:02")
        blog.note("two", at="2026-01-05T09:03")


def test_the_runner_drives_any_bound_projection(tmp_path: Path) -> None:
    db = str(tmp_path / "events.db")
    sample(db)
    with open_stores(db) as stores:
        projection = InMemory()
        runner = ProjectionRunner(stores.events, [projection], stores.projection_state)
        head = stores.events.head()
        assert runner.catch_up() == {"in_memory": head}
        assert projection.creates == 1
        assert projection.seen == list(range(1, head + 1))
        assert runner.catch_up() == {"in_memory": 0}  # its position was committed
        assert [s.position for s in runner.status()] == [head]


def test_sqlite_stores_hand_out_the_timeline_bound(tmp_path: Path) -> None:
    db = str(tmp_path / "events.db")
    sample(db)
    with open_stores(db) as stores:
        (bound,) = stores.projections()
        unbound = TimelineProjection()
        assert (bound.name, bound.version, tuple(bound.tables)) == (
            unbound.name,
            unbound.version,
            tuple(unbound.tables),
        )
        assert bound.lazy_types == unbound.lazy_types  # entries still mapped in SQL
        runner = runner_for(stores)
        assert runner.catch_up() == {"timeline": stores.events.head()}
        assert stores.timeline.conference_slugs() == ["demo"]
    # The old spelling, an event store alone, gives the same runner.
    with open_stores(db) as stores:
        assert runner_for(stores.events).current()


def test_postgres_stores_hand_out_their_timeline_bound(pg_url: str) -> None:
    sample(pg_url)
    with open_stores(pg_url) as stores:
        runner = runner_for(stores)
        head = stores.events.head()
        assert runner.catch_up() == {"timeline": head}
        assert runner.current()
        assert stores.timeline.conference_slugs() == ["demo"]
        projection = InMemory()
        other = ProjectionRunner(stores.events, [projection], stores.projection_state)
        assert other.catch_up() == {"in_memory": head}
        assert projection.seen == list(range(1, head + 1))
