"""Rebuild events/s: `Liveblog.rebuild()` over a synthetic log against a raw scan of it.

The log (bench.synthetic: one conference covered live, a million events unless
LIVEBLOG_BENCH_EVENTS says otherwise) is generated once and cached; each run copies it
to a fresh file. On that copy the raw side runs `SELECT data FROM events` and
`json.loads` on every row (best of RAW_SCANS, the first of which also warms the page
cache); then liveblog's clock covers `Liveblog(path, ...).rebuild()` from opening the
database to the last commit of the projections' rows and positions. Afterwards the
result is checked cheaply: the projection's position is the head, and the timeline holds
one row per entry event (retracted entries stay, flagged).
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

from liveblog.projections.timeline import ENTRIES
from liveblog.service.facade import Liveblog

from . import raw, synthetic
from .report import Comparison, Outcome

RAW_SCANS = 2
TARGET = 0.25
AUTHOR = "bench"


def raw_scan(path: Path) -> tuple[float, int]:
    """Seconds to read and decode every event's data, and how many rows were read."""
    conn = raw.connect(path)
    try:
        loads = json.loads
        rows = 0
        start = time.perf_counter()
        for (data,) in conn.execute("SELECT data FROM events"):
            loads(data)
            rows += 1
        return time.perf_counter() - start, rows
    finally:
        conn.close()


def run() -> Outcome:
    n = synthetic.events_wanted()
    log = synthetic.cached_log(n)
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="liveblog-bench-") as tmp:
        path = log.copy_to(Path(tmp))
        scans = [raw_scan(path) for _ in range(RAW_SCANS)]
        raw_seconds = min(seconds for seconds, _ in scans)
        problems += [f"the raw scan read {rows} rows" for _, rows in scans if rows != n]

        start = time.perf_counter()
        with Liveblog(path, AUTHOR) as service:
            applied = service.rebuild()
            rebuild_seconds = time.perf_counter() - start

            head = service.log.head()
            positions = {s["name"]: s["position"] for s in service.status()["projections"]}
            conn = service.log.conn
            entries = conn.execute(f"SELECT count(*) FROM {ENTRIES}").fetchone()[0]
            retracted = conn.execute(f"SELECT count(*) FROM {ENTRIES} WHERE retracted").fetchone()[
                0
            ]
            expected_entries = synthetic.entry_events(conn)

    if head != n:
        problems.append(f"the log's head is {head}, not {n}")
    for name, position in positions.items():
        if position != head:
            problems.append(f"projection {name} is at position {position}, head is {head}")
    for name, count in applied.items():
        if count != n:
            problems.append(f"rebuild applied {count} events to {name}, not {n}")
    if entries != expected_entries:
        problems.append(f"{ENTRIES} has {entries} rows for {expected_entries} entry events")

    lb_rate = n / rebuild_seconds
    raw_rate = n / raw_seconds
    notes = [
        log.describe(),
        f"rebuild {rebuild_seconds:.2f} s ({lb_rate:,.0f} events/s, "
        f"{1e6 / lb_rate:.1f} us/event); raw SELECT data + json.loads best of {RAW_SCANS}: "
        + " / ".join(f"{seconds:.2f}" for seconds, _ in scans)
        + f" s ({raw_rate:,.0f} events/s, {1e6 / raw_rate:.2f} us/event)",
    ]
    if problems:
        notes += [f"WARNING: {problem}" for problem in problems]
    else:
        notes.append(
            f"checked: every projection at the head ({head:,}); {ENTRIES} has one row per "
            f"entry event ({entries:,}, {retracted:,} of them retracted)"
        )
    return Outcome(
        comparisons=[
            Comparison("rebuild events/s", lb_rate, raw_rate, TARGET, higher_is_better=True)
        ],
        notes=notes,
    )
