"""The delivery queues' statements that both backends run alike (part of each backend's
delivery queue: `SqliteDeliveryQueue`, `PostgresDeliveryQueue`).

What really differs stays in the backend: arrays vs JSON lists, upserts, RETURNING vs
lastrowid, the batched statements of the deliverer's hot path, and how a change takes
its queue (PostgreSQL locks the subscription's row; SQLite's write transaction already
excludes every other writer): the hooks `_queue_change`, `_queue_transaction`,
`_outcome_change`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any, ClassVar, Generic, TypeVar

from ..webhooks.model import Delivery, QueueState, SummaryVersion
from .dialect import Dialect, Executes

DELIVERY_COLUMNS = (
    "id, subscription, message_id, type, position, summary, status, attempts, "
    "next_attempt_at, last_attempt_at, last_status, last_error, created_at, finished_at"
)
"""A delivery's columns, in the order of Delivery's fields."""

INSERT_DELIVERY = (
    "INSERT INTO webhook_deliveries (subscription, message_id, type, position, summary, "
    "status, next_attempt_at, created_at) VALUES (?, ?, ?, ?, ?, 'pending', ?, ?)"
)
"""One new pending delivery: its parameters are `requeued`'s, or a message's."""

_PENDING_COUNT = (
    "SELECT count(*) FROM webhook_deliveries WHERE subscription = ? AND status = 'pending'"
)
_CHANGED_EVENT_TYPES = (
    "SELECT DISTINCT conference, type FROM events WHERE position > ? AND position <= ?"
)
_HEAD = (
    f"SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE subscription = ? "
    "AND status = 'pending' ORDER BY id LIMIT 1"
)
_DELIVERY = f"SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE id = ?"
_DELIVERED = (
    "UPDATE webhook_deliveries SET status = 'delivered', attempts = attempts + 1, "
    "last_attempt_at = ?, last_status = ?, last_error = NULL, finished_at = ? "
    "WHERE id = ? AND status = 'pending'"
)
_RETRY = (
    "UPDATE webhook_deliveries SET attempts = attempts + 1, next_attempt_at = ?, "
    "last_attempt_at = ?, last_status = ?, last_error = ? "
    "WHERE id = ? AND status = 'pending'"
)
_DEAD = (
    "UPDATE webhook_deliveries SET status = 'dead', attempts = attempts + 1, "
    "last_attempt_at = ?, last_status = ?, last_error = ?, finished_at = ? "
    "WHERE id = ? AND status = 'pending'"
)
_GONE = (
    "UPDATE webhook_deliveries SET attempts = attempts + 1, last_attempt_at = ?, "
    "last_status = ?, last_error = ? WHERE id = ? AND status = 'pending'"
)
_DISABLE = "UPDATE webhook_subscriptions SET status = 'disabled', status_reason = ? WHERE id = ?"
_CANCEL_AFTER = (
    "UPDATE webhook_deliveries SET status = 'cancelled', finished_at = ? "
    "WHERE subscription = ? AND status = 'pending' AND position > ?"
)
_COUNTED = "SELECT status, count(*) FROM webhook_deliveries GROUP BY status"
_HEADS = (
    "SELECT subscription, delivery, due_at, active FROM webhook_queue_heads ORDER BY subscription"
)
_DERIVED_HEADS = (
    "SELECT d.subscription, d.id, d.next_attempt_at, s.status = 'active' "
    "FROM (SELECT subscription, min(id) AS id FROM webhook_deliveries "
    "      WHERE status = 'pending' GROUP BY subscription) AS h "
    "JOIN webhook_deliveries AS d ON d.id = h.id "
    "JOIN webhook_subscriptions AS s ON s.id = d.subscription ORDER BY d.subscription"
)


def delivery_from_row(row: Sequence[Any]) -> Delivery:
    return Delivery(*row)


def requeued(old: Delivery, due_at: float, created_at: str) -> tuple[Any, ...]:
    """INSERT_DELIVERY's parameters for a new delivery of `old`'s message."""
    return (
        old.subscription,
        old.message_id,
        old.type,
        old.position,
        old.summary,
        due_at,
        created_at,
    )


Conn = TypeVar("Conn", bound=Executes)


class DeliveryReads(Generic[Conn]):
    """Generic in the connection's type, as `SharedSummaryVersions`: the store that
    inherits both declares one `conn`."""

    conn: Conn
    dialect: ClassVar[Dialect]
    summary_type: ClassVar[str]
    """A summary's type, from its JSON body, in the backend's SQL."""

    # -- the backend's hooks: what a change to a queue takes -------------------------

    def _queue_change(self, subscription_id: str) -> contextlib.AbstractContextManager[object]:
        """Around one statement changing this subscription's queue."""
        raise NotImplementedError

    def _queue_transaction(self, subscription_id: str) -> contextlib.AbstractContextManager[object]:
        """Around several statements changing this subscription's queue: one transaction."""
        raise NotImplementedError

    def _outcome_change(self, delivery_id: int) -> contextlib.AbstractContextManager[object]:
        """Around the statement recording this delivery's outcome."""
        raise NotImplementedError

    def _kept_tables(self) -> bool | None:
        """None without a deliveries table, else whether the kept heads and counts are
        there too (not in a log from an older release)."""
        raise NotImplementedError

    def _snapshot(self) -> contextlib.AbstractContextManager[object]:
        """One consistent view for several reads, where other writers go on."""
        raise NotImplementedError

    # -- filling ---------------------------------------------------------------------

    def changed_types(self, after: int, until: int) -> dict[str, set[str]]:
        kinds: dict[str, set[str]] = {}
        for conference, kind in self.conn.execute(
            self.dialect.sql(_CHANGED_EVENT_TYPES), (after, until)
        ):
            kinds.setdefault(conference, set()).add(kind)
        for conference, kind in self.conn.execute(
            self.dialect.sql(
                f"SELECT DISTINCT conference, {self.summary_type} FROM webhook_summaries "
                "WHERE position > ? AND position <= ?"
            ),
            (after, until),
        ):
            kinds.setdefault(conference, set()).add(kind)
        return kinds

    def pending_count(self, subscription_id: str) -> int:
        row = self.conn.execute(self.dialect.sql(_PENDING_COUNT), (subscription_id,)).fetchone()
        return int(row[0])

    def summary_versions(
        self, after: int, until: int, conference: str | None
    ) -> list[SummaryVersion]:
        where = "position > ? AND position <= ?"
        params: tuple[Any, ...] = (after, until)
        if conference is not None:
            where += " AND conference = ?"
            params += (conference,)
        rows = self.conn.execute(
            self.dialect.sql(
                f"SELECT seq, conference, day, position, {self.summary_type} "
                f"FROM webhook_summaries WHERE {where} ORDER BY seq"
            ),
            params,
        ).fetchall()
        return [SummaryVersion(int(s), str(c), int(d), int(p), str(t)) for s, c, d, p, t in rows]

    # -- draining --------------------------------------------------------------------

    def head(self, subscription_id: str) -> Delivery | None:
        row = self.conn.execute(self.dialect.sql(_HEAD), (subscription_id,)).fetchone()
        return delivery_from_row(row) if row else None

    # Every outcome is written only to a delivery still pending (the contract).

    def record_delivered(self, delivery_id: int, status: int, stamp: str) -> None:
        with self._outcome_change(delivery_id):
            self.conn.execute(self.dialect.sql(_DELIVERED), (stamp, status, stamp, delivery_id))

    def record_retry(
        self,
        delivery_id: int,
        *,
        status: int | None,
        error: str,
        retry_at: float,
        stamp: str,
    ) -> None:
        with self._outcome_change(delivery_id):
            self.conn.execute(
                self.dialect.sql(_RETRY), (retry_at, stamp, status, error, delivery_id)
            )

    def record_dead(self, delivery_id: int, *, status: int | None, error: str, stamp: str) -> None:
        with self._outcome_change(delivery_id):
            self.conn.execute(self.dialect.sql(_DEAD), (stamp, status, error, stamp, delivery_id))

    def record_gone(
        self, delivery_id: int, subscription_id: str, status: int, reason: str, stamp: str
    ) -> None:
        with self._queue_transaction(subscription_id):
            self.conn.execute(self.dialect.sql(_GONE), (stamp, status, reason, delivery_id))
            self.conn.execute(self.dialect.sql(_DISABLE), (f"{reason} at {stamp}", subscription_id))

    # -- history ---------------------------------------------------------------------

    def delivery(self, delivery_id: int) -> Delivery | None:
        row = self.conn.execute(self.dialect.sql(_DELIVERY), (delivery_id,)).fetchone()
        return None if row is None else delivery_from_row(row)

    def deliveries(
        self, subscription_id: str | None, status: str | None, limit: int
    ) -> list[Delivery]:
        where: list[str] = []
        params: list[Any] = []
        if subscription_id is not None:
            where.append("subscription = ?")
            params.append(subscription_id)
        if status is not None:
            where.append("status = ?")
            params.append(status)
        sql = f"SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries"
        if where:
            sql += " WHERE " + " AND ".join(where)
        rows = self.conn.execute(
            self.dialect.sql(f"{sql} ORDER BY id DESC LIMIT ?"), (*params, limit)
        ).fetchall()
        return [delivery_from_row(r) for r in rows]

    def cancel_pending_after(self, subscription_id: str, position: int, stamp: str) -> None:
        with self._queue_change(subscription_id):
            self.conn.execute(self.dialect.sql(_CANCEL_AFTER), (stamp, subscription_id, position))

    # -- the kept heads and counts ---------------------------------------------------

    def counts(self) -> dict[str, int]:
        raise NotImplementedError

    def queue_state(self) -> QueueState:
        kept_tables = self._kept_tables()
        if kept_tables is None:
            return QueueState(deliveries=False, kept=None, counted={}, heads_match=True)
        if not kept_tables:
            return QueueState(deliveries=True, kept=None, counted={}, heads_match=True)
        # The kept and the derived state compared as of one moment.
        with self._snapshot():
            kept = self.counts()
            counted = {str(s): int(n) for s, n in self.conn.execute(_COUNTED).fetchall()}
            heads = self.conn.execute(_HEADS).fetchall()
            derived = self.conn.execute(_DERIVED_HEADS).fetchall()
        return QueueState(deliveries=True, kept=kept, counted=counted, heads_match=heads == derived)
