"""The PostgreSQL webhook queue with more than one writer (SQLite has one): a queue's
changes are serialised by its subscription's row lock, so ids grow in commit order
within a subscription and the kept head never misses a delivery committed meanwhile;
the counts are striped by backend and folded; a relaxed connection is reset before
the pool hands it on."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from liveblog.store.postgres.driver import PgConnection, close_pools, connect
from liveblog.store.postgres.webhook_queue import fold_counts
from liveblog.store.postgres.webhooks import PostgresWebhookStore
from liveblog.webhooks.model import Message, NewSubscription
from tests.postgres import Cluster
from tests.receivers import wait_for


def subscription(id_: str) -> NewSubscription:
    return NewSubscription(
        id=id_,
        url=f"https://receiver.example/{id_}",
        events=(),
        conference=None,
        sealed_secret="sealed",
        allow_private=False,
        cursor=0,
        created_at="2026-01-01T00:00:00+00:00",
    )


def message(position: int) -> Message:
    return Message(position, f"msg_{position}", "note.posted")


@pytest.fixture
def conns(pg_url: str) -> Iterator[tuple[PgConnection, PgConnection]]:
    """Two nodes' connections: each its own event store, the schema migrated."""
    from liveblog.store.factory import open_stores

    with open_stores(pg_url) as first, open_stores(pg_url) as second:
        yield first.events.conn, second.events.conn  # type: ignore[attr-defined]


def backend_pid(conn: PgConnection) -> int:
    return int(conn.execute("SELECT pg_backend_pid()").fetchone()[0])


def waiting_on_a_lock(observer: PgConnection, pid: int) -> bool:
    row = observer.execute(
        "SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", (pid,)
    ).fetchone()
    return row is not None and row[0] == "Lock"


def test_ids_grow_in_commit_order_within_a_subscription(
    conns: tuple[PgConnection, PgConnection], pg_url: str
) -> None:
    first, second = conns
    a, b = PostgresWebhookStore(first, pg_url), PostgresWebhookStore(second, pg_url)
    a.insert_subscription(subscription("wh_a"))
    a.enqueue("wh_a", [message(1)], 0.0, "before")  # a committed head
    observer = connect(pg_url)
    try:
        second_pid = backend_pid(second)
        with a.writing():
            a.enqueue("wh_a", [message(2)], 0.0, "slow")
            # Another node queueing for the same subscription waits for this commit...
            later = threading.Thread(target=b.enqueue, args=("wh_a", [message(3)], 0.0, "fast"))
            later.start()
            wait_for(lambda: waiting_on_a_lock(observer, second_pid), what="the lock wait")
            assert a.pending_count("wh_a") == 2
        later.join(timeout=60)
        assert not later.is_alive()
    finally:
        observer.close()
    # ...so its delivery, committed second, has the larger id: queue order is log order.
    queued = sorted(a.deliveries("wh_a", None, 10), key=lambda d: d.id)
    assert [(d.position, d.created_at) for d in queued] == [
        (1, "before"),
        (2, "slow"),
        (3, "fast"),
    ]


def test_a_head_sent_while_another_node_queues_is_followed_by_the_new_one(
    conns: tuple[PgConnection, PgConnection], pg_url: str
) -> None:
    first, second = conns
    sender, preparer = PostgresWebhookStore(first, pg_url), PostgresWebhookStore(second, pg_url)
    sender.insert_subscription(subscription("wh_a"))
    sender.enqueue("wh_a", [message(1)], 0.0, "t")
    head = sender.head("wh_a")
    assert head is not None
    observer = connect(pg_url)
    try:
        sender_pid = backend_pid(first)
        with preparer.writing():
            preparer.enqueue("wh_a", [message(2)], 0.0, "t")  # not committed yet
            # The last pending delivery is sent meanwhile: recording it must not leave
            # the queue without a head once the new delivery commits.
            outcome = threading.Thread(target=sender.record_delivered, args=(head.id, 200, "s"))
            outcome.start()
            wait_for(
                lambda: not outcome.is_alive() or waiting_on_a_lock(observer, sender_pid),
                what="the outcome recorded or waiting",
            )
        outcome.join(timeout=60)
        assert not outcome.is_alive()
    finally:
        observer.close()
    assert sender.due(1.0) == ["wh_a"]
    nxt = sender.head("wh_a")
    assert nxt is not None and nxt.position == 2
    assert sender.queue_state().heads_match


