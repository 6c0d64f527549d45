"""The scheduler, not the deliverer, catches the projections up: the deliverer queues
only what the projections have reached; `Projections` (the scheduler's catch-up, run on
the deliverer's thread and connection) brings them to the head first."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from click.testing import Result

from liveblog.projections import runner_for
from liveblog.scheduler.main import Projections, RunOptions, Scheduler
from liveblog.service.facade import Liveblog
from liveblog.store.sqlite.log import EventLog
from liveblog.webhooks import Deliverer, DeliveryOptions

Invoke = Callable[..., Result]


def subscribe_from_start(db_path: Path) -> None:
    with Liveblog(db_path, "dan") as service:
        # Port 9 (discard): nothing is sent in these tests, only queued.
        service.add_webhook("http://127.0.0.1:9/hook", allow_private=True, since=0)


def projected(db_path: Path) -> int:
    with EventLog(db_path) as log:
        return min(s.position for s in runner_for(log).status())


def queued(db_path: Path) -> int:
    with Liveblog(db_path, "dan") as service:
        return len(service.deliveries(limit=1000))


def test_the_deliverer_alone_queues_only_what_the_projections_reached(
    invoke: Invoke, db_path: Path, day_open: None
) -> None:
    assert invoke("note", "Coffee.").exit_code == 0
    subscribe_from_start(db_path)
    assert projected(db_path) == 0  # appending never catches up

    async def main() -> tuple[int, int]:
        async with Deliverer(str(db_path), DeliveryOptions()) as deliverer:
            before = await deliverer.prepare()
            assert deliverer.prepared_until == 0
            await Projections(deliverer).catch_up()
            after = await deliverer.prepare()
            assert deliverer.prepared_until == 3
            return before, after

    assert asyncio.run(main()) == (0, 3)
    assert projected(db_path) == 3
    assert queued(db_path) == 3


def test_the_scheduler_catch_up_job_catches_up_then_queues(
    invoke: Invoke, db_path: Path, day_open: None
) -> None:
    subscribe_from_start(db_path)
    assert invoke("note", "Coffee.").exit_code == 0

    async def main() -> int:
        scheduler = Scheduler(RunOptions(str(db_path), None, DeliveryOptions()), print)
        await scheduler.start()
        scheduler._scheduler.pause()  # nothing runs but what the test calls
        try:
            await scheduler.catch_up()
            assert scheduler.deliverer is not None
            return scheduler.deliverer.prepared_until
        finally:
            await scheduler.stop()

    assert asyncio.run(main()) == 3
    assert projected(db_path) == 3
    assert queued(db_path) == 3
