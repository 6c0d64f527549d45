"""`liveblog run`: keep the feeds and the webhooks current while a conference runs.

It only triggers: the feeds publisher and the webhook deliverer do the work. The log is
watched with `PRAGMA data_version` (one cheap query per tick, never a rescan): a change
by this process or any other queues webhooks and republishes the feeds. Feeds are
written in a worker thread of their own, so a large page never holds up a POST.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import signal
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import LiveblogError
from .store.sqlite import DatabaseError

if TYPE_CHECKING:
    from .feeds import PublishOptions, PublishResult
    from .webhooks import DeliveryOptions

TICK_SECONDS = 0.05


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

    def _publish(self) -> PublishResult:
        if self._service is None:
            from .service import Liveblog

            self._service = Liveblog(self.db_path, "liveblog-run")
        return self._service.publish(self.options)  # type: ignore[no-any-return]

    def _close(self) -> None:
        if self._service is not None:
            self._service.close()

    async def publish(self) -> PublishResult:
        return await asyncio.get_running_loop().run_in_executor(self.executor, self._publish)

    def close(self) -> None:
        self.executor.submit(self._close).result()
        self.executor.shutdown()


async def run(
    options: RunOptions,
    stop: asyncio.Event,
    *,
    once: bool = False,
    report: Callable[[str], None] = print,
) -> None:
    """Publish and deliver until `stop` is set (or one pass with `once`)."""
    from .webhooks import Deliverer

    feeds = _FeedsWorker(options.db_path, options.feeds) if options.feeds else None
    published_version = -1
    try:
        async with Deliverer(options.db_path, options.delivery) as deliverer:
            if once:
                if feeds is not None:
                    _report_publish(await feeds.publish(), report)
                tally = await deliverer.run_once()
                report(
                    f"webhooks: {tally.delivered} delivered, {tally.failed} to retry, "
                    f"{tally.dead} dead-lettered, {tally.disabled} subscriptions disabled"
                )
                return
            publishing: asyncio.Task[PublishResult] | None = None
            seen = -1
            while not stop.is_set():
                try:
                    version = deliverer.log.data_version()
                    if version != seen:
                        seen = version
                        deliverer.prepare()
                    deliverer.start_due()
                    if feeds is not None and publishing is None and version != published_version:
                        published_version = version
                        publishing = asyncio.create_task(feeds.publish())
                    if publishing is not None and publishing.done():
                        _report_publish(publishing.result(), report)
                        publishing = None
                except (LiveblogError, DatabaseError) as exc:
                    report(f"Warning: {exc}")  # keep running: the next tick tries again
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=TICK_SECONDS)
            if publishing is not None:
                with contextlib.suppress(LiveblogError, DatabaseError):
                    await publishing
    finally:
        if feeds is not None:
            feeds.close()


def _report_publish(result: PublishResult, report: Callable[[str], None]) -> None:
    for path in result.changed:
        report(f"published {path}")


def run_until_signalled(options: RunOptions, *, once: bool, report: Callable[[str], None]) -> None:
    """Run in the foreground; SIGINT / SIGTERM finish the attempts in flight, then stop."""

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run(options, stop, once=once, report=report)

    asyncio.run(main())
