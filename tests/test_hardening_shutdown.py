"""Issue 10, point 8: SIGTERM while a scheduler job is in flight stops cleanly.

The scheduler's catch-up runs every tick and spends its time waiting on the database
thread, for the write lock too. APScheduler's shutdown cancelled it there and logged
`Job "Scheduler.catch_up …" raised an exception` with the CancelledError's traceback;
the scheduler now pauses, lets the runs in flight finish, and only then shuts down.

The test makes a catch-up last (another process holds the write lock, as a long
import does) so that the signal always finds it in flight.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from pysqlite3 import dbapi2 as sqlite3
from servers import Service, Workspace, wait_until

# A generous bound for a loaded machine (the catch-up would wait up to the busy timeout,
# 30 s, for a lock that was never released).
EXIT_SECONDS = 120.0


def projected_position(db: Path) -> int | None:
    """The lowest projection position, None if no projection has been written yet."""
    conn = sqlite3.connect(str(db))
    try:
        exists = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE name = 'projection_state'"
        ).fetchone()
        if not exists:
            return None
        row = conn.execute("SELECT min(position) FROM projection_state").fetchone()
        return None if row[0] is None else int(row[0])
    finally:
        conn.close()


def waits_for_catch_up(stderr: str) -> bool:
    """`stopping: letting JOB, … finish`, the catch-up among them."""
    return any(
        line.startswith("stopping: letting ") and "catch-up" in line for line in stderr.splitlines()
    )


@pytest.mark.slow
def test_sigterm_during_a_catch_up_in_flight_prints_no_traceback(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    ws.ok("conference", "open", "c1", "--title", "Shutdown")
    ws.ok("day", "open", "1")
    ws.ok("note", "appended by the CLI, which never projects")
    assert projected_position(ws.db) is None  # serve's first catch-up has work to do

    holder = sqlite3.connect(str(ws.db), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # the catch-up needs this lock: it waits
    service = Service(ws, args=("--no-feeds",))
    try:
        # Ready means the scheduler started before the server (server.serve): its first
        # catch-up was submitted then, and cannot finish while the lock is held.
        service.start()
        assert projected_position(ws.db) is None  # still in flight
        assert service.proc is not None
        service.proc.send_signal(signal.SIGTERM)
        # Before the fix the traceback came at once. Now the scheduler says it lets the
        # catch-up finish, while the lock is still held (so the catch-up was in flight
        # when the signal was handled); then the lock goes and the catch-up completes.
        wait_until(
            lambda: (
                waits_for_catch_up(service.stderr)
                or "Traceback" in service.stderr
                or not service.running
            ),
            EXIT_SECONDS,
            what=lambda: f"serve to say what it waits for; stderr: {service.stderr!r}",
        )
        holder.execute("ROLLBACK")
        wait_until(
            lambda: service.proc is not None and service.proc.poll() is not None,
            EXIT_SECONDS,
            what=lambda: f"serve to exit after SIGTERM; stderr: {service.stderr!r}",
        )
    finally:
        if holder.in_transaction:
            holder.execute("ROLLBACK")
        holder.close()
        if service.running:
            assert service.proc is not None
            service.proc.kill()
            service.proc.wait(timeout=EXIT_SECONDS)
    stderr = service.stderr
    assert "Traceback" not in stderr, stderr
    assert "raised an exception" not in stderr, stderr
    assert "CancelledError" not in stderr, stderr
    assert service.proc.returncode == 0, stderr
    assert waits_for_catch_up(stderr)
    assert projected_position(ws.db) == 3  # the catch-up finished its work before exit
