"""Issue 10, data at rest: permissions, foreign files, read-only logs, backup and verify.

Real SQLite files and real `python -m liveblog` subprocesses throughout. Permission
tests need a process that file modes actually stop: the suite usually runs as root,
which ignores modes, so such a subprocess runs as root *without* the capabilities that
bypass them (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, via `setpriv`) on files owned by
another user (nobody); as an ordinary user the files are simply chmod-ed read-only.
Either way the kernel refuses the writes; a test checks that before relying on it.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from forkcli import run_liveblog
from pysqlite3 import dbapi2 as sqlite3

LIVEBLOG = [sys.executable, "-m", "liveblog"]
APPLICATION_ID = 0x4C42_4C47
"""Written into every liveblog database: a file format constant, never to change."""
DEADLINE_SECONDS = 60.0
DROP_CAPABILITIES = [
    "setpriv",
    "--bounding-set",
    "-dac_override,-dac_read_search",
    "--inh-caps",
    "-dac_override,-dac_read_search",
    "--",
]


def run(
    db: Path,
    *args: str,
    env: dict[str, str] | None = None,
    prefix: list[str] | None = None,
    input: str | None = None,
) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "LIVEBLOG_DB": str(db), "LIVEBLOG_AUTHOR": "ann"}
    environment.pop("LIVEBLOG_DEBUG", None)
    environment.update(env or {})
    if prefix is None:  # forked by a launcher that imported liveblog (forkcli.py)
        done = run_liveblog(
            list(args), env=environment, cwd=db.parent, input=input, timeout=120, umask=0o022
        )
        return subprocess.CompletedProcess(args, done.returncode, done.stdout, done.stderr)
    return subprocess.run(  # through setpriv: a new interpreter, with fewer capabilities
        [*prefix, *LIVEBLOG, *args],
        capture_output=True,
        text=True,
        env=environment,
        cwd=db.parent,
        timeout=120,
        input=input,
        umask=0o022,  # the usual umask: a file's mode must not depend on a stricter one
    )


def ok(done: subprocess.CompletedProcess[str]) -> list[str]:
    assert done.returncode == 0, (done.stdout, done.stderr)
    return done.stdout.splitlines()


def refused(done: subprocess.CompletedProcess[str]) -> str:
    """Exit 1 and exactly one `Error:` line: no traceback, no "internal error"."""
    assert done.returncode == 1, (done.stdout, done.stderr)
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("Error: ")
    assert "internal error" not in lines[0]
    return lines[0]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def application_id(path: Path) -> int:
    """Read from the header itself (bytes 68..71): no SQLite involved."""
    return int.from_bytes(path.read_bytes()[68:72], "big")


def open_coverage(db: Path) -> None:
    ok(run(db, "conference", "open", "c1", "--title", "C1", "--at", "2026-05-01T09:00"))
    ok(run(db, "day", "open", "1", "--at", "2026-05-01T09:00"))
    ok(run(db, "session", "start", "Opening", "--at", "2026-05-01T09:10"))
    ok(run(db, "note", "first", "--at", "2026-05-01T09:11"))


# -- 11. permissions ---------------------------------------------------------------------


def test_a_new_log_its_wal_shm_and_the_lock_are_private(tmp_path: Path) -> None:
    db = tmp_path / "events.db"
    open_coverage(db)
    assert mode(db) == 0o600
    # SQLite gives -wal and -shm the database's mode: look while a connection holds them.
    conn = sqlite3.connect(str(db))
    try:
        conn.execute("SELECT count(*) FROM events").fetchone()
        assert mode(Path(f"{db}-wal")) == 0o600
        assert mode(Path(f"{db}-shm")) == 0o600
    finally:
        conn.close()
    ok(run(db, "run", "--once", "--no-feeds"))
    assert mode(Path(f"{db}.lock")) == 0o600


def test_an_existing_log_keeps_its_mode(tmp_path: Path) -> None:
    """Shared on purpose (a group browsing it): liveblog does not tighten it silently."""
    db = tmp_path / "events.db"
    open_coverage(db)
    db.chmod(0o640)
    ok(run(db, "note", "second"))
    assert mode(db) == 0o640


def test_the_outbox_and_its_directory_are_private(tmp_path: Path) -> None:
    state = tmp_path / "state" / "liveblog"
    env = {
        "LIVEBLOG_SERVER": "http://127.0.0.1:9",  # nothing listens: the draft is queued
        "LIVEBLOG_TOKEN": "lbt_test",
        "LIVEBLOG_STATE_DIR": str(state),
    }
    lines = ok(run(tmp_path / "events.db", "note", "offline", env=env))
    assert lines[0].startswith("queued note.posted")
    files = sorted(state.iterdir())
    assert [f.name.split("-")[0] for f in files] == ["outbox", "outbox"]  # .jsonl and .lock
    assert {mode(f) for f in files} == {0o600}
    assert mode(state) == 0o700
    assert mode(state.parent) != 0o700  # only the directory liveblog owns is made private


def test_an_existing_state_directory_keeps_its_mode(tmp_path: Path) -> None:
    state = tmp_path / "shared"
    state.mkdir(mode=0o755)
    state.chmod(0o755)
    env = {
        "LIVEBLOG_SERVER": "http://127.0.0.1:9",
        "LIVEBLOG_TOKEN": "lbt_test",
        "LIVEBLOG_STATE_DIR": str(state),
    }
    ok(run(tmp_path / "events.db", "note", "offline", env=env))
    assert mode(state) == 0o755
    assert {mode(f) for f in state.iterdir()} == {0o600}


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    """A directory on a tiny tmpfs, filled up: every write there is ENOSPC."""
    mountpoint = tmp_path / "full"
    mountpoint.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mountpoint)],
        capture_output=True,
    )
    if mounted.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root): no real full disk to test on")
    try:
        with open(mountpoint / "filler", "wb", buffering=0) as handle:
            with pytest.raises(OSError) as info:
                for _ in range(1000):
                    handle.write(b"x" * 4096)
            assert info.value.errno == errno.ENOSPC
        yield mountpoint
    finally:
        subprocess.run(["umount", str(mountpoint)], check=False)


def test_a_full_disk_for_the_scheduler_lock_is_one_clear_line(
    tmp_path: Path, full_disk: Path
) -> None:
    db = tmp_path / "events.db"
    open_coverage(db)
    Path(f"{db}.lock").symlink_to(full_disk / "events.db.lock")  # the lock lands on the full disk
    line = refused(run(db, "run", "--once", "--no-feeds"))
    assert "scheduler lock" in line
    assert "No space left on device" in line


# -- 12. foreign files -------------------------------------------------------------------


def foreign_database(
    path: Path, *, app_id: int = 0, events_table: bool = False, user_version: int = 0
) -> None:
    """Another program's SQLite file, in its own (rollback) journal mode."""
    conn = sqlite3.connect(str(path))
    conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
    conn.execute("INSERT INTO notes (body) VALUES ('mine, not liveblog''s')")
    if events_table:
        conn.execute("CREATE TABLE events (id TEXT, what TEXT)")
    if app_id:
        conn.execute(f"PRAGMA application_id = {app_id}")
    conn.execute(f"PRAGMA user_version = {user_version}")
    conn.commit()
    conn.close()


