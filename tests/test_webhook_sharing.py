"""Several deliverers on one store: each subscription sent by one of them at a time (its
claim), in log order, at least once — a deliverer killed mid-POST loses nothing.

Real receivers on 127.0.0.1 (tests/receivers.py); the deliverers are real `Deliverer`s
looping in threads of their own, one of them queueing (the leader's `prepare`), the
others only sending (`start_due`), as nodes on a shared store do; the killed one is a
process of its own.
"""

from __future__ import annotations

import asyncio
import itertools
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from receivers import (
    DEADLINE_SECONDS,
    BackgroundDeliverer,
    Received,
    Receiver,
    Reply,
    deliveries,
    settled,
    wait_for,
)

from liveblog.scheduler.main import Projections
from liveblog.service.facade import Liveblog
from liveblog.store.factory import open_stores
from liveblog.store.sqlite.log import EventLog
from liveblog.webhooks import Deliverer, DeliveryOptions, RetryPolicy, parse_schedule

FAST = DeliveryOptions(
    retry=RetryPolicy(parse_schedule("50ms,50ms,50ms,50ms")), timeout=5.0, batch=4
)


class Sender:
    """A deliverer that only sends (`start_due` every tick, never `prepare`): a node
    that is not the leader. Stopped on exit, where an error it met is raised."""

    def __init__(self, db_path: Path, options: DeliveryOptions) -> None:
        self.db_path = db_path
        self.options = options
        self.delivered = 0
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            asyncio.run(self._loop())
        except BaseException as exc:  # reported by __exit__
            self._error = exc
        finally:
            self._ready.set()

    async def _loop(self) -> None:
        async with Deliverer(self.db_path, self.options) as deliverer:
            self._ready.set()
            while not self._stop.is_set():
                await deliverer.start_due()
                for task in list(deliverer._workers.values()):
                    if task.done() and not task.cancelled() and task.exception():
                        raise AssertionError("a sender died") from task.exception()
                self.delivered = deliverer.tally.delivered
                await asyncio.sleep(0.01)
            await deliverer.drain_workers()
            self.delivered = deliverer.tally.delivered

    def __enter__(self) -> Sender:
        self._thread.start()
        self._ready.wait(DEADLINE_SECONDS)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(DEADLINE_SECONDS)
        assert not self._thread.is_alive(), "the sender did not stop"
        if self._error is not None:
            raise AssertionError(f"the sender failed: {self._error!r}") from self._error


@pytest.fixture
def service(db_path: Path) -> Iterator[Liveblog]:
    with Liveblog(db_path, "ann") as service:
        service.open_conference("sharing", title="Sharing")
        service.open_day(1)
        service.catch_up()
        yield service


def subscribe(service: Liveblog, receiver: Receiver) -> str:
    return str(service.add_webhook(receiver.url, allow_private=True, since=0).id)


def log_messages(db_path: Path) -> list[str]:
    log = EventLog(db_path)
    try:
        return ["msg_" + event.id for event in log.read()]
    finally:
        log.close()


def ids(requests: list[Received]) -> list[str]:
    return [r.message_id for r in requests]


def one_at_a_time(requests: list[Received]) -> bool:
    """No request arrived before the one before it was answered."""
    return all(
        earlier.answered_at is not None and earlier.answered_at <= later.at
        for earlier, later in itertools.pairwise(requests)
    )


def test_two_deliverers_send_each_subscription_one_at_a_time_in_order(
    db_path: Path, service: Liveblog
) -> None:
    # Slow enough answers that two senders of one queue would overlap.
    made = [Receiver(default=Reply(delay=0.02)) for _ in range(3)]
    for receiver in made:
        receiver.start()
    try:
        for receiver in made:
            subscribe(service, receiver)
        for i in range(12):
            service.note(f"note {i}")
        expected = log_messages(db_path)
        with BackgroundDeliverer(db_path, FAST) as leader, Sender(db_path, FAST) as other:
            wait_for(lambda: all(len(r.accepted) >= len(expected) for r in made))
            wait_for(lambda: settled(db_path))
            leader.check()
        for receiver in made:
            # Never two at once on one subscription, and no claim ran out: once each.
            assert one_at_a_time(receiver.requests)
            assert ids(receiver.accepted) == expected
        assert {d["status"] for d in deliveries(db_path)} == {"delivered"}
        assert other.delivered <= 3 * len(expected)
    finally:
        for receiver in made:
            receiver.stop()


