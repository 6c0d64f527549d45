"""The claims contract of the delivery queue (liveblog.store.webhooks, "Claims"): one
sender per subscription across every process on a store, as a lease.

Written once against the three methods; each backend gives `stores`, a factory of
views of one store as separate processes would have them (another SQLite store object
on the same file; another PostgreSQL connection). The PostgreSQL subclass tests
`WebhookClaimsMixin` alone on the claims table it creates (the full webhook store
inherits it); a holder killed with SIGKILL is a real process there.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Collection, Iterator
from pathlib import Path
from typing import Protocol

import pytest

# tests/ is on sys.path (conftest): the polling helper every webhook test uses.
from receivers import wait_for

from liveblog.store.postgres.driver import PgConnection, connect
from liveblog.store.postgres.webhook_claims import CLAIMS_DDL, WebhookClaimsMixin

LONG = 600.0  # a lease that does not run out during a test


class Claims(Protocol):
    def claim(self, subscription_id: str, owner: str, until: float) -> bool: ...
    def renew(self, subscription_ids: Collection[str], owner: str, until: float) -> set[str]: ...
    def release(self, subscription_id: str, owner: str) -> None: ...
    def claim_many(
        self, subscription_ids: Collection[str], owner: str, until: float
    ) -> set[str]: ...
    def release_many(self, subscription_ids: Collection[str], owner: str) -> None: ...


Views = Callable[[], Claims]


def later(seconds: float = LONG) -> float:
    return time.time() + seconds


class ClaimsContract:
    @pytest.fixture
    def stores(self, tmp_path: Path) -> Iterator[Views]:
        raise NotImplementedError("a backend's subclass gives its views")

    def test_one_holder_at_a_time(self, stores: Views) -> None:
        a, b = stores(), stores()
        assert a.claim("wh_1", "node-a", later())
        assert not b.claim("wh_1", "node-b", later())
        # The holder claiming again renews; another subscription is free.
        assert a.claim("wh_1", "node-a", later())
        assert b.claim("wh_2", "node-b", later())
        assert not a.claim("wh_2", "node-a", later())

    def test_an_expired_claim_is_anyones(self, stores: Views) -> None:
        a, b = stores(), stores()
        assert a.claim("wh_1", "node-a", time.time() - 1)  # a lease already run out
        assert b.claim("wh_1", "node-b", later())
        # The old holder lost it: no renewal, no claim back while b's lease runs.
        assert a.renew(["wh_1"], "node-a", later()) == set()
        assert not a.claim("wh_1", "node-a", later())

    def test_release_frees_it_and_only_the_holder_releases(self, stores: Views) -> None:
        a, b = stores(), stores()
        assert a.claim("wh_1", "node-a", later())
        b.release("wh_1", "node-b")  # not b's: left as it is
        assert not b.claim("wh_1", "node-b", later())
        a.release("wh_1", "node-a")
        assert b.claim("wh_1", "node-b", later())
        a.release("wh_1", "node-a")  # nothing of a's left: a no-op
        assert not a.claim("wh_1", "node-a", later())

    def test_renew_moves_only_the_holders_claims(self, stores: Views) -> None:
        a, b = stores(), stores()
        assert a.claim("wh_1", "node-a", later(30))
        assert a.claim("wh_2", "node-a", time.time() - 1)  # expired, still a's row
        assert b.claim("wh_3", "node-b", later())
        assert a.renew(["wh_1", "wh_2", "wh_3", "wh_none"], "node-a", later()) == {
            "wh_1",
            "wh_2",
        }
        # wh_2 was renewed before anyone took it: a's again, not b's to take.
        assert not b.claim("wh_2", "node-b", later())
        assert a.renew([], "node-a", later()) == set()

    def test_an_abandoned_claim_is_taken_over_once_it_expires(self, stores: Views) -> None:
        a, b = stores(), stores()
        assert a.claim("wh_1", "node-a", later(0.5))  # then never renewed nor released
        assert not b.claim("wh_1", "node-b", later())
        wait_for(lambda: b.claim("wh_1", "node-b", later()), what="the lease to expire")
        assert not a.claim("wh_1", "node-a", later())

    def test_many_at_once_as_one_at_a_time(self, stores: Views) -> None:
        a, b = stores(), stores()
        assert a.claim("wh_1", "node-a", later())
        assert a.claim("wh_4", "node-a", time.time() - 1)  # a's, run out
        # Each id once, whatever the list repeats: the free, the run out, never a's live.
        assert b.claim_many(["wh_3", "wh_1", "wh_2", "wh_2", "wh_4"], "node-b", later()) == {
            "wh_2",
            "wh_3",
            "wh_4",
        }
        assert b.claim_many(["wh_2"], "node-b", later()) == {"wh_2"}  # its own: renewed
        assert a.claim_many(["wh_1", "wh_2", "wh_4"], "node-a", later()) == {"wh_1"}
        assert b.claim_many([], "node-b", later()) == set()
        b.release_many(["wh_1", "wh_2", "wh_3"], "node-b")  # wh_1 is a's: left as it is
        assert not b.claim("wh_1", "node-b", later())
        assert a.claim_many(["wh_2", "wh_3", "wh_4"], "node-a", later()) == {"wh_2", "wh_3"}
        a.release_many(["wh_1", "wh_2", "wh_3"], "node-a")
        a.release_many([], "node-a")
        assert b.claim_many(["wh_1", "wh_2", "wh_3"], "node-b", later()) == {
            "wh_1",
            "wh_2",
            "wh_3",
        }

    def test_of_many_racing_for_a_free_claim_one_wins(self, stores: Views) -> None:
        views = [stores() for _ in range(6)]
        for view in views:
            # Each view finds its store once, here: a SQLite connection is its thread's.
            view.release("wh_none", "nobody")
        assert views[0].claim("wh_1", "old", time.time() - 1)
        won: list[str] = []
        failed: list[BaseException] = []
        start = threading.Barrier(len(views))

        def race(n: int) -> None:
            start.wait()
            try:
                if views[n].claim("wh_1", f"node-{n}", later()):
                    won.append(f"node-{n}")
            except BaseException as exc:
                failed.append(exc)

        threads = [threading.Thread(target=race, args=(n,)) for n in range(len(views))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert failed == [] and len(won) == 1


class TestSqliteClaims(ClaimsContract):
    @pytest.fixture
    def stores(self, tmp_path: Path) -> Iterator[Views]:
        from liveblog.store.factory import open_stores

        opened = []

        def view() -> Claims:
            stores = open_stores(tmp_path / "events.db")
            opened.append(stores)
            return stores.webhooks

        try:
            yield view
        finally:
            for stores in opened:
                stores.close()


class MixinStore(WebhookClaimsMixin):
    """The mixin alone on a connection of its own, as PostgresWebhookStore holds one."""

    def __init__(self, conn: PgConnection) -> None:
        self.conn = conn


HOLDER = """
import sys, time
from liveblog.store.postgres.driver import connect
from liveblog.store.postgres.webhook_claims import WebhookClaimsMixin

