"""The CLI as users run it: `python -m liveblog` in real processes.

What only a real process shows: exit statuses, what reaches stderr (no traceback, ever),
the environment, `log --follow` watching another process's appends, and the console
entry's last-resort handler for internal errors.
"""

from __future__ import annotations

import functools
import json
import os
import queue
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import pytest
from pysqlite3 import dbapi2 as sqlite3

LIVEBLOG = [sys.executable, "-m", "liveblog"]
DEADLINE_SECONDS = 20.0


class Proc(Protocol):
    returncode: int
    stdout: str
    stderr: str


RunCli = Callable[..., Proc]


@pytest.fixture
def fresh_cli(run_cli: RunCli) -> RunCli:
    """Every command a new interpreter, `python -m liveblog` from its start-up: the
    session end to end and the exit statuses. (`run_cli` forks each command from a
    launcher that has imported liveblog: tests/forkcli.py; still a process of its own.)"""
    return functools.partial(run_cli, fresh=True)


def lines_of(text: str) -> list[str]:
    return text.split("\n")[:-1] if text else []


def ok(proc: Proc) -> list[str]:
    """A successful command's output lines (it must write nothing on stderr)."""
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    return lines_of(proc.stdout)


def assert_refused(proc: Proc) -> str:
    """Exit 1, exactly one `Error:` line on stderr, no traceback, nothing on stdout."""
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    assert proc.stdout == ""
    err = lines_of(proc.stderr)
    assert len(err) == 1, proc.stderr
    assert err[0].startswith("Error: ")
    assert "Traceback" not in proc.stderr
    return err[0]


def exported(run_cli: RunCli) -> list[dict[str, Any]]:
    return [json.loads(x) for x in ok(run_cli("export"))]


