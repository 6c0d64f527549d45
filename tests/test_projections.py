"""The projection runner and the timeline projection.

A projection's position is committed in the same transaction as its rows; catching up
applies only what is new; a changed version or a missing table rebuilds it; rebuilding
from zero and catching up one event at a time give the same tables.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pysqlite3 import dbapi2 as pysqlite3
from terminals import run_on_a_terminal

from liveblog.errors import ContextError, LiveblogError
from liveblog.projections import ProjectionRunner
from liveblog.projections import runner as runner_module
from liveblog.service.facade import Liveblog
from liveblog.store import EventLog, Record
from liveblog.store.sqlite.projections import BoundProjection, bind

Invoke = Callable[..., Result]
Row = tuple[Any, ...]

LOG_TABLES = {"events", "_sqlite_migrations"}


# -- helpers -------------------------------------------------------------------------


def plain(db: Path) -> Any:
    """A connection that knows nothing of liveblog (what a user's sqlite shell is)."""
    return pysqlite3.connect(str(db), isolation_level=None)


def tables(conn: Any, prefix: str = "") -> list[str]:
    return [
        r[0]
        for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
            "ORDER BY name"
        )
        if r[0].startswith(prefix)
    ]


def snapshot(conn: Any) -> dict[str, list[Row]]:
    """Every row of every timeline table and view, sorted (row order is not part of the
    contract)."""
    names = [
        r[0]
        for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') "
            "AND name LIKE 'timeline%' ORDER BY name"
        )
    ]
    return {
        name: sorted(conn.execute(f'SELECT * FROM "{name}"').fetchall(), key=repr) for name in names
    }


def entries_source(conn: Any) -> str:
    """Where entries are read with their current text: the `timeline` view if the
    projection keeps one, else its entries table."""
    views = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'view'")}
    return "timeline" if "timeline" in views else "timeline_entries"


def state_of(db: Path, name: str) -> tuple[int, int] | None:
    """(version, position) of projection `name`, as committed (read by another connection)."""
    conn = plain(db)
    try:
        if "projection_state" not in tables(conn):
            return None
        row = conn.execute(
            "SELECT version, position FROM projection_state WHERE name = ?", (name,)
        ).fetchone()
        return None if row is None else (int(row[0]), int(row[1]))
    finally:
        conn.close()


def count_rows(db: Path, table: str) -> int:
    conn = plain(db)
    try:
        return int(conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0])
    finally:
        conn.close()


def sample_log(db: Path, notes: int = 3) -> Liveblog:
    """A conference with day 2 open, a session, a talk and `notes` notes (ann)."""
    lb = Liveblog(db, "ann")
    lb.open_conference(
        "socitm-2011", title="SOCITM 2011", timezone="Europe/London", at="2011-06-09T08:30"
    )
    lb.open_day(2, at="2011-06-09T09:00")
    lb.start_session("Plenary", kind="plenary", room="Hall 1", at="2011-06-09T09:10")
    lb.start_talk("Shared services", speaker="Andy Burns", at="2011-06-09T09:15")
    for n in range(notes):
        lb.note(f"note {n}", at=f"2011-06-09T09:{20 + n:02d}")
    return lb


class Recording:
    """A test projection: one row per record it was given, and a list of what it saw.

    `fail_on` names a note text whose record makes `apply` raise (after it has already
    written the rows of the records before it in the same call).
    """

    def __init__(self, name: str = "recording", version: int = 1) -> None:
        self.name = name
        self.version = version
        self.table = f"test_{name}"
        self.tables = (self.table,)
        self.seen: list[int] = []
        self.creates = 0
        self.fail_on: str | None = None

    def create(self, conn: Any) -> None:
        self.creates += 1
        conn.execute(f'CREATE TABLE "{self.table}" (position INTEGER NOT NULL, id TEXT)')

    def apply(self, conn: Any, records: Sequence[Record]) -> None:
        for r in records:
            if r.type == "note.posted" and r.data.get("text") == self.fail_on:
                raise RuntimeError(f"injected failure at #{r.position}")
            conn.execute(f'INSERT INTO "{self.table}" VALUES (?, ?)', (r.position, r.id))
            self.seen.append(r.position)


def on(log: EventLog, *projections: Any) -> list[BoundProjection]:
    """SQLite projections bound to the log's connection (what the runner drives)."""
    return [bind(p, log.conn) for p in projections]