class Store(WebhookClaimsMixin):
    def __init__(self, conn):
        self.conn = conn

store = Store(connect(sys.argv[1]))
assert store.claim("wh_1", "doomed", time.time() + 600)
print("claimed", flush=True)
sys.stdin.readline()
assert store.renew(["wh_1"], "doomed", time.time() + 0.5) == {"wh_1"}
print("renewed", flush=True)
time.sleep(600)
"""


class TestPostgresClaims(ClaimsContract):
    @pytest.fixture
    def url(self, pg_url: str) -> str:
        conn = connect(pg_url)
        try:
            conn.execute(CLAIMS_DDL)
        finally:
            conn.close()
        return pg_url

    @pytest.fixture
    def stores(self, url: str) -> Iterator[Views]:
        opened: list[MixinStore] = []

        def view() -> Claims:
            opened.append(MixinStore(connect(url)))
            return opened[-1]

        try:
            yield view
        finally:
            for one in opened:
                one.conn.close()

    def test_a_killed_holders_claim_is_taken_over(self, url: str, stores: Views) -> None:
        holder = subprocess.Popen(
            [sys.executable, "-c", HOLDER, url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        try:
            assert holder.stdin is not None and holder.stdout is not None
            assert holder.stdout.readline().strip() == "claimed"
            other = stores()
            assert not other.claim("wh_1", "survivor", later())
            holder.stdin.write("renew briefly\n")
            holder.stdin.flush()
            assert holder.stdout.readline().strip() == "renewed"
            holder.send_signal(signal.SIGKILL)  # mid-work: nothing released
            assert holder.wait(timeout=30) == -signal.SIGKILL
            wait_for(lambda: other.claim("wh_1", "survivor", later()), what="the takeover")
        finally:
            if holder.poll() is None:
                holder.kill()
                holder.wait()

    def test_a_claim_made_in_a_unit_of_work_joins_it(self, stores: Views) -> None:
        view = stores()
        assert isinstance(view, MixinStore)
        with pytest.raises(RuntimeError), view.conn.writing():
            assert view.claim("wh_1", "node-a", later())
            raise RuntimeError("rolled back")
        assert stores().claim("wh_1", "node-b", later())
