"""Catch-up after one new event: a 1,000,000-event log against a 10,000-event one.

Catching up reads only what is new, so its cost should not follow the size of the log.
Both logs (bench.synthetic, cached; the large one has LIVEBLOG_BENCH_EVENTS events if
set) are copied to fresh files and fully caught up before the clock starts. Then each
repetition posts one note through `Liveblog.note` (untimed) and times
`Liveblog.catch_up()`, alternating which log goes first so that drift in the disk's
fsync latency hits both alike. Here the "liveblog" figure is the large log and the
"raw" figure the small one: the ratio is large / small, and must stay near 1.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from liveblog.domain import context as ctx
from liveblog.service.facade import Liveblog

from . import synthetic
from .report import Comparison, Outcome, median_ms, number

SMALL_EVENTS = 10_000
REPEATS = 30
WARMUP = 3
TARGET = 1.5
AUTHOR = synthetic.AUTHORS[0]
"""The reporter running the synthetic conference: the note lands in her open talk."""


def short(n: int) -> str:
    """1000000 → 1M, 10000 → 10k, 2500 → 2500."""
    for size, suffix in ((1_000_000, "M"), (1_000, "k")):
        if n >= size and n % size == 0:
            return f"{n // size}{suffix}"
    return str(n)


def ensure_open_day(service: Liveblog) -> None:
    """Open the next day if the log happens to end just after a day.closed."""
    context = ctx.current(service.log, service.author, synthetic.CONFERENCE)
    if context.day is None:
        last = service.log.conn.execute(
            "SELECT max(json_extract(data, '$.number')) FROM events WHERE type = 'day.opened'"
        ).fetchall()[0][0]
        service.open_day(int(last or 0) + 1)


def run() -> Outcome:
    sizes = {"large": synthetic.events_wanted()}
    sizes["small"] = min(SMALL_EVENTS, sizes["large"])
    logs = {side: synthetic.cached_log(n) for side, n in sizes.items()}
    times: dict[str, list[float]] = {side: [] for side in logs}
    initial: dict[str, float] = {}
    problems: list[str] = []

    with tempfile.TemporaryDirectory(prefix="liveblog-bench-") as tmp:
        services: dict[str, Liveblog] = {}
        try:
            for side, log in logs.items():
                path = log.copy_to(Path(tmp), f"{side}.db")
                services[side] = service = Liveblog(path, AUTHOR)
                start = time.perf_counter()
                service.catch_up()
                initial[side] = time.perf_counter() - start
                ensure_open_day(service)
                service.catch_up()

            for k in range(WARMUP + REPEATS):
                order = ("large", "small") if k % 2 == 0 else ("small", "large")
                for side in order:
                    service = services[side]
                    service.note(f"Catch-up probe {k}: the speaker takes questions from the floor.")
                    start = time.perf_counter()
                    applied = service.catch_up()
                    elapsed = time.perf_counter() - start
                    if any(count != 1 for count in applied.values()):
                        problems.append(f"{side} catch-up {k} applied {applied}, not 1 event")
                    if k >= WARMUP:
                        times[side].append(elapsed)

            heads = {side: service.log.head() for side, service in services.items()}
            for side, service in services.items():
                for status in service.projections.status():
                    if status.lag:
                        problems.append(f"{side}: {status.name} lags the head by {status.lag}")
        finally:
            for service in services.values():
                service.close()

    large_ms = median_ms(times["large"])
    small_ms = median_ms(times["small"])
    notes = [
        f"{logs['large'].describe()}; {logs['small'].describe()}",
        f"median of {REPEATS} catch-ups after one note each (+{WARMUP} warm-up), "
        f"alternating logs: {heads['large']:,}-event log {number(large_ms)} ms, "
        f"{heads['small']:,}-event log {number(small_ms)} ms "
        "(liveblog = large log, raw = small log)",
        "spread (min / max ms): "
        + "; ".join(
            f"{side} {min(spent) * 1000:.2f} / {max(spent) * 1000:.2f}, "
            f"stdev {statistics.stdev(spent) * 1000:.2f}"
            for side, spent in times.items()
        ),
        "first full catch-up (untimed set-up): "
        + ", ".join(f"{sizes[side]:,} events {seconds:.1f} s" for side, seconds in initial.items()),
    ]
    notes += [f"WARNING: {problem}" for problem in problems[:5]]
    if len(problems) > 5:
        notes.append(f"WARNING: … and {len(problems) - 5} more")
    return Outcome(
        comparisons=[
            Comparison(
                f"catch-up ms {short(sizes['large'])}/{short(sizes['small'])}",
                large_ms,
                small_ms,
                TARGET,
                higher_is_better=False,
            )
        ],
        notes=notes,
    )