COMMANDS = {
    "log": ["log"],
    "conference open": ["conference", "open", "c9", "--title", "T"],
    "token create": ["token", "create", "zed"],
    "verify": ["verify"],
    "backup": ["backup", "copy.db"],
}


@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize("kind", ["plain", "with an events table", "another application_id"])
def test_another_programs_database_is_refused_untouched(
    tmp_path: Path, command: str, kind: str
) -> None:
    db = tmp_path / "events.db"
    foreign_database(
        db,
        app_id=0x1234_5678 if kind == "another application_id" else 0,
        events_table=kind != "plain",
        user_version=0 if kind == "plain" else 3,  # like a liveblog log's, for the others
    )
    before = digest(db)
    line = refused(run(db, *COMMANDS[command]))
    assert "another program's SQLite database" in line
    assert digest(db) == before  # not a byte: no tables added, not switched to WAL
    assert sorted(p.name for p in tmp_path.iterdir()) == ["events.db"]


@pytest.mark.parametrize("command", ["log", "note", "status", "verify"])
def test_a_file_that_is_not_sqlite_is_refused_untouched(tmp_path: Path, command: str) -> None:
    db = tmp_path / "events.db"
    db.write_text("name,when\nann,today\n" * 20)
    before = digest(db)
    args = {"log": ["log"], "note": ["note", "x"], "status": ["status"], "verify": ["verify"]}
    line = refused(run(db, *args[command]))
    assert "is not a SQLite database" in line
    assert digest(db) == before


