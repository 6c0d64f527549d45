"""`liveblog note` wall time: the installed console script against a one-insert script.

Every run is a real subprocess: interpreter start, imports, opening the database,
deriving the reporter's context, one durable append, output. The baseline is
`python -c` with a script that connects with pysqlite3, sets the same pragmas, and does
BEGIN IMMEDIATE, next position/version, one INSERT, COMMIT. The runs of all commands are
interleaved so that a slow spell of the machine hits them alike. Two further commands
show where the time goes: `python -c pass` (interpreter start) and importing the CLI and
the service.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from liveblog.service.facade import Liveblog

from . import raw
from .report import Comparison, Outcome, median_ms, number

RUNS = 20
WARMUP = 2
TARGET = 3.0
CONFERENCE = "bench-cli"
AUTHOR = "ann"

RAW_NOTE = f"""\
import datetime as dt, json, sys, uuid
from pysqlite3 import dbapi2 as sqlite3
conn = sqlite3.connect(sys.argv[1], isolation_level=None, timeout={raw.BUSY_TIMEOUT_MS / 1000})
for pragma in {raw.PRAGMAS!r}:
    conn.execute(pragma)
conn.execute("BEGIN IMMEDIATE")
position, version = conn.execute({raw.NEXT_SQL!r}, ({CONFERENCE!r},)).fetchone()
now = dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")
data = json.dumps(
    {{"day": 1, "session": None, "talk": None, "text": sys.argv[2]}},
    ensure_ascii=False, separators=(",", ":"),
)
row = (position, uuid.uuid4().hex, "note.posted", {CONFERENCE!r}, now, now, {AUTHOR!r},
       version, 1, data)
conn.execute({raw.INSERT_SQL!r}, row)
conn.execute("COMMIT")
print(f"#{{position}} note.posted")
"""
IMPORTS = "import liveblog.cli.main, liveblog.service.facade"


def prepare(path: Path) -> None:
    """A conference with day 1 open, through the service."""
    with Liveblog(path, AUTHOR) as service:
        service.open_conference(CONFERENCE, title="Benchmark Conference")
        service.open_day(1)


def console_script() -> Path | None:
    """The installed `liveblog` next to this interpreter (the venv's bin directory)."""
    for candidate in (Path(sys.executable).parent / "liveblog", Path(sys.prefix) / "bin/liveblog"):
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def run() -> Outcome:
    script = console_script()
    if script is None:
        return Outcome(notes=[f"SKIPPED: no `liveblog` console script next to {sys.executable}"])
    python = sys.executable
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIVEBLOG_")}
    times: dict[str, list[float]] = {"note": [], "raw": [], "imports": [], "pass": []}
    failures: list[str] = []

    with tempfile.TemporaryDirectory(prefix="liveblog-bench-") as tmp:
        lb_db = Path(tmp) / "liveblog.db"
        raw_db = Path(tmp) / "raw.db"
        prepare(lb_db)
        prepare(raw_db)

        def command(name: str, i: int) -> list[str]:
            text = f"Note {i}: the panel disagrees about shared services."
            if name == "note":
                return [str(script), "--db", str(lb_db), "--author", AUTHOR, "note", text]
            if name == "raw":
                return [python, "-c", RAW_NOTE, str(raw_db), text]
            if name == "imports":
                return [python, "-c", IMPORTS]
            return [python, "-c", "pass"]

        names = list(times)
        for i in range(WARMUP + RUNS):
            # Rotate the order so no command always runs right after another.
            shift = i % len(names)
            for name in names[shift:] + names[:shift]:
                start = time.perf_counter()
                done = subprocess.run(
                    command(name, i), capture_output=True, text=True, env=env, cwd=tmp
                )
                elapsed = time.perf_counter() - start
                if done.returncode != 0:
                    lines = (done.stderr or done.stdout).strip().splitlines()
                    failures.append(f"{name} exit {done.returncode}: {lines[-1] if lines else ''}")
                elif i >= WARMUP:
                    times[name].append(elapsed)

        with Liveblog(lb_db, AUTHOR) as service:
            lb_notes = service.log.head() - 2
        conn = raw.connect(raw_db)
        try:
            raw_notes = raw.count(conn) - 2
        finally:
            conn.close()

    note, baseline = median_ms(times["note"]), median_ms(times["raw"])
    start, imports = median_ms(times["pass"]), median_ms(times["imports"])
    notes = [
        f"median of {len(times['note'])} runs each (+{WARMUP} warm-up), interleaved; "
        f"`{script} --db DB --author {AUTHOR} note TEXT` vs `python -c RAW_INSERT_SCRIPT`",
        f"breakdown hint: `python -c pass` {number(start)} ms (interpreter start); "
        f'`python -c "{IMPORTS}"` {number(imports)} ms (import cost incl. start)',
        f"so liveblog note ~ start {number(start)} + imports {number(imports - start)} "
        f"+ the rest {number(note - imports)} ms; raw ~ start {number(start)} "
        f"+ the rest {number(baseline - start)} ms",
        f"notes stored: liveblog {lb_notes}, raw {raw_notes} (of {WARMUP + RUNS} runs each)",
    ]
    notes += [f"FAILED RUN: {failure}" for failure in failures[:5]]
    if len(failures) > 5:
        notes.append(f"... and {len(failures) - 5} more failed runs")
    return Outcome(
        comparisons=[Comparison("note wall ms", note, baseline, TARGET, higher_is_better=False)],
        notes=notes,
    )
