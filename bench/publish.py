"""Publishing after one new event: many conferences against one, a big log against a small one.

"Work follows what changed, not how many conferences exist" (issue 11): after one new
note in one conference, publishing must cost the same whether the log holds that one
conference or thousands of finished ones. Three logs from bench.many — 1 conference,
1,800 and 10,000 (LIVEBLOG_BENCH_CONFERENCES="1800,10000" by default), each conference a
54-event SOCITM-sized day, the newest one's day open — are measured two ways:

* in-process: `Liveblog.publish(options)` on a service kept open, what the scheduler's
  publish job runs (its catch-up included);
* CLI: `python -m liveblog --db DB --feeds FEEDS publish` as a subprocess, what a user or
  cron runs (interpreter start, imports, opening the log, catch-up, publish, output) —
  what the issue measured (10.1 s with 1,800 conferences, 0.51 s with one).

The older comparison of one long conference is kept, in-process: a 1,000,000-event log
(bench.synthetic; LIVEBLOG_BENCH_EVENTS if set) against a 1,000-event one, both ending in
a fresh open day of the same OPEN_DAY_ENTRIES notes (a publish re-renders the open day's
page, whose cost follows the day, not the log).

Set-up, untimed: a copy of the cached log, a full catch-up, a first full publish into an
empty feeds directory (for the synthetic logs then the open day's notes, published).
That state — events.db and feeds/ — is itself cached under <tmp>/liveblog-bench-cache/,
keyed by the log, SETUP_VERSION and a fingerprint of liveblog's source files, so that a
rerun of unchanged code copies it instead of publishing 80,000 files again; any change
to the product makes a new one (and removes the old). The set-up's own times, when they
were measured in this run, are in the notes; the first full publish's speed has its own
benchmark (render).

Each repetition posts one note through `Liveblog.note` into the open conference (untimed)
and times one publish, rotating which log goes first; after each (untimed) that
conference's live.json must lead with the note. Every figure is a ratio of medians: the
"liveblog" value is the big log, the "raw" value the small one, so each must stay near 1.

A publish that grows with the log makes the big sides slow: a side stops repeating once
its publishes of one measurement have used BUDGET_SECONDS (after at least MIN_REPEATS
timed ones; a warm-up that alone used it counts as the one), and the notes say so.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import liveblog
from liveblog.feeds import PublishOptions
from liveblog.service.facade import Liveblog
from liveblog.store.sqlite.schema import LATEST

from . import many, synthetic
from .catch_up import ensure_open_day, short
from .report import Comparison, Outcome, median_ms, number

CONFERENCES_ENV = "LIVEBLOG_BENCH_CONFERENCES"
DEFAULT_CONFERENCES = (1_800, 10_000)
SMALL_EVENTS = 1_000
REPEATS = 15
WARMUP = 1
MIN_REPEATS = 1
BUDGET_SECONDS = 60.0
"""Timed publishes of one side in one measurement (warm-up included); more stops it."""
TARGET = 1.5
AUTHOR = many.AUTHOR
CONFERENCE = many.OPEN_CONFERENCE
"""The conference every note goes to: the open one of bench.many's logs, and the one
conference of bench.synthetic's."""
OPEN_DAY_ENTRIES = 300
"""Notes in the open day of both synthetic logs (the large log's days are ~2,800 events,
the small log's ~1,000: left as they are, the ratio would measure day sizes)."""
SETUP_VERSION = 2
"""Bump when the set-up changes: cached published states of other versions are ignored."""
CACHE_DIR = synthetic.CACHE_DIR
KEEP = 3
"""Published states kept per log (of different code); the 10k one is about 1.7 GB."""


def conference_sizes() -> tuple[int, ...]:
    """The big sides: LIVEBLOG_BENCH_CONFERENCES ("1800,10000") if set."""
    value = os.environ.get(CONFERENCES_ENV, "").replace("_", "")
    if not value.strip():
        return DEFAULT_CONFERENCES
    sizes = tuple(int(part) for part in value.split(",") if part.strip())
    if not sizes or min(sizes) < 2:
        raise ValueError(f"{CONFERENCES_ENV} must list sizes of at least 2, not {value!r}")
    return sizes


@dataclass(frozen=True)
class Case:
    """One log under test, before its set-up."""

    name: str
    """Its label in the figures: "10k", "1M"."""
    key: str
    """What its cached published state is named by."""
    log: Callable[[], synthetic.CachedLog]
    reshape: Callable[[Liveblog, PublishOptions], None] | None = None
    """Set-up after the first full publish (the synthetic logs' open day)."""


