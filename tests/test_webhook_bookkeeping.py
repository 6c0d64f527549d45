"""The deliverer's group commit (liveblog.webhooks.bookkeeping): requests that arrive
while a batch is being worked on go together in the next one; a failed batch fails
every request in it, and only those."""

from __future__ import annotations

import asyncio

import pytest

from liveblog.webhooks.bookkeeping import GroupCommit


async def until(condition: object) -> None:
    """Let the other tasks run until `condition()` holds (a yield, never a timed wait)."""
    assert callable(condition)
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("the condition never held")


def test_requests_arriving_meanwhile_go_together_in_the_next_batch() -> None:
    async def main() -> tuple[list[list[int]], list[int]]:
        gate = asyncio.Event()
        batches: list[list[int]] = []

        async def work(items: list[int]) -> list[int]:
            batches.append(list(items))
            if len(batches) == 1:
                await gate.wait()  # the first batch is slow: the others queue behind it
            return [item * 10 for item in items]

        books: GroupCommit[int, int] = GroupCommit(work)
        first = asyncio.create_task(books.submit(1))
        await until(lambda: batches)  # a lone request goes at once, alone
        later = [asyncio.create_task(books.submit(n)) for n in (2, 3, 4)]
        await until(lambda: all(not t.done() for t in later) and len(batches) == 1)
        gate.set()
        results = await asyncio.gather(first, *later)
        await books.wait_idle()
        return batches, results

    batches, results = asyncio.run(main())
    assert batches == [[1], [2, 3, 4]]
    assert results == [10, 20, 30, 40]


def test_a_failed_batch_fails_its_requests_and_the_next_batch_still_goes() -> None:
    async def main() -> tuple[list[BaseException | int], int]:
        gate = asyncio.Event()
        calls: list[list[int]] = []

        async def work(items: list[int]) -> list[int]:
            calls.append(list(items))
            if len(calls) == 1:
                await gate.wait()
            if 0 in items:
                raise RuntimeError("the transaction failed")
            return items

        books: GroupCommit[int, int] = GroupCommit(work)
        first = asyncio.create_task(books.submit(7))
        await until(lambda: calls)
        failing = [asyncio.create_task(books.submit(n)) for n in (0, 5)]
        await until(lambda: len(calls) == 1 and not any(t.done() for t in failing))
        gate.set()
        outcomes = await asyncio.gather(first, *failing, return_exceptions=True)
        after = await books.submit(9)  # the helper is still usable after a failure
        return outcomes, after

    outcomes, after = asyncio.run(main())
    assert outcomes[0] == 7
    assert all(isinstance(o, RuntimeError) for o in outcomes[1:])
    assert after == 9


def test_a_wrong_number_of_results_is_an_error_for_the_batch() -> None:
    async def work(items: list[int]) -> list[int]:
        return []

    async def main() -> int:
        return await GroupCommit(work).submit(1)

    with pytest.raises(ValueError):
        asyncio.run(main())
