"""The event log: append-only, gap-free, idempotent by id, enforced by the database."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3 as stdlib_sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from pysqlite3 import dbapi2 as pysqlite3

from liveblog.domain.envelope import Event, from_export, make_event
from liveblog.domain.events import DayClosed, EventData, NotePosted, SessionStarted
from liveblog.errors import (
    AmbiguousId,
    ConflictingEvent,
    InvalidEvent,
    NotFound,
    SchemaTooNew,
    StoreRefused,
    VersionConflict,
)
from liveblog.store import EventLog
from liveblog.store.sqlite.driver import BUSY_TIMEOUT_MS
from liveblog.store.sqlite.schema import APPLICATION_ID, LATEST, MIGRATIONS

T0 = dt.datetime(2011, 6, 9, 9, 0, tzinfo=dt.UTC)


def note(
    event_id: str,
    conference: str = "socitm-2011",
    *,
    text: str | None = None,
    author: str = "ann",
    minute: int = 0,
) -> Event:
    return event(
        event_id,
        NotePosted(day=1, text=text or f"note {event_id}"),
        conference=conference,
        author=author,
        minute=minute,
    )


def event(
    event_id: str,
    data: EventData,
    *,
    conference: str = "socitm-2011",
    author: str = "ann",
    minute: int = 0,
) -> Event:
    return make_event(
        id=event_id,
        conference=conference,
        occurred_at=T0 + dt.timedelta(minutes=minute),
        author=author,
        data=data,
    )


def export(log: EventLog) -> list[dict[str, Any]]:
    return [e.to_export() for e in log.read()]


def raw_rows(path: Path) -> list[tuple[Any, ...]]:
    conn = stdlib_sqlite3.connect(path)
    try:
        return conn.execute("SELECT * FROM events ORDER BY position").fetchall()
    finally:
        conn.close()


@pytest.fixture
def log(db_path: Path) -> Iterator[EventLog]:
    with EventLog(db_path) as opened:
        yield opened


# -- positions and versions ----------------------------------------------------------------


def test_an_empty_log(log: EventLog) -> None:
    assert log.head() == 0
    assert log.version("socitm-2011") == 0
    assert list(log.read()) == []
    assert log.get("nope") is None


def test_positions_are_gap_free_and_versions_per_conference(log: EventLog) -> None:
    plan = [("a", 1), ("b", 2), ("a", 1), ("c", 3), ("b", 1), ("a", 4), ("c", 1)]
    n = 0
    for conference, size in plan:
        batch = [note(f"{conference}-{n + i}", conference) for i in range(size)]
        n += size
        appended = log.append(batch)
        assert [a.created for a in appended] == [True] * size
    assert log.head() == n == 13

    events = list(log.read())
    assert [e.position for e in events] == list(range(1, n + 1))
    for conference in "abc":
        versions = [e.version for e in events if e.conference == conference]
        assert versions == list(range(1, len(versions) + 1))
        assert log.version(conference) == len(versions)
    assert (log.version("a"), log.version("b"), log.version("c")) == (6, 3, 4)
    # Positions follow the order of the appends, and of the events inside each batch.
    assert [int(e.id.split("-")[1]) for e in events] == list(range(n))
    assert "".join(e.conference for e in events) == "abbacccbaaaac"


def test_append_returns_the_stored_events(log: EventLog) -> None:
    before = dt.datetime.now(dt.UTC)
    first, second = log.append([note("x1"), note("x2", "other")])
    after = dt.datetime.now(dt.UTC)
    assert (first.created, second.created) == (True, True)
    assert (first.event.position, first.event.version) == (1, 1)
    assert (second.event.position, second.event.version) == (2, 1)
    for appended in (first, second):
        stamp = appended.event.recorded_at
        assert stamp is not None and stamp.tzinfo is not None
        assert before <= stamp <= after
        stored = log.get(appended.event.id)
        assert stored is not None
        assert stored.to_export() == appended.event.to_export()


def test_an_empty_batch_writes_nothing(log: EventLog) -> None:
    assert log.append([]) == []
    assert log.head() == 0


# -- atomic batches and idempotency --------------------------------------------------------


def test_a_batch_whose_third_event_conflicts_writes_nothing(log: EventLog, db_path: Path) -> None:
    log.append([note("taken", text="the original")])
    before, rows_before = export(log), raw_rows(db_path)

    batch = [note("new-1"), note("new-2"), note("taken", text="another text"), note("new-3")]
    with pytest.raises(ConflictingEvent, match="taken"):
        log.append(batch)

    assert export(log) == before
    assert raw_rows(db_path) == rows_before
    assert log.get("new-1") is None and log.get("new-2") is None
    assert not log.conn.in_transaction
    # The lock is released: the log takes the next append at the next position.
    (ok,) = log.append([note("new-1")])
    assert ok.event.position == 2


def test_a_batch_failing_inside_the_database_writes_nothing(log: EventLog, db_path: Path) -> None:
    """A failure while the rows are being inserted (here a TEMP trigger of this connection
    refusing the third row) rolls back the rows already inserted by the batch."""
    log.append([note("first")])
    before, rows_before = export(log), raw_rows(db_path)
    log.conn.execute(
        "CREATE TEMP TRIGGER refuse_boom BEFORE INSERT ON main.events WHEN NEW.id = 'boom' "
        "BEGIN SELECT RAISE(ABORT, 'boom refused'); END"
    )
    batch = [note("new-1"), note("new-2"), note("boom"), note("new-3")]
    with pytest.raises(StoreRefused, match="boom refused"):
        log.append(batch)
    assert not log.conn.in_transaction
    assert export(log) == before
    assert raw_rows(db_path) == rows_before
    log.conn.execute("DROP TRIGGER temp.refuse_boom")
    assert [a.event.position for a in log.append(batch)] == [2, 3, 4, 5]


def test_a_batch_repeating_a_new_id_with_other_content_writes_nothing(log: EventLog) -> None:
    log.append([note("first")])
    batch = [note("dup", text="one"), note("other"), note("dup", text="two")]
    with pytest.raises(ConflictingEvent, match="dup"):
        log.append(batch)
    assert [e.id for e in log.read()] == ["first"]


def test_a_batch_failing_its_version_check_writes_nothing(log: EventLog) -> None:
    log.append([note("one")])
    with pytest.raises(VersionConflict):
        log.append([note("two"), note("three")], expected_version=0)
    assert [e.id for e in log.read()] == ["one"]


def test_reappending_the_same_event_returns_it_and_writes_nothing(
    log: EventLog, db_path: Path
) -> None:
    log.append([note("a1"), note("a2")])
    (original,) = log.append([note("x", text="hello")])
    log.append([note("a3")])
    before, rows_before = export(log), raw_rows(db_path)
    changes = log.conn.total_changes

    (again,) = log.append([note("x", text="hello")])
    assert again.created is False
    assert again.event.position == original.event.position == 3
    assert again.event.version == original.event.version
    assert again.event.recorded_at == original.event.recorded_at

    # As re-imported from an export line: what log/position/recorded_at say is ignored.
    line = {**original.event.to_export(), "position": 99, "version": 99}
    (reimported,) = log.append([from_export(line)])
    assert reimported.created is False
    assert reimported.event.position == 3

    assert log.conn.total_changes == changes
    assert export(log) == before
    assert raw_rows(db_path) == rows_before


def test_a_batch_mixing_stored_and_new_events(log: EventLog) -> None:
    (stored,) = log.append([note("old")])
    results = log.append([note("new-1"), note("old"), note("new-2"), note("new-1")])
    assert [(r.event.id, r.created, r.event.position) for r in results] == [
        ("new-1", True, 2),
        ("old", False, 1),
        ("new-2", True, 3),
        ("new-1", False, 2),
    ]
    assert results[1].event.to_export() == stored.event.to_export()
    assert log.head() == 3


def test_reappending_with_a_stale_expected_version_is_still_idempotent(log: EventLog) -> None:
    (first,) = log.append([note("x")], expected_version=0)
    log.append([note("y")])
    (again,) = log.append([note("x")], expected_version=0)
    assert again.created is False
    assert again.event.position == first.event.position
    assert log.head() == 2


@pytest.mark.parametrize(
    "changed",
    [
        note("x", text="other text"),
        note("x", author="bob"),
        note("x", minute=1),
        note("x", "another-conference"),
        event("x", DayClosed(number=1)),
        event("x", NotePosted(day=2, text="note x")),
    ],
    ids=["text", "author", "occurred_at", "conference", "type", "day"],
)
def test_same_id_with_different_content_is_a_conflict(log: EventLog, changed: Event) -> None:
    log.append([note("x")])
    before = export(log)
    with pytest.raises(ConflictingEvent) as info:
        log.append([changed])
    assert str(info.value) == "event x is already in the log with different content"
    assert export(log) == before


def test_same_instant_in_another_offset_is_different_content(log: EventLog) -> None:
    """`occurred_at` is what the reporter's clock said, offset included."""
    log.append([note("x")])
    shifted = make_event(
        id="x",
        conference="socitm-2011",
        occurred_at=T0.astimezone(dt.timezone(dt.timedelta(hours=1))),
        author="ann",
        data=NotePosted(day=1, text="note x"),
    )
    with pytest.raises(ConflictingEvent):
        log.append([shifted])


