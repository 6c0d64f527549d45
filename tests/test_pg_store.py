"""What only the PostgreSQL event store has: its triggers, grants, migrations, notifications
and messages (the behaviour it shares with SQLite is the contract suite's,
tests/contract/test_eventstore.py)."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from liveblog.domain.envelope import Event, make_event
from liveblog.domain.events import (
    ConferenceOpened,
    DayClosed,
    DayOpened,
    EntryCorrected,
    NotePosted,
    TalkEnded,
)
from liveblog.errors import (
    MissingLog,
    NotOurDatabase,
    ReadOnlyDatabase,
    SchemaTooNew,
    StoreError,
    StoreMisused,
    StoreRefused,
    UnopenableDatabase,
)
from liveblog.store import open_store
from liveblog.store.factory import stores_on
from liveblog.store.postgres import schema
from liveblog.store.postgres.driver import close_pools
from liveblog.store.postgres.log import PostgresEventStore
from liveblog.store.postgres.stores import PostgresStores
from liveblog.store.sqlite.log import encode_data
from tests.postgres import Cluster, free_port

T0 = dt.datetime(2011, 6, 9, 9, 0, tzinfo=dt.UTC)
CONF = "socitm-2011"


def note(event_id: str, text: str = "hello", conference: str = CONF) -> Event:
    return make_event(
        id=event_id,
        conference=conference,
        occurred_at=T0,
        author="ann",
        data=NotePosted(day=1, text=text),
    )


def dbname(url: str) -> str:
    return url.rsplit("/", 1)[1]


@pytest.fixture
def store(pg_url: str) -> Iterator[PostgresEventStore]:
    with PostgresEventStore(pg_url) as opened:
        opened.append([note("a"), note("b")])
        yield opened


@pytest.fixture
def superuser(pg_url: str, store: PostgresEventStore) -> Iterator[psycopg.Connection[Any]]:
    """A plain psycopg connection as the superuser, as a DBA's psql would be."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        yield conn


def fresh_schema_state() -> None:
    # The process remembers databases it saw up to date; these tests change them behind
    # its back.
    schema.forget_checked()


# -- append-only, for every role ---------------------------------------------------------


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE events SET author = 'mallory'",
        "DELETE FROM events WHERE position = 2",
        "TRUNCATE events",
        "INSERT INTO events (position, id, type, conference, occurred_at, recorded_at, "
        "author, version, schema_version, data) VALUES (2, 'x', 'note.posted', 'c', 't', "
        "'t', 'a', 1, 1, '{}') ON CONFLICT (position) DO UPDATE SET author = 'mallory'",
    ],
)
def test_a_superuser_cannot_change_the_log(
    superuser: psycopg.Connection[Any], store: PostgresEventStore, statement: str
) -> None:
    with pytest.raises(psycopg.errors.RaiseException, match="events is append-only"):
        superuser.execute(statement)  # type: ignore[arg-type]
    assert [e.author for e in store.read()] == ["ann", "ann"]


def test_replication_mode_does_not_skip_the_triggers(
    superuser: psycopg.Connection[Any], store: PostgresEventStore
) -> None:
    # session_replication_role = replica skips ordinary triggers; ours are ENABLE ALWAYS.
    superuser.execute("SET session_replication_role = replica")
    with pytest.raises(psycopg.errors.RaiseException, match="UPDATE is refused"):
        superuser.execute("UPDATE events SET author = 'mallory'")
    with pytest.raises(psycopg.errors.RaiseException, match="TRUNCATE is refused"):
        superuser.execute("TRUNCATE events")
    assert store.head() == 2


def test_the_refusal_is_a_store_refused_through_the_driver(store: PostgresEventStore) -> None:
    with pytest.raises(StoreRefused, match="events is append-only: DELETE is refused"):
        store.conn.execute("DELETE FROM events")
    assert store.head() == 2