def test_the_application_id_is_the_file_formats() -> None:
    from liveblog.store.sqlite.schema import APPLICATION_ID as in_the_code

    assert in_the_code == APPLICATION_ID


def test_an_empty_file_is_ours_to_initialise(tmp_path: Path) -> None:
    db = tmp_path / "events.db"
    db.touch()
    open_coverage(db)
    assert application_id(db) == APPLICATION_ID
    assert len(ok(run(db, "log"))) == 4


def test_a_log_from_before_the_mark_is_recognised_and_marked(tmp_path: Path) -> None:
    db = tmp_path / "events.db"
    open_coverage(db)
    conn = sqlite3.connect(str(db))  # as a release before application_id left it
    conn.execute("PRAGMA application_id = 0")
    conn.commit()
    conn.close()
    assert application_id(db) == 0
    assert len(ok(run(db, "log"))) == 4  # even a reading command upgrades it
    assert application_id(db) == APPLICATION_ID
    ok(run(db, "note", "after the upgrade"))


# -- 13. read-only -----------------------------------------------------------------------


@pytest.fixture
def reader() -> Iterator[Callable[[Path], list[str]]]:
    """Make a log read-only for a subprocess, and give the prefix that runs it so.

    Yields `lock_down(db) -> prefix`. Works on a copy in a directory of its own (the
    pytest temporary directory is private to root, so nobody could not even reach it).
    """
    made: list[Path] = []
    root_user = os.geteuid() == 0
    if root_user and shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: cannot run a process file modes stop")

    def lock_down(db: Path) -> list[str]:
        directory = db.parent
        made.append(directory)
        if root_user:
            for path in [directory, *directory.iterdir()]:
                os.chown(path, 65534, 65534)  # nobody's files; root-without-DAC is "other"
            directory.chmod(0o755)
            for path in directory.iterdir():
                path.chmod(0o644)
            prefix = DROP_CAPABILITIES
        else:
            for path in directory.iterdir():
                path.chmod(0o444)
            directory.chmod(0o555)
            prefix = []
        # The restriction is real: this very process cannot open the file for writing.
        probe = subprocess.run(
            [*prefix, sys.executable, "-c", f"open({str(db)!r}, 'r+b')"], capture_output=True
        )
        assert probe.returncode != 0 and b"PermissionError" in probe.stderr
        return prefix

    yield lock_down
    for directory in made:
        directory.chmod(0o755)
        shutil.rmtree(directory, ignore_errors=True)


def public_copy(source: Path) -> Path:
    """A copy of a (closed) log in a fresh directory anyone may enter."""
    directory = Path(tempfile.mkdtemp(prefix="liveblog-ro-"))
    directory.chmod(0o755)
    copy = directory / "events.db"
    shutil.copy(source, copy)
    return copy


