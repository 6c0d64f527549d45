"""Several processes writing one events.db at once: the log stays gap-free."""

from __future__ import annotations

import json
import select
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pysqlite3 import dbapi2 as pysqlite3

from liveblog.store import EventLog
from liveblog.store.sqlite.schema import MIGRATIONS
from tests.writers import (
    EVENTS_PER_WRITER,
    WRITERS,
    check_exits,
    check_written,
    kill_left,
    start_writers,
    wait_ready,
    writer_script,
)

# conftest's `run_cli` returns a Proc: returncode, stdout, stderr.
Proc = Any


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


@pytest.mark.slow
def test_four_processes_append_to_one_fresh_log(tmp_path: Path) -> None:
    db = tmp_path / "events.db"
    script = writer_script(
        tmp_path / "writer.py",
        imports="from liveblog.store import EventLog",
        opening="EventLog(target)",
        patience=60,
    )
    names, procs = start_writers(script, str(db), tmp_path, cwd=tmp_path)
    try:
        wait_ready(tmp_path, names, procs, timeout=60)
        assert not db.exists()
        (tmp_path / "go").touch()
        outputs = [p.communicate(timeout=120) for p in procs]
    finally:
        kill_left(procs)

    check_exits(names, procs, outputs)
    with EventLog(db) as log:
        events = list(log.read())
        assert log.head() == WRITERS * EVENTS_PER_WRITER
        assert log.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        migrations = log.conn.execute("SELECT name FROM _sqlite_migrations").fetchall()
    assert migrations == [(name,) for name, _ in MIGRATIONS]  # once, though four opened it
    check_written(events, names)


# Opens a fresh events.db in each round, all openers released together. The barrier is
# pipes, not files polled: an opener says "ready" on stdout and blocks on reading one
# byte from stdin, so waiting costs no CPU (on 2 loaded cores, four busy pollers took most
# of this test's time) and the release is one write per opener.
OPENER = textwrap.dedent(
    """
    import sys
    from pathlib import Path

    from liveblog.store import EventLog

    workdir, name, rounds = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    failures = 0
    for r in range(rounds):
        print(f"ready {r}", flush=True)
        if sys.stdin.buffer.read(1) != b"g":
            sys.exit(f"{name}: no go signal for round {r}")
        try:
            with EventLog(workdir / f"events-{r}.db") as log:
                assert log.head() == 0
        except Exception as exc:
            failures += 1
            print(f"round {r}: {type(exc).__name__}: {exc}", file=sys.stderr)
    sys.exit(1 if failures else 0)
    """
)


def read_line(proc: subprocess.Popen[str], timeout: float, what: str) -> str:
    """One line of `proc`'s stdout within `timeout` seconds ("" once it has exited)."""
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    if not ready:
        raise AssertionError(f"timed out waiting for {what}")
    return proc.stdout.readline()