# -- expected_version ----------------------------------------------------------------------


def test_expected_version(log: EventLog) -> None:
    log.append([note("a-1", "a")], expected_version=0)
    log.append([note("b-1", "b")], expected_version=0)
    log.append([note("a-2", "a"), note("a-3", "a")], expected_version=1)
    assert log.version("a") == 3

    with pytest.raises(VersionConflict) as info:
        log.append([note("a-4", "a")], expected_version=2)
    conflict = info.value
    assert (conflict.conference, conflict.expected, conflict.actual) == ("a", 2, 3)
    message = str(conflict)
    assert "expected version 2" in message
    assert "the log is at version 3" in message
    assert "\n" not in message
    assert log.get("a-4") is None
    assert log.head() == 4

    (ok,) = log.append([note("a-4", "a")], expected_version=3)
    assert (ok.event.position, ok.event.version) == (5, 4)


def test_expected_version_needs_a_single_conference(log: EventLog) -> None:
    with pytest.raises(InvalidEvent, match="single conference"):
        log.append([note("a-1", "a"), note("b-1", "b")], expected_version=0)
    assert log.head() == 0


# -- reading -------------------------------------------------------------------------------


def test_reading_from_any_position_streams_in_order(log: EventLog) -> None:
    log.append([note(f"e{i:02d}", "a" if i % 3 else "b") for i in range(1, 31)])
    for after in range(31):
        events = list(log.read(after=after))
        assert [e.position for e in events] == list(range(after + 1, 31))
        assert [e.id for e in events] == [f"e{i:02d}" for i in range(after + 1, 31)]
    assert list(log.read(after=30)) == []
    assert list(log.read(after=1000)) == []
    assert [e.position for e in log.read(after=10, limit=5)] == [11, 12, 13, 14, 15]
    assert [e.position for e in log.read(after=28, limit=5)] == [29, 30]
    assert list(log.read(limit=0)) == []


