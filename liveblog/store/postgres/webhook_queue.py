"""The delivery queues on PostgreSQL: `webhook_deliveries`, with the heads and counts its
triggers keep (`webhook_queue_heads`, `webhook_delivery_counts`: config_schema) and the
deliverer's progress (`webhook_progress`). Part of PostgresWebhookStore.

Every change to a subscription's queue runs in a transaction that first locks the
subscription's row (`_lock_queue`): the changes of one queue are serialised across
nodes, so its kept head never misses a delivery another transaction committed, and ids
(an identity, handed out after the lock) grow in commit order within each queue — a
sequence alone would not promise that, but two transactions queueing for the same
subscription cannot overlap. Different subscriptions' queues never wait on each other.
"""

from __future__ import annotations

import contextlib
from collections.abc import Collection, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from ...webhooks.model import DELIVERY_STATUSES, Delivery, Message
from ..delivery_reads import (
    DELIVERY_COLUMNS,
    INSERT_DELIVERY,
    DeliveryReads,
    delivery_from_row,
    requeued,
)
from ..dialect import POSTGRES
from .driver import PgConnection

if TYPE_CHECKING:
    from ...webhooks.model import Subscription

_COLUMNS = DELIVERY_COLUMNS
PROGRESS = "coalesce((SELECT position FROM webhook_progress WHERE id = 1), 0)"
"""The log position the deliverer has prepared through (0 before it first ran)."""
CURSOR = f"CASE WHEN follows THEN greatest(cursor, {PROGRESS}) ELSE cursor END"
"""A subscription's cursor, in SQL: a follower's moves with the deliverer's progress."""
_INSERT_MANY = (
    "INSERT INTO webhook_deliveries (subscription, message_id, type, position, summary, "
    "status, next_attempt_at, created_at) "
    "SELECT %s, m.message_id, m.type, m.position, m.summary, 'pending', %s, %s "
    "FROM unnest(%s::text[], %s::text[], %s::bigint[], %s::bigint[]) "
    "WITH ORDINALITY AS m (message_id, type, position, summary, n) ORDER BY m.n"
)
_INSERT_QUEUES = (
    "INSERT INTO webhook_deliveries (subscription, message_id, type, position, summary, "
    "status, next_attempt_at, created_at) "
    "SELECT m.subscription, m.message_id, m.type, m.position, m.summary, 'pending', %s, %s "
    "FROM unnest(%s::text[], %s::text[], %s::text[], %s::bigint[], %s::bigint[]) "
    "WITH ORDINALITY AS m (subscription, message_id, type, position, summary, n) "
    "ORDER BY m.n"
)
_LOCK = "SELECT 1 FROM webhook_subscriptions WHERE id = %s FOR NO KEY UPDATE"
_LOCK_MANY = (
    # ORDER BY under FOR NO KEY UPDATE: the rows are locked as they come, in id order.
    "SELECT 1 FROM webhook_subscriptions WHERE id = ANY (%s) ORDER BY id FOR NO KEY UPDATE"
)
_LOCK_OF_DELIVERY = (
    "SELECT 1 FROM webhook_subscriptions WHERE id = "
    "(SELECT subscription FROM webhook_deliveries WHERE id = %s) FOR NO KEY UPDATE"
)
FOLD_EVERY = 100
"""Fold the counts of departed backends into stripe 0 once per this many progress moves."""


_D_COLUMNS = ", ".join(f"d.{c.strip()}" for c in _COLUMNS.split(","))


