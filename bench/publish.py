"""Publishing after one new event: a 1,000,000-event log against a 1,000-event one.

"Publishing must never scan the whole log": after one new event, `Liveblog.publish`
should cost the same on a log of a thousand events or a million. Both logs
(bench.synthetic, cached; the large one has LIVEBLOG_BENCH_EVENTS events if set) are
copied to fresh files. Set-up, untimed but reported: a full catch-up, then a first full
publish into an empty feeds directory (on a large log this writes every archive
document, every day page and the reflections feeds), then, if the log happens to end
between days, the next day is opened and published. The synthetic conference has a url,
so entry links point at its site.

Each repetition posts one note through `Liveblog.note` into the reporter's open day
(untimed) and times `Liveblog.publish(...)`, which includes its catch-up, alternating
which log goes first. After each one (untimed) the live JSON feed must show that note
first. Here the "liveblog" figure is the large log and the "raw" figure the small one:
the ratio is large / small, and must stay near 1.

A publish that grows with the log makes the large side slow; so that the suite still
ends, repetitions stop early (never before MIN_REPEATS) once the large log's timed
publishes have used BUDGET_SECONDS, and the notes say so.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from liveblog.feeds import PublishOptions
from liveblog.service import Liveblog

from . import synthetic
from .catch_up import ensure_open_day, short
from .report import Comparison, Outcome, median_ms, number

SMALL_EVENTS = 1_000
REPEATS = 20
WARMUP = 1
MIN_REPEATS = 5
BUDGET_SECONDS = 300.0
"""Timed publishes of the large log, warm-up included; more stops the repetitions."""
SLOW_FIRST_PUBLISH = 120.0
"""A first full publish slower than this is flagged, with how to scale the log down."""
TARGET = 1.5
AUTHOR = synthetic.AUTHORS[0]
"""The reporter running the synthetic conference: the notes land in her open day."""
SIDES = ("large", "small")


@dataclass
class Side:
    """One log under test: its service, where it publishes, and what was measured."""

    service: Liveblog
    options: PublishOptions
    catch_up_seconds: float = 0.0
    first_publish_seconds: float = 0.0
    first_files: int = 0
    times: list[float] = field(default_factory=list)
    changed: list[int] = field(default_factory=list)


OPEN_DAY_ENTRIES = 300
"""Notes in the open day of both logs (the synthetic large log's days are ~2,800 events,
the small log's ~1,000: left as they are, the ratio would measure day sizes)."""


def archive_documents(feeds_dir: Path) -> int:
    return sum(1 for _ in feeds_dir.glob("*/archive/*.atom"))


def newest_live_id(feeds_dir: Path) -> str:
    """The id of the first item of the live JSON feed ("" if it has none)."""
    feed = json.loads((feeds_dir / synthetic.CONFERENCE / "live.json").read_bytes())
    items = feed.get("items") or [{}]
    return str(items[0].get("id", ""))


def set_up(side: str, log: synthetic.CachedLog, tmp: Path) -> Side:
    folder = tmp / side
    folder.mkdir()
    path = log.copy_to(folder)
    service = Liveblog(path, AUTHOR)
    options = PublishOptions(feeds_dir=folder / "feeds")
    state = Side(service, options)
    start = time.perf_counter()
    service.catch_up()
    state.catch_up_seconds = time.perf_counter() - start
    start = time.perf_counter()
    result = service.publish(options)
    state.first_publish_seconds = time.perf_counter() - start
    state.first_files = len(result.changed)
    print(
        f"  {side}: {log.events:,} events, catch-up {state.catch_up_seconds:.1f} s, "
        f"first full publish {state.first_publish_seconds:.1f} s "
        f"({state.first_files:,} files)",
        flush=True,
    )
    # Publishing re-renders the open day's page, so its cost follows that day's size.
    # To measure what the log's size costs, both logs get a fresh open day holding the
    # same OPEN_DAY_ENTRIES notes before the timed publishes.
    ensure_open_day(service)
    service.close_day()
    last_day = service.log.query(
        "SELECT max(json_extract(data, '$.number')) FROM events WHERE type = 'day.opened'"
    )[0][0]
    service.open_day(int(last_day) + 1)
    for i in range(OPEN_DAY_ENTRIES):
        service.note(f"Same open day, note {i}: words said at the conference.")
    service.publish(options)
    return state


def run() -> Outcome:
    sizes = {"large": synthetic.events_wanted()}
    sizes["small"] = min(SMALL_EVENTS, sizes["large"])
    logs = {side: synthetic.cached_log(sizes[side]) for side in SIDES}
    problems: list[str] = []
    budget_hit = False
    archives: dict[str, int] = {}

    with tempfile.TemporaryDirectory(prefix="liveblog-bench-") as tmp:
        sides: dict[str, Side] = {}
        try:
            for side in SIDES:
                sides[side] = set_up(side, logs[side], Path(tmp))
                archives[side] = archive_documents(sides[side].options.feeds_dir)

            large_spent = 0.0
            for k in range(WARMUP + REPEATS):
                order = SIDES if k % 2 == 0 else SIDES[::-1]
                for side in order:
                    state = sides[side]
                    events = state.service.note(
                        f"Publish probe {k}: the speaker takes questions from the floor."
                    )
                    start = time.perf_counter()
                    result = state.service.publish(state.options)
                    elapsed = time.perf_counter() - start
                    if side == "large":
                        large_spent += elapsed
                    if k >= WARMUP:
                        state.times.append(elapsed)
                        state.changed.append(len(result.changed))
                    if not newest_live_id(state.options.feeds_dir).endswith(events[-1].id):
                        problems.append(f"{side} publish {k}: live.json does not lead with it")
                repeats = k + 1 - WARMUP
                if repeats >= MIN_REPEATS and repeats < REPEATS and large_spent > BUDGET_SECONDS:
                    budget_hit = True
                    break

            heads = {side: state.service.log.head() for side, state in sides.items()}
            for side, state in sides.items():
                for status in state.service.projections.status():
                    if status.lag:
                        problems.append(f"{side}: {status.name} lags the head by {status.lag}")
        finally:
            for state in sides.values():
                state.service.close()

    large, small = sides["large"], sides["small"]
    large_ms = median_ms(large.times)
    small_ms = median_ms(small.times)
    repeats = len(large.times)
    notes = [
        f"{logs['large'].describe()}; {logs['small'].describe()}",
        "first full publish (untimed set-up, into an empty feeds directory): "
        + "; ".join(
            f"{sizes[side]:,} events {state.first_publish_seconds:.1f} s, "
            f"{state.first_files:,} files ({archives[side]:,} archive documents), "
            f"after a full catch-up of {state.catch_up_seconds:.1f} s"
            for side, state in sides.items()
        ),
        f"median of {repeats} publishes after one note each (+{WARMUP} warm-up), "
        f"alternating logs: {heads['large']:,}-event log {number(large_ms)} ms, "
        f"{heads['small']:,}-event log {number(small_ms)} ms "
        "(liveblog = large log, raw = small log; each includes its catch-up)",
        "spread (min / max ms): "
        + "; ".join(
            f"{side} {min(state.times) * 1000:.1f} / {max(state.times) * 1000:.1f}"
            + (f", stdev {statistics.stdev(state.times) * 1000:.1f}" if repeats > 1 else "")
            for side, state in sides.items()
        ),
        "files changed per publish (median): "
        + ", ".join(
            f"{side} {statistics.median(state.changed):g}" for side, state in sides.items()
        ),
        f"both logs end in a fresh open day of the same {OPEN_DAY_ENTRIES} notes (set-up): "
        "a publish re-renders the open day's page, whose cost follows the day, not the log",
    ]
    if budget_hit:
        notes.append(
            f"STOPPED EARLY: {repeats} of {REPEATS} repetitions, the large log's timed "
            f"publishes having used {BUDGET_SECONDS:.0f} s (about "
            f"{statistics.median(large.times):.1f} s each)"
        )
    if large.first_publish_seconds > SLOW_FIRST_PUBLISH:
        notes.append(
            f"SLOW SET-UP: the first full publish of {sizes['large']:,} events took "
            f"{large.first_publish_seconds:.0f} s (> {SLOW_FIRST_PUBLISH:.0f} s); "
            f"set {synthetic.EVENTS_ENV} (e.g. 100000) for a quicker, smaller run"
        )
    if sizes["large"] != synthetic.DEFAULT_EVENTS:
        notes.append(
            f"SCALED: {synthetic.EVENTS_ENV}={sizes['large']} — the large log has "
            f"{sizes['large']:,} events, not {synthetic.DEFAULT_EVENTS:,}"
        )
    notes += [f"WARNING: {problem}" for problem in problems[:5]]
    if len(problems) > 5:
        notes.append(f"WARNING: … and {len(problems) - 5} more")
    return Outcome(
        comparisons=[
            Comparison(
                f"publish ms {short(sizes['large'])}/{short(sizes['small'])}",
                large_ms,
                small_ms,
                TARGET,
                higher_is_better=False,
            )
        ],
        notes=notes,
    )
