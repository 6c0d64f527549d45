"""A long-lived PostgreSQL store survives its connection being dropped by the server.

The deliverer and the publisher keep one store for the life of a node: a connection
ended under them (a server restart, a failover, pg_terminate_backend) must cost one
failed call, not every call until the node restarts.
"""

from __future__ import annotations

import datetime as dt

import psycopg
import pytest

from liveblog.domain.envelope import Event, make_event
from liveblog.domain.events import ConferenceOpened
from liveblog.errors import ReadOnlyDatabase, StoreError
from liveblog.store.factory import open_store


def _opened(slug: str) -> Event:
    return make_event(
        id=f"open-{slug}",
        conference=slug,
        occurred_at=dt.datetime(2026, 6, 9, 9, 0, tzinfo=dt.UTC),
        author="ann",
        data=ConferenceOpened(title="A conference"),
    )


def _terminate(url: str, backend: int) -> None:
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (backend,))


def _backend(store: object) -> int:
    return int(store.conn.execute("SELECT pg_backend_pid()").fetchone()[0])  # type: ignore[attr-defined]


def test_a_dropped_connection_is_replaced_before_the_next_call(pg_url: str) -> None:
    with open_store(pg_url) as store:
        store.append([_opened("one")])
        first = _backend(store)
        _terminate(pg_url, first)
        with pytest.raises(StoreError):  # the call that meets the break fails, in one line
            store.head()
        assert store.head() == 1  # and the next one works, on a new session
        assert _backend(store) != first
        store.append([_opened("two")])
        assert store.head() == 2


def test_session_settings_come_back_on_the_new_connection(pg_url: str) -> None:
    with open_store(pg_url) as store:
        store.append([_opened("one")])
    with open_store(pg_url, readonly=True) as store:
        _terminate(pg_url, _backend(store))
        with pytest.raises(StoreError):
            store.head()
        assert store.head() == 1
        # The server still refuses writes on the replacement session, not only the store.
        with pytest.raises(StoreError, match="read-only"):
            store.conn.execute("CREATE TABLE intruder (x int)")  # type: ignore[attr-defined]
        with pytest.raises(ReadOnlyDatabase):
            store.append([_opened("two")])


def test_a_transaction_is_never_continued_on_another_connection(pg_url: str) -> None:
    with open_store(pg_url) as store:
        store.append([_opened("one")])
        with pytest.raises(StoreError), store.writing():
            _terminate(pg_url, _backend(store))
            store.append([_opened("two")])
        assert store.head() == 1  # nothing of the broken transaction was kept