def test_reading_commands_work_on_a_log_that_cannot_be_written(
    tmp_path: Path, reader: Callable[[Path], list[str]]
) -> None:
    source = tmp_path / "events.db"
    open_coverage(source)
    ok(run(source, "summary", "1"))  # the projection at position 4 ...
    ok(run(source, "note", "after the summary", "--at", "2026-05-01T09:20"))  # ... the log at 5
    db = public_copy(source)
    prefix = reader(db)
    before = digest(db)

    log = ok(run(db, "log", prefix=prefix))
    assert len(log) == 5 and log[-1].endswith("after the summary")
    exported = [json.loads(line) for line in ok(run(db, "export", prefix=prefix))]
    assert [e["position"] for e in exported] == [1, 2, 3, 4, 5]
    # The projection lags and cannot be caught up here: the summary still has note 5.
    summary = "\n".join(ok(run(db, "summary", "1", prefix=prefix)))
    assert "first" in summary and "after the summary" in summary
    status = json.loads(ok(run(db, "status", "--json", prefix=prefix))[0])
    assert status["head"] == 5
    assert status["projections"][0]["lag"] == 1
    assert digest(db) == before
    assert sorted(p.name for p in db.parent.iterdir()) == ["events.db"]


@pytest.mark.parametrize(
    "command",
    [
        ["note", "x"],
        ["token", "create", "zed"],
        ["rebuild"],
        ["webhook", "remove", "wh_x"],
        ["run", "--once", "--no-feeds"],
    ],
    ids=lambda c: " ".join(c[:2]),
)
def test_writing_commands_on_a_read_only_log_are_one_clear_line(
    tmp_path: Path, reader: Callable[[Path], list[str]], command: list[str]
) -> None:
    source = tmp_path / "events.db"
    open_coverage(source)
    db = public_copy(source)
    prefix = reader(db)
    before = digest(db)
    line = refused(run(db, *command, prefix=prefix))
    assert "cannot write" in line and "read-only" in line
    assert digest(db) == before


def test_a_read_only_log_whose_wal_needs_recovery_is_one_clear_line(
    tmp_path: Path, reader: Callable[[Path], list[str]]
) -> None:
    """A documented limit: committed events still only in the -wal, and no -shm, need a
    writer to recover them; a reader says so instead of failing obscurely."""
    source = tmp_path / "events.db"
    open_coverage(source)
    holder = sqlite3.connect(str(source), isolation_level=None)
    try:
        holder.execute("PRAGMA wal_autocheckpoint = 0")
        holder.execute("SELECT count(*) FROM events").fetchone()
        ok(run(source, "note", "only in the wal"))
        db = public_copy(source)  # as a crash would leave it: the -wal, no -shm
        shutil.copy(f"{source}-wal", f"{db}-wal")
    finally:
        holder.close()
    assert Path(f"{db}-wal").stat().st_size > 0
    prefix = reader(db)
    line = refused(run(db, "log", prefix=prefix))
    assert "write-ahead log" in line and "recovered" in line


# -- 14. backup and verify ---------------------------------------------------------------


WRITER = """
import sys, pathlib
from liveblog.service.facade import Liveblog
db, name, stop = sys.argv[1], sys.argv[2], pathlib.Path(sys.argv[3])
with Liveblog(db, name) as blog:
    n = 0
    while not stop.exists():
        n += 1
        blog.note(f"{name} {n}", conference="c1")
"""


