"""Concurrent writer processes for the logs' concurrency tests (tests/test_concurrency.py
on SQLite, tests/test_pg_concurrency.py on PostgreSQL): the same children, the same
start barrier, the same checks of what they wrote; each test adds its backend's own."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path

from liveblog.domain.envelope import Event
from tests.receivers import wait_for

WRITERS = 4
EVENTS_PER_WRITER = 500
CONFERENCES = ("conf-a", "conf-b", "conf-c")

# A child builds its events, says it is ready, waits for the parent's "go", then opens
# the (fresh, not yet migrated) log and appends one event per transaction. `{opening}`
# opens the log at `target` as `log`; the child gives up after `{patience}` seconds.
_WRITER = """
import datetime as dt
import sys
import time
from pathlib import Path

from liveblog.domain.envelope import make_event
from liveblog.domain.events import NotePosted
{imports}

target, workdir, name, count = sys.argv[1], Path(sys.argv[2]), sys.argv[3], int(sys.argv[4])
conferences = sys.argv[5].split(",")
start = dt.datetime(2011, 6, 9, 9, 0, tzinfo=dt.timezone.utc)
events = [
    make_event(
        id=f"{{name}}-{{n:04d}}",
        conference=conferences[n % len(conferences)],
        occurred_at=start + dt.timedelta(seconds=n),
        author=name,
        data=NotePosted(day=1, text=f"{{name}} says {{n}}"),
    )
    for n in range(count)
]
(workdir / f"ready-{{name}}").touch()
deadline = time.monotonic() + {patience}
while not (workdir / "go").exists():
    if time.monotonic() > deadline:
        sys.exit(f"{{name}}: no go signal")
    time.sleep(0.002)
with {opening} as log:
    for event in events:
        (appended,) = log.append([event])
        assert appended.created
"""


def writer_script(path: Path, *, imports: str, opening: str, patience: int) -> Path:
    """Write the child's script to `path` (`imports`: the line importing what `opening`
    calls)."""
    text = _WRITER.format(imports=imports, opening=opening, patience=patience)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def start_writers(
    script: Path, target: str, workdir: Path, cwd: Path
) -> tuple[list[str], list[subprocess.Popen[str]]]:
    """WRITERS children appending to `target`, each waiting for "go" in `workdir`."""
    names = [f"w{i}" for i in range(WRITERS)]
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                str(script),
                target,
                str(workdir),
                name,
                str(EVENTS_PER_WRITER),
                ",".join(CONFERENCES),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=cwd,
        )
        for name in names
    ]
    return names, procs


def wait_ready(
    workdir: Path, names: Sequence[str], procs: Sequence[subprocess.Popen[str]], timeout: float
) -> None:
    """Barrier: every child has started and built its events; none has opened the log."""
    wait_for(
        lambda: (
            all((workdir / f"ready-{n}").exists() for n in names)
            or any(p.poll() is not None for p in procs)
        ),
        timeout=timeout,
        what="the writers to be ready",
    )
    early = [p for p in procs if p.poll() is not None]
    assert not early, f"a writer exited before the start: {early[0].communicate()}"


def kill_left(procs: Sequence[subprocess.Popen[str]]) -> None:
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait()


def check_exits(
    names: Sequence[str],
    procs: Sequence[subprocess.Popen[str]],
    outputs: Sequence[tuple[str, str]],
) -> None:
    """Every child exited 0 and wrote nothing."""
    for name, p, (out, err) in zip(names, procs, outputs, strict=True):
        assert p.returncode == 0, f"{name} exited {p.returncode}: {err}"
        assert err == "", f"{name} wrote to stderr: {err}"
        assert out == ""


def check_written(events: Sequence[Event], names: Sequence[str]) -> None:
    """The log holds every child's events once, gap-free, each conference's versions
    1..n, each child's events in the order it appended them."""
    total = WRITERS * EVENTS_PER_WRITER
    assert len(events) == total
    assert [e.position for e in events] == list(range(1, total + 1))
    assert len({e.id for e in events}) == total
    for conference in CONFERENCES:
        versions = [e.version for e in events if e.conference == conference]
        assert versions == list(range(1, len(versions) + 1)), conference
    assert sum(1 for e in events if e.conference in CONFERENCES) == total
    for name in names:
        mine = [e.id for e in events if e.author == name]
        assert mine == [f"{name}-{n:04d}" for n in range(EVENTS_PER_WRITER)]
