"""The EventStore contract, written once and run against every implementation.

`EventStoreContract` holds the tests; an implementation subclasses it and says how to
make a fresh store (`location`) and how to open a store object on it (`open`): a second
backend is one more subclass at the bottom of this file (PostgreSQL's overrides the
`where` fixture: its location is a fresh database of the throwaway cluster). What only
SQLite has (its triggers, pragmas, WAL, application_id, file checks) is tested in
tests/test_store.py and tests/test_hardening_store.py, not here; PostgreSQL's own in
tests/test_pg_store.py and tests/test_pg_concurrency.py.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from liveblog.domain.envelope import Event, make_event
from liveblog.domain.events import (
    ConferenceClosed,
    ConferenceOpened,
    DayClosed,
    DayOpened,
    EntryCorrected,
    EntryRetracted,
    EventData,
    NotePosted,
    SessionEnded,
    SessionStarted,
    TalkEnded,
    TalkStarted,
)
from liveblog.errors import (
    AmbiguousId,
    ConflictingEvent,
    InvalidEvent,
    NotFound,
    ReadOnlyDatabase,
    StoreError,
    VersionConflict,
)
from liveblog.store import EventStore, open_store

T0 = dt.datetime(2011, 6, 9, 9, 0, tzinfo=dt.UTC)
CONF = "socitm-2011"


def event(
    event_id: str,
    data: EventData,
    *,
    conference: str = CONF,
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


def note(
    event_id: str, *, conference: str = CONF, author: str = "ann", text: str | None = None
) -> Event:
    return event(
        event_id,
        NotePosted(day=1, text=text or f"note {event_id}"),
        conference=conference,
        author=author,
    )


def opened(slug: str, event_id: str | None = None, title: str = "A conference") -> Event:
    return event(event_id or f"open-{slug}", ConferenceOpened(title=title), conference=slug)


class EventStoreContract:
    """What every EventStore must do (liveblog.store.eventstore says it in words)."""

    # -- what an implementation provides -------------------------------------------------

    def location(self, tmp_path: Path) -> str:
        """Where a new, empty store lives (a `--db` value)."""
        raise NotImplementedError

    def open(self, location: str, *, readonly: bool = False) -> EventStore:
        """A new store object (its own connection) on the store at `location`."""
        raise NotImplementedError

    # -- fixtures ------------------------------------------------------------------------

    @pytest.fixture
    def where(self, tmp_path: Path) -> str:
        return self.location(tmp_path)

    @pytest.fixture
    def store(self, where: str) -> Iterator[EventStore]:
        with self.open(where) as opened_store:
            yield opened_store

    # -- append: positions, versions, idempotency ------------------------------------------

    def test_it_is_an_event_store(self, store: EventStore) -> None:
        # The protocols are runtime-checkable: every method is there (mypy checks types).
        assert isinstance(store, EventStore)

    def test_an_empty_store(self, store: EventStore) -> None:
        assert store.head() == 0
        assert store.version(CONF) == 0
        assert list(store.read()) == []
        assert store.get("nothing") is None
        assert store.at(1) is None

    def test_appends_take_the_next_positions_and_versions(self, store: EventStore) -> None:
        first = store.append([note("a"), note("b", conference="other")])
        second = store.append([note("c")])
        assert [a.event.position for a in first + second] == [1, 2, 3]
        assert [a.event.version for a in first + second] == [1, 1, 2]
        assert all(a.created for a in first + second)
        assert store.head() == 3
        assert store.version(CONF) == 2
        assert store.version("other") == 1
        assert first[0].event.recorded_at is not None

    def test_an_empty_batch_does_nothing(self, store: EventStore) -> None:
        assert store.append([]) == []
        assert store.head() == 0

    def test_the_same_event_again_is_returned_as_stored(self, store: EventStore) -> None:
        (original,) = store.append([note("x", text="hello")])
        store.append([note("y")])
        (again,) = store.append([note("x", text="hello")])
        assert again.created is False
        assert again.event.position == original.event.position == 1
        assert again.event.recorded_at == original.event.recorded_at
        assert store.head() == 2

    def test_a_repeat_inside_one_batch_is_stored_once(self, store: EventStore) -> None:
        out = store.append([note("x"), note("x")])
        assert [a.created for a in out] == [True, False]
        assert [a.event.position for a in out] == [1, 1]
        assert store.head() == 1

    def test_the_same_id_with_other_content_conflicts(self, store: EventStore) -> None:
        store.append([note("taken", text="the original")])
        with pytest.raises(ConflictingEvent, match="taken"):
            store.append([note("new-1"), note("taken", text="another text"), note("new-2")])
        assert [e.id for e in store.read()] == ["taken"]
        # Nothing was consumed: the next append takes position 2.
        (ok,) = store.append([note("new-1")])
        assert ok.event.position == 2

    def test_expected_version(self, store: EventStore) -> None:
        store.append([note("one")], expected_version=0)
        store.append([note("two"), note("three")], expected_version=1)
        with pytest.raises(VersionConflict) as raised:
            store.append([note("four")], expected_version=1)
        assert (raised.value.expected, raised.value.actual) == (1, 3)
        assert store.head() == 3
        # Other conferences do not move this one's version.
        store.append([note("elsewhere", conference="other")])
        store.append([note("four")], expected_version=3)
        assert store.version(CONF) == 4

    def test_expected_version_is_not_checked_for_a_retried_batch(self, store: EventStore) -> None:
        store.append([note("one")], expected_version=0)
        (again,) = store.append([note("one")], expected_version=0)
        assert again.created is False

    def test_expected_version_needs_one_conference(self, store: EventStore) -> None:
        with pytest.raises(InvalidEvent):
            store.append([note("a"), note("b", conference="other")], expected_version=0)
        assert store.head() == 0

    def test_positions_are_gap_free_after_failures(self, store: EventStore) -> None:
        store.append([note("a")])
        with pytest.raises(VersionConflict):
            store.append([note("b")], expected_version=7)
        with pytest.raises(ConflictingEvent):
            store.append([note("c"), note("a", text="changed")])
        store.append([note("d")])
        assert [e.position for e in store.read()] == [1, 2]
        assert [e.id for e in store.read()] == ["a", "d"]

    def test_concurrent_appenders_commit_in_position_order(self, where: str) -> None:
        """Threads, each with its own store object, append at once; every reader that
        sees position n sees every position below it, and the positions are 1..N."""
        writers, per_writer = 4, 25
        with self.open(where) as setup:
            setup.append([note("seed")])
        failures: list[BaseException] = []
        seen_heads: list[tuple[int, list[int]]] = []
        done = threading.Event()

        def write(k: int) -> None:
            try:
                with self.open(where) as mine:
                    for i in range(per_writer):
                        mine.append([note(f"w{k}-{i}", author=f"writer-{k}")])
            except BaseException as exc:  # pragma: no cover - reported below
                failures.append(exc)

        def watch() -> None:
            try:
                with self.open(where) as reader:
                    while not done.is_set():
                        with reader.snapshot():
                            head = reader.head()
                            positions = [e.position or 0 for e in reader.read()]
                        seen_heads.append((head, positions))
            except BaseException as exc:  # pragma: no cover - reported below
                failures.append(exc)

        threads = [threading.Thread(target=write, args=(k,)) for k in range(writers)]
        watcher = threading.Thread(target=watch)
        watcher.start()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        done.set()
        watcher.join()
        assert failures == []
        total = 1 + writers * per_writer
        with self.open(where) as check:
            positions = [e.position for e in check.read()]
            assert positions == list(range(1, total + 1))
            for k in range(writers):
                mine = [e for e in check.read() if e.author == f"writer-{k}"]
                # Each writer's own events keep the order it appended them in.
                assert [e.id for e in mine] == [f"w{k}-{i}" for i in range(per_writer)]
            versions = [e.version for e in check.read()]
            assert versions == list(range(1, total + 1))
        for head, seen in seen_heads:
            assert seen == list(range(1, head + 1))

    # -- reading ---------------------------------------------------------------------------

    def test_read_from_a_position(self, store: EventStore) -> None:
        store.append([note(f"e{i}") for i in range(1, 6)])
        assert [e.id for e in store.read(after=2)] == ["e3", "e4", "e5"]
        assert [e.id for e in store.read(after=1, limit=2)] == ["e2", "e3"]
        assert list(store.read(after=5)) == []

    def test_records_in_chunks(self, store: EventStore) -> None:
        store.append([note(f"e{i}") for i in range(1, 8)])
        store.append([note("x1", conference="other")])
        chunks = list(store.records(after=1, until=6, chunk=2))
        assert [[r.position for r in c] for c in chunks] == [[2, 3], [4, 5], [6]]
        record = chunks[0][0]
        assert (record.id, record.type, record.conference) == ("e2", "note.posted", CONF)
        assert record.data["text"] == "note e2"
        assert [r.id for c in store.records(conference="other") for r in c] == ["x1"]

    def test_lazy_records_still_give_their_data(self, store: EventStore) -> None:
        store.append([note("e1")])
        (chunk,) = list(store.records(lazy={"note.posted"}))
        assert chunk[0].data["text"] == "note e1"

    def test_get_and_at(self, store: EventStore) -> None:
        store.append([note("first"), note("second")])
        found = store.get("second")
        assert found is not None and found.position == 2
        at = store.at(1)
        assert at is not None and at.id == "first"
        assert at == store.get("first")

    def test_resolve_a_prefix(self, store: EventStore) -> None:
        store.append([note("abc123"), note("abd456"), note("ab")])
        assert store.resolve("abc").id == "abc123"
        # A whole id matches even when it is also the prefix of others.
        assert store.resolve("ab").id == "ab"
        with pytest.raises(NotFound):
            store.resolve("zzz")
        with pytest.raises(NotFound):
            store.resolve("")

    def test_an_ambiguous_prefix_names_the_candidates(self, store: EventStore) -> None:
        store.append([note("abc123"), note("abd456")])
        with pytest.raises(AmbiguousId, match=r"abc123.*abd456"):
            store.resolve("ab")

    def test_position_at_a_moment(self, store: EventStore) -> None:
        before = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
        out = store.append([note("a"), note("b")])
        store.append([note("c")])
        assert store.position_at(before) == 0
        recorded = out[0].event.recorded_at
        assert recorded is not None
        assert store.position_at(recorded) == 2
        assert store.position_at(dt.datetime.now(dt.UTC) + dt.timedelta(days=1)) == 3

    # -- the typed queries (the reporter's context) ----------------------------------------

    def test_conference_queries(self, store: EventStore) -> None:
        store.append([opened("one"), opened("two"), opened("three")])
        store.append([event("close-two", ConferenceClosed(), conference="two")])
        store.append([opened("one", "open-one-again", title="Again")])
        first = store.first_opening("one")
        assert first is not None and first.id == "open-one"
        assert store.first_opening("nope") is None
        assert store.is_closed("two") and not store.is_closed("one")
        assert store.open_conferences() == ["one", "three", "one"]
        # In no defined order: callers ask only "is there exactly one?".
        assert len(store.opened_conferences(limit=2)) == 2
        assert set(store.opened_conferences(limit=9)) == {"one", "two", "three"}

    def test_last_conference_of_an_author(self, store: EventStore) -> None:
        assert store.last_conference_of("ann") is None
        store.append([note("a", conference="one"), note("b", conference="two", author="bob")])
        store.append([note("c", conference="three")])
        assert store.last_conference_of("ann") == "three"
        assert store.last_conference_of("bob") == "two"

    def test_latest_of_a_type(self, store: EventStore) -> None:
        day1 = event("d1", DayOpened(number=1, date=dt.date(2011, 6, 9)))
        s1 = event("s1", SessionStarted(day=1, title="Morning"))
        s2 = event("s2", SessionStarted(day=1, title="Bob's"), author="bob")
        store.append([day1, s1, s2])
        latest_day = store.latest_of("day.opened", CONF)
        assert latest_day is not None and latest_day.id == "d1"
        mine = store.latest_of("session.started", CONF, "ann")
        assert mine is not None and mine.id == "s1"
        anyone = store.latest_of("session.started", CONF)
        assert anyone is not None and anyone.id == "s2"
        assert store.latest_of("talk.started", CONF, "ann") is None

    def test_ended_after(self, store: EventStore) -> None:
        s1 = event("s1", SessionStarted(day=1, title="Morning"))
        t1 = event("t1", TalkStarted(day=1, session="s1", title="Talk", speaker="Jo"))
        store.append([s1, t1, event("t1-end", TalkEnded(talk="t1"))])
        store.append([event("day-end", DayClosed(number=1))])
        assert store.ended_after("talk.ended", CONF, 2, "talk", "t1")
        assert not store.ended_after("talk.ended", CONF, 3, "talk", "t1")
        assert not store.ended_after("session.ended", CONF, 1, "session", "s1")
        assert store.ended_after("day.closed", CONF, 0, "number", 1)
        assert not store.ended_after("day.closed", CONF, 0, "number", 2)
        assert not store.ended_after("talk.ended", "other", 0, "talk", "t1")
        store.append([event("s1-end", SessionEnded(session="s1"))])
        assert store.ended_after("session.ended", CONF, 1, "session", "s1")

    def test_has_day(self, store: EventStore) -> None:
        store.append([event("d2", DayOpened(number=2, date=dt.date(2011, 6, 10)))])
        assert store.has_day(CONF, 2)
        assert not store.has_day(CONF, 1)
        assert not store.has_day("other", 2)

    def test_last_entry_of_an_author(self, store: EventStore) -> None:
        store.append([note("n1", conference="one"), note("n2", conference="two")])
        store.append([event("d1", DayOpened(number=1, date=dt.date(2011, 6, 9)))])  # no entry
        store.append([note("bob1", author="bob")])
        latest = store.last_entry_of("ann")
        assert latest is not None and latest.id == "n2"
        in_one = store.last_entry_of("ann", "one")
        assert in_one is not None and in_one.id == "n1"
        assert store.last_entry_of("carol") is None

    def test_corrections_of_an_entry(self, store: EventStore) -> None:
        store.append([note("n1"), note("n2")])
        store.append([event("c1", EntryCorrected(target="n1", text="better"))])
        store.append([event("c2", EntryCorrected(target="n2", text="other"))])
        store.append([event("r1", EntryRetracted(target="n1"))])
        assert [e.id for e in store.corrections_of("n1")] == ["c1", "r1"]
        assert store.corrections_of("nothing") == []

    # -- the unit of work --------------------------------------------------------------------

    def test_a_unit_of_work_commits_together(self, store: EventStore, where: str) -> None:
        with store.writing():
            store.append([note("a")])
            store.append([note("b")])
            assert store.head() == 2  # its own writes are visible inside
        with self.open(where) as other:
            assert [e.id for e in other.read()] == ["a", "b"]

    def test_a_unit_of_work_rolls_back_on_error(self, store: EventStore, where: str) -> None:
        store.append([note("kept")])
        with pytest.raises(RuntimeError, match="changed my mind"), store.writing():
            store.append([note("gone-1")])
            with store.writing():  # a nested unit joins the outer one
                store.append([note("gone-2")])
            raise RuntimeError("changed my mind")
        assert [e.id for e in store.read()] == ["kept"]
        with self.open(where) as other:
            assert [e.id for e in other.read()] == ["kept"]
        # Nothing consumed: the next position follows the kept event.
        (next_one,) = store.append([note("next")])
        assert next_one.event.position == 2

    def test_a_snapshot_does_not_see_later_commits(self, store: EventStore, where: str) -> None:
        store.append([note("a")])
        with self.open(where) as writer, store.snapshot():
            assert store.head() == 1
            writer.append([note("b")])
            assert store.head() == 1
        assert store.head() == 2

    def test_a_read_only_store_refuses_to_write(self, where: str) -> None:
        with self.open(where) as setup:
            setup.append([note("a")])
        with self.open(where, readonly=True) as reading:
            assert reading.readonly
            assert [e.id for e in reading.read()] == ["a"]
            with pytest.raises(ReadOnlyDatabase):
                reading.append([note("b")])
            with pytest.raises(ReadOnlyDatabase):
                reading.require_writable()
            with pytest.raises(ReadOnlyDatabase):
                reading.writing()

    def test_errors_are_the_store_errors(self, store: EventStore) -> None:
        store.append([note("a")])
        with pytest.raises(StoreError):
            store.append([note("a", text="different")])

    # -- the change signal -------------------------------------------------------------------

    def test_the_change_signal_moves_on_another_store_objects_commit(
        self, store: EventStore, where: str
    ) -> None:
        mark = store.change_mark()
        assert store.change_mark() == mark  # nothing happened
        with self.open(where) as other:
            other.append([note("a")])
        moved = store.change_mark()
        assert moved != mark
        assert store.change_mark() == moved


class TestSqliteEventStore(EventStoreContract):
    """The SQLite implementation (liveblog.store.sqlite.log.EventLog), via the factory."""

    def location(self, tmp_path: Path) -> str:
        return str(tmp_path / "events.db")

    def open(self, location: str, *, readonly: bool = False) -> EventStore:
        return open_store(location, readonly=readonly)


class TestSqliteEventStoreByUrl(TestSqliteEventStore):
    """The same file named by a `sqlite:///` URL."""

    def location(self, tmp_path: Path) -> str:
        return f"sqlite:///{tmp_path / 'events.db'}"


class TestPostgresEventStore(EventStoreContract):
    """The PostgreSQL implementation (liveblog.store.postgres.log.PostgresEventStore), via
    the factory, on a fresh database of the throwaway cluster (tests/postgres.py)."""

    @pytest.fixture
    def where(self, pg_url: str) -> str:
        return pg_url

    def open(self, location: str, *, readonly: bool = False) -> EventStore:
        return open_store(location, readonly=readonly)


def test_postgres_is_an_alias_of_postgresql(pg_url: str) -> None:
    alias = "postgres://" + pg_url.split("://", 1)[1]
    with open_store(alias) as by_alias:
        by_alias.append([note("a")])
    with open_store(pg_url) as by_name:
        assert [e.id for e in by_name.read()] == ["a"]


def test_the_sqlite_commands_refuse_postgresql_in_one_line_without_the_url() -> None:
    from liveblog.errors import UnsupportedStore
    from liveblog.store.factory import open_sqlite, sqlite_path

    for refusing in (open_sqlite, sqlite_path):
        with pytest.raises(UnsupportedStore) as raised:
            refusing("postgresql://liveblog:s3cret@db.example/liveblog")
        message = str(raised.value)
        assert "\n" not in message
        assert "PostgreSQL" in message and "SQLite" in message
        assert "s3cret" not in message


def test_the_factory_refuses_an_unknown_scheme() -> None:
    from liveblog.errors import UnsupportedStore

    with pytest.raises(UnsupportedStore, match="unknown storage"):
        open_store("mysql://db.example/liveblog")