def test_an_insert_must_take_the_next_position_and_version(
    superuser: psycopg.Connection[Any], store: PostgresEventStore
) -> None:
    insert = (
        "INSERT INTO events (position, id, type, conference, occurred_at, recorded_at, "
        "author, version, schema_version, data) "
        "VALUES (%s, %s, 'note.posted', %s, 't', 't', 'a', %s, 1, '{}')"
    )
    for position, version in [(4, 3), (3, 7), (3, 1)]:  # a gap; a version gap; a reused one
        with pytest.raises(psycopg.errors.RaiseException, match="must be the next ones"):
            superuser.execute(insert, (position, f"x{position}{version}", CONF, version))
    superuser.execute(insert, (3, "ok", CONF, 3))
    rows = superuser.execute("SELECT position, id FROM events ORDER BY position").fetchall()
    assert rows == [(1, "a"), (2, "b"), (3, "ok")]


def test_the_triggers_are_there_and_always_enabled(superuser: psycopg.Connection[Any]) -> None:
    rows = superuser.execute(
        "SELECT tgname, tgenabled FROM pg_trigger "
        "WHERE tgrelid = 'events'::regclass AND NOT tgisinternal ORDER BY tgname"
    ).fetchall()
    assert rows == [(name, "A") for name in schema.LOG_TRIGGERS]


# -- the application's role: the documented grants ---------------------------------------

APP_GRANTS = (
    "GRANT CONNECT ON DATABASE {db} TO {role}",
    "GRANT USAGE ON SCHEMA public TO {role}",
    "GRANT SELECT, INSERT ON events TO {role}",
    "GRANT SELECT ON liveblog_schema TO {role}",
)
"""The grants README's "Running on PostgreSQL" documents for the log (the configuration
and projection tables add their own)."""


@pytest.fixture
def role(pg_cluster: Cluster, pg_url: str, store: PostgresEventStore) -> Iterator[str]:
    """A login role (not a superuser) with only APP_GRANTS on the test's database."""
    name = f"app_{uuid.uuid4().hex[:12]}"
    db = dbname(pg_url)
    pg_cluster.sql(f"CREATE ROLE {name} LOGIN PASSWORD 's3cret'")
    for grant in APP_GRANTS:
        pg_cluster.sql(grant.format(db=f'"{db}"', role=name), db)
    try:
        yield name
    finally:
        close_pools()
        pg_cluster.sql(f"DROP OWNED BY {name}", db)
        pg_cluster.sql(f"DROP ROLE {name}")


def test_the_app_role_appends_and_reads_but_cannot_change(
    pg_cluster: Cluster, pg_url: str, role: str
) -> None:
    url = pg_cluster.url(dbname(pg_url), user=role, password="s3cret")
    with open_store(url) as app:
        assert not app.readonly
        (added,) = app.append([note("c")], expected_version=2)
        assert added.event.position == 3
        assert [e.id for e in app.read()] == ["a", "b", "c"]
        assert app.get("c") is not None
        assert isinstance(app, PostgresEventStore)
        # Refused twice over: no UPDATE grant, and the trigger behind it.
        with pytest.raises(StoreRefused):
            app.conn.execute("UPDATE events SET author = 'mallory'")
        with pytest.raises(StoreRefused):
            app.conn.execute("DELETE FROM events")
        with pytest.raises(StoreRefused):
            app.conn.execute("TRUNCATE events")


def test_a_role_that_may_only_select_opens_read_only(
    pg_cluster: Cluster, pg_url: str, role: str
) -> None:
    pg_cluster.sql(f"REVOKE INSERT ON events FROM {role}", dbname(pg_url))
    fresh_schema_state()
    url = pg_cluster.url(dbname(pg_url), user=role, password="s3cret")
    with open_store(url) as reader:
        assert reader.readonly
        assert reader.head() == 2
        with pytest.raises(ReadOnlyDatabase, match="may not INSERT") as raised:
            reader.append([note("c")])
        assert "s3cret" not in str(raised.value)


