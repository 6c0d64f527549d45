"""`Stores`: one place opens the store, every sub-store on its unit of work."""

from __future__ import annotations

import datetime as dt
import sqlite3 as stdlib_sqlite3
from pathlib import Path

import pytest

from liveblog.domain.envelope import make_event
from liveblog.domain.events import NotePosted
from liveblog.errors import UnsupportedStore
from liveblog.store import Stores
from liveblog.store.factory import open_stores, stores_on
from liveblog.store.sqlite.log import EventLog
from liveblog.store.sqlite.stores import SqliteStores


def test_open_stores_builds_nothing_until_asked(tmp_path: Path) -> None:
    with open_stores(tmp_path / "events.db") as stores:
        assert isinstance(stores, SqliteStores)
        assert stores.events.head() == 0
        assert (stores._timeline, stores._webhooks, stores._tokens) == (None, None, None)
        assert stores.timeline is stores.timeline  # built once
        assert stores.webhooks is stores.webhooks


def test_every_sub_store_is_on_the_event_stores_connection(tmp_path: Path) -> None:
    with open_stores(tmp_path / "events.db") as stores:
        conn = stores.events.conn  # type: ignore[attr-defined]
        for sub in (stores.timeline, stores.published, stores.projection_state):
            assert sub.conn is conn  # type: ignore[attr-defined]
        assert stores.webhooks.conn is conn  # type: ignore[attr-defined]
        assert stores.tokens.conn is conn  # type: ignore[attr-defined]


def test_one_unit_of_work_covers_the_log_and_the_configuration(tmp_path: Path) -> None:
    with open_stores(tmp_path / "events.db") as stores:
        event = make_event(
            id="e1",
            conference="c",
            occurred_at=dt.datetime(2011, 6, 9, 9, 0, tzinfo=dt.UTC),
            author="ann",
            data=NotePosted(day=1, text="hello"),
        )
        with pytest.raises(RuntimeError), stores.events.writing():
            stores.events.append([event])
            assert stores.tokens.add("Ada", "d" * 64, "2026-01-01T00:00:00+00:00", "reporter")
            raise RuntimeError("rolled back whole")
        assert stores.events.head() == 0
        assert stores.tokens.tokens() == []


def test_configuration_tables_dropped_by_hand_come_back_on_recheck(tmp_path: Path) -> None:
    db = tmp_path / "events.db"
    with open_stores(db) as stores:
        assert stores.tokens.tokens() == []
    raw = stdlib_sqlite3.connect(db)
    raw.execute("DROP TABLE api_tokens")
    raw.commit()
    raw.close()
    with EventLog(db) as log:
        stores: Stores = stores_on(log)
        stores.recheck_configuration()
        assert stores.tokens.tokens() == []


def test_stores_on_refuses_an_unknown_event_store() -> None:
    with pytest.raises(UnsupportedStore):
        stores_on(object())  # type: ignore[arg-type]
