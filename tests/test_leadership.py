"""Leadership (liveblog.store.leadership): one holder at a time, never left behind.

The same contract on both backends: SQLite's flock on `<events.db>.lock` and
PostgreSQL's session advisory lock. A holder that is SIGKILLed (a real subprocess)
frees it for the next; on PostgreSQL a standby takes over, and a leader whose session
was ended learns it from `held()`.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from receivers import wait_for

from liveblog.errors import RefusedCommand
from liveblog.store.leadership import Leadership
from liveblog.store.sqlite.leadership import SqliteLeadership

Make = Callable[[str, str], Any]


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(kind, location): an events.db path, or a fresh PostgreSQL database's URL."""
    if request.param == "sqlite":
        yield "sqlite", str(tmp_path / "events.db")
    else:
        yield "postgresql", request.getfixturevalue("pg_url")


def leadership(kind: str, where: str, name: str, holder: str) -> Leadership:
    if kind == "sqlite":
        return SqliteLeadership(where, name, holder)
    from liveblog.store.postgres.leadership import PostgresLeadership

    return PostgresLeadership(where, name, holder)


HOLDER = textwrap.dedent(
    """
    import sys

    kind, where = sys.argv[1], sys.argv[2]
    if kind == "sqlite":
        from liveblog.store.sqlite.leadership import SqliteLeadership as Lead
    else:
        from liveblog.store.postgres.leadership import PostgresLeadership as Lead
    lead = Lead(where, "scheduler", "run")
    assert lead.try_acquire()
    print("held", flush=True)
    sys.stdin.readline()  # until the test kills us
    """
)


def holding_process(kind: str, where: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, kind, where],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "held"
    return proc


# -- the contract, on both backends ---------------------------------------------------


def test_one_holder_at_a_time(backend: tuple[str, str]) -> None:
    kind, where = backend
    first = leadership(kind, where, "scheduler", "serve")
    second = leadership(kind, where, "scheduler", "run")
    try:
        assert first.try_acquire()
        assert first.try_acquire()  # ours already: still True
        assert first.held()
        assert not second.try_acquire()
        assert not second.held()
        who = second.holder()
        assert who is not None and "serve" in who
        assert str(os.getpid()) in who
    finally:
        first.release()
        second.release()


def test_released_on_release_and_on_exit_of_the_with_block(backend: tuple[str, str]) -> None:
    kind, where = backend
    first = leadership(kind, where, "scheduler", "serve")
    second = leadership(kind, where, "scheduler", "run")
    with first:
        assert first.try_acquire()
    assert not first.held()
    try:
        assert second.try_acquire()
        assert not first.try_acquire()
        second.release()
        second.release()  # idempotent
        assert first.try_acquire()
    finally:
        first.release()
        second.release()


def test_names_are_independent(backend: tuple[str, str]) -> None:
    kind, where = backend
    a = leadership(kind, where, "scheduler", "serve")
    b = leadership(kind, where, "other", "serve")
    try:
        assert a.try_acquire()
        assert b.try_acquire()
    finally:
        a.release()
        b.release()


def test_freed_when_the_holding_process_is_killed(backend: tuple[str, str]) -> None:
    kind, where = backend
    proc = holding_process(kind, where)
    standby = leadership(kind, where, "scheduler", "serve")
    try:
        assert not standby.try_acquire()
        who = standby.holder()
        assert who is not None and str(proc.pid) in who
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        # The kernel (flock) or the server (the session ended) drops it: the standby
        # takes over on one of its tries.
        wait_for(standby.try_acquire, what="the lock of a SIGKILLed holder to be freed")
        assert standby.held()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        standby.release()


# -- SQLite: a second scheduler is refused, in today's words --------------------------


def test_sqlite_refuses_a_second_scheduler_naming_the_first(tmp_path: Path) -> None:
    db = tmp_path / "events.db"
    first = SqliteLeadership(db, "scheduler", "serve")
    second = SqliteLeadership(db, "scheduler", "run")
    assert first.try_acquire()
    try:
        assert not first.standby and not second.standby
        assert (tmp_path / "events.db.lock").exists()  # the file of old
        assert json.loads((tmp_path / "events.db.lock").read_text())["pid"] == os.getpid()
        with pytest.raises(RefusedCommand) as refused:
            second.acquire()
        message = str(refused.value)
        assert message.startswith(
            f"another scheduler already runs on events.db: `liveblog serve` (pid {os.getpid()}, "
        )
        assert message.endswith("; stop it first (one scheduler per events.db)")
    finally:
        first.release()


