"""Publishing on PostgreSQL: the feed documents are the files' bytes, with or without a
feeds directory, and only what changed is written (feeds/publisher.py, feeds/outputs.py).

Needs the PostgreSQL event store and timeline (store/postgres/log.py, timeline.py) and
the tests' projection driver (tests/pg_projection.py)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pg_projection import pg_catch_up
from test_pg_timeline import generated_day

from liveblog.domain.envelope import Event
from liveblog.feeds.publisher import (
    DATABASE_TARGET,
    MARKER_FILE,
    Publisher,
    PublishOptions,
    PublishResult,
    freshness,
)
from liveblog.projections import runner_for
from liveblog.store import EventLog
from liveblog.store.factory import stores_on
from liveblog.store.postgres import log as log_module
from liveblog.store.postgres.stores import PostgresStores

PAGE = 20  # small pages: several archives from one generated day


def files(root: Path) -> dict[str, bytes]:
    """Every file under `root` but the marker (its id is the directory's own)."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != MARKER_FILE
    }


class Pg:
    """A PostgreSQL store with the documents table, fed events and caught up."""

    def __init__(self, url: str) -> None:
        self.events = log_module.PostgresEventStore(url)
        self.stores = PostgresStores(self.events)
        with self.events.conn.writing():
            from liveblog.store.postgres.documents import DOCUMENTS_DDL

            self.events.conn.execute(DOCUMENTS_DDL)  # m003, whether or not it ran already

    def append(self, events: list[Event]) -> None:
        self.events.append(events)
        pg_catch_up(self.events)

    def publish(self, feeds: Path, *, write_files: bool = True, **kw: Any) -> PublishResult:
        options = PublishOptions(feeds_dir=feeds, page_size=PAGE, write_files=write_files)
        publisher = Publisher(
            self.stores.timeline, self.stores.published, options, documents=self.documents
        )
        return publisher.publish(**kw)

    @property
    def documents(self) -> Any:
        return self.stores.documents

    def bodies(self) -> dict[str, bytes]:
        found = {}
        for version in self.documents.list():
            document = self.documents.get(version.path)
            assert document is not None
            found[version.path] = document.body
        return found

    def close(self) -> None:
        self.events.close()


@pytest.fixture
def pg(pg_url: str) -> Iterator[Pg]:
    store = Pg(pg_url)
    yield store
    store.close()


def sqlite_publish(tmp_path: Path, events: list[Event], feeds: Path) -> None:
    with EventLog(tmp_path / "events.db") as log:
        log.append(events)
        runner_for(log).catch_up()
        stores = stores_on(log)
        options = PublishOptions(feeds_dir=feeds, page_size=PAGE)
        Publisher(stores.timeline, stores.published, options).publish()


def test_the_documents_are_the_files_bytes_and_sqlites(pg: Pg, tmp_path: Path) -> None:
    events = generated_day(3)
    sqlite_publish(tmp_path, events, tmp_path / "sqlite-feeds")
    pg.append(events)
    result = pg.publish(tmp_path / "pg-feeds")
    expected = files(tmp_path / "sqlite-feeds")
    assert len([p for p in expected if p.startswith("c1/archive/")]) >= 3
    assert files(tmp_path / "pg-feeds") == expected
    assert pg.bodies() == expected  # .state.json too
    assert sorted(str(p.relative_to(tmp_path / "pg-feeds")) for p in result.changed) == sorted(
        p for p in expected if not p.endswith(".state.json")
    )
    target = pg.stores.published.target(DATABASE_TARGET)
    assert target is not None and target.position == pg.events.head()