# -- position committed with the rows ---------------------------------------------------


def test_catch_up_commits_the_head_as_position(db_path: Path) -> None:
    lb = sample_log(db_path)
    applied = lb.catch_up()
    head = lb.log.head()
    assert applied == {"timeline": head}
    assert state_of(db_path, "timeline") is not None
    assert state_of(db_path, "timeline")[1] == head  # type: ignore[index]
    # Committed: another connection sees the rows, one per entry.
    assert count_rows(db_path, "timeline_entries") == 5  # session, talk, 3 notes
    assert lb.catch_up() == {"timeline": 0}
    lb.close()


def test_a_failing_apply_advances_neither_rows_nor_position(db_path: Path) -> None:
    lb = sample_log(db_path, notes=2)
    log = lb.log
    projection = Recording()
    runner = ProjectionRunner(log, on(log, projection))
    assert runner.catch_up() == {"recording": log.head()}
    before = log.head()
    assert state_of(db_path, "recording") == (1, before)

    lb.note("fine 1", at="2011-06-09T09:40")
    lb.note("boom", at="2011-06-09T09:41")
    lb.note("fine 2", at="2011-06-09T09:42")
    projection.fail_on = "boom"
    with pytest.raises(RuntimeError, match="injected failure"):
        runner.catch_up()
    # Neither the row of "fine 1" (written before the failure) nor any position moved.
    assert state_of(db_path, "recording") == (1, before)
    assert count_rows(db_path, "test_recording") == before
    assert not log.conn.in_transaction

    # Once the cause is gone, catching up resumes where the committed position says.
    projection.fail_on = None
    projection.seen.clear()
    assert runner.catch_up() == {"recording": 3}
    assert projection.seen == [before + 1, before + 2, before + 3]
    assert state_of(db_path, "recording") == (1, log.head())
    assert count_rows(db_path, "test_recording") == log.head()
    lb.close()


def test_a_failing_projection_leaves_each_projection_consistent(db_path: Path) -> None:
    """Two projections, one failing: whatever either committed, rows match position."""
    lb = sample_log(db_path, notes=1)
    good, bad = Recording("good"), Recording("bad")
    bad.fail_on = "boom"
    runner = ProjectionRunner(lb.log, on(lb.log, good, bad))
    lb.note("boom", at="2011-06-09T09:41")
    with pytest.raises(RuntimeError):
        runner.catch_up()
    for name in ("good", "bad"):
        state = state_of(db_path, name)
        position = state[1] if state else 0
        rows = count_rows(db_path, f"test_{name}") if state else 0
        assert rows == position, name
    assert state_of(db_path, "bad") in (None, (1, 0))
    lb.close()


# -- only what is new ---------------------------------------------------------------------


def test_catch_up_applies_exactly_the_new_records(db_path: Path) -> None:
    lb = sample_log(db_path, notes=2)
    projection = Recording()
    runner = ProjectionRunner(lb.log, on(lb.log, projection))
    first = lb.log.head()
    assert runner.catch_up() == {"recording": first}
    assert projection.seen == list(range(1, first + 1))

    projection.seen.clear()
    assert runner.catch_up() == {"recording": 0}
    assert projection.seen == []

    lb.note("late 1", at="2011-06-09T10:00")
    lb.quote("late 2", at="2011-06-09T10:01")
    projection.seen.clear()
    assert runner.catch_up() == {"recording": 2}
    assert projection.seen == [first + 1, first + 2]
    assert projection.creates == 1  # never rebuilt along the way
    assert count_rows(db_path, "test_recording") == first + 2
    lb.close()


def test_projections_at_different_positions_each_get_only_their_own_gap(db_path: Path) -> None:
    lb = sample_log(db_path, notes=2)
    old = Recording("old")
    ProjectionRunner(lb.log, on(lb.log, old)).catch_up()
    head = lb.log.head()
    lb.note("new", at="2011-06-09T10:00")

    old.seen.clear()
    new = Recording("new")
    assert ProjectionRunner(lb.log, on(lb.log, old, new)).catch_up() == {"old": 1, "new": head + 1}
    assert old.seen == [head + 1]
    assert new.seen == list(range(1, head + 2))
    assert count_rows(db_path, "test_old") == head + 1
    lb.close()


