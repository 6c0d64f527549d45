"""Concurrent writers on one PostgreSQL log: positions gap-free and commit-ordered.

Commit-ordered means a reader tailing the log never sees position N+1 before N: a
cursor "done up to N+1" would otherwise skip N for ever. `LOG_LOCK` (an advisory lock
held through COMMIT, liveblog/store/postgres/driver.py) gives it; the last test shows
that a plain sequence, the obvious alternative, does not.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from liveblog.domain.envelope import Event, make_event
from liveblog.domain.events import NotePosted
from liveblog.store.postgres.log import PostgresEventStore
from tests import writers
from tests.receivers import wait_for

T0 = dt.datetime(2011, 6, 9, 9, 0, tzinfo=dt.UTC)


class Tail:
    """A reader following the log as `log --follow` or a projection does: read what is
    after the last position seen, and note every time the first one is not the next."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.seen: list[int] = []
        self.skips: list[tuple[int, int]] = []
        self.failures: list[BaseException] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        try:
            with PostgresEventStore(self.url) as reader:
                while True:
                    stopping = self.stop.is_set()
                    mark = reader.change_mark()
                    last = self.seen[-1] if self.seen else 0
                    before = len(self.seen)
                    for found in reader.read(after=last):
                        expected = (self.seen[-1] if self.seen else 0) + 1
                        if found.position != expected:
                            self.skips.append((expected, found.position or 0))
                        self.seen.append(found.position or 0)
                    if stopping:
                        return
                    if len(self.seen) == before:
                        # Nothing new: wait for a commit (a NOTIFY, or the mark polled).
                        reader.wait_for_change(mark, 0.5)
        except BaseException as exc:  # pragma: no cover - reported by the test
            self.failures.append(exc)

    def __enter__(self) -> Tail:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()


def test_four_processes_append_gap_free_and_in_commit_order(pg_url: str, tmp_path: Path) -> None:
    script = writers.writer_script(
        tmp_path / "writer.py",
        imports="from liveblog.store import open_store",
        opening="open_store(target)",
        patience=120,
    )
    root = Path(__file__).resolve().parent.parent
    names, procs = writers.start_writers(script, pg_url, tmp_path, cwd=root)
    try:
        writers.wait_ready(tmp_path, names, procs, timeout=120)
        with psycopg.connect(pg_url) as conn:  # nothing opened it yet: four first opens
            assert conn.execute("SELECT to_regclass('events')").fetchone() == (None,)
        (tmp_path / "go").touch()
        # The tail starts once the writers migrated the database, and keeps reading
        # while they append.
        wait_for(lambda: _has_log(pg_url), timeout=120, what="the log to be created")
        with Tail(pg_url) as tail:
            outputs = [p.communicate(timeout=300) for p in procs]
    finally:
        writers.kill_left(procs)

    writers.check_exits(names, procs, outputs)
    total = writers.WRITERS * writers.EVENTS_PER_WRITER
    assert tail.failures == []
    assert tail.skips == []  # never N+1 before N
    assert tail.seen == list(range(1, total + 1))
    with PostgresEventStore(pg_url) as check:
        events = list(check.read())
        migrations = check.conn.execute("SELECT version FROM liveblog_schema").fetchall()
    assert len(migrations) == len({v for (v,) in migrations})  # each once, though four opened
    writers.check_written(events, names)
    stamps = [e.recorded_at for e in events]
    assert stamps == sorted(stamps)  # recording times grow with position


def _has_log(url: str) -> bool:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT to_regclass('events') IS NOT NULL").fetchone() == (True,)


# -- a slow transaction ------------------------------------------------------------------


def note(event_id: str) -> Event:
    return make_event(
        id=event_id, conference="c", occurred_at=T0, author="ann", data=NotePosted(day=1, text="t")
    )


@pytest.fixture
def watcher(pg_url: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        yield conn


def waiting_on_a_lock(watcher: psycopg.Connection[Any], pid: int) -> bool:
    row = watcher.execute(
        "SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", (pid,)
    ).fetchone()
    return row is not None and row[0] == "Lock"


def test_a_slow_transaction_holds_back_the_next_append(
    pg_url: str, watcher: psycopg.Connection[Any]
) -> None:
    """Writer A has written position 2 and not committed; writer B appends meanwhile.
    B must wait for A (the lock is held through COMMIT): a reader sees neither until A
    commits, then A's event at 2 and B's at 3 — never 3 without 2."""
    with PostgresEventStore(pg_url) as setup:
        setup.append([note("first")])
    slow = PostgresEventStore(pg_url)
    quick = PostgresEventStore(pg_url)
    reader = PostgresEventStore(pg_url)
    quick_pid = quick.conn.raw.info.backend_pid
    failures: list[BaseException] = []

    def append_quickly() -> None:
        try:
            quick.append([note("quick")])
        except BaseException as exc:  # pragma: no cover - reported below
            failures.append(exc)

    other = threading.Thread(target=append_quickly)
    try:
        with slow.writing():
            (held,) = slow.append([note("slow")])
            assert held.event.position == 2
            other.start()
            wait_for(
                lambda: waiting_on_a_lock(watcher, quick_pid) or not other.is_alive(),
                timeout=60,
                what="the second writer to wait for the lock",
            )
            assert other.is_alive(), "the second append did not wait for the first"
            assert [e.position for e in reader.read()] == [1]
        other.join(timeout=60)
        assert failures == []
        assert [(e.position, e.id) for e in reader.read()] == [
            (1, "first"),
            (2, "slow"),
            (3, "quick"),
        ]
    finally:
        other.join(timeout=60)
        for store in (slow, quick, reader):
            store.close()


def test_a_plain_sequence_would_let_a_reader_see_n_plus_1_first(
    pg_url: str, watcher: psycopg.Connection[Any]
) -> None:
    """The control for the test above: the same two writers on a table numbered by a
    sequence (BIGSERIAL) and no lock. The quick writer commits position 2 while the slow
    one still holds 1: a reader sees 2 without 1, the failure the lock prevents."""
    watcher.execute("CREATE TABLE plain_log (position bigserial PRIMARY KEY, id text)")
    with (
        psycopg.connect(pg_url, autocommit=True) as slow,
        psycopg.connect(pg_url, autocommit=True) as quick,
    ):
        with slow.transaction():
            slow.execute("INSERT INTO plain_log (id) VALUES ('slow')")
            quick.execute("INSERT INTO plain_log (id) VALUES ('quick')")  # not held back
            seen = watcher.execute("SELECT position FROM plain_log ORDER BY position").fetchall()
            assert seen == [(2,)]  # N+1 visible, N not: a tailing cursor would skip 1
        seen = watcher.execute("SELECT position FROM plain_log ORDER BY position").fetchall()
        assert seen == [(1,), (2,)]
