"""Several deliverers on one store: each subscription sent by one of them at a time (its
claim), in log order, at least once — a deliverer killed mid-POST loses nothing.

Real receivers on 127.0.0.1 (tests/receivers.py); the deliverers are real `Deliverer`s
looping in threads of their own, one of them queueing (the leader's `prepare`), the
others only sending (`start_due`), as nodes on a shared store do; the killed one is a
process of its own. On SQLite and on PostgreSQL (`pg_url`), where the claims are rows
every node sees.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import os
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
    wait_for,
)

from liveblog.errors import UnsupportedStore
from liveblog.scheduler.main import Projections
from liveblog.service.facade import Liveblog
from liveblog.store.factory import open_stores
from liveblog.webhooks import Deliverer, DeliveryOptions, RetryPolicy, parse_schedule

FAST = DeliveryOptions(
    retry=RetryPolicy(parse_schedule("50ms,50ms,50ms,50ms")), timeout=5.0, batch=4
)


class Sender:
    """A deliverer that only sends (`start_due` every tick, never `prepare`): a node
    that is not the leader. Stopped on exit, where an error it met is raised."""

    def __init__(self, db_path: str, options: DeliveryOptions) -> None:
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


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, db_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The store every deliverer of a test opens: a file, or a PostgreSQL database."""
    if request.param == "sqlite":
        return str(db_path)
    url: str = request.getfixturevalue("pg_url")
    try:
        open_stores(url).close()
    except UnsupportedStore as exc:
        pytest.skip(f"the PostgreSQL store is not here yet: {exc}")
    # A PostgreSQL database keeps no key file: every node is given the same key.
    key = base64.b64encode(os.urandom(32)).decode()
    monkeypatch.setenv("LIVEBLOG_SECRET_KEY", key)
    return url


@pytest.fixture
def service(db: str) -> Iterator[Liveblog]:
    with Liveblog(db, "ann") as service:
        service.open_conference("sharing", title="Sharing")
        service.open_day(1)
        service.catch_up()
        yield service


def subscribe(service: Liveblog, receiver: Receiver) -> str:
    return str(service.add_webhook(receiver.url, allow_private=True, since=0).id)


def log_messages(db: str) -> list[str]:
    with open_stores(db) as stores:
        return ["msg_" + event.id for event in stores.events.read()]


def statuses(db: str, subscription: str | None = None) -> list[str]:
    with open_stores(db) as stores:
        return [d.status for d in stores.webhooks.deliveries(subscription, None, 100_000)]


def settled(db: str) -> bool:
    """Every active subscription has queued the whole log and has nothing pending."""
    with open_stores(db) as stores:
        hooks = stores.webhooks
        unqueued = hooks.totals(stores.events.head())["unqueued"]
        return unqueued == 0 and hooks.counts()["pending"] == 0


def ids(requests: list[Received]) -> list[str]:
    return [r.message_id for r in requests]


def one_at_a_time(requests: list[Received]) -> bool:
    """No request arrived before the one before it was answered."""
    return all(
        earlier.answered_at is not None and earlier.answered_at <= later.at
        for earlier, later in itertools.pairwise(requests)
    )


def test_two_deliverers_send_each_subscription_one_at_a_time_in_order(
    db: str, service: Liveblog
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
        expected = log_messages(db)
        with BackgroundDeliverer(db, FAST) as leader, Sender(db, FAST) as other:
            wait_for(lambda: all(len(r.accepted) >= len(expected) for r in made))
            wait_for(lambda: settled(db))
            leader.check()
        for receiver in made:
            # Never two at once on one subscription, and no claim ran out: once each.
            assert one_at_a_time(receiver.requests)
            assert ids(receiver.accepted) == expected
        assert set(statuses(db)) == {"delivered"}
        assert other.delivered <= 3 * len(expected)
    finally:
        for receiver in made:
            receiver.stop()


def test_a_subscription_claimed_elsewhere_waits_for_its_release(db: str, service: Liveblog) -> None:
    with Receiver() as held, Receiver() as free:
        held_id = subscribe(service, held)
        subscribe(service, free)
        service.note("one")
        service.note("two")
        expected = log_messages(db)
        other_node = open_stores(db)
        try:
            hooks = other_node.webhooks
            assert hooks.claim(held_id, "another-node", 2e9)  # far in the future
            with BackgroundDeliverer(db, FAST), Sender(db, FAST):
                wait_for(lambda: ids(free.accepted) == expected)
                # Queued, due, and not sent: another node holds it.
                assert len(statuses(db, held_id)) == len(expected)
                assert held.requests == []
                hooks.release(held_id, "another-node")
                wait_for(lambda: ids(held.accepted) == expected)
                wait_for(lambda: settled(db))
        finally:
            other_node.close()


def test_a_node_that_only_sends_delivers_what_the_leader_queued(db: str, service: Liveblog) -> None:
    async def prepare_only() -> int:
        async with Deliverer(db, FAST) as leader:
            await Projections(leader).catch_up()
            return await leader.prepare()

    async def send_only() -> int:
        async with Deliverer(db, FAST) as node:
            return (await node.run_once(prepare=False)).delivered

    with Receiver() as receiver:
        subscribe(service, receiver)
        for i in range(7):
            service.note(f"note {i}")
        expected = log_messages(db)
        assert asyncio.run(send_only()) == 0  # nothing queued yet: it does not queue
        assert receiver.requests == []
        assert asyncio.run(prepare_only()) == len(expected)
        assert receiver.requests == []  # the leader only queued
        assert asyncio.run(send_only()) == len(expected)
    assert ids(receiver.accepted) == expected
    assert settled(db)


NODE = """
import asyncio, sys
from liveblog.scheduler.main import Projections
from liveblog.webhooks import Deliverer, DeliveryOptions

async def main():
    async with Deliverer(sys.argv[1], DeliveryOptions(timeout=60.0, lease=2.0)) as deliverer:
        await Projections(deliverer).catch_up()
        await deliverer.prepare()
        await deliverer.start_due()
        await asyncio.sleep(600)

asyncio.run(main())
"""


def test_a_deliverer_killed_mid_post_loses_nothing(db: str, service: Liveblog) -> None:
    # The first request hangs (the node is killed while it waits); then 200s. On
    # PostgreSQL the dead node's claim (a 2 s lease) expires before another sends.
    with Receiver() as receiver:
        receiver.script(Reply(delay=60.0))
        subscription = subscribe(service, receiver)
        for i in range(3):
            service.note(f"note {i}")
        expected = log_messages(db)
        node = subprocess.Popen([sys.executable, "-c", NODE, db])
        try:
            wait_for(lambda: receiver.requests, what="the first POST")
            node.send_signal(signal.SIGKILL)
            assert node.wait(timeout=DEADLINE_SECONDS) == -signal.SIGKILL
        finally:
            if node.poll() is None:
                node.kill()
                node.wait()
        # Nothing was recorded: the whole queue is still pending.
        assert set(statuses(db, subscription)) == {"pending"}
        with BackgroundDeliverer(db, FAST):
            wait_for(lambda: ids(receiver.accepted) == expected)
            wait_for(lambda: settled(db))
    # The message the killed node was sending came again (at least once), first.
    assert receiver.requests[0].message_id == expected[0]
    assert ids(receiver.requests) == [expected[0], *expected]