class PostgresDeliveryQueue(DeliveryReads[PgConnection]):
    """The queues in this backend's SQL (the rest: `DeliveryReads`)."""

    conn: PgConnection
    dialect = POSTGRES
    summary_type = "body ->> 'type'"
    _progress_moves: int = 0

    # Provided by PostgresWebhookStore (the subscriptions' SELECT, cursor included).
    def _read(self, where: str, params: Sequence[Any] = ()) -> list[Subscription]:
        raise NotImplementedError

    @contextlib.contextmanager
    def _lock_queue(self, subscription_id: str) -> Iterator[None]:
        """A write transaction (or the open one) holding this subscription's queue."""
        with self.conn.writing():
            self.conn.execute(_LOCK, (subscription_id,))
            yield

    @contextlib.contextmanager
    def _lock_queue_of(self, delivery_id: int) -> Iterator[None]:
        with self.conn.writing():
            self.conn.execute(_LOCK_OF_DELIVERY, (delivery_id,))
            yield

    def _queue_change(self, subscription_id: str) -> contextlib.AbstractContextManager[object]:
        return self._lock_queue(subscription_id)

    def _queue_transaction(self, subscription_id: str) -> contextlib.AbstractContextManager[object]:
        return self._lock_queue(subscription_id)

    def _outcome_change(self, delivery_id: int) -> contextlib.AbstractContextManager[object]:
        return self._lock_queue_of(delivery_id)

    # -- filling ---------------------------------------------------------------------

    def progress(self) -> int:
        row = self.conn.execute("SELECT position FROM webhook_progress WHERE id = 1").fetchone()
        return int(row[0]) if row else 0

    def advance_progress(self, position: int) -> None:
        with self.conn.writing():
            self.conn.execute(
                "INSERT INTO webhook_progress (id, position) VALUES (1, %s) "
                "ON CONFLICT (id) DO UPDATE SET position = "
                "greatest(webhook_progress.position, excluded.position)",
                (position,),
            )
            self._progress_moves += 1
            if self._progress_moves % FOLD_EVERY == 0:
                fold_counts(self.conn)

    def own_cursors(self) -> list[Subscription]:
        # The partial index webhook_subscriptions_own_cursor.
        return self._read("WHERE status = 'active' AND NOT follows ORDER BY created_at, id")

    def followers(self, conferences: Sequence[str]) -> list[Subscription]:
        # The partial index webhook_subscriptions_following, by conference.
        followers = "WHERE status = 'active' AND follows AND "
        return [
            *self._read(followers + "conference IS NULL ORDER BY created_at, id"),
            *self._read(
                followers + "conference = ANY (%s) ORDER BY created_at, id",
                (sorted(conferences),),
            ),
        ]

    def event_messages(
        self,
        after: int,
        until: int,
        conference: str | None,
        types: Sequence[str],
        limit: int,
    ) -> list[Message]:
        if not types:
            return []
        where = "position > %s AND position <= %s AND type = ANY (%s)"
        params: list[Any] = [after, until, list(types)]
        if conference is not None:
            where += " AND conference = %s"
            params.append(conference)
        return [
            Message(int(r[0]), "msg_" + str(r[1]), str(r[2]))
            for r in self.conn.execute(
                f"SELECT position, id, type FROM events WHERE {where} ORDER BY position LIMIT %s",
                (*params, limit),
            )
        ]

    def enqueue(
        self, subscription_id: str, messages: Sequence[Message], due_at: float, created_at: str
    ) -> None:
        if not messages:
            return
        with self._lock_queue(subscription_id):
            # One statement for the whole window (its triggers run once, not per row).
            # Ids follow the messages' order: the rows reach the insert sorted by their
            # ordinality, and each takes its id from the identity as it is inserted.
            self.conn.execute(
                _INSERT_MANY,
                (
                    subscription_id,
                    due_at,
                    created_at,
                    [m.message_id for m in messages],
                    [m.type for m in messages],
                    [m.position for m in messages],
                    [m.summary for m in messages],
                ),
            )

    def pending_counts(self, subscription_ids: Collection[str]) -> dict[str, int]:
        rows = self.conn.execute(
            "SELECT subscription, count(*) FROM webhook_deliveries "
            "WHERE subscription = ANY (%s) AND status = 'pending' GROUP BY subscription",
            (list(subscription_ids),),
        ).fetchall()
        return {str(s): int(n) for s, n in rows}

    def enqueue_many(
        self,
        queues: Sequence[tuple[str, Sequence[Message]]],
        due_at: float,
        created_at: str,
    ) -> None:
        rows = [(s, m) for s, messages in queues for m in messages]
        if not rows:
            return
        with self.conn.writing():
            self.lock_queues({s for s, _ in rows})
            # The windows one after another, each in its order: ids follow that order
            # (as in enqueue), so they grow within every queue.
            self.conn.execute(
                _INSERT_QUEUES,
                (
                    due_at,
                    created_at,
                    [s for s, _ in rows],
                    [m.message_id for _, m in rows],
                    [m.type for _, m in rows],
                    [m.position for _, m in rows],
                    [m.summary for _, m in rows],
                ),
            )

    def move_cursors(self, moves: Sequence[tuple[str, int, bool]]) -> None:
        if moves:
            self.conn.execute(
                "UPDATE webhook_subscriptions AS s SET cursor = v.cursor, follows = v.follows "
                "FROM unnest(%s::text[], %s::bigint[], %s::boolean[]) AS v (id, cursor, follows) "
                "WHERE s.id = v.id",
                ([m[0] for m in moves], [m[1] for m in moves], [m[2] for m in moves]),
            )

    def move_cursor(self, subscription_id: str, cursor: int, *, follows: bool) -> None:
        self.conn.execute(
            "UPDATE webhook_subscriptions SET cursor = %s, follows = %s WHERE id = %s",
            (cursor, follows, subscription_id),
        )

    def rewind(self, subscription_id: str, position: int) -> None:
        self.conn.execute(
            f"UPDATE webhook_subscriptions SET cursor = least({CURSOR}, %s), follows = false "
            "WHERE id = %s",
            (position, subscription_id),
        )

    # -- draining --------------------------------------------------------------------

    def due(self, now: float) -> list[str]:
        # A range of the partial index of heads by due time: a tick reads only the heads
        # that are due, never the deliveries or the subscriptions.
        rows = self.conn.execute(
            "SELECT subscription FROM webhook_queue_heads WHERE active AND due_at <= %s "
            "ORDER BY due_at, subscription",
            (now,),
        ).fetchall()
        return [str(r[0]) for r in rows]

    def subscriptions_among(self, subscription_ids: Collection[str]) -> list[Subscription]:
        return self._read("WHERE id = ANY (%s)", (list(subscription_ids),))

    def pending_many(
        self, subscription_ids: Collection[str], limit: int
    ) -> dict[str, list[Delivery]]:
        # One statement for every sender starting a run: a range of the pending index
        # (subscription, id) per subscription.
        found: dict[str, list[Delivery]] = {}
        for row in self.conn.execute(
            f"SELECT {_D_COLUMNS} FROM unnest(%s::text[]) AS w (id) CROSS JOIN LATERAL "
            f"(SELECT {_COLUMNS} FROM webhook_deliveries WHERE subscription = w.id "
            "AND status = 'pending' ORDER BY id LIMIT %s) AS d ORDER BY d.id",
            (sorted(set(subscription_ids)), limit),
        ):
            found.setdefault(str(row[1]), []).append(delivery_from_row(row))
        return found

    def lock_queues(self, subscription_ids: Collection[str]) -> None:
        if subscription_ids:
            self.conn.execute(_LOCK_MANY, (sorted(set(subscription_ids)),))

    def record_delivered_many(self, delivered: Sequence[tuple[int, int, str]]) -> None:
        """`record_delivered` of every (delivery id, status, stamp), in one transaction.

        Overrides WebhookClaimsMixin's: the queues these deliveries belong to are locked
        first (in id order, so two batches never deadlock), as every queue change here."""
        if not delivered:
            return
        ids = [d for d, _, _ in delivered]
        with self.conn.writing():
            # Already held when the caller took them (lock_queues): then no wait at all.
            self.conn.execute(
                "SELECT 1 FROM webhook_subscriptions WHERE id IN (SELECT subscription "
                "FROM webhook_deliveries WHERE id = ANY (%s)) ORDER BY id FOR NO KEY UPDATE",
                (ids,),
            )
            # One statement for the batch: the triggers keeping the heads and counts run
            # once for it, not once per delivery.
            self.conn.execute(
                "UPDATE webhook_deliveries AS d SET status = 'delivered', "
                "attempts = d.attempts + 1, last_attempt_at = v.stamp, last_status = v.status, "
                "last_error = NULL, finished_at = v.stamp "
                "FROM unnest(%s::bigint[], %s::integer[], %s::text[]) AS v (id, status, stamp) "
                "WHERE d.id = v.id AND d.status = 'pending'",
                (ids, [s for _, s, _ in delivered], [stamp for _, _, stamp in delivered]),
            )

    # -- history ---------------------------------------------------------------------

    def requeue(self, old: Delivery, due_at: float, created_at: str) -> Delivery:
        with self._lock_queue(old.subscription):
            row = self.conn.execute(
                self.dialect.sql(INSERT_DELIVERY) + f" RETURNING {_COLUMNS}",
                requeued(old, due_at, created_at),
            ).fetchone()
        return delivery_from_row(row)

    # -- the kept heads and counts ---------------------------------------------------

    def counts(self) -> dict[str, int]:
        counts = {
            str(s): int(n)
            for s, n in self.conn.execute(
                "SELECT status, sum(deliveries) FROM webhook_delivery_counts GROUP BY status"
            ).fetchall()
        }
        return {s: counts.get(s, 0) for s in DELIVERY_STATUSES}

    def _kept_tables(self) -> bool | None:
        if not _exists(self.conn, "webhook_deliveries"):
            return None
        return _exists(self.conn, "webhook_queue_heads") and _exists(
            self.conn, "webhook_delivery_counts"
        )

    def _snapshot(self) -> contextlib.AbstractContextManager[object]:
        # Joins an open transaction; other nodes go on delivering meanwhile.
        return self.conn.snapshot()

    def refill_queue_state(self) -> None:
        refill_queue_state(self.conn)


