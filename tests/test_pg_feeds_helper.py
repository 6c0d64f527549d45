"""The feeds helper process on PostgreSQL: it opens the timeline at `location()` (the
URL) and writes the same archive documents and day pages as from a SQLite file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pg_projection import pg_catch_up
from test_pg_timeline import generated_day

from liveblog.feeds.helper import Helper
from liveblog.feeds.publisher import PublishOptions
from liveblog.projections import runner_for
from liveblog.store import EventLog
from liveblog.store.postgres.timeline import PostgresTimeline
from liveblog.store.sqlite.timeline import SqliteTimeline
from liveblog.store.timeline import Timeline

SIZE = 20


def jobs(timeline: Timeline, slug: str) -> list[dict[str, Any]]:
    """Every full archive block of `slug`, and its day pages, as the publisher hands them."""
    blocks, after = [], 0
    while (positions := timeline.archive_block(slug, after, SIZE)) is not None:
        blocks.append([len(blocks) + 1, positions[0], positions[SIZE - 1], positions[SIZE]])
        after = positions[SIZE - 1]
    days = [number for number, _ in timeline.days(slug)]
    return [
        {"kind": "archives", "total": len(blocks), "runs": [blocks[:3], blocks[3:]]},
        {"kind": "days", "runs": [[d] for d in days]},
    ]


def run_helper(location: str, feeds: Path, job: dict[str, Any]) -> list[Any]:
    """What the helper answers for every run of `job`, paths made relative to `feeds`."""
    answers: list[Any] = []
    with Helper(location, PublishOptions(feeds_dir=feeds), "c1", job) as helper:
        for _ in job["runs"]:
            for path, *rest in helper.next_run():
                answers.append([str(Path(path).relative_to(feeds)), *rest])
    return answers


def files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_the_helper_renders_from_postgresql_what_it_renders_from_sqlite(
    tmp_path: Path, pg_url: str
) -> None:
    from liveblog.store.postgres.log import PostgresEventStore

    events = generated_day(1)
    with EventLog(tmp_path / "events.db") as sqlite, PostgresEventStore(pg_url) as pg:
        sqlite.append(events)
        pg.append(events)
        runner_for(sqlite).catch_up()
        pg_catch_up(pg)
        on_sqlite, on_pg = SqliteTimeline(sqlite.conn), PostgresTimeline(pg.conn, pg_url)
        assert on_pg.location() == pg_url
        work = jobs(on_sqlite, "c1")
        assert work == jobs(on_pg, "c1")
        assert work[0]["total"] >= 5 and len(work[1]["runs"]) == 2
        location = on_sqlite.location()
        assert location is not None
        for job in work:
            expected = run_helper(location, tmp_path / "from-sqlite", job)
            assert run_helper(pg_url, tmp_path / "from-pg", job) == expected
    written = files(tmp_path / "from-pg")
    assert len(written) == work[0]["total"] + 2
    assert written == files(tmp_path / "from-sqlite")