@pytest.mark.slow
def test_processes_opening_a_fresh_log_at_once_all_succeed(tmp_path: Path) -> None:
    """Several reporters' first commands against a new events.db: none may fail."""
    openers, rounds = 4, 100
    script = tmp_path / "opener.py"
    script.write_text(OPENER, encoding="utf-8")
    names = [f"o{i}" for i in range(openers)]
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(tmp_path), name, str(rounds)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
            cwd=tmp_path,
        )
        for name in names
    ]
    try:
        for r in range(rounds):
            said = [
                read_line(p, 60, f"opener {n} in round {r}")
                for n, p in zip(names, procs, strict=True)
            ]
            if said != [f"ready {r}\n"] * openers:
                break  # one exited (or said something else): its stderr says why, below
            for proc in procs:
                assert proc.stdin is not None
                proc.stdin.write("g")
                proc.stdin.flush()
        outputs = [p.communicate(timeout=120) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    errors = {name: err for name, (_, err) in zip(names, outputs, strict=True) if err}
    assert errors == {}
    assert [p.returncode for p in procs] == [0] * openers
    for r in range(rounds):
        with EventLog(tmp_path / f"events-{r}.db") as log:
            assert log.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            applied = log.conn.execute("SELECT name FROM _sqlite_migrations").fetchall()
            assert applied == [(name,) for name, _ in MIGRATIONS]


def test_opening_a_fresh_log_waits_for_another_writer(tmp_path: Path) -> None:
    """While another connection holds the write lock of a new (not yet WAL) file, opening
    the log waits for it (busy timeout) instead of failing with "database is locked"."""
    db = tmp_path / "events.db"
    holder = pysqlite3.connect(str(db), isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    outcome: list[BaseException | int] = []

    def open_log() -> None:
        try:
            with EventLog(db) as log:
                outcome.append(log.head())
        except BaseException as exc:
            outcome.append(exc)

    opener = threading.Thread(target=open_log)
    opener.start()
    try:
        opener.join(timeout=1.0)  # it must still be waiting: the lock is held
        early = list(outcome)
    finally:
        holder.execute("COMMIT")
        holder.close()
        opener.join(timeout=60)
    assert not opener.is_alive()
    assert early == [], f"opening gave up while the lock was held: {early!r}"
    assert outcome == [0]


# -- two reporters, parallel sessions, through the real CLI --------------------------------


def export(run_cli: Callable[..., Proc]) -> list[dict[str, Any]]:
    done = run_cli("export")
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def ok(done: Proc) -> str:
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    return done.stdout


def open_day(run_cli: Callable[..., Proc]) -> None:
    ok(
        run_cli(
            "conference",
            "open",
            "socitm-2011",
            "--title",
            "SOCITM 2011",
            "--timezone",
            "Europe/London",
            "--at",
            "2011-06-09T08:30",
        )
    )
    ok(run_cli("day", "open", "2", "--at", "2011-06-09T09:00", author="editor"))


def check_attribution(events: list[dict[str, Any]], expected: dict[str, list[str]]) -> None:
    """Each reporter's quotes name the speaker of that reporter's own talk at the time."""
    assert [e["position"] for e in events] == list(range(1, len(events) + 1))
    assert [e["version"] for e in events] == list(range(1, len(events) + 1))
    by_id = {e["id"]: e for e in events}
    for author, speakers in expected.items():
        mine = [e for e in events if e["author"] == author]
        (session,) = [e for e in mine if e["type"] == "session.started"]
        quotes = [e for e in mine if e["type"] == "quote.captured"]
        assert [q["data"]["speaker"] for q in quotes] == speakers, author
        for quote in quotes:
            assert quote["data"]["session"] == session["id"]
            talk = by_id[quote["data"]["talk"]]
            assert talk["type"] == "talk.started"
            assert talk["author"] == author
            assert talk["data"]["session"] == session["id"]
            assert talk["data"]["speaker"] == quote["data"]["speaker"]
            assert talk["position"] < quote["position"]


def test_two_reporters_cover_parallel_sessions_interleaved(
    run_cli: Callable[..., Proc],
) -> None:
    open_day(run_cli)
    steps: list[tuple[str, tuple[str, ...]]] = [
        ("ann", ("session", "start", "Breakout A", "--kind", "breakout", "--room", "Room 1")),
        ("bob", ("session", "start", "Breakout B", "--kind", "breakout", "--room", "Room 2")),
        ("ann", ("talk", "start", "Sharing services", "--speaker", "Andy Burns")),
        ("bob", ("talk", "start", "Digital by default", "--speaker", "Jos Creese")),
        ("ann", ("quote", "We must share services")),
        ("bob", ("quote", "Digital first, not digital only")),
        ("bob", ("quote", "Start with the user")),
        ("ann", ("quote", "The cloud is a business decision")),
        ("bob", ("talk", "start", "Open data", "--speaker", "Carol Dean")),
        ("ann", ("quote", "Nobody owns the citizen")),
        ("bob", ("quote", "Publish it raw, publish it now")),
        ("ann", ("talk", "end")),
        ("bob", ("quote", "Data is infrastructure")),
    ]
    for minute, (author, args) in enumerate(steps):
        out = ok(run_cli(*args, "--at", f"2011-06-09T10:{minute:02d}", author=author))
        if args[0] == "quote":
            assert out.count("\n") == 1 and "quote.captured" in out

    # Ann's talk is over: a quote without --speaker is refused, and nothing is written.
    before = export(run_cli)
    refused = run_cli("quote", "Who said this?", author="ann")
    assert refused.returncode == 1
    assert "whose words?" in refused.stderr
    assert refused.stderr.count("\n") == 1
    assert export(run_cli) == before
    # Bob's talk is still open.
    assert "Carol Dean" in ok(run_cli("quote", "Last words", author="bob"))

    check_attribution(
        export(run_cli),
        {
            "ann": ["Andy Burns", "Andy Burns", "Andy Burns"],
            "bob": ["Jos Creese", "Jos Creese", "Carol Dean", "Carol Dean", "Carol Dean"],
        },
    )


@pytest.mark.slow
def test_two_reporters_post_at_the_same_time(
    run_cli: Callable[..., Proc],
) -> None:
    """The same coverage, each reporter's commands running while the other's do."""
    open_day(run_cli)
    plans: dict[str, list[tuple[str, ...]]] = {
        "ann": [
            ("session", "start", "Breakout A", "--room", "Room 1"),
            ("talk", "start", "Sharing services", "--speaker", "Andy Burns"),
            ("quote", "a1"),
            ("quote", "a2"),
            ("talk", "start", "Shared back office", "--speaker", "Ruth Ellis"),
            ("quote", "a3"),
            ("quote", "a4"),
        ],
        "bob": [
            ("session", "start", "Breakout B", "--room", "Room 2"),
            ("talk", "start", "Digital by default", "--speaker", "Jos Creese"),
            ("quote", "b1"),
            ("quote", "b2"),
            ("talk", "start", "Open data", "--speaker", "Carol Dean"),
            ("quote", "b3"),
            ("quote", "b4"),
        ],
    }
    barrier = threading.Barrier(len(plans))
    failures: list[str] = []

    def report(author: str) -> None:
        barrier.wait(timeout=30)
        for args in plans[author]:
            done = run_cli(*args, author=author)
            if done.returncode != 0 or done.stderr:
                failures.append(f"{author} {args}: {done.returncode} {done.stderr}")
                return

    threads = [threading.Thread(target=report, args=(author,)) for author in plans]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    assert failures == []

    check_attribution(
        export(run_cli),
        {
            "ann": ["Andy Burns", "Andy Burns", "Ruth Ellis", "Ruth Ellis"],
            "bob": ["Jos Creese", "Jos Creese", "Carol Dean", "Carol Dean"],
        },
    )
