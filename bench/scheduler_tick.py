"""A scheduler tick with nothing new: 10,000 conferences and 1,000 subscriptions vs 1 of each.

`liveblog serve` and `run` tick every 0.1 s: catch-up (has the database changed?), deliver
(is a queue head due?) and publish (has the log moved since the last publish?). With
nothing new, a tick must cost the same however many conferences the log holds, however
many subscriptions there are and however long their delivery history is.

Set-up (untimed). The large side is `bench.many.log_with(10,000)`: 540,000 events, every
conference's day closed but the newest's, with its projections caught up, the deliverer's
first pass made (a summary recorded for each of the 9,999 closed days) and the feeds
published: cached under `<tmp>/liveblog-bench-cache/` (the first run builds it, which
takes minutes). Each run copies it, starts 20 HTTP receivers (bench/receivers.py, their
own process) and subscribes 1,000 of them through `Liveblog.add_webhook`: 10 to every
conference, 990 to one conference each (one to the live conference), each starting a
few messages before its conference's end (`--since`), and every tenth at a port that
refuses connections. One `Deliverer.run_once()` then delivers that history for real
(about 4,000 POSTs) and leaves every tenth subscription with a pending head waiting for
its retry an hour later. The small side is the same with one conference (the live
one) and one subscription.

Timed: a `Scheduler` per side, started (its deliverer and feeds worker open) with its
APScheduler paused, so that nothing runs but what is called: a tick is its three job
methods in turn, `catch_up()`, `deliver()`, `publish()`, as APScheduler calls them. After
a first tick (which publishes, as after every start), ticks alternate between the sides;
the figure is the median over TICKS ticks each, large / small (target <= 1.5).

The same target holds for a tick right after a commit that adds no event (a token
created by another connection, untimed): `data_version` moved, so catch-up looks for
what changed (projections, summaries, queues) and finds nothing, whatever the size; the
publisher's own state commits make every publish such a commit.

Reported without a target: the tick right after one new note in the live conference,
posted through `Liveblog.note` by another connection (untimed), where catch-up brings
the projections up to date, queues the note for the subscriptions it concerns (the
10 of every conference and the live conference's own on the large side, 1 on the small
side) and starts their senders; its deliveries are awaited, untimed, before the next.
Its ratio is not 1 by nature: the large side has 11 deliveries to queue, the small 1.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from liveblog.feeds import PublishOptions
from liveblog.projections.timeline import TimelineProjection
from liveblog.scheduler.main import RunOptions, Scheduler
from liveblog.service.facade import Liveblog
from liveblog.store.sqlite.schema import LATEST
from liveblog.webhooks import Deliverer, DeliveryOptions, RetryPolicy, parse_schedule

from . import many
from .report import Comparison, Outcome, number
from .synthetic import CACHE_DIR
from .webhooks import Receivers

CONFERENCES_ENV = "LIVEBLOG_BENCH_TICK_CONFERENCES"
SUBSCRIPTIONS_ENV = "LIVEBLOG_BENCH_TICK_SUBSCRIPTIONS"
BIG_CONFERENCES = 10_000
BIG_SUBSCRIPTIONS = 1_000
EVERY_CONFERENCE = 10
"""Subscriptions to every conference (downstream aggregators); the rest follow one each."""
WAITING_EVERY = 10
"""Every tenth subscription's receiver refuses: its head waits for a retry."""
HISTORY = 3
"""Events before its conference's end each subscription starts at (`--since`)."""
RECEIVER_PORTS = 20
TICKS = 300
COMMITS = 20
NEW_EVENTS = 10
TARGET = 1.5
OPTIONS = DeliveryOptions(retry=RetryPolicy(parse_schedule("1h,1h"), jitter=0.0), timeout=5.0)
CACHE_VERSION = 1
"""Bump when the prepared state changes: cached copies of other versions are ignored."""


def wanted(env: str, default: int) -> int:
    value = os.environ.get(env, "").replace("_", "").replace(",", "")
    return int(value) if value else default


@dataclass
class Side:
    name: str
    conferences: int
    subscriptions: int
    directory: Path
    scheduler: Scheduler | None = None
    ticks: list[float] = field(default_factory=list)
    after_commit: list[float] = field(default_factory=list)
    after_new: list[float] = field(default_factory=list)
    queued_after_new: list[int] = field(default_factory=list)
    reports: list[str] = field(default_factory=list)

    @property
    def db(self) -> Path:
        return self.directory / "events.db"

    @property
    def feeds(self) -> Path:
        return self.directory / "feeds"