def test_a_subscription_claimed_elsewhere_waits_for_its_release(
    db_path: Path, service: Liveblog
) -> None:
    with Receiver() as held, Receiver() as free:
        held_id = subscribe(service, held)
        subscribe(service, free)
        service.note("one")
        service.note("two")
        expected = log_messages(db_path)
        other_node = open_stores(db_path)
        try:
            hooks = other_node.webhooks
            assert hooks.claim(held_id, "another-node", 2e9)  # far in the future
            with BackgroundDeliverer(db_path, FAST), Sender(db_path, FAST):
                wait_for(lambda: ids(free.accepted) == expected)
                # Queued, due, and not sent: another node holds it.
                assert len(deliveries(db_path, held_id)) == len(expected)
                assert held.requests == []
                hooks.release(held_id, "another-node")
                wait_for(lambda: ids(held.accepted) == expected)
                wait_for(lambda: settled(db_path))
        finally:
            other_node.close()


def test_a_node_that_only_sends_delivers_what_the_leader_queued(
    db_path: Path, service: Liveblog
) -> None:
    async def prepare_only() -> int:
        async with Deliverer(db_path, FAST) as leader:
            await Projections(leader).catch_up()
            return await leader.prepare()

    async def send_only() -> int:
        async with Deliverer(db_path, FAST) as node:
            return (await node.run_once(prepare=False)).delivered

    with Receiver() as receiver:
        subscribe(service, receiver)
        for i in range(7):
            service.note(f"note {i}")
        expected = log_messages(db_path)
        assert asyncio.run(send_only()) == 0  # nothing queued yet: it does not queue
        assert receiver.requests == []
        assert asyncio.run(prepare_only()) == len(expected)
        assert receiver.requests == []  # the leader only queued
        assert asyncio.run(send_only()) == len(expected)
    assert ids(receiver.accepted) == expected
    assert settled(db_path)


NODE = """
import asyncio, sys
from liveblog.scheduler.main import Projections
from liveblog.webhooks import Deliverer, DeliveryOptions

async def main():
    async with Deliverer(sys.argv[1], DeliveryOptions(timeout=60.0)) as deliverer:
        await Projections(deliverer).catch_up()
        await deliverer.prepare()
        await deliverer.start_due()
        await asyncio.sleep(600)

asyncio.run(main())
"""


def test_a_deliverer_killed_mid_post_loses_nothing(db_path: Path, service: Liveblog) -> None:
    # The first request hangs (the node is killed while it waits); then 200s.
    with Receiver() as receiver:
        receiver.script(Reply(delay=60.0))
        subscription = subscribe(service, receiver)
        for i in range(3):
            service.note(f"note {i}")
        expected = log_messages(db_path)
        node = subprocess.Popen([sys.executable, "-c", NODE, str(db_path)])
        try:
            wait_for(lambda: receiver.requests, what="the first POST")
            node.send_signal(signal.SIGKILL)
            assert node.wait(timeout=DEADLINE_SECONDS) == -signal.SIGKILL
        finally:
            if node.poll() is None:
                node.kill()
                node.wait()
        # Nothing was recorded: the whole queue is still pending.
        assert {d["status"] for d in deliveries(db_path, subscription)} == {"pending"}
        with BackgroundDeliverer(db_path, FAST):
            wait_for(lambda: ids(receiver.accepted) == expected)
            wait_for(lambda: settled(db_path))
    # The message the killed node was sending came again (at least once), first.
    assert receiver.requests[0].message_id == expected[0]
    assert ids(receiver.requests) == [expected[0], *expected]
