"""The PostgreSQL timeline projection: the same rows and answers as SQLite's.

A generated conference day (parallel sessions, talks, quotes that take their talk's
speaker, corrections — a talk's speaker among them —, retractions, ends, a second day
and a second conference, reporters' clocks in several offsets and to the microsecond)
is appended to a SQLite log and to a PostgreSQL one. The PostgreSQL projection rebuilt
from scratch equals the one caught up after every event, whatever the chunk size, and
its rows and every read of the timeline equal SQLite's. The two values SQLite computes
itself (the UTC time of an entry, a correction laid over its data) are compared with
SQLite's own functions.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pg_projection import pg_catch_up, pg_rebuild
from pysqlite3 import dbapi2 as pysqlite3

from liveblog.domain.envelope import Event, make_event
from liveblog.domain.events import (
    ConferenceClosed,
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
    TalkEnded,
    TalkStarted,
)
from liveblog.store import EventLog
from liveblog.store.postgres.timeline import (
    CONFERENCES,
    DAYS,
    EDITS,
    ENTRIES,
    REPORTERS,
    TIMELINE,
    PostgresProjectionState,
    PostgresTimeline,
    PostgresTimelineProjection,
    merge_patch,
    sqlite_utc,
    utc_times,
)
from liveblog.store.sqlite.timeline import SqliteTimeline
from liveblog.store.timeline import Timeline

Row = tuple[Any, ...]
TABLES = (CONFERENCES, DAYS, REPORTERS, ENTRIES, EDITS)
JSON_COLUMNS = {"corrected", "changes", "upcast"}
OFFSETS = [
    dt.timezone(dt.timedelta(hours=h, minutes=m)) for h, m in ((1, 0), (0, 0), (-5, 0), (5, 30))
]


# -- the same values as SQLite's own functions ------------------------------------------


@settings(max_examples=100, deadline=None)
@given(
    when=st.datetimes(
        min_value=dt.datetime(2000, 1, 1),
        max_value=dt.datetime(2040, 12, 31),
        timezones=st.sampled_from(OFFSETS),
    )
)
def test_utc_times_are_sqlites_to_the_millisecond(when: dt.datetime) -> None:
    text = when.isoformat()
    conn = pysqlite3.connect(":memory:")
    try:
        (expected,) = conn.execute("SELECT strftime('%Y-%m-%dT%H:%M:%fZ', ?)", (text,)).fetchone()
    finally:
        conn.close()
    assert sqlite_utc(text) == expected


def test_utc_rounding_at_the_half_millisecond_and_the_end_of_a_second() -> None:
    # 01.010500 is SQLite's .010 but 07.010500 its .011: its decimal parser, not a
    # formula, decides; the batch keeps its order past ten items (json_each's keys).
    texts = [
        dt.datetime(2000, 1, 1, 0, 0, second, micro, tzinfo=offset).isoformat()
        for second in (0, 1, 7, 59)
        for micro in (0, 499, 500, 501, 1_500, 10_500, 999_499, 999_500, 999_999, 123_456)
        for offset in OFFSETS[:2]
    ]
    conn = pysqlite3.connect(":memory:")
    try:
        expected = [
            conn.execute("SELECT strftime('%Y-%m-%dT%H:%M:%fZ', ?)", (text,)).fetchone()[0]
            for text in texts
        ]
    finally:
        conn.close()
    assert "2000-01-01T00:00:01.010Z" in expected and "2000-01-01T00:00:07.011Z" in expected
    assert utc_times(texts) == expected
    assert [sqlite_utc(text) for text in texts] == expected


JSON = st.recursive(
    st.none() | st.integers(-5, 5) | st.text("ab", max_size=2),
    lambda inner: st.dictionaries(st.sampled_from("abcd"), inner, max_size=4),
    max_leaves=8,
)


@settings(max_examples=150, deadline=None)
@given(target=st.dictionaries(st.sampled_from("abcde"), JSON, max_size=5), patch=JSON)
def test_merge_patch_is_sqlites_json_patch_keys_in_order(target: Any, patch: Any) -> None:
    conn = pysqlite3.connect(":memory:")
    try:
        (expected,) = conn.execute(
            "SELECT json_patch(?, ?)", (json.dumps(target), json.dumps(patch))
        ).fetchone()
    finally:
        conn.close()
    # Compared as text: the keys' order is part of what must be equal.
    assert json.dumps(merge_patch(target, patch)) == json.dumps(json.loads(expected))


# -- a generated day ---------------------------------------------------------------------

REPORTERS_ = ("ann", "bob", "cat")
WORDS = ("shared", "services", "council", "budget", "cloud", "citizens", "data", "ok")


def generated_day(seed: int, steps: tuple[int, int] = (150, 200)) -> list[Event]:
    """Two conferences; in c1, three reporters covering parallel sessions over two days."""
    rng = random.Random(seed)
    events: list[Event] = []
    clock = dt.datetime(2011, 6, 9, 8, 0, tzinfo=OFFSETS[0])
    counter = iter(range(1, 10**6))

    def add(data: EventData, *, author: str = "ann", conference: str = "c1") -> str:
        nonlocal clock
        # Reporters' clocks differ, and some give seconds and microseconds.
        clock += dt.timedelta(
            seconds=rng.randint(-300, 900), microseconds=rng.choice((0, 0, rng.randint(0, 999_999)))
        )
        event_id = f"e{next(counter)}"
        events.append(
            make_event(
                id=event_id,
                conference=conference,
                occurred_at=clock.astimezone(rng.choice(OFFSETS)),
                author=author,
                data=data,
            )
        )
        return event_id

    def words(n: int = 3) -> str:
        return " ".join(rng.choice(WORDS) for _ in range(n))

    add(ConferenceOpened(title="C1", timezone="Europe/London", venue="Hall"))
    add(ConferenceOpened(title="C2", timezone="UTC"), author="cat", conference="c2")
    add(DayOpened(number=1, date=dt.date(2011, 6, 1)), author="cat", conference="c2")
    entries: list[tuple[str, str]] = []  # (id, type)
    talks_speaker: dict[str, str] = {}
    for day in (1, 2):
        add(DayOpened(number=day, date=dt.date(2011, 6, 8 + day), title=f"Day {day}"))
        open_: dict[str, tuple[str, str | None]] = {}  # reporter → (session, talk)
        for _ in range(rng.randint(*steps)):
            who = rng.choice(REPORTERS_)
            session, talk = open_.get(who, (None, None))
            roll = rng.random()
            if session is None or roll < 0.05:
                if session is not None:
                    add(SessionEnded(session=session), author=who)
                kind = rng.choice(("session", "plenary", "breakout"))
                session = add(
                    SessionStarted(day=day, title=words(), kind=kind, room="R"), author=who
                )
                entries.append((session, "session.started"))
                open_[who] = (session, None)
            elif talk is None or roll < 0.12:
                if talk is not None:
                    add(TalkEnded(talk=talk), author=who)
                speaker = rng.choice(("Andy", "Bea", "Cy"))
                talk = add(
                    TalkStarted(day=day, session=session, title=words(), speaker=speaker),
                    author=who,
                )
                talks_speaker[talk] = speaker
                entries.append((talk, "talk.started"))
                open_[who] = (session, talk)
            elif roll < 0.40:
                # Mostly the talk's speaker, as the CLI defaults it; sometimes another.
                speaker = talks_speaker[talk] if rng.random() < 0.7 else "Dee"
                place = {"day": day, "session": session, "talk": talk}
                entries.append(
                    (
                        add(QuoteCaptured(**place, text=words(6), speaker=speaker), author=who),
                        "quote.captured",
                    )
                )
            elif roll < 0.60:
                place = {"day": day, "session": session, "talk": talk}
                entries.append((add(NotePosted(**place, text=words(8)), author=who), "note.posted"))
            elif roll < 0.66:
                entries.append(
                    (
                        add(
                            PhotoPosted(day=day, url="https://example.org/p.jpg", caption=words()),
                            author=who,
                        ),
                        "photo.posted",
                    )
                )
            elif roll < 0.72:
                description = words() if rng.random() < 0.5 else None
                entries.append(
                    (
                        add(
                            LinkPosted(
                                day=day,
                                url="https://example.org/s",
                                title=words(),
                                description=description,
                            ),
                            author=who,
                        ),
                        "link.posted",
                    )
                )
            elif roll < 0.90 and entries:
                target, type_ = rng.choice(entries[-40:])
                if type_ == "talk.started" and rng.random() < 0.6:
                    add(
                        EntryCorrected(target=target, speaker=rng.choice(("Andrew", "Beatrice"))),
                        author=who,
                    )
                elif type_ == "quote.captured" and rng.random() < 0.3:
                    add(EntryCorrected(target=target, speaker="Dee Dee"), author=who)
                elif type_ == "photo.posted":
                    add(EntryCorrected(target=target, caption=words()), author=who)
                elif type_ == "link.posted":
                    add(
                        EntryCorrected(target=target, text=words(), description=words()), author=who
                    )
                else:
                    add(EntryCorrected(target=target, text=words(5)), author=who)
            elif entries:
                target, _ = rng.choice(entries)
                add(
                    EntryRetracted(target=target, reason=rng.choice((None, "duplicate"))),
                    author=who,
                )
        for who, (session, talk) in open_.items():
            if talk is not None:
                add(TalkEnded(talk=talk), author=who)
            add(SessionEnded(session=session), author=who)
        add(DayClosed(number=day))
    add(NotePosted(day=1, text="the other conference"), author="cat", conference="c2")
    add(EntryCorrected(target="nonesuch", text="an entry this log never saw"))
    add(ConferenceClosed(), author="cat", conference="c2")
    return events


# -- the two backends -------------------------------------------------------------------


def pg_rows(conn: Any) -> dict[str, list[Row]]:
    """Every row of every timeline table, JSON parsed (keys kept in order), sorted."""
    out: dict[str, list[Row]] = {}
    for table in TABLES:
        cursor = conn.raw.execute(f'SELECT * FROM "{table}"')
        names = [c.name for c in cursor.description]
        out[table] = sorted((normal(names, row) for row in cursor.fetchall()), key=repr)
    return out


def sqlite_rows(conn: Any) -> dict[str, list[Row]]:
    out: dict[str, list[Row]] = {}
    for table in TABLES:
        cursor = conn.execute(f'SELECT * FROM "{table}"')
        names = [c[0] for c in cursor.description]
        out[table] = sorted((normal(names, row) for row in cursor.fetchall()), key=repr)
    return out


def normal(names: list[str], row: Row) -> Row:
    values: list[Any] = []
    for name, value in zip(names, row, strict=True):
        if name in JSON_COLUMNS and value is not None:
            value = list(json.loads(value).items())
        elif name == "retracted":
            value = bool(value)
        values.append((name, value))
    return tuple(values)


@pytest.fixture
def both(tmp_path: Path, pg_url: str) -> Iterator[tuple[EventLog, Any]]:
    from liveblog.store.postgres.log import PostgresEventStore

    sqlite = EventLog(tmp_path / "events.db")
    pg = PostgresEventStore(pg_url)
    try:
        yield sqlite, pg
    finally:
        pg.close()
        sqlite.close()


def sqlite_catch_up(log: EventLog) -> None:
    from liveblog.projections import runner_for

    runner_for(log).catch_up()


def reads(timeline: Timeline) -> dict[str, Any]:
    """Every read of the timeline, as plain values (an entry's data as ordered items)."""

    def entries(items: list[Any]) -> list[Any]:
        return [(e, list(e.data.items())) for e in items]

    out: dict[str, Any] = {
        "slugs": timeline.conference_slugs(),
        "every": timeline.every_conference(),
        "changed": [timeline.changed_after(p) for p in (0, 10, 100)],
        "lagging": timeline.lagging(0, 1),
        "counts": (timeline.entry_counts(None), timeline.day_counts(None)),
        "head": timeline.head(),
        "times": [(timeline.occurred_at(p)) for p in range(0, timeline.head() + 2, 7)],
    }
    for slug in timeline.conference_slugs():
        positions = [
            e.position for d, _ in timeline.days(slug) for e in timeline.day_entries(slug, d)
        ]
        ids = [e.id for d, _ in timeline.days(slug) for e in timeline.day_entries(slug, d)]
        out[slug] = {
            "conference": timeline.conference(slug),
            "days": timeline.days(slug),
            "closed": timeline.closed_days(slug),
            "per day": [
                (
                    timeline.day(slug, d),
                    timeline.day_reporters(slug, d),
                    entries(timeline.day_entries(slug, d)),
                    timeline.entries_of_days(slug, [d]),
                )
                for d, _ in timeline.days(slug)
            ],
            "live": [
                sorted(
                    entries(timeline.live_entries(slug, size, archived)),
                    key=lambda e: e[0].position,
                )
                for size in (5, 30)
                for archived in (0, *positions[::25])
            ],
            "tombstones": timeline.tombstones(slug, 10),
            "blocks": [timeline.archive_block(slug, after, 10) for after in (0, *positions[::17])],
            "originals": [
                (o, list(o.data.items()))
                for o in timeline.original_entries(slug, 0, timeline.head())
            ],
            "edits": {
                entry: edits
                for entry, edits in sorted(timeline.edits(ids, timeline.head() + 1).items())
            },
            "edits before": sorted(timeline.edits(ids, timeline.head() // 2).items()),
            "last": timeline.last_positions([slug, "nonesuch"]),
        }
    return out


@pytest.mark.parametrize("seed", [1, 2])
def test_rows_and_reads_equal_sqlites_for_a_generated_day(
    both: tuple[EventLog, Any], seed: int
) -> None:
    sqlite, pg = both
    events = generated_day(seed)
    sqlite.append(events)
    pg.append(events)
    sqlite_catch_up(sqlite)
    pg_catch_up(pg)
    assert pg.head() == sqlite.head() == len(events)
    expected = sqlite_rows(sqlite.conn)
    assert sum(len(rows) for rows in expected.values()) > 200  # a real day, not a stub
    assert any(row[11][1] for row in expected[ENTRIES])  # corrections made
    assert pg_rows(pg.conn) == expected
    assert reads(PostgresTimeline(pg.conn, pg.url)) == reads(SqliteTimeline(sqlite.conn))


def test_a_rebuild_equals_the_projection_caught_up_after_every_event(pg_url: str) -> None:
    from liveblog.store.postgres.log import PostgresEventStore

    events = generated_day(3, steps=(50, 70))
    with PostgresEventStore(pg_url) as pg:
        for event in events:
            pg.append([event])
            pg_catch_up(pg)
        incremental = pg_rows(pg.conn)
        view = sorted(pg.conn.execute(f'SELECT id, data::text FROM "{TIMELINE}"').fetchall())
        assert len(incremental[ENTRIES]) > 50
        pg_rebuild(pg)
        assert pg_rows(pg.conn) == incremental
        # Corrections, their targets and ends fall either side of a chunk's boundary.
        for chunk in (4, 37):
            pg_rebuild(pg, chunk=chunk)
            assert pg_rows(pg.conn) == incremental
        assert (
            sorted(pg.conn.execute(f'SELECT id, data::text FROM "{TIMELINE}"').fetchall()) == view
        )


# -- the projection's state ----------------------------------------------------------------


def test_a_new_version_or_a_dropped_table_rebuilds_from_zero(pg_url: str) -> None:
    from liveblog.store.postgres.log import PostgresEventStore

    events = generated_day(4, steps=(20, 30))
    with PostgresEventStore(pg_url) as pg:
        pg.append(events)
        pg_catch_up(pg)
        rows = pg_rows(pg.conn)
        state = PostgresProjectionState(pg.conn)
        tables = PostgresTimelineProjection.tables
        assert state.exists()
        assert state.position("timeline", PostgresTimelineProjection.version, tables) == pg.head()
        assert state.position("timeline", PostgresTimelineProjection.version + 1, tables) is None
        pg.conn.execute(f'DROP VIEW "{TIMELINE}"')  # by hand: the tables stay
        assert state.position("timeline", PostgresTimelineProjection.version, tables) is None
        pg_catch_up(pg)  # reset (the tables dropped, views first) and replayed
        assert pg_rows(pg.conn) == rows
        assert pg.conn.execute(f'SELECT count(*) FROM "{TIMELINE}"').fetchone()[0] == len(
            rows[ENTRIES]
        )


def test_fast_writes_apply_to_projection_transactions_only(pg_url: str) -> None:
    from liveblog.store.postgres.log import PostgresEventStore

    def setting(conn: Any) -> str:
        return str(conn.execute("SHOW synchronous_commit").fetchone()[0])

    with PostgresEventStore(pg_url) as pg:
        state = PostgresProjectionState(pg.conn)
        # The test cluster is not durable (synchronous_commit off): this session is.
        pg.conn.execute("SET synchronous_commit = on")
        durable = setting(pg.conn)
        assert durable == "on"
        with state.fast_writes():
            with state.transaction():
                assert setting(pg.conn) == "off"
            assert setting(pg.conn) == durable  # SET LOCAL: gone with its transaction
            with pg.conn.writing(), state.transaction():
                assert setting(pg.conn) == durable  # joined another's: never an append's
        with state.transaction():
            assert setting(pg.conn) == durable
        pg.conn.execute("RESET synchronous_commit")  # before it goes back to the pool


def test_a_second_catch_up_waits_for_the_first_projection_transaction(pg_url: str) -> None:
    """Two processes catching up at once (a node and a CLI command) take turns: the
    second's transaction waits on the advisory lock until the first commits, then reads
    its position, so nothing is applied twice."""
    import threading

    import psycopg
    from receivers import wait_for

    from liveblog.store.postgres.log import PostgresEventStore

    events = generated_day(5, steps=(20, 30))
    with PostgresEventStore(pg_url) as first, PostgresEventStore(pg_url) as second:
        first.append(events[:100])
        pg_catch_up(first)
        first.append(events[100:])
        pid = second.conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        holding, release = threading.Event(), threading.Event()
        errors: list[BaseException] = []

        def catch_up(store: Any) -> None:
            try:
                pg_catch_up(store)
            except BaseException as exc:  # reported below
                errors.append(exc)

        def hold() -> None:
            with PostgresProjectionState(first.conn).transaction():
                holding.set()
                release.wait(60)
                catch_up(first)  # joins this transaction: applied under its lock

        holder = threading.Thread(target=hold)
        holder.start()
        assert holding.wait(60)
        waiter = threading.Thread(target=catch_up, args=(second,))
        waiter.start()
        with psycopg.connect(pg_url, autocommit=True) as watch:
            wait_for(
                lambda: watch.execute(
                    "SELECT 1 FROM pg_stat_activity WHERE pid = %s "
                    "AND wait_event_type = 'Lock' AND wait_event = 'advisory'",
                    (pid,),
                ).fetchone(),
                what="the second catch-up waiting on the projection lock",
            )
        release.set()
        holder.join(60)
        waiter.join(60)
        assert not errors and not holder.is_alive() and not waiter.is_alive()
        state = PostgresProjectionState(second.conn)
        tables = PostgresTimelineProjection.tables
        version = PostgresTimelineProjection.version
        assert state.position("timeline", version, tables) == second.head() == len(events)
        once = pg_rows(second.conn)
        pg_rebuild(second)
        assert pg_rows(second.conn) == once


def test_the_helpers_timeline_is_read_only(pg_url: str) -> None:
    from liveblog.errors import StoreError
    from liveblog.store.postgres.log import PostgresEventStore
    from liveblog.store.postgres.timeline import close_timeline, open_timeline

    with PostgresEventStore(pg_url) as pg:
        pg.append(generated_day(6, steps=(5, 10)))
        pg_catch_up(pg)
        expected = PostgresTimeline(pg.conn, pg_url).conference_slugs()
    timeline = open_timeline(pg_url)
    try:
        assert timeline.conference_slugs() == expected == ["c1", "c2"]
        with pytest.raises(StoreError):
            timeline.conn.execute("CREATE TABLE scribble (x integer)")
    finally:
        close_timeline(timeline)


def test_an_entry_stored_under_an_older_schema_projects_as_on_sqlite(
    both: tuple[EventLog, Any],
) -> None:
    """A session stored by an older release (schema 1: one `host`) keeps its upcast data
    in the row; a note in it and a correction of its title follow, as on SQLite."""
    sqlite, pg = both
    events = generated_day(7, steps=(10, 15))
    sqlite.append(events)
    pg.append(events)
    head, version = sqlite.head(), sqlite.version("c1")
    row = [
        head + 1,
        "old-session",
        "session.started",
        "c1",
        "2011-06-10T11:30:00.250000+01:00",
        "2011-06-10T10:30:01.000000+00:00",
        "ann",
        version + 1,
        1,
        json.dumps({"day": 2, "title": "Old", "host": "Jo"}),
    ]
    insert = (
        "INSERT INTO events (position, id, type, conference, occurred_at, recorded_at, "
        "author, version, schema_version, data) VALUES ({})"
    )
    plain = pysqlite3.connect(str(sqlite.path), isolation_level=None)
    try:
        plain.execute(insert.format(", ".join("?" * 10)), row)
    finally:
        plain.close()
    pg.conn.execute(insert.format(", ".join(["%s"] * 10)), row)
    later = [
        make_event(
            id="in-old",
            conference="c1",
            occurred_at=dt.datetime(2011, 6, 10, 11, 31, tzinfo=OFFSETS[0]),
            author="ann",
            data=NotePosted(day=2, session="old-session", text="in the old session"),
        ),
        make_event(
            id="fix-old",
            conference="c1",
            occurred_at=dt.datetime(2011, 6, 10, 11, 32, tzinfo=OFFSETS[0]),
            author="ann",
            data=EntryCorrected(target="old-session", text="Old, renamed"),
        ),
    ]
    sqlite.append(later)
    pg.append(later)
    sqlite_catch_up(sqlite)
    pg_catch_up(pg)
    expected = sqlite_rows(sqlite.conn)
    assert pg_rows(pg.conn) == expected
    on_pg = by_id_of(PostgresTimeline(pg.conn, pg.url))
    assert on_pg == by_id_of(SqliteTimeline(sqlite.conn))
    old = on_pg["old-session"]
    assert (old.data["hosts"], old.data["title"]) == (["Jo"], "Old, renamed")
    assert on_pg["in-old"].session == "old-session"


def by_id_of(timeline: Timeline) -> dict[str, Any]:
    return {
        e.id: e
        for slug in timeline.conference_slugs()
        for day, _ in timeline.days(slug)
        for e in timeline.day_entries(slug, day)
    }