def env_for(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIVEBLOG_")}
    env.update(values)
    return env


# -- a reporter's session, end to end ---------------------------------------------------


def test_a_reporter_covers_a_session_end_to_end(fresh_cli: RunCli) -> None:
    run_cli = fresh_cli
    steps: list[tuple[list[str], list[str]]] = [
        (
            [
                "conference", "open", "socitm-2011", "--title", "SOCITM 2011",
                "--timezone", "Europe/London", "--venue", "ICC",
                "--at", "2011-06-09T08:30",
            ],
            ["conference.opened"],
        ),
        (["day", "open", "2", "--title", "Day 2 Reflections", "--at", "2011-06-09T09:00"],
         ["day.opened"]),
        (["session", "start", "Opening plenary", "--kind", "plenary", "--room", "Hall 1",
          "--host", "Jos Creese", "--at", "2011-06-09T09:30"], ["session.started"]),
        (["talk", "start", "Shared services", "--speaker", "Andy Burns", "--role", "CEO",
          "--org", "Example Council", "--at", "2011-06-09T09:35"], ["talk.started"]),
        (["quote", "We must share services", "--at", "2011-06-09T09:40"], ["quote.captured"]),
        (["note", "The hall is full 😀", "--at", "2011-06-09T09:41"], ["note.posted"]),
        (["photo", "https://img.example.org/hall.jpg", "--caption", "A packd hall",
          "--at", "2011-06-09T09:42"], ["photo.posted"]),
        (["correct", "--last", "--caption", "A packed hall"], ["entry.corrected"]),
        (["talk", "start", "Data", "--speaker", "Jane Doe", "--at", "2011-06-09T10:00"],
         ["talk.ended", "talk.started"]),
        (["quote", "Open data first", "--at", "10:05"], ["quote.captured"]),
        (["retract", "--last", "--reason", "Misheard"], ["entry.retracted"]),
        (["session", "end", "--at", "2011-06-09T10:30"], ["talk.ended", "session.ended"]),
        (["day", "close", "--at", "2011-06-09T17:30"], ["day.closed"]),
        (["conference", "close", "--at", "2011-06-09T17:35"], ["conference.closed"]),
    ]  # fmt: skip
    printed: list[str] = []
    for args, expected_types in steps:
        out = ok(run_cli(*args))
        assert [x.split(" ")[1] for x in out] == expected_types, (args, out)
        printed.extend(out)

    events = exported(run_cli)
    assert len(printed) == len(events)
    for text, event in zip(printed, events, strict=True):
        assert text.startswith(f"#{event['position']} {event['type']} {event['id'][:8]}")
        assert event["author"] == "ann"
        assert event["conference"] == "socitm-2011"
    by_type = {e["type"]: e for e in events}
    assert by_type["quote.captured"]["data"]["speaker"] == "Jane Doe"
    assert events[4]["data"]["speaker"] == "Andy Burns"
    assert events[4]["occurred_at"] == "2011-06-09T09:40:00+01:00"
    assert by_type["entry.corrected"]["data"]["target"] == events[6]["id"]
    assert by_type["entry.retracted"]["data"]["target"] == events[10]["id"]
    # The human log shows every event, one line each.
    assert len(ok(run_cli("log"))) == len(events)
    # Once closed, nothing more can be posted.
    assert "no conference is open" in assert_refused(run_cli("note", "after the end"))


# -- exit statuses -------------------------------------------------------------------------


def test_exit_statuses(fresh_cli: RunCli) -> None:
    run_cli = fresh_cli
    message = assert_refused(run_cli("note", "nobody is listening"))
    assert "conference open" in message
    assert exported(run_cli) == []

    assert len(ok(run_cli("conference", "open", "c1", "--title", "C"))) == 1
    assert len(exported(run_cli)) == 1

    usage = run_cli("frobnicate")
    assert usage.returncode == 2
    assert usage.stdout == ""
    assert "Usage:" in usage.stderr
    assert "Traceback" not in usage.stderr

    missing = run_cli("talk", "start", "T")
    assert missing.returncode == 2
    assert "--speaker" in missing.stderr
    assert len(exported(run_cli)) == 1


REFUSED = [
    ["day", "open", "1", "--at", "teatime"],
    ["day", "open", "1", "--date", "2011-02-30"],
    ["conference", "open", "Bad Slug!", "--title", "T"],
    ["quote", "words"],
    ["retract", "zzzz"],
    ["photo", "ftp://x.org/a.jpg", "--caption", "c"],
    ["note", "x", "--conference", "nope"],
]


def test_refused_commands_in_a_real_process(run_cli: RunCli) -> None:
    ok(run_cli("conference", "open", "c1", "--title", "C", "--at", "2011-06-09T08:00"))
    before = run_cli("export").stdout
    for args in REFUSED:
        assert_refused(run_cli(*args))
    # The log is append-only: anything a refused command wrote would show here.
    assert run_cli("export").stdout == before


def test_import_bad_line_from_stdin(run_cli: RunCli) -> None:
    good = {
        "id": "conf-1",
        "type": "conference.opened",
        "conference": "c1",
        "occurred_at": "2011-06-09T08:00:00+01:00",
        "author": "ann",
        "data": {"title": "C"},
    }
    bad = {**good, "id": "day-1", "type": "day.opened", "data": {"number": 1}}
    text = json.dumps(good) + "\n" + json.dumps(bad) + "\n"
    message = assert_refused(run_cli("import", "-", input=text))
    assert "stdin:2:" in message
    assert exported(run_cli) == []
    assert ok(run_cli("import", "-", input=json.dumps(good))) == [
        "imported 1 events (0 already in the log)"
    ]


# -- environment -------------------------------------------------------------------------------


def test_environment_variables_are_honoured(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    elsewhere = tmp_path / "elsewhere" / "coverage.db"
    elsewhere.parent.mkdir()

    def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*LIVEBLOG, *args],
            capture_output=True,
            text=True,
            env=env_for(**env),
            cwd=work,
            timeout=60,
        )

    opened = run(
        "conference", "open", "c1", "--title", "C",
        LIVEBLOG_DB=str(elsewhere), LIVEBLOG_AUTHOR="zoe",
    )  # fmt: skip
    assert opened.returncode == 0, opened.stderr
    assert elsewhere.exists()
    assert not (work / "events.db").exists()

    export = run("export", LIVEBLOG_DB=str(elsewhere))
    events = [json.loads(x) for x in lines_of(export.stdout)]
    assert [(e["type"], e["author"]) for e in events] == [("conference.opened", "zoe")]

    # --db and --author override the environment.
    other = tmp_path / "other.db"
    note = run(
        "--db", str(other), "--author", "yan", "conference", "open", "c2", "--title", "C2",
        LIVEBLOG_DB=str(elsewhere), LIVEBLOG_AUTHOR="zoe",
    )  # fmt: skip
    assert note.returncode == 0, note.stderr
    other_events = [json.loads(x) for x in lines_of(run("--db", str(other), "export").stdout)]
    assert [(e["conference"], e["author"]) for e in other_events] == [("c2", "yan")]
    assert len(lines_of(run("export", LIVEBLOG_DB=str(elsewhere)).stdout)) == 1

    # Without LIVEBLOG_DB the log is ./events.db.
    default = run("conference", "open", "c3", "--title", "C3", LIVEBLOG_AUTHOR="zoe")
    assert default.returncode == 0, default.stderr
    assert (work / "events.db").exists()


