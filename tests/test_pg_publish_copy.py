"""A node's feeds directory catches up by copying the database's documents, and the
documents never wait for it (feeds/publisher.py: `_copy`).

On PostgreSQL each node may keep a directory of its own while every node serves the
documents. A node that takes the lead finds its directory behind (it led before) or new
(it never did); the documents are current. The publish renders the documents' plan
alone and commits it, then writes into the directory the documents' bytes where its
files differ: no conference is rendered for the directory, and it ends byte-identical to
the documents (and to a fresh SQLite publish). SQLite keeps one directory and no
documents: nothing of this applies there (its publishes are covered by test_feeds*.py
and test_publish_selection.py, unchanged).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from test_pg_publish import Pg, files, pg, sqlite_publish
from test_pg_timeline import generated_day

from liveblog.domain.envelope import Event
from liveblog.feeds import publisher as publisher_module
from liveblog.feeds.publisher import DATABASE_TARGET, MARKER_FILE

__all__ = ["pg"]  # the fixture, shared with test_pg_publish


def directory_target(pg: Pg, feeds: Path) -> Any:
    return pg.stores.published.target((feeds / MARKER_FILE).read_text().strip())


def node_a_led_then_node_b(pg: Pg, tmp_path: Path, seed: int) -> list[Event]:
    """Half a generated day published by node A (its directory `node-a`), the rest by
    node B, which keeps no directory: A's directory is behind the documents."""
    events = generated_day(seed)
    half = len(events) // 2
    for feeds, part, write_files in (
        ("node-a", events[:half], True),
        ("node-b", events[half:], False),
    ):
        pg.append(part)
        pg.publish(tmp_path / feeds, write_files=write_files)
    return events


def test_a_directory_behind_the_documents_is_copied_not_rendered(pg: Pg, tmp_path: Path) -> None:
    """Node A led, then node B (no directory) published the rest: A's next publish
    renders nothing (the documents are current) and its directory equals them."""
    events = node_a_led_then_node_b(pg, tmp_path, 11)
    documents = pg.bodies()
    assert files(tmp_path / "node-a") != documents

    result = pg.publish(tmp_path / "node-a")
    assert result.rendered == []  # copied, not rendered
    assert result.changed
    assert pg.bodies() == documents  # the documents were not written again
    assert files(tmp_path / "node-a") == documents  # .state.json included
    sqlite_publish(tmp_path, events, tmp_path / "sqlite-feeds")
    assert documents == files(tmp_path / "sqlite-feeds")
    head = pg.events.head()
    assert directory_target(pg, tmp_path / "node-a").position == head
    # Recorded as in step: the next publish after an event takes only what it staged.
    pg.publish(tmp_path / "node-a")
    assert files(tmp_path / "node-a") == pg.bodies()


def test_a_new_directory_is_filled_from_the_documents(pg: Pg, tmp_path: Path) -> None:
    events = generated_day(12)
    pg.append(events)
    pg.publish(tmp_path / "elsewhere", write_files=False)
    result = pg.publish(tmp_path / "new")
    assert result.rendered == []
    assert files(tmp_path / "new") == pg.bodies()
    assert (tmp_path / "new" / MARKER_FILE).exists()
    assert directory_target(pg, tmp_path / "new").position == pg.events.head()
    assert pg.publish(tmp_path / "new").changed == []  # idle: nothing written


def test_in_step_a_new_event_writes_what_changed_in_both(pg: Pg, tmp_path: Path) -> None:
    events = generated_day(13)
    cut = len(events) - 10
    pg.append(events[:cut])
    pg.publish(tmp_path / "feeds")
    before = files(tmp_path / "feeds")
    pg.append(events[cut:])
    result = pg.publish(tmp_path / "feeds")
    after = files(tmp_path / "feeds")
    assert after == pg.bodies()
    moved = {p for p in after if before.get(p) != after[p] and not p.endswith(".state.json")}
    reported = [p.relative_to(tmp_path / "feeds").as_posix() for p in result.changed]
    assert len(reported) == len(set(reported))  # each file once, though in both outputs
    assert set(reported) == moved
    sqlite_publish(tmp_path, events, tmp_path / "sqlite-feeds")
    assert after == files(tmp_path / "sqlite-feeds")


def test_a_damaged_directory_is_repaired_from_the_documents(pg: Pg, tmp_path: Path) -> None:
    feeds = tmp_path / "feeds"
    pg.append(generated_day(14))
    pg.publish(feeds)
    documents = pg.bodies()
    shutil.rmtree(feeds / "c1")
    result = pg.publish(feeds)
    assert result.repaired == ["c1"]
    assert result.rendered == []  # the documents were current: copied back
    assert files(feeds) == documents == pg.bodies()


def test_the_documents_are_committed_before_the_directory_is_written(
    pg: Pg, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A publish that fails while it writes the directory has already published the
    documents (every node serves them); the next publish completes the directory."""
    feeds = tmp_path / "feeds"
    events = generated_day(15)
    cut = len(events) - 20
    pg.append(events[:cut])
    pg.publish(feeds)
    pg.append(events[cut:])

    def failing(*args: Any, **kw: Any) -> None:
        raise OSError("the disk is full")

    monkeypatch.setattr(publisher_module.Publisher, "_copy_files", failing)
    with pytest.raises(OSError, match="disk is full"):
        pg.publish(feeds)
    monkeypatch.undo()
    head = pg.events.head()
    database = pg.stores.published.target(DATABASE_TARGET)
    assert database is not None and database.position == head
    sqlite_publish(tmp_path, events, tmp_path / "sqlite-feeds")
    expected = files(tmp_path / "sqlite-feeds")
    assert pg.bodies() == expected
    assert directory_target(pg, feeds).position < head
    assert files(feeds) != expected

    result = pg.publish(feeds)
    assert result.rendered == []
    assert files(feeds) == expected
    assert directory_target(pg, feeds).position == head


def test_documents_published_from_a_later_state_are_never_taken_back(
    pg: Pg, tmp_path: Path
) -> None:
    """The documents' target is ahead of this publisher's timeline (another node caught
    up further): the directory is rendered from this snapshot, by itself, and the
    documents (`.state.json` included, which would say the older position) stay."""
    node_a_led_then_node_b(pg, tmp_path, 16)
    documents = pg.bodies()
    later = pg.stores.published.target(DATABASE_TARGET)
    assert later is not None
    # This node's view of the timeline: one event short of what the documents hold.
    with pg.stores.projection_state.transaction():
        pg.stores.projection_state.advance("timeline", later.position - 1)
    result = pg.publish(tmp_path / "node-a")
    assert result.rendered  # its directory, rendered from its own snapshot
    assert pg.bodies() == documents
    assert pg.stores.published.target(DATABASE_TARGET) == later
    assert directory_target(pg, tmp_path / "node-a").position == later.position - 1