def test_reading_across_the_chunk_boundary(log: EventLog) -> None:
    batch = [note(f"n{i:04d}", "a" if i % 2 else "b") for i in range(1, 2501)]
    appended = log.append(batch)
    assert [a.event.position for a in appended] == list(range(1, 2501))
    assert log.head() == 2500

    tail = list(log.read(after=1234))
    assert [e.position for e in tail] == list(range(1235, 2501))
    assert [e.id for e in tail] == [f"n{i:04d}" for i in range(1235, 2501)]

    everything = list(log.read())
    assert [e.position for e in everything] == list(range(1, 2501))
    assert sorted(e.version for e in everything if e.conference == "a") == list(range(1, 1251))
    assert sorted(e.version for e in everything if e.conference == "b") == list(range(1, 1251))

    limited = list(log.read(after=990, limit=1500))
    assert [e.position for e in limited] == list(range(991, 2491))
    assert [e.position for e in log.read(after=999, limit=2)] == [1000, 1001]


def test_reading_is_lazy_and_sees_later_appends(log: EventLog) -> None:
    log.append([note(f"n{i:04d}") for i in range(1, 1002)])
    stream = log.read()
    first = next(stream)
    assert first.position == 1
    log.append([note("late")])
    assert [e.position for e in stream][-1] == 1002


# -- resolving ids -------------------------------------------------------------------------


@pytest.fixture
def ids(log: EventLog) -> EventLog:
    log.append(
        [note(i) for i in ("abc123", "abc456", "abd789", "xyz", "xyz2", "a.c", "b-c", "m1", "m2")]
    )
    return log


@pytest.mark.parametrize(
    ("prefix", "found"),
    [
        ("abc1", "abc123"),
        ("abc123", "abc123"),
        ("abd", "abd789"),
        ("abc4", "abc456"),
        ("xyz", "xyz"),  # a whole id always matches, even if it prefixes another
        ("xyz2", "xyz2"),
        ("a.", "a.c"),
        ("b-", "b-c"),
    ],
)
def test_resolve_a_unique_prefix(ids: EventLog, prefix: str, found: str) -> None:
    assert ids.resolve(prefix).id == found


