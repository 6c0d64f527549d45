"""The executor the scheduler runs its APScheduler jobs on: one asyncio task per run,
never cancelled.

APScheduler's own `AsyncIOExecutor` cancels every job still in flight when the scheduler
shuts down, and then logs each as `Job "…" raised an exception` with the CancelledError's
traceback. A catch-up is often in flight (it waits on the database thread, for the write
lock too), so a SIGTERM at the wrong moment printed a traceback. With this executor the
scheduler stops in order instead: pause (no new runs), `drain` (the runs in flight
finish), then shut down, when there is nothing left to cancel.

Imported only by `Scheduler.start`: the CLI's other commands never load APScheduler.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

from apscheduler.executors.base import BaseExecutor, run_coroutine_job


class DrainingExecutor(BaseExecutor):  # type: ignore[misc]  # APScheduler has no types
    """Runs coroutine jobs as tasks on the running loop; `drain` awaits those in flight."""

    def __init__(self) -> None:
        super().__init__()
        self._tasks: dict[asyncio.Task[Any], str] = {}  # each run in flight: its job id

    def _do_submit_job(self, job: Any, run_times: list[Any]) -> None:
        # The scheduler processes jobs on the event loop (AsyncIOScheduler): a loop runs.
        task = asyncio.get_running_loop().create_task(
            run_coroutine_job(job, job._jobstore_alias, run_times, self._logger.name)
        )
        self._tasks[task] = job.id
        task.add_done_callback(functools.partial(self._finished, job.id))

    def _finished(self, job_id: str, task: asyncio.Task[Any]) -> None:
        self._tasks.pop(task, None)
        try:
            events = task.result()
        except BaseException as exc:  # only if something else cancelled the task
            self._run_job_error(job_id, exc, exc.__traceback__)
        else:
            self._run_job_success(job_id, events)

    def in_flight(self) -> list[str]:
        """The ids of the jobs with a run in flight, sorted."""
        return sorted(set(self._tasks.values()))

    async def drain(self) -> None:
        """Return once no run is in flight. Call it with the scheduler paused, so no new
        run starts meanwhile (a run may still wake another job: paused, it does not run)."""
        while self._tasks:
            await asyncio.wait(set(self._tasks))

    def shutdown(self, wait: bool = True) -> None:
        """Nothing to stop: `drain` first, and nothing is left in flight."""