def many_case(conferences: int) -> Case:
    return Case(
        short(conferences),
        f"many-{conferences}-g{many.GENERATOR_VERSION}",
        lambda: many.cached(conferences),
    )


def synthetic_case(events: int) -> Case:
    return Case(
        short(events),
        f"events-{events}-g{synthetic.GENERATOR_VERSION}",
        lambda: synthetic.cached_log(events),
        fresh_open_day,
    )


def fresh_open_day(service: Liveblog, options: PublishOptions) -> None:
    """End the synthetic log in a new open day of OPEN_DAY_ENTRIES notes, published."""
    ensure_open_day(service)
    service.close_day()
    last_day = service.log.conn.execute(
        "SELECT max(json_extract(data, '$.number')) FROM events WHERE type = 'day.opened'"
    ).fetchall()[0][0]
    service.open_day(int(last_day) + 1)
    for i in range(OPEN_DAY_ENTRIES):
        service.note(f"Same open day, note {i}: words said at the conference.")
    service.publish(options)


@functools.cache  # the sources do not change during a run; read them once
def code_fingerprint() -> str:
    """A digest of every file of the liveblog package in use (sources and templates)."""
    root = Path(liveblog.__file__).parent
    digest = hashlib.sha256(f"setup {SETUP_VERSION} schema {LATEST}".encode())
    for path in sorted(root.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
            digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


@dataclass
class SetUp:
    """A log published once: where it is cached, and what the set-up cost."""

    folder: Path
    events: int
    conferences: int
    files: int
    catch_up_seconds: float
    first_publish_seconds: float
    log_description: str
    measured_now: bool


def workplace(case: Case) -> Path:
    """Where `case` is published at set-up and restored for every run: one path.

    The publisher remembers a feeds directory by its marker and its real path; a copy at
    another path is another directory (published anew, in full). So the set-up publishes
    here, and each run restores the cached copy here, to the same path.
    """
    return CACHE_DIR / f"run-{case.key}-u{SETUP_VERSION}-c{code_fingerprint()}"


def prepared(case: Case) -> SetUp:
    """The cached published state of `case`, made (and timed) now if there is none."""
    fingerprint = code_fingerprint()
    folder = CACHE_DIR / f"published-{case.key}-u{SETUP_VERSION}-c{fingerprint}"
    meta = folder / "setup.json"
    log = case.log()
    if meta.exists():
        meta.touch()  # recently used: kept (prune)
        saved = json.loads(meta.read_text())
        return SetUp(folder, **saved, log_description=log.describe(), measured_now=False)
    partial = CACHE_DIR / f".{folder.name}.{os.getpid()}.partial"
    work = workplace(case)
    shutil.rmtree(partial, ignore_errors=True)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        path = log.copy_to(work)
        options = PublishOptions(feeds_dir=work / "feeds")
        print(f"  {case.name}: set-up (cached for later runs of this code) ...", flush=True)
        with Liveblog(path, AUTHOR) as service:
            start = time.perf_counter()
            service.catch_up()
            catch_up_seconds = time.perf_counter() - start
            start = time.perf_counter()
            files = len(service.publish(options).changed)
            first_publish_seconds = time.perf_counter() - start
            if case.reshape is not None:
                case.reshape(service, options)
            events = service.log.head()
            conferences = int(
                service.log.conn.execute(
                    "SELECT count(*) FROM events WHERE type = 'conference.opened'"
                ).fetchall()[0][0]
            )
        saved = {
            "events": events,
            "conferences": conferences,
            "files": files,
            "catch_up_seconds": catch_up_seconds,
            "first_publish_seconds": first_publish_seconds,
        }
        shutil.copytree(work, partial, symlinks=True)  # mtimes kept: the audit finds them equal
        (partial / "setup.json").write_text(json.dumps(saved))
        print(
            f"  {case.name}: catch-up {catch_up_seconds:.1f} s, first full publish "
            f"{first_publish_seconds:.1f} s ({files:,} files)",
            flush=True,
        )
        os.replace(partial, folder)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)
    prune(case)
    return SetUp(folder, **saved, log_description=log.describe(), measured_now=True)


def prune(case: Case) -> None:
    """Keep the KEEP most recently used published states of `case`, remove the others.

    Several work trees (other code, other fingerprints) may share the cache; each keeps
    its own for a while rather than removing one that another is about to copy.
    """
    made = []
    for folder in CACHE_DIR.glob(f"published-{case.key}-u*"):
        try:
            made.append(((folder / "setup.json").stat().st_mtime, folder))
        except FileNotFoundError:
            continue
    for _, folder in sorted(made, reverse=True)[KEEP:]:
        shutil.rmtree(folder, ignore_errors=True)