def test_resolve_an_ambiguous_prefix(ids: EventLog) -> None:
    with pytest.raises(AmbiguousId) as info:
        ids.resolve("abc")
    message = str(info.value)
    assert "abc123" in message and "abc456" in message
    assert "abd789" not in message
    assert "\n" not in message
    with pytest.raises(AmbiguousId):
        ids.resolve("a")
    with pytest.raises(AmbiguousId):
        ids.resolve("m")


@pytest.mark.parametrize("prefix", ["zzz", "abc1234", "ABC", "a%", "_bc", "abc\n", "", "abd7890"])
def test_resolve_an_unknown_id(ids: EventLog, prefix: str) -> None:
    with pytest.raises(NotFound) as info:
        ids.resolve(prefix)
    assert "\n" not in str(info.value)


def test_resolve_with_many_matches_lists_a_few(log: EventLog) -> None:
    log.append([note(f"same{i:02d}") for i in range(20)])
    with pytest.raises(AmbiguousId) as info:
        log.resolve("same")
    message = str(info.value)
    assert "same00" in message and "same04" in message
    assert "same05" not in message


# -- append-only, enforced by the database -------------------------------------------------

DRIVERS = {"pysqlite3": pysqlite3, "stdlib": stdlib_sqlite3}
INSERT = (
    "INSERT INTO events (position, id, type, conference, occurred_at, recorded_at, author, "
    "version, schema_version, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def row(position: int, event_id: str, version: int, *, text: str = "forged") -> tuple[Any, ...]:
    return (
        position,
        event_id,
        "note.posted",
        "socitm-2011",
        "2011-06-09T09:00:00+00:00",
        "2011-06-09T09:00:00+00:00",
        "mallory",
        version,
        1,
        json.dumps({"day": 1, "text": text}),
    )


# The stored log is e1..e3 of conference socitm-2011 (positions and versions 1..3).
TAMPERING: dict[str, tuple[str, tuple[Any, ...]]] = {
    "update data": ('UPDATE events SET data = \'{"day":1,"text":"x"}\' WHERE position = 2', ()),
    "update position": ("UPDATE events SET position = 10 WHERE position = 3", ()),
    "update all": ("UPDATE events SET author = 'mallory'", ()),
    "delete last": ("DELETE FROM events WHERE position = 3", ()),
    "delete all": ("DELETE FROM events", ()),
    "insert or replace same row": (INSERT.replace("INSERT", "INSERT OR REPLACE"), row(2, "e2", 2)),
    "replace into by id": (INSERT.replace("INSERT", "REPLACE"), row(4, "e2", 4)),
    "replace into by position": (INSERT.replace("INSERT", "REPLACE"), row(2, "new", 4)),
    "replace into by version": (INSERT.replace("INSERT", "REPLACE"), row(4, "new", 2)),
    "insert with a position gap": (INSERT, row(5, "new", 4)),
    "insert with a version gap": (INSERT, row(4, "new", 5)),
    "insert reusing an id": (INSERT, row(4, "e2", 4)),
    "insert or ignore reusing an id": (
        INSERT.replace("INSERT", "INSERT OR IGNORE"),
        row(4, "e2", 4),
    ),
    "insert without a position": (
        INSERT.replace("position, ", "").replace("?, ", "", 1),
        row(4, "new", 4)[1:],
    ),
    "upsert over an id": (INSERT + " ON CONFLICT (id) DO UPDATE SET author = 'x'", row(4, "e2", 4)),
}


@pytest.fixture
def three_events(db_path: Path) -> list[dict[str, Any]]:
    with EventLog(db_path) as log:
        log.append([note("e1"), note("e2"), note("e3")])
        return export(log)


@pytest.mark.parametrize("tampering", list(TAMPERING))
@pytest.mark.parametrize("driver", list(DRIVERS))
def test_the_database_refuses_to_change_the_log(
    db_path: Path, three_events: list[dict[str, Any]], driver: str, tampering: str
) -> None:
    module: ModuleType = DRIVERS[driver]
    rows_before = raw_rows(db_path)
    sql, params = TAMPERING[tampering]
    conn = module.connect(str(db_path))  # a plain connection: no pragmas at all
    try:
        assert conn.execute("PRAGMA recursive_triggers").fetchone()[0] == 0
        with pytest.raises(module.IntegrityError, match="append-only"):
            conn.execute(sql, params)
        conn.commit()  # whatever the failed statement left behind, commit it
    finally:
        conn.close()
    assert raw_rows(db_path) == rows_before
    with EventLog(db_path) as log:
        assert export(log) == three_events


@pytest.mark.parametrize("driver", list(DRIVERS))
def test_the_database_takes_a_well_formed_append(db_path: Path, driver: str) -> None:
    """The triggers refuse tampering, not appending: the next position and version pass."""
    module: ModuleType = DRIVERS[driver]
    with EventLog(db_path) as log:
        log.append([note("e1"), note("e2", "other")])
    conn = module.connect(str(db_path))
    try:
        conn.execute(INSERT, row(3, "e3", 2, text="from a shell"))
        conn.commit()
    finally:
        conn.close()
    with EventLog(db_path) as log:
        last = log.get("e3")
        assert last is not None
        assert (last.position, last.version, last.author) == (3, 2, "mallory")
        assert last.data.data()["text"] == "from a shell"


# -- connections and migrations ------------------------------------------------------------


def test_connections_use_wal_and_a_busy_timeout(log: EventLog, db_path: Path) -> None:
    assert log.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert log.conn.execute("PRAGMA busy_timeout").fetchone()[0] == BUSY_TIMEOUT_MS
    assert BUSY_TIMEOUT_MS >= 5_000
    assert log.conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert log.conn.execute("PRAGMA recursive_triggers").fetchone()[0] == 1
    # WAL is a property of the file: a plain connection sees it too.
    conn = stdlib_sqlite3.connect(db_path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        conn.close()
    # And every later connection is set up the same way.
    with EventLog(db_path) as again:
        assert again.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert again.conn.execute("PRAGMA busy_timeout").fetchone()[0] == BUSY_TIMEOUT_MS


def test_a_new_file_is_migrated(db_path: Path) -> None:
    assert not db_path.exists()
    with EventLog(db_path) as log:
        assert log.conn.execute("PRAGMA user_version").fetchone()[0] == LATEST
        applied = log.conn.execute(
            "SELECT migration_set, name FROM _sqlite_migrations ORDER BY id"
        ).fetchall()
        assert applied == [("liveblog", name) for name, _ in MIGRATIONS]
        assert applied[:2] == [("liveblog", "m001_events"), ("liveblog", "m002_webhooks")]
        assert len(applied) == LATEST
        triggers = {
            r[0]
            for r in log.conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'events'"
            )
        }
        assert triggers == {
            "events_no_update",
            "events_no_delete",
            "events_no_overwrite",
            "events_gap_free",
        }
        columns = [r[1] for r in log.conn.execute("PRAGMA table_info(events)")]
        assert columns == [
            "position",
            "id",
            "type",
            "conference",
            "occurred_at",
            "recorded_at",
            "author",
            "version",
            "schema_version",
            "data",
        ]


def test_opening_again_does_not_rerun_migrations(db_path: Path) -> None:
    with EventLog(db_path) as log:
        log.append([note("e1")])
        migrations = log.conn.execute("SELECT * FROM _sqlite_migrations").fetchall()
        schema = log.conn.execute("SELECT * FROM sqlite_master ORDER BY name").fetchall()
        cookie = log.conn.execute("PRAGMA schema_version").fetchone()[0]
    for _ in range(2):
        with EventLog(db_path) as log:
            assert log.conn.total_changes == 0  # opening wrote nothing
            assert log.conn.execute("SELECT * FROM _sqlite_migrations").fetchall() == migrations
            assert (
                log.conn.execute("SELECT * FROM sqlite_master ORDER BY name").fetchall() == schema
            )
            assert log.conn.execute("PRAGMA schema_version").fetchone()[0] == cookie
            assert [e.id for e in log.read()] == ["e1"]


def test_opening_an_up_to_date_log_does_not_load_the_migrations(db_path: Path) -> None:
    """An up-to-date file costs one pragma: sqlite-utils (the migrations) is never loaded."""
    with EventLog(db_path) as log:
        log.append([note("e1")])
    script = (
        "import sys\n"
        "from liveblog.store import EventLog\n"
        "with EventLog(sys.argv[1]) as log:\n"
        "    assert log.head() == 1\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'sqlite_utils'))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(db_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_two_logs_open_on_one_file(db_path: Path) -> None:
    with EventLog(db_path) as one, EventLog(db_path) as two:
        one.append([note("from-one")])
        (appended,) = two.append([note("from-two")])
        assert appended.event.position == 2
        assert [e.id for e in one.read()] == ["from-one", "from-two"]


@pytest.mark.parametrize("existing", [False, True], ids=["blank file", "liveblog file"])
def test_a_newer_schema_is_refused(db_path: Path, existing: bool) -> None:
    if existing:
        with EventLog(db_path) as log:
            log.append([note("e1")])
    conn = stdlib_sqlite3.connect(db_path)
    conn.execute(f"PRAGMA user_version = {LATEST + 1}")
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")  # a newer liveblog's file
    conn.commit()
    conn.close()
    rows_before = raw_rows(db_path) if existing else None

    with pytest.raises(SchemaTooNew) as info:
        EventLog(db_path)
    message = str(info.value)
    assert f"schema {LATEST + 1}" in message
    assert "upgrade liveblog" in message
    assert "\n" not in message

    conn = stdlib_sqlite3.connect(db_path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == LATEST + 1
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    finally:
        conn.close()
    if existing:
        assert raw_rows(db_path) == rows_before
    else:
        assert tables == set()  # refused before creating anything


# -- upcasting on read ---------------------------------------------------------------------


def test_an_old_schema_row_is_upcast_on_read_and_left_as_stored(db_path: Path) -> None:
    with EventLog(db_path) as log:
        log.append([note("e1"), note("e2", "other-conf"), note("e3")])
    stored_data = json.dumps({"day": 1, "title": "T", "host": "Bob"})
    conn = pysqlite3.connect(str(db_path))
    try:
        position = conn.execute("SELECT max(position) FROM events").fetchone()[0] + 1
        version = (
            conn.execute(
                "SELECT max(version) FROM events WHERE conference = 'socitm-2011'"
            ).fetchone()[0]
            + 1
        )
        assert (position, version) == (4, 3)
        conn.execute(
            INSERT,
            (
                position,
                "old-session",
                "session.started",
                "socitm-2011",
                "2011-06-09T09:30:00+01:00",
                "2011-06-09T08:30:01+00:00",
                "ann",
                version,
                1,
                stored_data,
            ),
        )
        conn.commit()
    finally:
        conn.close()

    with EventLog(db_path) as log:
        read = list(log.read())
        assert [e.position for e in read] == [1, 2, 3, 4]
        old = read[-1]
        assert isinstance(old.data, SessionStarted)
        assert old.data.hosts == ("Bob",)
        assert old.schema_version == 2
        exported = old.to_export()
        assert exported["schema_version"] == 2
        assert exported["data"] == {
            "day": 1,
            "title": "T",
            "kind": "session",
            "room": None,
            "hosts": ["Bob"],
        }
        assert (exported["position"], exported["version"]) == (4, 3)
        got = log.get("old-session")
        assert got is not None and got.to_export() == exported
        assert log.resolve("old-").to_export() == exported
        # Re-appending what was read is recognised as the same event, not a conflict.
        (again,) = log.append([from_export(exported)])
        assert again.created is False and again.event.position == 4

    conn = stdlib_sqlite3.connect(db_path)
    try:
        stored = conn.execute(
            "SELECT schema_version, data FROM events WHERE id = 'old-session'"
        ).fetchone()
    finally:
        conn.close()
    assert stored == (1, stored_data)


def test_a_row_from_a_newer_release_says_so(tmp_path: Path) -> None:
    """A row written by a newer liveblog (schema 99) is named as such, in one line."""
    from liveblog import errors as liveblog_errors
    from liveblog.store import EventLog

    path = tmp_path / "events.db"
    log = EventLog(path)
    log.conn.execute(
        "INSERT INTO events VALUES (1, 'e1', 'note.posted', 'c', '2011-06-09T09:00:00+00:00', "
        "'2011-06-09T09:00:00.000000+00:00', 'ann', 1, 99, '{\"day\": 1, \"text\": \"x\"}')"
    )
    try:
        list(log.read())
    except liveblog_errors.UnreadableEvent as exc:
        assert "newer liveblog" in str(exc)
        assert "\n" not in str(exc)
    else:
        raise AssertionError("a schema-99 row was read as if current")
    finally:
        log.close()