def test_an_unopenable_db_path_is_refused(tmp_path: Path) -> None:
    done = subprocess.run(
        [*LIVEBLOG, "--db", str(tmp_path / "missing" / "dir" / "events.db"), "export"],
        capture_output=True,
        text=True,
        env=env_for(),
        cwd=tmp_path,
        timeout=60,
    )
    assert_refused(done)


# -- log --follow ------------------------------------------------------------------------------


class Follower:
    """`liveblog log --follow` in a real process, its stdout read by a thread."""

    def __init__(self, db_path: Path, cwd: Path, *args: str) -> None:
        self.proc = subprocess.Popen(
            [*LIVEBLOG, "log", "--follow", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            env=env_for(LIVEBLOG_DB=str(db_path), LIVEBLOG_AUTHOR="reader"),
            cwd=cwd,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        self.thread = threading.Thread(target=self._pump, daemon=True)
        self.thread.start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for text in self.proc.stdout:
            self.lines.put(text.rstrip("\n"))
        self.lines.put(None)

    def wait_for(self, predicate: Callable[[str], bool], what: str) -> str:
        deadline = time.monotonic() + DEADLINE_SECONDS
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                pytest.fail(f"log --follow did not print {what} in time; saw {self.seen}")
            try:
                text = self.lines.get(timeout=remaining)
            except queue.Empty:
                continue
            if text is None:
                stderr = self.proc.stderr.read() if self.proc.stderr else ""
                pytest.fail(f"log --follow exited ({self.proc.poll()}): {stderr}")
            self.seen.append(text)
            if predicate(text):
                return text

    def stop(self) -> tuple[int, str]:
        """Ctrl-C, as a user would; returns the exit status and stderr."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=DEADLINE_SECONDS)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        stderr = self.proc.stderr.read() if self.proc.stderr else ""
        return self.proc.returncode, stderr

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


def test_log_follow_prints_events_appended_by_other_processes(
    run_cli: RunCli, db_path: Path, tmp_path: Path
) -> None:
    first = ok(run_cli("conference", "open", "c1", "--title", "First"))[0]
    follower = Follower(db_path, tmp_path)
    try:
        # The backlog is printed (and flushed) before anything new arrives.
        follower.wait_for(lambda t: t.startswith("#1  ") and first.split()[2] in t, "the backlog")

        day = ok(run_cli("day", "open", "1"))[0]
        text = follower.wait_for(lambda t: t.startswith("#2  "), "day.opened")
        assert "day.opened" in text
        assert day.split()[2] in text

        note = ok(run_cli("note", "from bob", author="bob"))[0]
        text = follower.wait_for(lambda t: t.startswith("#3  "), "bob's note")
        assert note.split()[2] in text
        assert "  bob  " in text
        assert text.endswith("from bob")

        status, stderr = follower.stop()
    finally:
        follower.close()
    assert [t.split("  ")[0] for t in follower.seen] == ["#1", "#2", "#3"]
    assert "Traceback" not in stderr
    assert status == 0, stderr


def test_log_follow_json_since(run_cli: RunCli, db_path: Path, tmp_path: Path) -> None:
    ok(run_cli("conference", "open", "c1", "--title", "First"))
    ok(run_cli("day", "open", "1"))
    follower = Follower(db_path, tmp_path, "--json", "--since", "1")
    try:
        backlog = json.loads(follower.wait_for(lambda t: '"position": 2' in t, "position 2"))
        assert backlog["type"] == "day.opened"
        # Two appends in one command arrive together, in order.
        ok(run_cli("session", "start", "S1"))
        ok(run_cli("talk", "start", "T1", "--speaker", "Sam"))
        ended = ok(run_cli("session", "end"))
        assert len(ended) == 2
        follower.wait_for(lambda t: '"position": 6' in t, "position 6")
        status, stderr = follower.stop()
    finally:
        follower.close()
    events = [json.loads(t) for t in follower.seen]
    assert [e["position"] for e in events] == [2, 3, 4, 5, 6]
    assert events == exported(run_cli)[1:]
    assert "Traceback" not in stderr
    assert status == 0, stderr


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_log_follow_stops_cleanly_on_a_signal_even_mid_backlog(
    run_cli: RunCli, db_path: Path, tmp_path: Path, sig: signal.Signals
) -> None:
    """Ctrl-C or a service manager's SIGTERM, wherever it lands (here: while the backlog
    is still being printed), ends `log --follow` with status 0 and nothing on stderr."""
    ok(run_cli("conference", "open", "c1", "--title", "First"))
    notes = "".join(
        json.dumps(
            {
                "id": f"n{i:05d}",
                "type": "note.posted",
                "conference": "c1",
                "occurred_at": "2011-06-09T10:00:00+00:00",
                "author": "ann",
                "schema_version": 1,
                "data": {"day": 1, "text": f"note {i}"},
            }
        )
        + "\n"
        for i in range(20_000)
    )
    (tmp_path / "notes.jsonl").write_text(notes)
    ok(run_cli("import", str(tmp_path / "notes.jsonl")))
    follower = Follower(db_path, tmp_path)
    try:
        follower.wait_for(lambda t: t.startswith("#2  "), "the backlog's start")
        follower.proc.send_signal(sig)
        status, stderr = follower.stop()
    finally:
        follower.close()
    assert status == 0, stderr
    assert stderr == ""


# -- damaged databases ----------------------------------------------------------------------------


def garbage(size: int) -> bytes:
    return random.Random(2011).randbytes(size)


def corrupt_pages(db_path: Path, run_cli: RunCli) -> None:
    ok(run_cli("conference", "open", "c1", "--title", "C"))
    ok(run_cli("day", "open", "1"))
    for suffix in ("-wal", "-shm"):
        Path(f"{db_path}{suffix}").unlink(missing_ok=True)
    data = bytearray(db_path.read_bytes())
    data[100:] = garbage(len(data) - 100)  # keep the header, destroy every page
    db_path.write_bytes(bytes(data))


DAMAGE: dict[str, Callable[[Path, RunCli], None]] = {
    "random-bytes": lambda path, run_cli: path.write_bytes(garbage(8192)),
    "text": lambda path, run_cli: path.write_bytes(b"not a database\n" * 500),
    "header-only": lambda path, run_cli: path.write_bytes(b"SQLite format 3\x00" + garbage(84)),
    "corrupt-pages": corrupt_pages,
}


@pytest.mark.parametrize("damage", list(DAMAGE.values()), ids=list(DAMAGE))
def test_a_corrupt_events_db_is_one_line_and_exit_1(
    run_cli: RunCli, db_path: Path, damage: Callable[[Path, RunCli], None]
) -> None:
    damage(db_path, run_cli)
    before = db_path.read_bytes()
    for args in (
        ["note", "hello"],
        ["export"],
        ["log"],
        ["conference", "open", "c9", "--title", "T"],
    ):
        assert_refused(run_cli(*args))
        assert db_path.read_bytes() == before  # a damaged file is left as it was


def test_an_unreadable_row_is_one_line_and_exit_1(run_cli: RunCli, db_path: Path) -> None:
    """A row written behind liveblog's back (the sqlite3 shell is allowed to append)."""
    ok(run_cli("conference", "open", "c1", "--title", "C"))
    conn = sqlite3.connect(db_path)
    with conn:
        conn.execute(
            "INSERT INTO events (position, id, type, conference, occurred_at, recorded_at, "
            "author, version, schema_version, data) VALUES "
            "(2, 'hand-1', 'note.posted', 'c1', 'teatime', '2011-06-09T09:00:00+00:00', "
            '\'ann\', 2, 1, \'{"day": 1, "text": "x"}\')'
        )
    conn.close()
    for args in (["log"], ["export"], ["log", "--json"]):
        proc = run_cli(*args)
        assert proc.returncode == 1, proc.stderr
        err = lines_of(proc.stderr)
        assert len(err) == 1, proc.stderr
        assert err[0].startswith("Error: ")
        assert "Traceback" not in proc.stderr