@dataclass
class Side:
    """One log under test, restored from its set-up, and what was measured on it."""

    case: Case
    setup: SetUp
    db: Path
    options: PublishOptions
    service: Liveblog
    times: dict[str, list[float]] = field(default_factory=dict)
    changed: dict[str, list[int]] = field(default_factory=dict)
    spent: dict[str, float] = field(default_factory=dict)
    stopped: dict[str, int] = field(default_factory=dict)
    """Measurement -> repetitions done, for the sides that hit the budget."""
    warmup_counted: set[str] = field(default_factory=set)
    """Measurements whose one figure is the warm-up (it alone used the budget)."""


def restore(case: Case, setup: SetUp) -> Side:
    """A fresh copy of the published state, events.db and feeds/ (mtimes kept), at the
    path it was published at (`workplace`); `release` removes it."""
    folder = workplace(case)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for item in setup.folder.iterdir():  # events.db, and whatever else set-up left beside it
        if item.name == "feeds":
            shutil.copytree(item, folder / "feeds", symlinks=True)
        elif item.name != "setup.json":
            shutil.copy2(item, folder / item.name)
    db = folder / "events.db"
    os.sync()  # gigabytes of dirty pages written back now, not during the timed publishes
    service = Liveblog(db, AUTHOR)
    return Side(case, setup, db, PublishOptions(feeds_dir=folder / "feeds"), service)


def newest_live_id(feeds_dir: Path) -> str:
    """The id of the first item of the open conference's live JSON feed ("" if none)."""
    feed = json.loads((feeds_dir / CONFERENCE / "live.json").read_bytes())
    items = feed.get("items") or [{}]
    return str(items[0].get("id", ""))