# -- PostgreSQL: a session that ends takes the lock with it --------------------------


def test_postgres_leader_whose_session_ended_learns_it_from_held(
    pg_url: str, pg_cluster: Any
) -> None:
    from liveblog.store.postgres.driver import connect
    from liveblog.store.postgres.leadership import PostgresLeadership, application_name

    leader = PostgresLeadership(pg_url, "scheduler", "serve")
    standby = PostgresLeadership(pg_url, "scheduler", "run")
    try:
        assert leader.standby
        assert leader.try_acquire()
        # The server ends the leader's session (an operator, a failover, a dead link).
        conn = connect(pg_url)
        try:
            ended = conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = %s",
                (application_name("serve"),),
            ).fetchall()
        finally:
            conn.close()
        assert ended == [(True,)]
        wait_for(standby.try_acquire, what="the lock of a terminated session to be freed")
        assert not leader.held()  # it steps down
        assert not leader.try_acquire()  # and stands by: the standby leads now
        assert "run" in (leader.holder() or "")
    finally:
        leader.release()
        standby.release()


def test_postgres_holder_is_none_when_no_one_leads(pg_url: str) -> None:
    from liveblog.store.postgres.leadership import PostgresLeadership

    lead = PostgresLeadership(pg_url, "scheduler", "serve")
    assert lead.holder() is None
    assert not lead.held()


def sessions_named(url: str, holder: str) -> list[int]:
    """Backend pids of the sessions a leadership of `holder` opened (by application_name)."""
    from liveblog.store.postgres.driver import connect
    from liveblog.store.postgres.leadership import application_name

    conn = connect(url)
    try:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s",
            (application_name(holder),),
        ).fetchall()
    finally:
        conn.close()
    return sorted(int(pid) for (pid,) in rows)


@contextlib.contextmanager
def leader_and_standby(url: str) -> Iterator[tuple[Any, Any, int]]:
    """A PostgreSQL leader ("serve") and a standby ("run") that tried once: both, and
    the standby's session (backend pid); both released after."""
    from liveblog.store.postgres.leadership import PostgresLeadership

    leader = PostgresLeadership(url, "scheduler", "serve")
    standby = PostgresLeadership(url, "scheduler", "run")
    try:
        assert leader.try_acquire()
        assert not standby.try_acquire()
        [session] = sessions_named(url, "run")
        yield leader, standby, session
    finally:
        leader.release()
        standby.release()


def test_postgres_standby_tries_on_one_session_which_then_leads(pg_url: str) -> None:
    """A standby's tries are one query each on a session it keeps (so it may try often,
    and take over as soon as the lock is free); that session is the one that leads."""
    with leader_and_standby(pg_url) as (leader, standby, session):
        for _ in range(3):
            assert not standby.try_acquire()
            assert sessions_named(pg_url, "run") == [session]
        leader.release()
        assert standby.try_acquire()
        assert sessions_named(pg_url, "run") == [session]
        assert standby.held()
        assert not leader.try_acquire()
    # Released: no session left open. A backend ends just after its client closes the
    # connection (asynchronously), so pg_stat_activity is awaited, not read once.
    wait_for(lambda: sessions_named(pg_url, "run") == [], what="the run sessions to end")
    wait_for(lambda: sessions_named(pg_url, "serve") == [], what="the serve sessions to end")


def test_postgres_standby_whose_session_ended_tries_on_a_new_one(pg_url: str) -> None:
    from liveblog.store.postgres.driver import connect

    with leader_and_standby(pg_url) as (leader, standby, session):
        conn = connect(pg_url)
        try:
            conn.execute("SELECT pg_terminate_backend(%s)", (session,))
        finally:
            conn.close()
        wait_for(lambda: session not in sessions_named(pg_url, "run"), what="its session gone")
        assert not standby.try_acquire()  # no error: a new session, still standing by
        [again] = sessions_named(pg_url, "run")
        assert again != session
        leader.release()
        assert standby.try_acquire()