def test_without_a_feeds_directory_only_the_documents_are_written(pg: Pg, tmp_path: Path) -> None:
    events = generated_day(4)
    sqlite_publish(tmp_path, events, tmp_path / "sqlite-feeds")
    pg.append(events)
    nowhere = tmp_path / "no-feeds"
    result = pg.publish(nowhere, write_files=False)
    assert not nowhere.exists()
    assert result.changed and all(p.is_relative_to(nowhere) for p in result.changed)
    assert pg.bodies() == files(tmp_path / "sqlite-feeds")
    assert pg.documents.folders() == ["c1", "c2"]
    head = pg.events.head()
    state = freshness(pg.stores.timeline, pg.stores.published, nowhere, head, documents=True)
    assert state["published"] and state["position"] == head and state["lag"] == 0
    assert not freshness(pg.stores.timeline, pg.stores.published, nowhere, head)["published"]


def test_only_changed_documents_are_written_and_an_idle_publish_writes_none(
    pg: Pg, tmp_path: Path
) -> None:
    events = generated_day(5)
    cut = len(events) - 15
    pg.append(events[:cut])
    pg.publish(tmp_path / "feeds", write_files=False)
    before = {v.path: v for v in pg.documents.list()}
    assert pg.publish(tmp_path / "feeds", write_files=False).changed == []
    assert {v.path: v for v in pg.documents.list()} == before

    pg.append(events[cut:])
    result = pg.publish(tmp_path / "feeds", write_files=False)
    after = {v.path: v for v in pg.documents.list()}
    moved = {p for p in after if p not in before or after[p].etag != before[p].etag}
    reported = {p.relative_to(tmp_path / "feeds").as_posix() for p in result.changed}
    assert reported == moved - {p for p in moved if p.endswith(".state.json")}
    assert "c1/live.atom" in moved
    # An unchanged document keeps its time: conditional GETs keep answering 304.
    kept = [p for p in before if p in after and p not in moved]
    assert kept and all(after[p].modified == before[p].modified for p in kept)


def test_a_directory_behind_the_documents_is_brought_up_to_date(pg: Pg, tmp_path: Path) -> None:
    """Node A publishes with its directory; node B (no directory) publishes later events;
    A, publishing again, writes what its directory missed — and the documents and the
    directory agree with a fresh SQLite publish of the whole log."""
    events = generated_day(6)
    cut = len(events) // 2
    pg.append(events[:cut])
    pg.publish(tmp_path / "node-a")
    pg.append(events[cut:])
    pg.publish(tmp_path / "node-b", write_files=False)
    assert files(tmp_path / "node-a") != pg.bodies()
    result = pg.publish(tmp_path / "node-a")
    assert result.changed
    sqlite_publish(tmp_path, events, tmp_path / "sqlite-feeds")
    expected = files(tmp_path / "sqlite-feeds")
    assert files(tmp_path / "node-a") == expected
    assert pg.bodies() == expected


def test_a_publish_that_fails_before_its_commit_leaves_the_documents_as_they_were(
    pg: Pg, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events = generated_day(7)
    cut = len(events) - 20
    pg.append(events[:cut])
    pg.publish(tmp_path / "feeds")
    before = pg.bodies()
    target = pg.stores.published.target(DATABASE_TARGET)
    pg.append(events[cut:])

    def failing(**kw: Any) -> None:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(pg.stores.published, "record", failing)
    with pytest.raises(RuntimeError):
        pg.publish(tmp_path / "feeds")
    monkeypatch.undo()
    assert pg.bodies() == before  # documents and records: one transaction
    assert pg.stores.published.target(DATABASE_TARGET) == target
    # The files went ahead (as they always could); the next publish completes both.
    pg.publish(tmp_path / "feeds")
    sqlite_publish(tmp_path, events, tmp_path / "sqlite-feeds")
    assert pg.bodies() == files(tmp_path / "sqlite-feeds") == files(tmp_path / "feeds")


def test_no_directory_and_no_documents_is_refused(tmp_path: Path) -> None:
    from liveblog.errors import FeedsDirError

    with EventLog(tmp_path / "events.db") as log:
        stores = stores_on(log)
        options = dataclasses.replace(PublishOptions(feeds_dir=tmp_path), write_files=False)
        with pytest.raises(FeedsDirError, match="no feeds directory"):
            Publisher(stores.timeline, stores.published, options)
