"""A publish is recorded as of the timeline it rendered, never the log's head.

The race (seen with several nodes under load, but any process can meet it): a publish
catches the projections up, then an append lands, then the publish reads its snapshot.
The log's head now includes the new event; the timeline's rows do not. Recording the
head would mark the event published though no page has it, and every later publish
would skip it until its conference changed again.

Here the race is made on purpose: the event is appended and the publisher run without a
catch-up in between (`Publisher` itself never catches up; `Liveblog.publish` does).
Both backends, through their real stores; PostgreSQL with its feed documents too.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from liveblog.feeds.publisher import DATABASE_TARGET, MARKER_FILE, Publisher, PublishOptions
from liveblog.service.facade import Liveblog

CONF = "raced"


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "events.db")
    url: str = request.getfixturevalue("pg_url")
    monkeypatch.setenv("LIVEBLOG_SECRET_KEY", base64.b64encode(os.urandom(32)).decode())
    return url


@pytest.fixture
def service(db: str) -> Iterator[Liveblog]:
    with Liveblog(db, "ann") as service:
        service.open_conference(CONF, title="Raced")
        service.open_day(1)
        service.note("before the race")
        yield service


def live_texts(service: Liveblog, feeds: Path) -> list[list[str]]:
    """The live JSON Feed's entry texts in every output: the file, and the database's
    document where the store keeps them."""
    bodies = [(feeds / CONF / "live.json").read_bytes()]
    documents = service.stores.documents
    if documents is not None:
        found = documents.get(f"{CONF}/live.json")
        assert found is not None
        bodies.append(found.body)
    return [[item.get("content_text", "") for item in json.loads(body)["items"]] for body in bodies]


def recorded_positions(service: Liveblog, feeds: Path) -> list[int]:
    published = service.stores.published
    ids = [(feeds / MARKER_FILE).read_text().strip()]
    if service.stores.documents is not None:
        ids.append(DATABASE_TARGET)
    positions = []
    for target_id in ids:
        target = published.target(target_id)
        assert target is not None
        positions.append(target.position)
    return positions


def test_an_event_appended_after_the_catch_up_is_published_by_the_next_publish(
    service: Liveblog, tmp_path: Path
) -> None:
    feeds = tmp_path / "feeds"
    options = PublishOptions(feeds_dir=feeds)
    service.publish(options)
    projected = service.log.head()
    assert any("before the race" in t for t in live_texts(service, feeds)[0])

    # The race: appended after the catch-up, before the publisher's snapshot.
    service.note("appended in the race")
    assert service.log.head() == projected + 1
    stores = service.stores
    Publisher(stores.timeline, stores.published, options, documents=stores.documents).publish()
    # Nothing new was rendered, and nothing claims the new event was.
    assert recorded_positions(service, feeds) == [projected] * len(
        recorded_positions(service, feeds)
    )
    assert not any(
        "appended in the race" in t for texts in live_texts(service, feeds) for t in texts
    )

    service.publish(options)  # caught up: the event is rendered everywhere
    for texts in live_texts(service, feeds):
        assert any("appended in the race" in t for t in texts), texts
    assert set(recorded_positions(service, feeds)) == {projected + 1}


def test_a_publish_behind_what_was_published_writes_nothing(
    service: Liveblog, tmp_path: Path
) -> None:
    """A publisher whose timeline is behind a target's recorded position (another
    process published from a later state) leaves that target alone: its documents and
    files are not taken back, and its record not moved down."""
    feeds = tmp_path / "feeds"
    options = PublishOptions(feeds_dir=feeds)
    service.note("the later state")
    service.publish(options)
    later = recorded_positions(service, feeds)
    before = live_texts(service, feeds)
    assert all(any("the later state" in t for t in texts) for texts in before)

    # Take the projection back one event (as a rebuild in progress, or a process whose
    # catch-up is behind another's): its rows then say less than what was published.
    stores = service.stores
    with stores.projection_state.transaction():
        stores.projection_state.advance("timeline", later[0] - 1)
    assert stores.timeline.projected() == later[0] - 1
    result = Publisher(
        stores.timeline, stores.published, options, documents=stores.documents
    ).publish()
    assert result.rendered == []
    assert recorded_positions(service, feeds) == later
    assert live_texts(service, feeds) == before