def _exists(conn: PgConnection, table: str) -> bool:
    return bool(conn.execute("SELECT to_regclass(%s) IS NOT NULL", (table,)).fetchone()[0])


def refill_queue_state(conn: PgConnection) -> None:
    """Derive the heads and the counts from webhook_deliveries again (one scan of it).

    SHARE ROW EXCLUSIVE on the deliveries: no delivery changes while they are derived
    (reads go on); a node recording an outcome waits for the commit. The folding lock
    first (fold_counts): a fold moving stripes meanwhile would add them back."""
    with conn.writing():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_FOLD_LOCK,))
        conn.execute("LOCK TABLE webhook_deliveries IN SHARE ROW EXCLUSIVE MODE")
        conn.execute("DELETE FROM webhook_queue_heads")
        conn.execute(
            "INSERT INTO webhook_queue_heads (subscription, delivery, due_at, active) "
            "SELECT d.subscription, d.id, d.next_attempt_at, s.status = 'active' "
            "FROM (SELECT subscription, min(id) AS id FROM webhook_deliveries "
            "      WHERE status = 'pending' GROUP BY subscription) AS h "
            "JOIN webhook_deliveries AS d ON d.id = h.id "
            "JOIN webhook_subscriptions AS s ON s.id = d.subscription"
        )
        conn.execute("DELETE FROM webhook_delivery_counts")
        conn.execute(
            "INSERT INTO webhook_delivery_counts (status, stripe, deliveries) "
            "SELECT s.status, 0, count(d.id) FROM unnest(%s::text[]) AS s (status) "
            "LEFT JOIN webhook_deliveries AS d ON d.status = s.status GROUP BY s.status",
            (list(DELIVERY_STATUSES),),
        )