# -- the cached, prepared log ---------------------------------------------------------


def prepared(conferences: int) -> Path:
    """A cached directory: events.db with projections caught up, the deliverer's first
    pass made (every closed day's summary recorded) and feeds/ published."""
    name = (
        f"tick-{conferences}-m{many.GENERATOR_VERSION}-s{LATEST}"
        f"-t{TimelineProjection.version}-v{CACHE_VERSION}"
    )
    cached = CACHE_DIR / name
    if cached.exists():
        return cached
    print(f"  preparing the {conferences:,}-conference scheduler log (cached) ...", flush=True)
    start = time.perf_counter()
    partial = CACHE_DIR / f".{name}.{os.getpid()}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        db = many.log_with(conferences, directory=partial)
        with Liveblog(db, many.AUTHOR) as service:
            service.catch_up()
            # The deliverer's first pass records every closed day's summary; it runs
            # only with a subscription, so one is added for it and removed afterwards.
            sub = service.add_webhook("http://127.0.0.1:9/none", allow_private=True)
            asyncio.run(_prepare_once(db))
            service.remove_webhook(sub.id)
            service.publish(PublishOptions(feeds_dir=partial / "feeds"))
        os.replace(partial, cached)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    print(f"  prepared in {time.perf_counter() - start:.0f} s", flush=True)
    return cached


async def _prepare_once(db: Path) -> None:
    async with Deliverer(str(db), OPTIONS) as deliverer:
        await deliverer.prepare()


def copy_prepared(conferences: int, directory: Path) -> None:
    source = prepared(conferences)
    shutil.copyfile(source / "events.db", directory / "events.db")
    shutil.copytree(source / "feeds", directory / "feeds", symlinks=True)
    # Its key file is not needed: the one subscription it had is removed.


# -- subscriptions and their history ---------------------------------------------------


@contextmanager
def refusing_port() -> Iterator[int]:
    """A port nothing listens on (connections are refused)."""
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = int(probe.getsockname()[1])
    probe.close()
    yield port