def test_catch_up_reports_progress(db_path: Path) -> None:
    lb = sample_log(db_path, notes=2)
    calls: list[int] = []
    ProjectionRunner(lb.log, on(lb.log, Recording())).catch_up(calls.append)
    assert sum(calls) == lb.log.head()
    lb.close()


def test_catch_up_costs_what_is_new_not_the_size_of_the_log(tmp_path: Path) -> None:
    """Counted in SQLite VM instructions (a progress handler), not in seconds."""
    catch_up_cost, rebuild_cost = {}, {}
    for size in (50, 3000):
        db = tmp_path / f"events-{size}.db"
        many_events(db, size)
        with Liveblog(db, "ann") as lb:
            lb.catch_up()
            lb.note("one more", conference="c1", at="2011-06-09T12:00")
            steps = [0]

            def count(steps: list[int] = steps) -> int:
                steps[0] += 1
                return 0  # carry on

            lb.log.conn.set_progress_handler(count, 10)
            assert lb.catch_up() == {"timeline": 1}
            catch_up_cost[size] = steps[0]
            steps[0] = 0
            lb.rebuild()
            rebuild_cost[size] = steps[0]
            lb.log.conn.set_progress_handler(None, 10)
    # The measure does see the log's size (else it is not counting the runner's work).
    assert rebuild_cost[3000] > 20 * rebuild_cost[50], rebuild_cost
    assert catch_up_cost[3000] <= 2 * catch_up_cost[50] + 50, catch_up_cost


def test_timeline_keeps_current_text_retraction_and_edit_history(db_path: Path) -> None:
    lb = sample_log(db_path, notes=2)
    note = last_entry_id(lb)
    bob = Liveblog(db_path, "bob")
    (fix,) = lb.correct(note, text="note 1, corrected", at="2011-06-09T10:00")
    (fix2,) = bob.correct(note, text="note 1, corrected again", at="2011-06-09T10:05")
    (gone,) = bob.retract(note, reason="duplicate", at="2011-06-09T10:10")
    talk = lb.log.conn.execute("SELECT id FROM events WHERE type = 'talk.started'").fetchall()[0][0]
    (rename,) = lb.correct(talk, speaker="Andrew Burns", at="2011-06-09T10:15")
    lb.catch_up()
    bob.close()

    conn = plain(db_path)
    source = entries_source(conn)
    row = conn.execute(
        "SELECT kind, text, retracted, retraction_reason, retracted_at, updated_at "
        f"FROM {source} WHERE id = ?",
        (note,),
    ).fetchone()
    assert row == (
        "note",
        "note 1, corrected again",
        1,
        "duplicate",
        "2011-06-09T10:10:00+01:00",
        "2011-06-09T10:05:00+01:00",
    )
    edits = conn.execute(
        "SELECT event_id, type, occurred_at, author, changes FROM timeline_edits "
        "WHERE entry = ? ORDER BY position",
        (note,),
    ).fetchall()
    assert [(e[0], e[1], e[2], e[3], json.loads(e[4])) for e in edits] == [
        (fix.id, "entry.corrected", "2011-06-09T10:00:00+01:00", "ann",
         {"text": "note 1, corrected"}),
        (fix2.id, "entry.corrected", "2011-06-09T10:05:00+01:00", "bob",
         {"text": "note 1, corrected again"}),
        (gone.id, "entry.retracted", "2011-06-09T10:10:00+01:00", "bob", {"reason": "duplicate"}),
    ]  # fmt: skip
    assert conn.execute(
        f"SELECT speaker, retracted FROM {source} WHERE id = ?", (talk,)
    ).fetchone() == ("Andrew Burns", 0)
    assert conn.execute(
        "SELECT event_id, author FROM timeline_edits WHERE entry = ?", (talk,)
    ).fetchall() == [(rename.id, "ann")]
    kinds = conn.execute(
        f"SELECT kind, count(*) FROM {source} GROUP BY kind ORDER BY kind"
    ).fetchall()
    assert kinds == [("note", 2), ("session", 1), ("talk", 1)]
    conn.close()
    lb.close()


# -- rebuilding -----------------------------------------------------------------------------