def fold_counts(conn: PgConnection) -> None:
    """Fold the count stripes of backends that have gone into stripe 0, so the counts
    table holds a few rows per live connection, not one per connection ever opened.

    A stripe's backend is gone when no live backend has its pid; should a new backend
    take that pid and change the stripe meanwhile, DELETE waits for it and returns the
    row as it committed, so nothing is lost. One folder at a time (a transaction-level
    advisory lock, tried: a busy folder is left to do it)."""
    with conn.writing():
        if not conn.execute("SELECT pg_try_advisory_xact_lock(%s)", (_FOLD_LOCK,)).fetchone()[0]:
            return
        conn.execute(
            "WITH gone AS (DELETE FROM webhook_delivery_counts WHERE stripe <> 0 "
            "  AND stripe NOT IN (SELECT pid FROM pg_stat_activity WHERE pid IS NOT NULL) "
            "  RETURNING status, deliveries) "
            "INSERT INTO webhook_delivery_counts (status, stripe, deliveries) "
            "SELECT status, 0, sum(deliveries) FROM gone GROUP BY status ORDER BY status "
            "ON CONFLICT (status, stripe) "
            "DO UPDATE SET deliveries = webhook_delivery_counts.deliveries + excluded.deliveries"
        )


_FOLD_LOCK = 0x4C42_5743  # "LBWC": the advisory lock of fold_counts