def head_of(db: Path) -> int:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return int(conn.execute("SELECT ifnull(max(position), 0) FROM events").fetchone()[0])
    finally:
        conn.close()


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.mark.slow
def test_a_backup_taken_while_writers_append_is_a_verified_prefix(tmp_path: Path) -> None:
    db = tmp_path / "events.db"
    open_coverage(db)
    for reporter in ("bea", "cy", "dee"):  # each needs a session of their own for notes
        ok(run(db, "session", "start", f"{reporter}'s", env={"LIVEBLOG_AUTHOR": reporter}))
    stop = tmp_path / "stop"
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(db), name, str(stop)])
        for name in ("bea", "cy", "dee")
    ]
    try:
        start = head_of(db)
        wait_for(lambda: head_of(db) >= start + 30, "the writers to append")
        dest = tmp_path / "backup.db"
        lines = ok(run(db, "backup", str(dest)))
        assert len(lines) == 1 and lines[0].startswith("backed up")
        copied = head_of(dest)
        assert f"{copied} events" in lines[0]
        wait_for(lambda: head_of(db) >= copied + 30, "appends after the backup")
    finally:
        stop.touch()
        for writer in writers:
            assert writer.wait(timeout=DEADLINE_SECONDS) == 0
    assert mode(dest) == 0o600
    assert copied > start
    verified = ok(run(dest, "verify"))
    assert verified and all(line.startswith("ok: ") for line in verified)
    log = [json.loads(line) for line in ok(run(db, "export"))]
    copy = [json.loads(line) for line in ok(run(dest, "export"))]
    assert len(copy) == copied < len(log)
    assert copy == log[:copied]  # a consistent prefix: every event up to a moment, none after
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_backup_refuses_to_overwrite_unless_forced(tmp_path: Path) -> None:
    db = tmp_path / "events.db"
    open_coverage(db)
    dest = tmp_path / "backup.db"
    dest.write_text("precious")
    line = refused(run(db, "backup", str(dest)))
    assert "exists" in line and "--force" in line
    assert dest.read_text() == "precious"
    ok(run(db, "backup", str(dest), "--force"))
    assert head_of(dest) == 4
    assert mode(dest) == 0o600
    refused(run(db, "backup", str(db), "--force"))  # never over the log itself
    assert head_of(db) == 4
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_a_backup_restores_by_copying_it_back(tmp_path: Path) -> None:
    """The README's restore: stop writers, copy the backup over events.db, verify."""
    db = tmp_path / "events.db"
    open_coverage(db)
    ok(run(db, "backup", "saved.db"))
    conn = sqlite3.connect(str(db))
    conn.execute("DROP TABLE events")  # another program; SQLite cannot prevent it
    conn.commit()
    conn.close()
    refused(run(db, "log"))
    for tail in ("", "-wal", "-shm"):
        Path(f"{db}{tail}").unlink(missing_ok=True)
    shutil.copy(tmp_path / "saved.db", db)
    assert all(line.startswith("ok: ") for line in ok(run(db, "verify")))
    assert len(ok(run(db, "log"))) == 4
    ok(run(db, "note", "after the restore"))


def test_verify_passes_a_sound_log_and_changes_nothing(tmp_path: Path) -> None:
    db = tmp_path / "events.db"
    open_coverage(db)
    ok(run(db, "summary", "1"))  # the projection is built
    ok(run(db, "note", "later"))  # and lags by one
    before = digest(db)
    lines = ok(run(db, "verify"))
    assert all(line.startswith("ok: ") for line in lines), lines
    text = "\n".join(lines)
    assert "integrity_check passes" in text
    assert "5 events at positions 1..5" in text
    assert "4 append-only triggers" in text
    assert "projection timeline: equals a rebuild at position 4 (lag 1)" in text
    assert digest(db) == before


def tamper(db: Path, *statements: str) -> None:
    conn = sqlite3.connect(str(db), isolation_level=None)
    try:
        for statement in statements:
            conn.execute(statement)
    finally:
        conn.close()


TAMPERING = {
    "trigger dropped": (
        ["DROP TRIGGER events_no_update"],
        ["trigger events_no_update of the events table is missing"],
    ),
    "trigger altered": (
        [
            "DROP TRIGGER events_no_delete",
            "CREATE TRIGGER events_no_delete BEFORE DELETE ON events WHEN 0 "
            "BEGIN SELECT RAISE(ABORT, 'no'); END",
        ],
        ["trigger events_no_delete is not the one liveblog creates"],
    ),
    "a row deleted": (
        ["DROP TRIGGER events_no_delete", "DELETE FROM events WHERE position = 3"],
        [
            "trigger events_no_delete of the events table is missing",
            "the log has a gap: position 3 missing",
            "conference c1: version 4 at position 4 follows version 2",
            # The projection was built from the log as it was:
            "table timeline_reporters differs from a rebuild",
            "table timeline_entries differs from a rebuild",
        ],
    ),
    "a row rewritten": (
        [
            "DROP TRIGGER events_no_update",
            "UPDATE events SET data = '{\"x\": 1}' WHERE position = 4",
        ],
        [
            "trigger events_no_update of the events table is missing",
            "the event at position 4 cannot be read",
            "table timeline_days differs from a rebuild",
            "table timeline_entries differs from a rebuild",
        ],
    ),
    "a projection row changed": (
        ["UPDATE timeline_entries SET author = 'mallory' WHERE position = 4"],
        ["projection timeline: table timeline_entries differs from a rebuild"],
    ),
    "a projection row deleted": (
        ["DELETE FROM timeline_days"],
        ["projection timeline: table timeline_days differs from a rebuild"],
    ),
    "the events table dropped": (
        ["DROP TABLE events"],
        ["the events table is missing (dropped by another program?)"],
    ),
}