def subscribe(side: Side, ports: list[int], refused: int) -> None:
    with Liveblog(side.db, many.AUTHOR) as service:
        log = service.log
        ends = dict(
            log.conn.execute(
                "SELECT conference, max(position) FROM events GROUP BY conference "
                "ORDER BY conference"
            ).fetchall()
        )
        head = log.head()
        others = sorted(c for c in ends if c != many.OPEN_CONFERENCE)
        step = max(1, len(others) // max(1, side.subscriptions))
        followed = [many.OPEN_CONFERENCE, *others[::step]]
        globals_ = min(EVERY_CONFERENCE, side.subscriptions - 1) if side.subscriptions > 1 else 0
        for i in range(side.subscriptions):
            port = refused if i % WAITING_EVERY == WAITING_EVERY - 1 else ports[i % len(ports)]
            url = f"http://127.0.0.1:{port}/hooks/{i}"
            if i < globals_:
                service.add_webhook(url, allow_private=True, since=head - HISTORY)
                continue
            conference = followed[(i - globals_) % len(followed)]
            since = ends[conference] - HISTORY
            service.add_webhook(url, conference=conference, allow_private=True, since=since)


async def deliver_history(side: Side) -> None:
    async with Deliverer(str(side.db), OPTIONS) as deliverer:
        await deliverer.run_once()


# -- the timed part --------------------------------------------------------------------


async def start(side: Side) -> Scheduler:
    options = RunOptions(
        db_path=str(side.db), feeds=PublishOptions(feeds_dir=side.feeds), delivery=OPTIONS
    )
    scheduler = Scheduler(options, side.reports.append)
    await scheduler.start()
    # Nothing runs on its own: the bench calls the jobs, as APScheduler would.
    scheduler._scheduler.pause()
    return scheduler


async def tick(scheduler: Scheduler) -> float:
    begin = time.perf_counter()
    await scheduler.catch_up()
    await scheduler.deliver()
    await scheduler.publish()
    return time.perf_counter() - begin


def post_note(side: Side, text: str) -> None:
    with Liveblog(side.db, many.AUTHOR) as service:
        service.note(text)


def create_token(side: Side, name: str) -> None:
    with Liveblog(side.db, many.AUTHOR) as service:
        service.create_token(name)


def queued(side: Side) -> int:
    """Deliveries ever queued (every status)."""
    with Liveblog(side.db, many.AUTHOR) as service:
        counts = service.status()["webhooks"]
        return sum(int(counts[s]) for s in ("pending", "delivered", "dead", "cancelled"))


async def measure(sides: list[Side]) -> None:
    for side in sides:
        side.scheduler = await start(side)
        await tick(side.scheduler)  # the first tick after a start publishes
    for _ in range(TICKS):
        for side in sides:
            assert side.scheduler is not None
            side.ticks.append(await tick(side.scheduler))
    for i in range(COMMITS):
        for side in sides:
            assert side.scheduler is not None
            create_token(side, f"reporter-{i}")
            side.after_commit.append(await tick(side.scheduler))
    for i in range(NEW_EVENTS):
        for side in sides:
            scheduler = side.scheduler
            assert scheduler is not None and scheduler.deliverer is not None
            before = queued(side)
            post_note(side, f"A new note, number {i}, from the back of the hall.")
            begin = time.perf_counter()
            await scheduler.catch_up()
            side.after_new.append(time.perf_counter() - begin)
            side.queued_after_new.append(queued(side) - before)
            await scheduler.deliverer.drain_workers()
    for side in sides:
        if side.scheduler is not None:
            await side.scheduler.stop()


def run() -> Outcome:
    big = wanted(CONFERENCES_ENV, BIG_CONFERENCES)
    subscriptions = wanted(SUBSCRIPTIONS_ENV, BIG_SUBSCRIPTIONS)
    outcome = Outcome()
    receivers = Receivers(RECEIVER_PORTS)
    try:
        with tempfile.TemporaryDirectory(prefix="liveblog-bench-") as tmp:
            sides = [
                Side("large", big, subscriptions, Path(tmp) / "large"),
                Side("small", 1, 1, Path(tmp) / "small"),
            ]
            setup = time.perf_counter()
            with refusing_port() as refused:
                for side in sides:
                    side.directory.mkdir()
                    copy_prepared(side.conferences, side.directory)
                    subscribe(side, receivers.ports, refused)
                    asyncio.run(deliver_history(side))
            setup = time.perf_counter() - setup
            histories = {}
            for side in sides:
                with Liveblog(side.db, many.AUTHOR) as service:
                    histories[side.name] = service.status()["webhooks"]
            asyncio.run(measure(sides))
    finally:
        receivers.close()
    tick_large, tick_small = (statistics.median(s.ticks) * 1000 for s in sides)
    outcome.comparisons.append(
        Comparison(
            f"tick ms, nothing new: {big:,} conferences + {subscriptions:,} subscriptions vs 1 + 1",
            tick_large,
            tick_small,
            TARGET,
            higher_is_better=False,
        )
    )
    commit_large, commit_small = (statistics.median(s.after_commit) * 1000 for s in sides)
    outcome.comparisons.append(
        Comparison(
            "tick ms after a commit that adds no event (a token created)",
            commit_large,
            commit_small,
            TARGET,
            higher_is_better=False,
        )
    )
    new_large, new_small = (statistics.median(s.after_new) * 1000 for s in sides)
    outcome.comparisons.append(
        Comparison(
            "catch-up ms after one new note (queues it for the subscriptions it concerns)",
            new_large,
            new_small,
            None,
            higher_is_better=False,
        )
    )
    for side in sides:
        h = histories[side.name]
        queued = statistics.median(side.queued_after_new) if side.queued_after_new else 0
        outcome.notes.append(
            f"{side.name}: {side.conferences:,} conferences, {h['subscriptions']:,} "
            f"subscriptions, history {h['delivered']:,} delivered and {h['pending']:,} "
            f"pending (heads waiting an hour for a retry); tick p90 "
            f"{number(sorted(side.ticks)[int(len(side.ticks) * 0.9)] * 1000)} ms; "
            f"a new note queued {queued:g} deliveries"
        )
    outcome.notes.append(
        f"{TICKS} ticks per side, alternating; one tick = Scheduler.catch_up() + deliver() "
        f"+ publish(), APScheduler paused; set-up (copies, subscriptions, history) "
        f"{setup:.0f} s"
    )
    problems = [line for side in sides for line in side.reports if "Warning" in line]
    if problems:
        outcome.notes.append(f"scheduler warnings: {'; '.join(problems[:3])}")
    return outcome
