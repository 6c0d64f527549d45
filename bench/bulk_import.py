"""Bulk import events/s: `Liveblog.import_lines` against one raw `executemany`.

Both sides load the same JSON Lines (the export format: a conference.opened, a
day.opened, then notes and quotes) into a fresh database with liveblog's schema, in one
transaction. The raw side's rows are computed before its clock starts; liveblog's clock
covers everything `import_lines` does (parsing, validation, dedup by id, the INSERTs).
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from liveblog.service.facade import Liveblog

from . import raw
from .report import Comparison, Outcome

EVENTS = 50_000
REPEATS = 2
"""Fresh databases per side; the best run of each side is reported."""
WARMUP_EVENTS = 200
TARGET = 0.5
CONFERENCE = "bench-import"
SPEAKERS = ("Andy Burns", "Jos Creese", "Helen Williams", "Martin Ferguson")


def make_lines(count: int) -> list[str]:
    """`count` export-format lines of one conference, as `liveblog export` writes them."""
    start = dt.datetime(2011, 6, 9, 8, 30, tzinfo=dt.UTC)
    recorded = dt.datetime(2011, 6, 9, 18, 0, tzinfo=dt.UTC).isoformat(timespec="microseconds")

    def line(i: int, type_: str, data: dict[str, Any]) -> str:
        obj = {
            "id": uuid.uuid4().hex,
            "type": type_,
            "conference": CONFERENCE,
            "occurred_at": (start + dt.timedelta(seconds=i)).isoformat(),
            "recorded_at": recorded,
            "author": "ann" if i % 3 else "bob",
            "position": i + 1,
            "version": i + 1,
            "schema_version": 1,
            "data": data,
        }
        return json.dumps(obj, ensure_ascii=False) + "\n"

    lines = [
        line(0, "conference.opened", {"title": "SOCITM 2011", "timezone": "Europe/London"}),
        line(1, "day.opened", {"number": 1, "date": "2011-06-09", "title": None}),
    ]
    for i in range(2, count):
        placed = {"day": 1, "session": None, "talk": None}
        if i % 2:
            text = f"Quote {i}: we must share services, or we will not have services to share."
            data = {**placed, "text": text, "speaker": SPEAKERS[i % len(SPEAKERS)]}
            lines.append(line(i, "quote.captured", data))
        else:
            text = f"Note {i}: the room fills up; the speaker turns to procurement."
            lines.append(line(i, "note.posted", {**placed, "text": text}))
    return lines


def to_rows(lines: list[str]) -> list[tuple[Any, ...]]:
    """The rows a raw import inserts: the same ten columns, positions and versions 1..n."""
    rows = []
    for text in lines:
        obj = json.loads(text)
        rows.append(
            (
                obj["position"],
                obj["id"],
                obj["type"],
                obj["conference"],
                obj["occurred_at"],
                obj["recorded_at"],
                obj["author"],
                obj["version"],
                obj["schema_version"],
                json.dumps(obj["data"], ensure_ascii=False, separators=(",", ":")),
            )
        )
    return rows


def import_liveblog(path: Path, lines: list[str]) -> float:
    with Liveblog(path, "importer") as service:
        start = time.perf_counter()
        result = service.import_lines(lines, source="bench")
        elapsed = time.perf_counter() - start
        stored = service.log.head()
    if result.added != len(lines) or stored != len(lines):
        raise RuntimeError(
            f"liveblog imported {result.added} of {len(lines)} lines ({stored} stored)"
        )
    return elapsed


def import_raw(path: Path, rows: list[tuple[Any, ...]]) -> float:
    raw.create_schema(path)
    conn = raw.connect(path)
    try:
        start = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(raw.INSERT_SQL, rows)
        conn.execute("COMMIT")
        elapsed = time.perf_counter() - start
        stored = raw.count(conn)
    finally:
        conn.close()
    if stored != len(rows):
        raise RuntimeError(f"raw import stored {stored} of {len(rows)} rows")
    return elapsed


def run() -> Outcome:
    lines = make_lines(EVENTS)
    rows = to_rows(lines)
    times: dict[str, list[float]] = {"liveblog": [], "raw": []}
    with tempfile.TemporaryDirectory(prefix="liveblog-bench-") as tmp:
        base = Path(tmp)
        # Warm-up: builds pydantic's deferred schemas once, as any long-running process has.
        import_liveblog(base / "warm-liveblog.db", lines[:WARMUP_EVENTS])
        import_raw(base / "warm-raw.db", rows[:WARMUP_EVENTS])
        for k in range(REPEATS):
            order = ("liveblog", "raw") if k % 2 == 0 else ("raw", "liveblog")
            for side in order:
                path = base / f"{side}-{k}.db"
                if side == "liveblog":
                    times[side].append(import_liveblog(path, lines))
                else:
                    times[side].append(import_raw(path, rows))

    lb_rate = len(lines) / min(times["liveblog"])
    raw_rate = len(lines) / min(times["raw"])
    runs = ", ".join(
        f"{side} {' / '.join(f'{t:.2f}' for t in spent)} s" for side, spent in times.items()
    )
    notes = [
        f"{len(lines)} events per import, best of {REPEATS} fresh databases per side ({runs})",
        f"liveblog {lb_rate:,.0f} events/s vs raw executemany {raw_rate:,.0f} events/s "
        "(both through the same triggers and indexes)",
    ]
    return Outcome(
        comparisons=[
            Comparison("import events/s", lb_rate, raw_rate, TARGET, higher_is_better=True)
        ],
        notes=notes,
    )