def test_draining_while_another_node_queues_never_loses_the_head(
    conns: tuple[PgConnection, PgConnection], pg_url: str
) -> None:
    first, second = conns
    sender, preparer = PostgresWebhookStore(first, pg_url), PostgresWebhookStore(second, pg_url)
    sender.insert_subscription(subscription("wh_a"))
    batches, size = 40, 5
    queued_all = threading.Event()
    failures: list[BaseException] = []

    def prepare() -> None:
        try:
            for batch in range(batches):
                with preparer.writing():
                    start = batch * size + 1
                    preparer.enqueue(
                        "wh_a", [message(p) for p in range(start, start + size)], 0.0, "t"
                    )
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)
        finally:
            queued_all.set()

    sent: list[int] = []
    thread = threading.Thread(target=prepare)
    thread.start()
    # The sender finds work only through the kept heads (`due`), as the deliverer does:
    # a head lost to the race would leave deliveries pending that are never due.
    while True:
        finished = queued_all.is_set()
        if sender.due(1.0):
            head = sender.head("wh_a")
            assert head is not None
            sent.append(head.position)
            sender.record_delivered(head.id, 200, "s")
        elif finished:
            break
    thread.join(timeout=60)
    assert not failures
    assert sender.pending_count("wh_a") == 0
    assert sent == list(range(1, batches * size + 1))  # every message, in log order
    state = sender.queue_state()
    assert state.heads_match and state.kept == {
        "pending": 0,
        "delivered": batches * size,
        "dead": 0,
        "cancelled": 0,
    }


def test_counts_of_departed_backends_fold_into_one_stripe(
    conns: tuple[PgConnection, PgConnection], pg_url: str
) -> None:
    first, _ = conns
    hooks = PostgresWebhookStore(first, pg_url)
    hooks.insert_subscription(subscription("wh_a"))
    hooks.enqueue("wh_a", [message(1), message(2)], 0.0, "t")
    # A stripe left by a backend that has gone (no live backend has pid 0x7fff0000).
    first.execute(
        "INSERT INTO webhook_delivery_counts (status, stripe, deliveries) "
        "VALUES ('delivered', 2147418112, 3)"
    )
    before = hooks.counts()
    assert before["pending"] == 2 and before["delivered"] == 3
    fold_counts(first)
    assert hooks.counts() == before
    stripes = first.execute(
        "SELECT stripe FROM webhook_delivery_counts WHERE status = 'delivered'"
    ).fetchall()
    assert stripes == [(0,)]
    # The live backend's own stripe is left where it is.
    assert (
        first.execute(
            "SELECT count(*) FROM webhook_delivery_counts WHERE stripe = pg_backend_pid()"
        ).fetchone()[0]
        == 1
    )


def test_a_relaxed_connection_is_reset_before_the_pool_hands_it_on(pg_url: str) -> None:
    setting = "SELECT source FROM pg_settings WHERE name = 'synchronous_commit'"
    conn = connect(pg_url)
    pid = backend_pid(conn)
    PostgresWebhookStore(conn, pg_url).relax_durability()
    assert conn.execute(setting).fetchone()[0] == "session"
    conn.close()
    again = connect(pg_url)  # the same pooled backend, for the next user
    try:
        assert backend_pid(again) == pid
        assert again.execute(setting).fetchone()[0] != "session"
    finally:
        again.close()


def test_the_app_role_keeps_webhooks_and_tokens_with_the_documented_grants(
    pg_cluster: Cluster, pg_url: str
) -> None:
    import uuid

    from liveblog.service.roles import EDITOR
    from liveblog.store.factory import open_stores
    from liveblog.store.postgres.config_schema import config_grants

    with open_stores(pg_url):
        pass  # migrated by the owner (the superuser here)
    db = pg_url.rsplit("/", 1)[1]
    role = f"app_{uuid.uuid4().hex[:12]}"
    pg_cluster.sql(f"CREATE ROLE {role} LOGIN PASSWORD 's3cret'")
    grants = [
        f'GRANT CONNECT ON DATABASE "{db}" TO {role}',
        f"GRANT USAGE ON SCHEMA public TO {role}",
        f"GRANT SELECT, INSERT ON events TO {role}",
        f"GRANT SELECT ON liveblog_schema TO {role}",
        *config_grants(role),
    ]
    try:
        for grant in grants:
            pg_cluster.sql(grant, db)
        with open_stores(pg_cluster.url(db, user=role, password="s3cret")) as app:
            hooks = app.webhooks
            hooks.insert_subscription(subscription("wh_a"))
            hooks.enqueue("wh_a", [message(1), message(2)], 0.0, "t")
            head = hooks.head("wh_a")
            assert head is not None
            hooks.record_delivered(head.id, 200, "s")
            hooks.requeue(head, 0.0, "again")
            hooks.add_version("c", 1, 1, 2, "digest", {"type": "summary.published"})
            hooks.advance_progress(2)
            with hooks.writing():
                hooks.refill_queue_state()
            fold_counts(app.events.conn)  # type: ignore[attr-defined]
            assert hooks.counts()["pending"] == 2 and hooks.queue_state().heads_match
            hooks.delete_subscription("wh_a")
            assert app.tokens.add("dan", "digest-dan", "t", EDITOR)
            assert app.tokens.remove("dan")
    finally:
        close_pools()
        pg_cluster.sql(f"DROP OWNED BY {role}", db)
        pg_cluster.sql(f"DROP ROLE {role}")