def test_a_new_version_rebuilds_from_zero(db_path: Path) -> None:
    lb = sample_log(db_path, notes=2)
    v1 = Recording(version=1)
    ProjectionRunner(lb.log, on(lb.log, v1)).catch_up()
    head = lb.log.head()
    assert state_of(db_path, "recording") == (1, head)

    v2 = Recording(version=2)
    assert ProjectionRunner(lb.log, on(lb.log, v2)).catch_up() == {"recording": head}
    assert v2.creates == 1
    assert v2.seen == list(range(1, head + 1))
    assert state_of(db_path, "recording") == (2, head)
    # Its table was dropped and refilled: every event once, not twice.
    assert count_rows(db_path, "test_recording") == head

    # Going back to version 1 is a change too.
    v1_again = Recording(version=1)
    ProjectionRunner(lb.log, on(lb.log, v1_again)).catch_up()
    assert v1_again.seen == list(range(1, head + 1))
    assert count_rows(db_path, "test_recording") == head
    lb.close()


def test_a_dropped_timeline_table_is_rebuilt_on_the_next_catch_up(db_path: Path) -> None:
    lb = sample_log(db_path)
    lb.correct(last_entry_id(lb), text="note 2, corrected")
    lb.catch_up()
    before = snapshot(lb.log.conn)
    summary = lb.summary(2, fmt="json")
    lb.close()

    conn = plain(db_path)
    conn.execute("DROP TABLE timeline_entries")
    conn.close()

    with Liveblog(db_path, "ann") as again:
        assert again.catch_up() == {"timeline": again.log.head()}
        assert snapshot(again.log.conn) == before
        assert again.summary(2, fmt="json") == summary
        status = again.projections.status()[0]
        assert state_of(db_path, "timeline") == (status.version, again.log.head())


def last_entry_id(lb: Liveblog) -> str:
    rows = lb.log.conn.execute(
        "SELECT id FROM events WHERE type IN ('note.posted', 'quote.captured') "
        "ORDER BY position DESC LIMIT 1"
    ).fetchall()
    return str(rows[0][0])


def test_a_rebuild_replays_from_zero(db_path: Path) -> None:
    lb = sample_log(db_path)
    lb.catch_up()
    before = snapshot(lb.log.conn)
    assert lb.rebuild() == {"timeline": lb.log.head()}
    assert snapshot(lb.log.conn) == before
    lb.close()


# -- the CLI: rebuild and status ------------------------------------------------------------


def report_day(invoke: Invoke) -> None:
    """A small day through the CLI, with a correction and a retraction."""
    for args in (
        ("session", "start", "Plenary", "--kind", "plenary", "--at", "2011-06-09T09:10"),
        ("talk", "start", "Shared services", "--speaker", "Andy Burns", "--at", "09:15"),
        ("quote", "We must share", "--at", "2011-06-09T09:16"),
        ("note", "A full room", "--at", "2011-06-09T09:17"),
        ("correct", "--last", "A packed room", "--at", "2011-06-09T09:18"),
        ("note", "Oops", "--at", "2011-06-09T09:19"),
        ("retract", "--last", "--reason", "wrong room", "--at", "2011-06-09T09:20"),
    ):
        result = invoke(*args)
        assert result.exit_code == 0, result.output


def head_of(db: Path) -> int:
    conn = plain(db)
    try:
        return int(conn.execute("SELECT max(position) FROM events").fetchone()[0])
    finally:
        conn.close()


@pytest.mark.usefixtures("day_open")
def test_cli_rebuild_restores_every_projection_table(invoke: Invoke, db_path: Path) -> None:
    report_day(invoke)
    summary = invoke("summary", "2").stdout
    conn = plain(db_path)
    before = snapshot(conn)
    derived = [t for t in tables(conn) if t not in LOG_TABLES]
    assert "projection_state" in derived
    assert {"timeline_entries", "timeline_days", "timeline_edits"} <= set(derived)
    for table in derived:
        conn.execute(f'DROP TABLE "{table}"')
    conn.close()

    result = invoke("rebuild")
    assert result.exit_code == 0, result.output
    head = head_of(db_path)
    assert result.stdout == f"rebuilt timeline: {head} events\n"
    assert result.stderr == ""  # no terminal: no progress bar

    conn = plain(db_path)
    assert set(derived) <= set(tables(conn))
    assert snapshot(conn) == before
    conn.close()
    assert state_of(db_path, "timeline") is not None
    assert state_of(db_path, "timeline")[1] == head  # type: ignore[index]
    assert invoke("summary", "2").stdout == summary