def test_the_app_role_cannot_migrate_and_says_who_can(
    pg_cluster: Cluster, pg_url: str, role: str
) -> None:
    # As if a newer release were started as the application's role: a migration pending.
    pg_cluster.sql(f"DELETE FROM liveblog_schema WHERE version = {schema.LATEST}", dbname(pg_url))
    fresh_schema_state()
    url = pg_cluster.url(dbname(pg_url), user=role, password="s3cret")
    with pytest.raises(UnopenableDatabase, match="owns the schema") as raised:
        open_store(url)
    assert "\n" not in str(raised.value) and "s3cret" not in str(raised.value)


# -- read-only sessions ------------------------------------------------------------------


def test_a_read_only_store_is_refused_by_the_server_too(
    pg_url: str, store: PostgresEventStore
) -> None:
    with (
        PostgresEventStore(pg_url, readonly=True) as reader,
        pytest.raises(StoreMisused, match="read-only"),
    ):
        reader.conn.execute("CREATE TABLE sneaky (x int)")
    # Its connection went back to the pool writable: the next store may append.
    with PostgresEventStore(pg_url) as writer:
        (added,) = writer.append([note("c")])
        assert added.created


# -- migrations --------------------------------------------------------------------------


def test_each_migration_is_recorded_once(store: PostgresEventStore) -> None:
    rows = store.conn.execute(
        "SELECT version, name FROM liveblog_schema ORDER BY version"
    ).fetchall()
    assert rows == [(n, name) for n, (name, _) in enumerate(schema.MIGRATIONS, start=1)]
    assert schema.inspect(store.conn).version == schema.LATEST


def test_a_newer_schema_is_refused(
    superuser: psycopg.Connection[Any], pg_url: str, store: PostgresEventStore
) -> None:
    superuser.execute(
        "INSERT INTO liveblog_schema (version, name) VALUES (%s, 'm999_future')",
        (schema.LATEST + 1,),
    )
    fresh_schema_state()
    for readonly in (False, True):
        with pytest.raises(SchemaTooNew, match="upgrade liveblog") as raised:
            PostgresEventStore(pg_url, readonly=readonly)
        assert "\n" not in str(raised.value)


