"""SQLite only: the driver's exceptions are mapped into liveblog's StoreError tree.

No pysqlite3 class leaves `liveblog.store.sqlite.driver`: each failure arrives as the
`DriverError` subclass that says what happened, with the driver's message and its
SQLite result code.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click
import pytest
from pysqlite3 import dbapi2 as pysqlite3

from liveblog.cli.main import user_errors
from liveblog.domain.envelope import make_event
from liveblog.domain.events import NotePosted
from liveblog.errors import (
    DriverError,
    LiveblogError,
    StoreBusy,
    StoreDamaged,
    StoreError,
    StoreMisused,
    StoreRefused,
    StoreUnavailable,
)
from liveblog.store.factory import open_sqlite
from liveblog.store.sqlite import driver


def test_the_tree() -> None:
    assert issubclass(DriverError, StoreError) and issubclass(StoreError, LiveblogError)
    assert issubclass(StoreBusy, StoreUnavailable)
    for kind in (StoreDamaged, StoreRefused, StoreMisused, StoreUnavailable):
        assert issubclass(kind, DriverError)
        assert not issubclass(kind, pysqlite3.Error)


def test_a_locked_database_is_store_busy(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    open_sqlite(path).close()
    holder = pysqlite3.connect(str(path), isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        conn = driver.open_raw(path)
        try:
            conn.execute("PRAGMA busy_timeout = 0")
            with pytest.raises(StoreBusy, match="locked") as raised:
                conn.execute("BEGIN IMMEDIATE")
            assert raised.value.code == "SQLITE_BUSY"
            assert isinstance(raised.value.__cause__, pysqlite3.OperationalError)
        finally:
            conn.close()
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_a_trigger_refusing_a_change_is_store_refused(tmp_path: Path) -> None:
    with open_sqlite(tmp_path / "events.db") as log:
        log.append(
            [
                make_event(
                    id="e1",
                    conference="c",
                    occurred_at=dt.datetime(2011, 6, 9, 9, 0, tzinfo=dt.UTC),
                    author="ann",
                    data=NotePosted(day=1, text="hello"),
                )
            ]
        )
        with pytest.raises(StoreRefused, match="append-only") as raised:
            log.conn.execute("DELETE FROM events")
        assert raised.value.code.startswith("SQLITE_CONSTRAINT")
        assert log.head() == 1


def test_a_file_that_is_not_a_database_is_store_damaged(tmp_path: Path) -> None:
    path = tmp_path / "garbage.db"
    path.write_bytes(b"SQLite format 3\x00" + b"\xff" * 4000)
    conn = driver.open_raw(path)
    try:
        with pytest.raises(StoreDamaged) as raised:
            conn.execute("SELECT * FROM sqlite_master").fetchall()
        assert raised.value.code in ("SQLITE_NOTADB", "SQLITE_CORRUPT")
    finally:
        conn.close()


def test_a_closed_connection_is_misused(tmp_path: Path) -> None:
    conn = driver.open_raw(tmp_path / "x.db")
    conn.close()
    with pytest.raises(StoreMisused):
        conn.execute("SELECT 1")


def test_iterating_rows_maps_errors_too(tmp_path: Path) -> None:
    conn = driver.open_raw(":memory:")
    # A query that fails on its third row, after execute() has stepped the first one.
    cursor = conn.execute(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5) "
        "SELECT CASE WHEN i = 3 THEN abs(-9223372036854775807 - 1) ELSE i END FROM n"
    )
    with pytest.raises(DriverError, match="overflow"):
        list(cursor)


def test_the_cli_says_database_error_in_the_drivers_words() -> None:
    with pytest.raises(click.ClickException) as raised, user_errors():
        raise StoreBusy("database is locked", "SQLITE_BUSY")
    assert raised.value.message == "database error: database is locked"
    with pytest.raises(click.ClickException) as refused, user_errors():
        raise StoreError("a refusal of the store itself")
    assert refused.value.message == "a refusal of the store itself"


def test_an_import_words_a_database_failure_as_before_and_its_own_with_the_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A DriverError is a LiveblogError, but an import names its source only for the
    errors that are the file's: a busy database reads `database error: …` as it did."""
    from liveblog.errors import InvalidEvent
    from liveblog.service.facade import Liveblog
    from liveblog.service.importing import ParsedImport

    with Liveblog(tmp_path / "events.db", "Ada") as blog:
        parsed = ParsedImport(source="day.jsonl", events=[], line_of={})

        def busy(events: object) -> None:
            raise StoreBusy("database is locked")

        monkeypatch.setattr(blog.log, "append", busy)
        with pytest.raises(StoreBusy) as caught:
            blog.import_parsed(parsed)
        assert str(caught.value) == "database is locked"

        def refused(events: object) -> None:
            raise InvalidEvent("not this one")

        monkeypatch.setattr(blog.log, "append", refused)
        with pytest.raises(InvalidEvent, match=r"^day\.jsonl: not this one$"):
            blog.import_parsed(parsed)