def drop_derived(db: Path, types: tuple[str, ...] = ("table", "view")) -> list[str]:
    """Drop every table and view but the log's own, as a user's sqlite shell could."""
    conn = plain(db)
    try:
        marks = ", ".join("?" * len(types))
        found = conn.execute(
            f"SELECT type, name FROM sqlite_master WHERE type IN ({marks}) "
            "AND name NOT LIKE 'sqlite_%' ORDER BY type DESC, name",
            types,
        ).fetchall()
        dropped = []
        for kind, name in found:
            if name not in LOG_TABLES:
                conn.execute(f'DROP {kind.upper()} IF EXISTS "{name}"')
                dropped.append(name)
        return dropped
    finally:
        conn.close()


@pytest.mark.usefixtures("day_open")
@pytest.mark.parametrize("types", [("view",), ("table", "view")], ids=["views", "everything"])
def test_the_next_catch_up_restores_dropped_derived_objects(
    invoke: Invoke, db_path: Path, types: tuple[str, ...]
) -> None:
    """Views too: a user clearing out derived data may drop them along with the tables."""
    report_day(invoke)
    summary = invoke("summary", "2").stdout
    drop_derived(db_path, types)
    result = invoke("summary", "2")  # catches up first
    assert result.exit_code == 0, result.output
    assert result.stdout == summary


@pytest.mark.usefixtures("day_open")
def test_cli_rebuild_restores_dropped_views_too(invoke: Invoke, db_path: Path) -> None:
    report_day(invoke)
    summary = invoke("summary", "2").stdout
    drop_derived(db_path)
    assert invoke("rebuild").exit_code == 0
    assert invoke("summary", "2").stdout == summary


@pytest.mark.usefixtures("day_open")
def test_cli_rebuild_twice_gives_the_same_tables(invoke: Invoke, db_path: Path) -> None:
    report_day(invoke)
    assert invoke("rebuild").exit_code == 0
    conn = plain(db_path)
    first = snapshot(conn)
    conn.close()
    assert invoke("rebuild").exit_code == 0
    conn = plain(db_path)
    assert snapshot(conn) == first
    conn.close()


def test_cli_rebuild_of_an_empty_log(invoke: Invoke) -> None:
    result = invoke("rebuild")
    assert result.exit_code == 0, result.output
    assert result.stdout == "rebuilt timeline: 0 events\n"


@pytest.mark.slow
def test_cli_rebuild_shows_a_progress_bar_on_a_terminal(
    invoke: Invoke, db_path: Path, tmp_path: Path
) -> None:
    assert (
        invoke("conference", "open", "c1", "--title", "C1", "--at", "2011-06-09T08:00").exit_code
        == 0
    )
    env = {**os.environ, "LIVEBLOG_DB": str(db_path), "LIVEBLOG_AUTHOR": "ann"}
    done, terminal = run_on_a_terminal(["rebuild"], env, tmp_path)
    assert done.returncode == 0
    assert done.stdout == "rebuilt timeline: 1 events\n"
    assert "rebuilding" in terminal


STATUS_LINE = re.compile(r"timeline\D*?(\d+)\D+?position (\d+)\D+lag (\d+)")


@pytest.mark.usefixtures("day_open")
def test_status_shows_head_position_and_lag(invoke: Invoke, db_path: Path) -> None:
    report_day(invoke)
    head = head_of(db_path)

    before = invoke("status", "--json")
    assert before.exit_code == 0, before.output
    report = json.loads(before.stdout)
    assert report["head"] == head
    (timeline,) = [p for p in report["projections"] if p["name"] == "timeline"]
    assert timeline["position"] == 0
    assert timeline["lag"] == head
    assert isinstance(timeline["version"], int)

    human = invoke("status")
    assert human.exit_code == 0
    assert re.search(rf"head\D*{head}\b", human.stdout), human.stdout
    match = STATUS_LINE.search(human.stdout)
    assert match, human.stdout
    assert (int(match[2]), int(match[3])) == (0, head)

    assert invoke("summary", "2").exit_code == 0  # a reader catches the projection up
    report = json.loads(invoke("status", "--json").stdout)
    (timeline,) = [p for p in report["projections"] if p["name"] == "timeline"]
    assert (timeline["position"], timeline["lag"]) == (head, 0)
    match = STATUS_LINE.search(invoke("status").stdout)
    assert match
    assert (int(match[2]), int(match[3])) == (head, 0)

    assert invoke("note", "one more", "--at", "2011-06-09T10:00").exit_code == 0
    report = json.loads(invoke("status", "--json").stdout)
    assert report["head"] == head + 1
    (timeline,) = [p for p in report["projections"] if p["name"] == "timeline"]
    assert (timeline["position"], timeline["lag"]) == (head, 1)


