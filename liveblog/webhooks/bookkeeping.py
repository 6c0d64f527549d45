"""Group commit for the deliverer's bookkeeping: many senders' requests, one trip.

Every sender, at the end of a run, must record its outcomes and fetch its next run.
Done one sender at a time, each is a trip to the database thread and a transaction,
and with a hundred subscribers owed a few messages each, those fixed costs, not the
POSTs, bound the throughput (on PostgreSQL each statement is a network round trip).
`GroupCommit` queues the requests instead: while one batch is being worked on, the
requests that arrive wait, then go together in the next batch. A lone request goes at
once (no timer: nothing waits for company), and under load a batch grows to whatever
arrived during the previous one, so the trips per second stay bounded by the database,
not by the number of senders.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


class GroupCommit(Generic[Item, Result]):
    """Hands every waiting item to `work` at once, one batch at a time; `work` returns
    one result per item, in order. If it raises, every item of that batch gets the
    exception (the batch was one transaction: none of it happened)."""

    def __init__(self, work: Callable[[list[Item]], Awaitable[list[Result]]]) -> None:
        self._work = work
        self._waiting: list[tuple[Item, asyncio.Future[Result]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def submit(self, item: Item) -> Result:
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting, []
            try:
                results = await self._work([item for item, _ in batch])
                if len(results) != len(batch):  # a bug of `work`: never a sender left waiting
                    raise ValueError(f"{len(results)} results for {len(batch)} requests")
            except Exception as exc:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            except BaseException:  # cancelled: no sender may wait for a batch never made
                for _, future in [*batch, *self._waiting]:
                    future.cancel()
                self._waiting = []
                raise
            for (_, future), result in zip(batch, results, strict=True):
                if not future.done():  # its sender was cancelled meanwhile
                    future.set_result(result)

    async def wait_idle(self) -> None:
        """Return when no batch is being worked on (the deliverer closing)."""
        flusher = self._flusher
        if flusher is not None and not flusher.done():
            await asyncio.gather(flusher, return_exceptions=True)