def cli_environment() -> dict[str, str]:
    """This process's environment without LIVEBLOG_* settings, with this liveblog first."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIVEBLOG_")}
    source = str(Path(liveblog.__file__).parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (source, env.get("PYTHONPATH")) if p)
    return env


def publish_in_process(side: Side) -> tuple[float, int]:
    start = time.perf_counter()
    result = side.service.publish(side.options)
    return time.perf_counter() - start, len(result.changed)


def publish_cli(side: Side) -> tuple[float, int]:
    command = [
        sys.executable,
        "-m",
        "liveblog",
        "--db",
        str(side.db),
        "--feeds",
        str(side.options.feeds_dir),
        "--author",
        AUTHOR,
        "publish",
    ]
    start = time.perf_counter()
    done = subprocess.run(
        command, capture_output=True, text=True, env=cli_environment(), cwd=side.db.parent
    )
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines()
        raise RuntimeError(f"`liveblog publish` exit {done.returncode}: {lines[-1:]}")
    return elapsed, len(done.stdout.splitlines())


MEASUREMENTS: dict[str, Callable[[Side], tuple[float, int]]] = {
    "in-process": publish_in_process,
    "CLI": publish_cli,
}


def measure(name: str, sides: list[Side], problems: list[str]) -> None:
    """Interleaved repetitions of one measurement over `sides`, within the budget."""
    publish = MEASUREMENTS[name]
    for side in sides:
        side.times[name], side.changed[name], side.spent[name] = [], [], 0.0
    active = list(sides)
    for k in range(WARMUP + REPEATS):
        shift = k % len(active)
        for side in active[shift:] + active[:shift]:
            (event,) = side.service.note(
                f"Publish probe {name} {k}: the speaker takes questions from the floor.",
                conference=CONFERENCE,
            )
            elapsed, changed = publish(side)
            side.spent[name] += elapsed
            # A warm-up that alone used the budget is the side's one figure: repeating
            # a publish of minutes would only say again that it takes minutes.
            if k >= WARMUP or (k == WARMUP - 1 and side.spent[name] > BUDGET_SECONDS):
                side.times[name].append(elapsed)
                side.changed[name].append(changed)
                if k < WARMUP:
                    side.warmup_counted.add(name)
            if not newest_live_id(side.options.feeds_dir).endswith(event.id):
                problems.append(f"{side.case.name} {name} publish {k}: live.json misses the note")
        for side in list(active):
            repeats = len(side.times[name])
            if repeats >= MIN_REPEATS and side.spent[name] > BUDGET_SECONDS and repeats < REPEATS:
                side.stopped[name] = repeats
                active.remove(side)
        if not active:
            break


def comparison(metric: str, big: Side, small: Side, name: str) -> Comparison:
    return Comparison(
        metric,
        median_ms(big.times[name]),
        median_ms(small.times[name]),
        TARGET,
        higher_is_better=False,
    )


def describe_side(side: Side, names: list[str]) -> str:
    parts = []
    for name in names:
        times = side.times[name]
        if not times:
            continue
        stopped = side.stopped.get(name)
        parts.append(
            f"{name} {number(median_ms(times))} ms (min {min(times) * 1000:.1f}, "
            f"max {max(times) * 1000:.1f}, {len(times)} runs"
            + (f", STOPPED EARLY at the {BUDGET_SECONDS:.0f} s budget" if stopped else "")
            + (", the warm-up itself" if name in side.warmup_counted else "")
            + f"; files changed {statistics.median(side.changed[name]):g})"
        )
    return f"{side.case.name}: " + "; ".join(parts)


def describe_setup(side: Side) -> str:
    s = side.setup
    how = (
        "measured now"
        if s.measured_now
        else "restored from the cache of this code's set-up (times from when it was made)"
    )
    rate = s.files / s.first_publish_seconds if s.first_publish_seconds else 0.0
    return (
        f"{side.case.name}: {s.conferences:,} conference(s), {s.events:,} events; full "
        f"catch-up {s.catch_up_seconds:.1f} s, first full publish {s.first_publish_seconds:.1f} s "
        f"({s.files:,} files, {rate:,.0f} files/s) — {how}"
    )


def run() -> Outcome:
    base = many_case(1)
    many_sides = [base, *(many_case(n) for n in conference_sizes())]
    large_events = synthetic.events_wanted()
    event_sides = [synthetic_case(large_events), synthetic_case(min(SMALL_EVENTS, large_events))]
    problems: list[str] = []
    comparisons: list[Comparison] = []
    notes: list[str] = []

    sides: list[Side] = []
    try:
        for case in many_sides + event_sides:
            sides.append(restore(case, prepared(case)))
        conference_logs, event_logs = sides[: len(many_sides)], sides[len(many_sides) :]

        measure("in-process", conference_logs, problems)
        measure("CLI", conference_logs, problems)
        measure("in-process", event_logs, problems)

        for side in sides:
            for status in side.service.projections.status():
                if status.lag:
                    problems.append(
                        f"{side.case.name}: {status.name} lags the head by {status.lag}"
                    )
    finally:
        for side in sides:
            side.service.close()
            shutil.rmtree(side.db.parent, ignore_errors=True)

    one = conference_logs[0]
    for name, label in (("in-process", "publish ms"), ("CLI", "`liveblog publish` ms")):
        for big in conference_logs[1:]:
            metric = f"{label} {big.case.name}/{one.case.name} conferences"
            comparisons.append(comparison(metric, big, one, name))
    large, small = event_logs
    comparisons.append(
        comparison(
            f"publish ms {large.case.name}/{small.case.name} events", large, small, "in-process"
        )
    )

    notes.append(
        f"median of up to {REPEATS} publishes after one note each (+{WARMUP} warm-up), "
        f"rotating the logs' order; in-process = Liveblog.publish (the scheduler's job, "
        f"catch-up included), CLI = `{Path(sys.executable).name} -m liveblog publish` "
        "(interpreter start included); liveblog = the big log, raw = the small one"
    )
    notes += [describe_side(side, ["in-process", "CLI"]) for side in conference_logs]
    notes += [describe_side(side, ["in-process"]) for side in event_logs]
    notes.append("set-up (untimed): " + "; ".join(describe_setup(side) for side in sides))
    notes.append("logs: " + "; ".join(dict.fromkeys(side.setup.log_description for side in sides)))
    notes.append(
        f"the synthetic logs ({large.case.name}, {small.case.name} events, one conference) "
        f"end in a fresh open day of the same {OPEN_DAY_ENTRIES} notes (set-up): a publish "
        "re-renders the open day's page, whose cost follows the day, not the log"
    )
    if large_events != synthetic.DEFAULT_EVENTS:
        notes.append(
            f"SCALED: {synthetic.EVENTS_ENV}={large_events} — the large log has "
            f"{large_events:,} events, not {synthetic.DEFAULT_EVENTS:,}"
        )
    if conference_sizes() != DEFAULT_CONFERENCES:
        notes.append(f"SCALED: {CONFERENCES_ENV}={','.join(map(str, conference_sizes()))}")
    notes += [f"WARNING: {problem}" for problem in problems[:5]]
    if len(problems) > 5:
        notes.append(f"WARNING: … and {len(problems) - 5} more")
    return Outcome(comparisons=comparisons, notes=notes)