def test_status_of_an_empty_log(invoke: Invoke) -> None:
    report = json.loads(invoke("status", "--json").stdout)
    assert report["head"] == 0
    assert [(p["name"], p["position"], p["lag"]) for p in report["projections"]] == [
        ("timeline", 0, 0)
    ]


# -- concurrent catch-up ----------------------------------------------------------------------

# A child process: a runner over the timeline and a projection whose table has no
# uniqueness at all, so an event applied twice would show as a duplicate row. Says
# "ready", waits for the parent's "go" line, catches up, prints what it applied.
CATCHER = textwrap.dedent(
    """
    import json
    import sys

    from liveblog.projections import ProjectionRunner, TimelineProjection
    from liveblog.projections import runner as runner_module

    runner_module.CHUNK = 7  # many small transactions, so the two interleave

    class Tally:
        name = "tally"
        version = 1
        tables = ("test_tally",)

        def create(self, conn):
            conn.execute("CREATE TABLE test_tally (position INTEGER NOT NULL, pid INTEGER)")

        def apply(self, conn, records):
            import os

            conn.executemany(
                "INSERT INTO test_tally VALUES (?, ?)",
                [(r.position, os.getpid()) for r in records],
            )

    from liveblog.store import EventLog
    from liveblog.store.sqlite.projections import bind

    with EventLog(sys.argv[1]) as log:
        runner = ProjectionRunner(
            log, [bind(TimelineProjection(), log.conn), bind(Tally(), log.conn)]
        )
        print("ready", flush=True)
        assert sys.stdin.readline().strip() == "go"
        print(json.dumps(runner.catch_up()), flush=True)
    """
)


def many_events(db: Path, notes: int) -> int:
    lines = [
        {
            "id": "conf",
            "type": "conference.opened",
            "conference": "c1",
            "occurred_at": "2011-06-09T08:00:00+00:00",
            "author": "ann",
            "data": {"title": "C1"},
        },
        {
            "id": "day",
            "type": "day.opened",
            "conference": "c1",
            "occurred_at": "2011-06-09T08:30:00+00:00",
            "author": "ann",
            "data": {"number": 1, "date": "2011-06-09"},
        },
    ]
    start = dt.datetime(2011, 6, 9, 9, tzinfo=dt.UTC)
    for n in range(notes):
        lines.append(
            {
                "id": f"note-{n:04d}",
                "type": "note.posted",
                "conference": "c1",
                "occurred_at": (start + dt.timedelta(seconds=n)).isoformat(),
                "author": ("ann", "bob")[n % 2],
                "data": {"day": 1, "text": f"note {n}"},
            }
        )
    with Liveblog(db, "ann") as lb:
        result = lb.import_lines(json.dumps(x) for x in lines)
        assert result.added == len(lines)
        return lb.log.head()


