"""Durable single-event appends/s: `EventLog.append([event])` against one raw INSERT.

Each append is its own BEGIN IMMEDIATE transaction on a WAL database with
synchronous=FULL, on both sides. The events (and the raw side's row values) are built
before the clock starts, so the figure compares the store, not pydantic construction.
The two sides run in alternating rounds so that drift in the disk's fsync latency hits
both alike.
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from liveblog.domain.envelope import Event, format_time, make_event
from liveblog.domain.events import NotePosted
from liveblog.store import EventLog

from . import raw
from .report import Comparison, Outcome

APPENDS = 1_000
"""Timed appends per side."""
WARMUP = 20
ROUNDS = 10
TARGET = 0.5
CONFERENCE = "bench-appends"
AUTHOR = "ann"


def make_notes(count: int) -> list[Event]:
    start = dt.datetime(2011, 6, 9, 9, 0, tzinfo=dt.UTC)
    return [
        make_event(
            id=uuid.uuid4().hex,
            conference=CONFERENCE,
            occurred_at=start + dt.timedelta(seconds=i),
            author=AUTHOR,
            data=NotePosted(day=1, text=f"Note {i}: the speaker moves on to shared services."),
        )
        for i in range(count)
    ]


def to_row(event: Event) -> raw.Row:
    data = json.dumps(event.data.data(), ensure_ascii=False, separators=(",", ":"))
    return (
        event.id,
        event.type,
        event.conference,
        format_time(event.occurred_at),
        event.author,
        event.schema_version,
        data,
    )


Side = Callable[[int, int], float]
"""Times one side appending items lo..hi of its prepared list."""


def timed_rounds(
    liveblog: Side, raw_side: Side, warmup: int, rounds: int, per_round: int
) -> dict[str, float]:
    """Seconds per side: both warmed up on the first `warmup` items, then `rounds` rounds
    of `per_round` items, alternating which side goes first (drift hits both)."""
    liveblog(0, warmup)
    raw_side(0, warmup)
    timed = {"liveblog": 0.0, "raw": 0.0}
    for k in range(rounds):
        lo = warmup + k * per_round
        hi = lo + per_round
        if k % 2 == 0:
            timed["liveblog"] += liveblog(lo, hi)
            timed["raw"] += raw_side(lo, hi)
        else:
            timed["raw"] += raw_side(lo, hi)
            timed["liveblog"] += liveblog(lo, hi)
    return timed


def run() -> Outcome:
    events = make_notes(WARMUP + APPENDS)
    rows = [to_row(event) for event in events]
    per_round = APPENDS // ROUNDS

    with tempfile.TemporaryDirectory(prefix="liveblog-bench-") as tmp:
        raw_path = Path(tmp) / "raw.db"
        raw.create_schema(raw_path)
        log = EventLog(Path(tmp) / "liveblog.db")
        conn = raw.connect(raw_path)
        try:

            def liveblog_side(lo: int, hi: int) -> float:
                start = time.perf_counter()
                for event in events[lo:hi]:
                    log.append([event])
                return time.perf_counter() - start

            def raw_side(lo: int, hi: int) -> float:
                start = time.perf_counter()
                for row in rows[lo:hi]:
                    raw.append_one(conn, row)
                return time.perf_counter() - start

            timed = timed_rounds(liveblog_side, raw_side, WARMUP, ROUNDS, per_round)

            stored = {"liveblog": log.head(), "raw": raw.count(conn)}
            settings = {"liveblog": raw.pragmas(log.conn), "raw": raw.pragmas(conn)}
        finally:
            log.close()
            conn.close()

    n = per_round * ROUNDS
    lb_rate = n / timed["liveblog"]
    raw_rate = n / timed["raw"]
    notes = [
        f"{n} timed appends per side (+{WARMUP} warm-up), {ROUNDS} alternating rounds; "
        "raw computes next position/version with one SELECT inside each transaction",
        f"per append: liveblog {1e6 / lb_rate:.0f} us, raw {1e6 / raw_rate:.0f} us "
        f"(liveblog's own cost ~{1e6 / lb_rate - 1e6 / raw_rate:.0f} us)",
    ]
    if settings["liveblog"] == settings["raw"]:
        notes.append(f"pragmas (both): {settings['raw']}")
    else:
        notes.append(f"pragmas differ: liveblog {settings['liveblog']}; raw {settings['raw']}")
    expected = WARMUP + n
    if stored["liveblog"] != expected or stored["raw"] != expected:
        notes.append(
            f"WARNING: expected {expected} rows per database, found "
            f"liveblog {stored['liveblog']}, raw {stored['raw']}"
        )
    return Outcome(
        comparisons=[Comparison("appends/s", lb_rate, raw_rate, TARGET, higher_is_better=True)],
        notes=notes,
    )