@pytest.mark.parametrize("tampering", list(TAMPERING))
def test_verify_finds_what_another_program_did(tmp_path: Path, tampering: str) -> None:
    db = tmp_path / "events.db"
    open_coverage(db)
    ok(run(db, "summary", "1"))
    statements, expected = TAMPERING[tampering]
    tamper(db, *statements)
    before = digest(db)
    done = run(db, "verify")
    assert done.returncode == 1, done.stdout
    problems = [line for line in done.stdout.splitlines() if line.startswith("problem: ")]
    for text in expected:
        assert any(text in line for line in problems), (text, done.stdout)
    assert len(problems) == len(expected), done.stdout
    error = done.stderr.splitlines()
    assert len(error) == 1 and error[0].startswith("Error: ") and "problem" in error[0]
    assert digest(db) == before


# -- smaller findings --------------------------------------------------------------------


def test_deeply_nested_json_on_import_names_the_line_and_writes_nothing(tmp_path: Path) -> None:
    good = {
        "id": "0" * 32,
        "type": "conference.opened",
        "conference": "c1",
        "occurred_at": "2026-05-01T09:00:00+00:00",
        "author": "ann",
        "data": {"title": "C1"},
    }
    deep = '{"id": "1", "type": "note.posted", "data": ' + "[" * 100_000 + "]" * 100_000 + "}"
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps(good) + "\n" + deep + "\n")
    db = tmp_path / "events.db"
    line = refused(run(db, "import", str(source)))
    assert f"{source}:2" in line and "nested too deeply" in line
    assert not db.exists()  # nothing written, not even an empty log


# -- opening a second connection keeps the first one's locks -----------------------------


def test_opening_another_connection_keeps_the_process_locks(tmp_path: Path) -> None:
    """POSIX locks belong to the process: closing *any* descriptor of events.db drops
    every lock SQLite holds on it. `serve` opens a connection per worker thread; if
    opening one read the file through a descriptor of its own, the others' locks were
    gone, and a plain reader closing the file (Datasette, sqlite3) then took the
    exclusive lock and deleted the `-wal` and `-shm` that `serve` still used: the log
    forked and an acknowledged event was lost."""
    from liveblog.store import EventLog

    db = tmp_path / "events.db"
    open_coverage(db)
    first = EventLog(db)
    try:
        assert first.head() == 4  # its connection now holds its shared lock (WAL)
        second = EventLog(db)  # another worker thread's connection
        try:
            reader = subprocess.run(
                [
                    sys.executable,
                    "-c",
                    "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); "
                    "print(c.execute('SELECT count(*) FROM events').fetchone()[0]); c.close()",
                    str(db),
                ],
                capture_output=True,
                text=True,
                timeout=DEADLINE_SECONDS,
            )
            assert reader.returncode == 0, reader.stderr
            # The reader could not take the exclusive lock: the WAL files are still there.
            assert Path(f"{db}-wal").exists()
            assert Path(f"{db}-shm").exists()
            ok(run(db, "note", "after the reader", "--at", "2026-05-01T09:12"))
            # Another process's append is seen by this one's connections: one log.
            assert first.head() == second.head() == 5
        finally:
            second.close()
    finally:
        first.close()