@pytest.mark.slow
def test_two_processes_catching_up_at_once_never_double_apply(db_path: Path) -> None:
    head = many_events(db_path, 400)
    script = db_path.parent / "catcher.py"
    script.write_text(CATCHER, encoding="utf-8")
    children = [
        subprocess.Popen(
            [sys.executable, str(script), str(db_path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    try:
        for child in children:
            assert child.stdout is not None
            assert child.stdout.readline() == "ready\n"
        for child in children:  # both are waiting: start them together
            assert child.stdin is not None
            child.stdin.write("go\n")
            child.stdin.flush()
        outputs = [child.communicate(timeout=60) for child in children]
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()
    for child, (_out, err) in zip(children, outputs, strict=True):
        assert child.returncode == 0, err
    applied = [json.loads(out) for out, _ in outputs]
    assert sum(a["tally"] for a in applied) == head
    assert sum(a["timeline"] for a in applied) == head

    conn = plain(db_path)
    positions = [r[0] for r in conn.execute("SELECT position FROM test_tally ORDER BY position")]
    assert positions == list(range(1, head + 1))  # each event exactly once
    assert conn.execute(
        "SELECT position FROM projection_state WHERE name IN ('timeline', 'tally')"
    ).fetchall() == [(head,), (head,)]
    assert conn.execute("SELECT count(*) FROM timeline_entries").fetchone()[0] == head - 2
    concurrent = snapshot(conn)
    conn.close()
    with Liveblog(db_path, "ann") as lb:
        lb.rebuild()
        assert snapshot(lb.log.conn) == concurrent


def test_two_connections_catching_up_in_turn_share_one_position(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runner_module, "CHUNK", 3, raising=False)
    lb = sample_log(db_path, notes=4)
    other = EventLog(db_path)
    a, b = Recording("shared"), Recording("shared")
    runner_a = ProjectionRunner(lb.log, on(lb.log, a))
    runner_b = ProjectionRunner(other, on(other, b))
    # b starts part-way through a's work: a applies a first chunk, then b takes over.
    progress_calls: list[int] = []

    def once_then_other(n: int) -> None:
        progress_calls.append(n)
        if len(progress_calls) == 1:
            runner_b.catch_up()

    runner_a.catch_up(once_then_other)
    head = lb.log.head()
    assert sorted(a.seen + b.seen) == list(range(1, head + 1))
    assert count_rows(db_path, "test_shared") == head
    other.close()
    lb.close()


# -- rebuild from zero equals incremental catch-up (hypothesis) -------------------------------

AUTHORS = ("ann", "bob", "cy")
TEXTS = st.text(
    alphabet=st.sampled_from("abcxyz Ééالعربيةעברית😀<>&\"'\n"), min_size=1, max_size=12
).filter(lambda s: s.strip() != "")
NAMES = st.sampled_from(("Andy Burns", "Bea Smith", "Cy Jones", "José Ñ", "ليلى"))

# Weighted: mostly content, sometimes structure, now and then a new day.
KINDS = (
    *["session"] * 3,
    *["talk"] * 4,
    *["quote"] * 4,
    *["note"] * 3,
    *["photo"] * 2,
    *["correct"] * 4,
    *["retract"] * 2,
    "talk_end",
    "session_end",
    "next_day",
)


@dataclass(frozen=True)
class Op:
    kind: str
    text: str
    name: str
    other: str | None  # a second name (host, quote speaker), or none
    session_kind: str | None
    target: int  # which earlier entry to correct or retract
    alternative: bool  # correct the speaker rather than the text


OPS = st.builds(
    Op,
    kind=st.sampled_from(KINDS),
    text=TEXTS,
    name=NAMES,
    other=st.one_of(st.none(), NAMES),
    session_kind=st.sampled_from((None, "plenary", "roundtable", "breakout")),
    target=st.integers(0, 60),
    alternative=st.booleans(),
)
STEP = st.tuples(
    st.integers(-10, 30),  # minutes from the previous step: reporters' clocks differ
    st.booleans(),  # give --at with an explicit offset (UTC) rather than local time
    OPS,
)
# Runs of a few steps by one reporter, the runs of different reporters interleaved.
RUNS = st.lists(
    st.tuples(st.sampled_from(AUTHORS), st.lists(STEP, min_size=1, max_size=8)),
    min_size=1,
    max_size=8,
)


def perform(lb: Liveblog, op: Op, at: str, entries: list[tuple[str, str]]) -> None:
    """Run one reporting operation as `lb`'s author; remember the entries it made."""
    events: list[Any] = []
    if op.kind == "next_day":
        if lb.log.conn.execute("SELECT 1 FROM events WHERE type = 'day.opened'").fetchall():
            with contextlib.suppress(LiveblogError):  # no day open
                lb.close_day(at=at)
        last = lb.log.conn.execute(
            "SELECT max(json_extract(data, '$.number')) FROM events WHERE type = 'day.opened'"
        ).fetchall()[0][0]
        events = lb.open_day((last or 0) + 1, at=at)
    elif op.kind == "session":
        hosts = [op.name] if op.other is None else [op.name, op.other]
        events = lb.start_session(op.text, kind=op.session_kind, hosts=hosts, room="R1", at=at)
    elif op.kind == "session_end":
        events = lb.end_session(at=at)
    elif op.kind == "talk":
        try:
            events = lb.start_talk(op.text, speaker=op.name, role=op.other, organisation="O", at=at)
        except ContextError:  # this reporter has no session open: start one first
            events = lb.start_session("Session", at=at)
            events += lb.start_talk(op.text, speaker=op.name, organisation="O", at=at)
    elif op.kind == "talk_end":
        events = lb.end_talk(at=at)
    elif op.kind == "quote":
        events = lb.quote(op.text, speaker=op.other, at=at)
    elif op.kind == "note":
        events = lb.note(op.text, at=at)
    elif op.kind == "photo":
        events = lb.photo("https://example.org/p.jpg", caption=op.text, at=at)
    elif op.kind in ("correct", "retract") and entries:
        target, kind = entries[op.target % len(entries)]
        if op.kind == "retract":
            events = lb.retract(target, reason=op.other, at=at)
        elif kind == "photo.posted":
            events = lb.correct(target, caption=op.text, at=at)
        elif kind in ("quote.captured", "talk.started") and op.alternative:
            events = lb.correct(target, speaker=op.name, at=at)
        else:
            events = lb.correct(target, text=op.text, at=at)
    entries.extend((e.id, e.type) for e in events if e.type in ENTRY_EVENT_TYPES)


ENTRY_EVENT_TYPES = {
    "session.started",
    "talk.started",
    "quote.captured",
    "note.posted",
    "photo.posted",
}
LONDON = dt.timezone(dt.timedelta(hours=1))  # BST: Europe/London in June 2011


def summaries(lb: Liveblog) -> dict[int, tuple[str, str]]:
    days = [r[0] for r in lb.log.conn.execute("SELECT number FROM timeline_days ORDER BY 1")]
    return {
        day: (lb.summary(day, fmt="json"), lb.summary(day, fmt="html"))
        for day in days  # every format renders, whatever the sequence
    }


@settings(
    deadline=None,
    max_examples=25,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(runs=RUNS)
def test_rebuild_from_zero_equals_catch_up_after_every_operation(
    runs: list[tuple[str, list[tuple[int, bool, Op]]]],
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "events.db"
        reporters = {author: Liveblog(db, author) for author in AUTHORS}
        try:
            ann = reporters["ann"]
            ann.open_conference("c1", title="C1", timezone="Europe/London", at="2011-06-09T08:00")
            ann.open_day(1, at="2011-06-09T08:30")
            ann.catch_up()
            clock = dt.datetime(2011, 6, 9, 9, 0, tzinfo=LONDON)
            entries: list[tuple[str, str]] = []
            steps = [(author, *step) for author, run in runs for step in run]
            for author, minutes, explicit, op in steps:
                clock += dt.timedelta(minutes=minutes)
                at = (
                    clock.astimezone(dt.UTC).isoformat()
                    if explicit
                    else clock.strftime("%Y-%m-%dT%H:%M")
                )
                lb = reporters[author]
                # A refused operation (no open talk, already retracted…) writes nothing.
                with contextlib.suppress(LiveblogError):
                    perform(lb, op, at, entries)
                lb.catch_up()  # each reporter's own connection takes its turn
                assert lb.projections.status()[0].lag == 0

            incremental = snapshot(ann.log.conn)
            rendered = summaries(ann)
            assert ann.rebuild() == {"timeline": ann.log.head()}
            assert snapshot(ann.log.conn) == incremental
            assert summaries(ann) == rendered

            # Replayed in small chunks, so runs of entries, corrections and their
            # targets fall on either side of a transaction boundary.
            saved = runner_module.CHUNK
            runner_module.CHUNK = 4
            try:
                ann.rebuild()
            finally:
                runner_module.CHUNK = saved
            assert snapshot(ann.log.conn) == incremental

            # `--as-of` the last moment replays the log elsewhere: the same summary.
            last = ann.log.conn.execute("SELECT max(recorded_at) FROM events").fetchall()[0][0]
            for day, (as_json, _html) in rendered.items():
                assert ann.summary(day, fmt="json", as_of=last) == as_json
        finally:
            for lb in reporters.values():
                lb.close()