def test_concurrent_first_opens_migrate_once(pg_url: str) -> None:
    """Nodes starting together on a new database: one migrates, the others wait on the
    advisory lock and find nothing to do."""
    opened = 6
    barrier = threading.Barrier(opened)
    failures: list[BaseException] = []
    heads: list[int] = []

    def start() -> None:
        try:
            barrier.wait()
            with PostgresEventStore(pg_url) as mine:
                heads.append(mine.head())
        except BaseException as exc:  # pragma: no cover - reported below
            failures.append(exc)

    threads = [threading.Thread(target=start) for _ in range(opened)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert heads == [0] * opened
    with PostgresEventStore(pg_url) as check:
        versions = check.conn.execute("SELECT version FROM liveblog_schema").fetchall()
        assert sorted(v for (v,) in versions) == list(range(1, schema.LATEST + 1))


def test_a_strangers_events_table_is_not_touched(pg_cluster: Cluster, pg_url: str) -> None:
    pg_cluster.sql("CREATE TABLE events (x int)", dbname(pg_url))
    with pytest.raises(NotOurDatabase, match="did not create"):
        PostgresEventStore(pg_url)
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT to_regclass('liveblog_schema')").fetchone() == (None,)


def test_a_lost_log_is_reported(
    superuser: psycopg.Connection[Any], pg_url: str, store: PostgresEventStore
) -> None:
    superuser.execute("DROP TABLE events")  # DDL by the owner: no trigger can stop it
    fresh_schema_state()
    with pytest.raises(MissingLog, match="lost its events table"):
        PostgresEventStore(pg_url)
    # verify opens it anyway, to say so.
    PostgresEventStore(pg_url, readonly=True, require_log=False).close()


def test_a_new_database_opened_read_only_is_not_created(pg_url: str) -> None:
    with pytest.raises(UnopenableDatabase, match="no liveblog log yet"):
        PostgresEventStore(pg_url, readonly=True)
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT to_regclass('events')").fetchone() == (None,)


# -- messages ----------------------------------------------------------------------------


def test_an_unreachable_server_is_one_line_without_the_password() -> None:
    url = f"postgresql://liveblog:s3cret@127.0.0.1:{free_port()}/liveblog"
    with pytest.raises(UnopenableDatabase) as raised:
        open_store(url)
    message = str(raised.value)
    assert "\n" not in message
    assert "s3cret" not in message
    assert "127.0.0.1" in message and "refused" in message.lower()


def test_a_missing_database_is_one_line_without_the_password(pg_cluster: Cluster) -> None:
    url = pg_cluster.url("no_such_database", password="s3cret")
    with pytest.raises(UnopenableDatabase) as raised:
        open_store(url)
    message = str(raised.value)
    assert "\n" not in message
    assert "s3cret" not in message
    assert "no_such_database" in message


# -- what is stored ----------------------------------------------------------------------


def test_the_data_is_stored_as_the_exact_json_text(store: PostgresEventStore) -> None:
    text = 'accents é, quotes ", a tab\t, a NUL \x00 and an emoji 🎤'
    (added,) = store.append([note("exact", text=text)])
    (raw,) = store.conn.execute("SELECT data FROM events WHERE id = 'exact'").fetchone()
    assert raw == encode_data(added.event.data)
    (chunk,) = list(store.records(after=2))
    assert chunk[0].raw == raw
    assert store.get("exact") == added.event


def test_the_factory_gives_postgres_stores(pg_url: str, store: PostgresEventStore) -> None:
    with open_store(pg_url) as opened:
        stores = stores_on(opened)
        assert isinstance(stores, PostgresStores)
        assert stores.events is opened


def test_each_context_query_is_an_index_lookup(
    store: PostgresEventStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With sequential scans disabled, the planner still picks one when no index fits:
    every query the context asks must plan without one."""
    store.append(
        [
            make_event(
                id="open",
                conference=CONF,
                occurred_at=T0,
                author="ann",
                data=ConferenceOpened(title="S"),
            ),
            make_event(
                id="d1",
                conference=CONF,
                occurred_at=T0,
                author="ann",
                data=DayOpened(number=1, date=dt.date(2011, 6, 9)),
            ),
            make_event(
                id="c1",
                conference=CONF,
                occurred_at=T0,
                author="ann",
                data=EntryCorrected(target="a", text="x"),
            ),
            make_event(
                id="te", conference=CONF, occurred_at=T0, author="ann", data=TalkEnded(talk="t")
            ),
            make_event(
                id="dc", conference=CONF, occurred_at=T0, author="ann", data=DayClosed(number=1)
            ),
        ]
    )
    seen: list[tuple[str, Any]] = []
    original = store.conn.execute

    def recording(sql: str, params: Any = None) -> Any:
        seen.append((sql, params))
        return original(sql, params)

    monkeypatch.setattr(store.conn, "execute", recording)
    assert store.first_opening(CONF) is not None
    assert not store.is_closed(CONF)
    assert store.open_conferences() == [CONF]
    assert store.opened_conferences(2) == [CONF]
    assert store.last_conference_of("ann") == CONF
    assert store.latest_of("day.opened", CONF) is not None
    assert store.latest_of("day.opened", CONF, "ann") is not None
    assert store.ended_after("talk.ended", CONF, 0, "talk", "t")
    assert store.has_day(CONF, 1)
    assert store.last_entry_of("ann") is not None
    assert store.last_entry_of("ann", CONF) is not None
    assert [e.id for e in store.corrections_of("a")] == ["c1"]
    assert store.version(CONF) == 7
    assert store.resolve("ope").id == "open"
    monkeypatch.undo()
    assert len(seen) >= 14
    with store.snapshot():
        store.conn.execute("SET LOCAL enable_seqscan = off")
        for sql, params in seen:
            plan = "\n".join(
                str(row[0]) for row in store.conn.execute("EXPLAIN " + sql, params).fetchall()
            )
            assert "Seq Scan" not in plan, (sql, plan)


# -- the change hint ---------------------------------------------------------------------


def test_an_append_notifies_listeners_in_its_transaction(
    pg_url: str, store: PostgresEventStore
) -> None:
    with psycopg.connect(pg_url, autocommit=True) as listener:
        listener.execute("LISTEN liveblog_log")
        with store.writing():
            store.append([note("c")])
            store.append([note("d")])
            # Nothing before the commit: a notification inside a transaction waits for it.
            assert list(listener.notifies(timeout=0.2, stop_after=1)) == []
        payloads = [n.payload for n in listener.notifies(timeout=30, stop_after=2)]
    assert payloads == ["3", "4"]  # one per INSERT statement, the head after it


def test_wait_for_change_wakes_on_another_stores_append(
    pg_url: str, store: PostgresEventStore
) -> None:
    mark = store.change_mark()
    assert not store.wait_for_change(mark, 0.1)  # nothing committed: the wait times out
    with PostgresEventStore(pg_url) as other:
        other.append([note("c")])
    assert store.wait_for_change(mark, 30)


def test_wait_for_change_works_without_notifications(
    pg_url: str, store: PostgresEventStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Correctness never depends on NOTIFY: with no LISTEN connection (a proxy, a standby)
    the mark is polled."""
    monkeypatch.setattr(store, "_listen", lambda: None)
    mark = store.change_mark()
    done = threading.Event()

    def later() -> None:
        with PostgresEventStore(pg_url) as other:
            other.append([note("c")])
        done.set()

    thread = threading.Thread(target=later)
    thread.start()
    assert store.wait_for_change(mark, 60)
    thread.join()
    assert done.is_set() and store.head() == 3


def test_store_errors_are_mapped(store: PostgresEventStore) -> None:
    with pytest.raises(StoreError):
        store.conn.execute("SELECT * FROM no_such_table")


# -- verify ------------------------------------------------------------------------------


def test_verify_finds_a_healthy_log(pg_url: str, store: PostgresEventStore) -> None:
    from liveblog.store.postgres.verify import verify

    with PostgresEventStore(pg_url, readonly=True) as reading:
        findings = verify(reading)
    assert [f.ok for f in findings] == [True] * len(findings)
    assert any("2 events at positions 1..2 without a gap" in f.text for f in findings)


def test_verify_reports_a_disabled_trigger_and_a_dropped_index(
    superuser: psycopg.Connection[Any], pg_url: str, store: PostgresEventStore
) -> None:
    from liveblog.store.postgres.verify import verify

    superuser.execute("ALTER TABLE events DISABLE TRIGGER events_no_change")
    superuser.execute("DROP INDEX events_by_author")
    superuser.execute(
        "CREATE FUNCTION nothing() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$"
    )
    superuser.execute(
        "CREATE TRIGGER sneaky BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION nothing()"
    )
    with PostgresEventStore(pg_url, readonly=True) as reading:
        problems = [f.text for f in verify(reading) if not f.ok]
    assert problems == [
        "the trigger events_no_change of the events table is disabled",
        "an unknown trigger sneaky on the events table",
        "the index events_by_author of the events table is missing",
    ]


def test_verify_reports_what_a_disabled_guard_let_through(
    superuser: psycopg.Connection[Any], pg_url: str, store: PostgresEventStore
) -> None:
    from liveblog.store.postgres.verify import verify

    superuser.execute("ALTER TABLE events DISABLE TRIGGER events_no_change")  # the owner can
    superuser.execute("DELETE FROM events WHERE position = 1")
    with PostgresEventStore(pg_url, readonly=True) as reading:
        problems = [f.text for f in verify(reading) if not f.ok]
    assert "the log has a gap: position 1 missing (head 2, 1 events)" in problems
    assert "conference socitm-2011: version 2 at position 2 follows version 0" in problems
