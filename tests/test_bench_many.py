"""The many-conference benchmark generator (bench.many) writes what liveblog would."""

from __future__ import annotations

import json
from pathlib import Path

from bench import many
from bench.synthetic import check_row
from liveblog.feeds import PublishOptions
from liveblog.service.facade import Liveblog
from liveblog.store import EventLog
from liveblog.store.sqlite.verify import verify

CONFERENCES = 4


def test_every_row_parses_and_reencodes_through_the_models() -> None:
    rows = list(many.generate(CONFERENCES))
    assert len(rows) == CONFERENCES * many.EVENTS_PER_CONFERENCE
    for row in rows:
        check_row(row)
    assert [row[0] for row in rows] == list(range(1, len(rows) + 1))
    slugs = {row[3] for row in rows}
    titles = {json.loads(row[9])["title"] for row in rows if row[2] == "conference.opened"}
    assert len(slugs) == len(titles) == CONFERENCES
    assert rows[-1][3] == many.OPEN_CONFERENCE
    assert [row[2] for row in rows].count("day.closed") == CONFERENCES - 1


def test_deterministic_and_the_open_conference_is_the_same_in_every_size() -> None:
    assert list(many.generate(CONFERENCES)) == list(many.generate(CONFERENCES))
    alone = list(many.generate(1))
    last = list(many.generate(CONFERENCES))[-many.EVENTS_PER_CONFERENCE :]
    assert [row[1:] for row in alone] == [row[1:] for row in last]


def test_the_log_verifies_publishes_and_takes_a_note_in_the_open_day(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    many.write_log(path, CONFERENCES)
    with EventLog(path) as log:
        findings = verify(log)
    assert all(f.ok for f in findings), [f.text for f in findings if not f.ok]
    feeds = tmp_path / "feeds"
    with Liveblog(path, many.AUTHOR) as service:
        options = PublishOptions(feeds_dir=feeds)
        service.publish(options)
        assert sorted(p.name for p in feeds.iterdir() if p.is_dir()) == sorted(
            {row[3] for row in many.generate(CONFERENCES)}
        )
        (event,) = service.note("A note into the open day.")
        assert (event.conference, event.data.day) == (many.OPEN_CONFERENCE, 1)  # type: ignore[attr-defined]
        changed = service.publish(options).changed
    assert {p.parent.name for p in changed} == {many.OPEN_CONFERENCE}
    live = json.loads((feeds / many.OPEN_CONFERENCE / "live.json").read_bytes())
    assert live["items"][0]["id"].endswith(event.id)
