"""The scheduler of `liveblog run` and `liveblog serve`: keeps feeds and webhooks current.

It only triggers: the projections, the feeds publisher and the webhook deliverer do the
work. Three APScheduler jobs run on the event loop:

    catch-up          every tick: has the database changed (the store's change signal,
                      one cheap query, never a rescan)? then catch the projections up
                      (Projections: the scheduler's one catch-up), have the deliverer
                      queue webhooks (reading what changed, never every subscription
                      or day), start the senders due, and wake the publisher if the
                      log moved
    deliver-webhooks  every tick: start a sender for each subscription whose next
                      delivery is due (retries fall due on their schedule): a range of
                      the index of queue heads by due time
    publish-feeds     when the log changed: render the conferences that changed and
                      rewrite the files whose bytes change, in a thread of its own so a
                      large page never holds up a POST; and, idle, every AUDIT_SECONDS:
                      the same publish finds nothing new and only runs its audit step
                      (AUDIT_FILES remembered files stat-ed against their fingerprints;
                      those of a deleted or edited file are rendered again), so a running
                      server repairs its feeds by itself

Delivery state lives in our own tables, never in APScheduler's (its job store is the
default in-memory one), and misfires are never skipped: `misfire_grace_time=None`.

Several nodes on one database (PostgreSQL): every `serve` / `run` runs a scheduler, and
the leadership "scheduler" (`Stores.leadership`, liveblog.store.leadership) says which
one leads. The leader catches the projections up, queues webhooks (`prepare`) and
publishes; every node delivers (each subscription claimed by one sender at a time, in
the deliverer). A fourth job, `lead`, runs every LEAD_SECONDS: a standby tries to take
the lead (the leader's session died with it: the lock is free), a leader checks that its
session still holds it and steps down at once when not. On SQLite the lock is taken
before the scheduler starts and a second scheduler is refused, as always.

Stopping never cancels a job in flight (liveblog.scheduler.jobs): it pauses the scheduler, lets
the runs in flight finish, then shuts it down.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import logging
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import LiveblogError

if TYPE_CHECKING:
    from ..feeds import PublishOptions, PublishResult
    from ..projections import ProjectionRunner
    from ..store.leadership import Leadership
    from ..webhooks import Deliverer, DeliveryOptions
    from .jobs import DrainingExecutor

TICK_SECONDS = 0.1
AUDIT_SECONDS = 5.0
"""Idle, the publish job still runs this often: an audit step of the feeds directory
(liveblog.feeds.publisher.AUDIT_FILES stats, a few milliseconds, no write)."""
LEAD_SECONDS = 0.25
"""How often a standby tries to take the lead, and a leader checks it still holds it:
one query each on a session kept open (store/postgres/leadership.py), so a dead leader's
place is taken within about this long of the server ending its session."""
Report = Callable[[str], None]


@dataclass(frozen=True)
class RunOptions:
    db_path: str
    feeds: PublishOptions | None  # None: webhooks only
    delivery: DeliveryOptions


class _FeedsWorker:
    """Publishes from one dedicated thread (SQLite connections stay in their thread)."""

    def __init__(self, db_path: str, options: PublishOptions) -> None:
        self.db_path = db_path
        self.options = options
        self.executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="feeds")
        self._service: Any = None

    def warm(self) -> None:
        """Import what a publish renders with, ahead of the first one: a standby that
        takes over then publishes at once instead of first loading the renderers
        (a quarter of a second idle, seconds on a loaded machine). No store is opened:
        a standby holds no connection for it."""
        self.executor.submit(_import_publishing)

    def _publish(self) -> tuple[PublishResult, list[str]]:
        """Publish; then ping the WebSub hub (if any) about the feeds that changed."""
        if self._service is None:
            from ..service.facade import Liveblog

            self._service = Liveblog(self.db_path, "liveblog-scheduler")
        result: PublishResult = self._service.publish(self.options)
        problems: list[str] = []
        if self.options.hub and result.changed and result.feed_urls:
            from ..feeds import ping_hub

            problems = ping_hub(self.options.hub, result.feed_urls)
        return result, problems

    def _close(self) -> None:
        if self._service is not None:
            self._service.close()

    async def publish(self, report: Report) -> None:
        result, problems = await asyncio.get_running_loop().run_in_executor(
            self.executor, self._publish
        )
        for path in result.changed:
            report(f"published {path}")
        for problem in problems:
            report(f"Warning: {problem}")

    def close(self) -> None:
        self.executor.submit(self._close).result()
        self.executor.shutdown()


def _import_publishing() -> None:
    from ..feeds import publisher  # noqa: F401  (the renderers come with it)
    from ..service import facade  # noqa: F401


class Projections:
    """The scheduler's one catch-up of the projections, before the deliverer queues.

    It runs on the deliverer's database thread and connection: the scheduler watches
    that connection's change signal, which the connection's own commits never move, so
    a catch-up does not trigger the next tick again (a connection of its own would,
    and so would a second catch-up elsewhere). The deliverer only delivers: it queues
    up to what the projections have reached.
    """

    def __init__(self, deliverer: Deliverer) -> None:
        self.deliverer = deliverer
        self._runner: ProjectionRunner | None = None

    async def catch_up(self) -> None:
        await self.deliverer.in_db(self._catch_up)

    def _catch_up(self) -> None:
        from ..projections import runner_for

        if self._runner is None:
            self._runner = runner_for(self.deliverer.stores)
        self._runner.catch_up()
        # The deliverer's connection stays at NORMAL (catch-up restores FULL).
        self.deliverer.hooks.relax_durability()


class Scheduler:
    """Start inside a running event loop; `stop` lets work in flight finish.

    `lead` is the leadership "scheduler", tried already (SQLite: held, or the process
    was refused; PostgreSQL: held or not, the `lead` job keeps trying). None: this
    scheduler leads alone (tests, embedders)."""

    def __init__(
        self,
        options: RunOptions,
        report: Report,
        lead: Leadership | None = None,
        *,
        on_projected: Callable[[], None] | None = None,
    ) -> None:
        self.options = options
        # Told whenever the timeline projection may have advanced (serve's live stream).
        self.on_projected = on_projected
        self.report = report
        self.lead = lead
        self.leading = lead is None or lead.held()
        # Leadership calls wait on the database: never on the event loop.
        self._lead_thread = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="lead")
        self.deliverer: Deliverer | None = None
        self._projections: Projections | None = None
        self._feeds = _FeedsWorker(options.db_path, options.feeds) if options.feeds else None
        self._seen_version: int | None = None
        self._seen_position: int | None = None  # the log position last caught up to
        self._changes = 0  # bumped by catch-up whenever the log changed
        self._published = -1
        self._audited = 0.0  # time.monotonic() of the last publish (each one audits)
        self._scheduler: Any = None
        self._jobs: DrainingExecutor | None = None
        self._problems: dict[str, str | None] = {}
        self._stopping = False
        self.started = False  # `start` has returned: `stop` may run

    async def start(self) -> None:
        from apscheduler.schedulers.asyncio import AsyncIOScheduler

        from ..webhooks import Deliverer
        from .jobs import DrainingExecutor

        # APScheduler logs a warning whenever a tick finds the previous one still busy.
        logging.getLogger("apscheduler").setLevel(logging.ERROR)
        self.deliverer = Deliverer(self.options.db_path, self.options.delivery)
        await self.deliverer.__aenter__()
        self._projections = Projections(self.deliverer)
        self._jobs = DrainingExecutor()
        self._scheduler = AsyncIOScheduler(
            executors={"default": self._jobs},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )
        now = dt.datetime.now(dt.UTC)
        add = self._scheduler.add_job
        add(self.catch_up, "interval", seconds=TICK_SECONDS, id="catch-up", next_run_time=now)
        add(self.deliver, "interval", seconds=TICK_SECONDS, id="deliver-webhooks")
        if self._feeds is not None:
            self._feeds.warm()
            add(self.publish, "interval", seconds=TICK_SECONDS, id="publish-feeds")
        if self.lead is not None and self.lead.standby:
            # Nodes share the store: say which role this one starts in, then keep watch.
            if self.leading:
                self._report_leading()
            else:
                await self._report_standby()
            add(self.check_lead, "interval", seconds=LEAD_SECONDS, id="lead")
        self._scheduler.start()
        self.started = True

    # -- leadership ------------------------------------------------------------------

    async def _in_lead_thread(self, fn: Callable[[], Any]) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._lead_thread, fn)

    def _report_leading(self) -> None:
        what = "projections, webhook queueing" + (" and publishing" if self._feeds else "")
        self.report(f"leader: {what} run on this node")

    async def _report_standby(self) -> None:
        assert self.lead is not None
        try:
            holder = await self._in_lead_thread(self.lead.holder)
        except LiveblogError:
            holder = None
        self.report(
            f"standby: {holder or 'another node'} leads; this node delivers webhooks and "
            "takes over if it stops"
        )

    async def check_lead(self) -> None:
        """A standby tries to take the lead; a leader checks it still holds it."""
        if self.lead is None or self._stopping:
            return
        try:
            if self.leading:
                if not await self._in_lead_thread(self.lead.held):
                    self._step_down()
            elif await self._in_lead_thread(self.lead.try_acquire):
                self._take_over()
            self._warn("lead", None)
        except LiveblogError as exc:  # the database unreachable: no one can lead from here
            if self.leading:
                self._step_down()
            self._warn("lead", f"leadership: {exc}")

    def _take_over(self) -> None:
        self.leading = True
        self._report_leading()
        # Catch up, queue and publish at once: the old leader may have left work behind.
        self._seen_version = None
        self._changes += 1
        self._wake("catch-up")
        self._wake("publish-feeds")

    def _step_down(self) -> None:
        self.leading = False
        self.report(
            "standby: this node lost the lead (its database session ended); it delivers "
            "webhooks and takes the lead again when it is free"
        )
        if self.lead is not None:
            # Off the event loop: closing the dead session's socket may take a moment.
            self._lead_thread.submit(self.lead.release)

    async def stop(self) -> None:
        """In order: no new runs, the runs in flight finish (a catch-up, a publish: each
        bounded by the database's busy timeout), then the scheduler, then the deliverer.
        Shutting down first would cancel the runs in flight, which APScheduler logs as
        errors with a traceback."""
        self._stopping = True
        if self._scheduler is not None and self._jobs is not None:
            self._scheduler.pause()
            # The leadership check takes a moment at most: not worth a line.
            running = [job for job in self._jobs.in_flight() if job != "lead"]
            if running:
                # It may take a while (a job waiting for another process's write lock):
                # say why the process has not exited yet.
                self.report(f"stopping: letting {', '.join(running)} finish")
            await self._jobs.drain()
            self._scheduler.shutdown(wait=False)
        if self.deliverer is not None:
            await self.deliverer.__aexit__(None, None, None)
        if self._feeds is not None:
            await asyncio.get_running_loop().run_in_executor(None, self._feeds.close)
        self._lead_thread.shutdown()

    def _warn(self, job: str, problem: str | None) -> None:
        """Say a job's problem once (it is retried every tick), and when it clears."""
        if self._problems.get(job) == problem:
            return
        if problem is not None:
            then = "stopping: the next start catches up" if self._stopping else "retrying"
            self.report(f"Warning: {problem} ({then})")
        elif job in self._problems:
            self.report(f"{job}: working again")
        self._problems[job] = problem

    def _wake(self, job_id: str) -> None:
        job = self._scheduler.get_job(job_id)
        if job is not None:
            job.modify(next_run_time=dt.datetime.now(dt.UTC))

    async def catch_up(self) -> None:
        assert self.deliverer is not None and self._projections is not None
        if not self.leading:
            # The leader catches up and queues; `deliver` sends what is due here. The
            # leader's projection may have moved: the live stream looks (one query).
            self._projected()
            return
        try:
            version = await self.deliverer.data_version()
            if version == self._seen_version:
                return
            self._seen_version = version
            await self._projections.catch_up()
            self._projected()
            await self.deliverer.prepare()
            await self.deliverer.start_due()
            # Any commit moves data_version (a token, a delivery recorded by another
            # process, the publisher's own state); the feeds change only with the log.
            if self.deliverer.prepared_until != self._seen_position:
                self._seen_position = self.deliverer.prepared_until
                self._changes += 1
                self._wake("publish-feeds")
            self._warn("catch-up", None)
        except LiveblogError as exc:  # the store's driver errors included
            self._seen_version = None  # try again next tick
            self._warn("catch-up", f"catching up: {exc}")

    def _projected(self) -> None:
        if self.on_projected is not None:
            self.on_projected()

    async def deliver(self) -> None:
        assert self.deliverer is not None
        try:
            await self.deliverer.start_due()
            self._warn("deliver", None)
        except LiveblogError as exc:  # the store's driver errors included
            self._warn("deliver", f"delivering webhooks: {exc}")

    async def publish(self) -> None:
        if self._feeds is None or not self.leading:
            return
        idle = self._published == self._changes
        if idle and time.monotonic() - self._audited < AUDIT_SECONDS:
            return
        changes = self._changes
        # Never cancelled: stopping waits for a publish under way (`stop`).
        try:
            await self._feeds.publish(self.report)
        except (LiveblogError, OSError) as exc:
            self._warn("publish", f"publishing feeds: {exc}")
            return
        finally:
            self._audited = time.monotonic()
        self._published = changes
        self._warn("publish", None)


async def run_once(options: RunOptions, report: Report, lead: Leadership | None = None) -> None:
    """Publish and deliver what is due now, then return (`liveblog run --once`).

    Where another node leads (`lead` not held), only deliver: that node projects,
    queues and publishes."""
    from ..webhooks import Deliverer

    leading = lead is None or lead.held()
    if not leading:
        report("another node leads: delivering only what is queued and due")
    feeds = _FeedsWorker(options.db_path, options.feeds) if options.feeds and leading else None
    try:
        if feeds is not None:
            await feeds.publish(report)
        async with Deliverer(options.db_path, options.delivery) as deliverer:
            if leading:
                await Projections(deliverer).catch_up()
                tally = await deliverer.run_once()
            else:
                while await deliverer.start_due():
                    await deliverer.drain_workers()
                tally = deliverer.tally
        report(
            f"webhooks: {tally.delivered} delivered, {tally.failed} to retry, "
            f"{tally.dead} dead-lettered, {tally.disabled} subscriptions disabled"
        )
    finally:
        if feeds is not None:
            feeds.close()


def run_until_signalled(
    options: RunOptions, *, once: bool, report: Report, lead: Leadership | None = None
) -> None:
    """Run in the foreground; SIGINT / SIGTERM finish the attempts in flight, then stop.
    `lead`: the leadership "scheduler", tried already (see `Scheduler`)."""

    async def main() -> None:
        if once:
            await run_once(options, report, lead)
            return
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        scheduler = Scheduler(options, report, lead)
        await scheduler.start()
        try:
            await stop.wait()
        finally:
            await scheduler.stop()

    asyncio.run(main())
