"""The delivery queues in events.db: `webhook_deliveries`, with the heads and counts its
triggers keep (`webhook_queue_heads`, `webhook_delivery_counts`) and the deliverer's
progress (`webhook_progress`). Part of SqliteWebhookStore (liveblog.store.sqlite.webhooks).

Claims (one sender per subscription) are kept in this process, not in the file: a
SQLite log has one deliverer, the process holding the scheduler's lock, so every sender
that can race for a subscription is a thread or task of this process. Every store
opened on the same file here sees the same claims, which expire as leases do. Keeping
them out of the file spares the deliverer a write transaction per claim (and the write
lock it would wait for behind an appending reporter).
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Collection, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from ...webhooks.model import DELIVERY_STATUSES, Delivery, Message
from ..delivery_reads import (
    DELIVERY_COLUMNS,
    INSERT_DELIVERY,
    DeliveryReads,
    delivery_from_row,
    requeued,
)
from ..dialect import SQLITE
from .driver import Connection, write_transaction
from .schema import has_queue_state, refill_queue_state

if TYPE_CHECKING:
    from pathlib import Path

    from ...webhooks.model import Subscription

PROGRESS = "ifnull((SELECT position FROM webhook_progress), 0)"
"""The log position the deliverer has prepared through (0 before it first ran)."""
CURSOR = f"CASE WHEN follows = 1 THEN max(cursor, {PROGRESS}) ELSE cursor END"
"""A subscription's cursor, in SQL: a follower's moves with the deliverer's progress."""
DUE_SQL = "SELECT subscription FROM webhook_queue_heads WHERE active = 1 AND due_at <= ?"
"""A range of the index of heads by due time: a tick reads only the heads that are due,
never the deliveries or the subscriptions."""


class _Claims:
    """The claims on one database file: subscription -> (owner, expires)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.held: dict[str, tuple[str, float]] = {}


_CLAIMS: dict[str, _Claims] = {}
_CLAIMS_LOCK = threading.Lock()


def _claims_of(key: str) -> _Claims:
    with _CLAIMS_LOCK:
        found = _CLAIMS.get(key)
        if found is None:
            found = _CLAIMS[key] = _Claims()
        return found


class SqliteDeliveryQueue(DeliveryReads[Connection]):
    """The queues in this backend's SQL (the rest: `DeliveryReads`)."""

    conn: Connection
    dialect = SQLITE
    summary_type = "json_extract(body, '$.type')"

    # Provided by SqliteWebhookStore (the subscriptions' SELECT, cursor included).
    def _read(self, where: str, params: Sequence[Any] = ()) -> list[Subscription]:
        raise NotImplementedError

    def database_path(self) -> Path:
        raise NotImplementedError

    # A write transaction already excludes every other writer: a single statement
    # needs nothing more, several take one transaction.
    def _queue_change(self, subscription_id: str) -> contextlib.AbstractContextManager[object]:
        return contextlib.nullcontext()

    def _queue_transaction(self, subscription_id: str) -> contextlib.AbstractContextManager[object]:
        return write_transaction(self.conn)

    def _outcome_change(self, delivery_id: int) -> contextlib.AbstractContextManager[object]:
        return contextlib.nullcontext()

    # -- filling ---------------------------------------------------------------------

    def progress(self) -> int:
        row = self.conn.execute("SELECT position FROM webhook_progress").fetchone()
        return int(row[0]) if row else 0

    def advance_progress(self, position: int) -> None:
        self.conn.execute(
            "INSERT INTO webhook_progress (id, position) VALUES (1, ?) "
            "ON CONFLICT (id) DO UPDATE SET position = max(position, excluded.position)",
            (position,),
        )

    def own_cursors(self) -> list[Subscription]:
        # The partial index webhook_subscriptions_own_cursor.
        return self._read("WHERE status = 'active' AND follows = 0")

    def followers(self, conferences: Sequence[str]) -> list[Subscription]:
        # The partial index webhook_subscriptions_following, by conference.
        followers = "WHERE status = 'active' AND follows = 1 AND "
        return [
            *self._read(followers + "conference IS NULL"),
            *self._read(
                followers + "conference IN (SELECT value FROM json_each(?))",
                (json.dumps(sorted(conferences)),),
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
        params: list[Any] = [after, until]
        if conference is not None:
            # events_by_type: a seek per type into this conference's position range.
            where = "position > ? AND position <= ? AND conference = ?"
            type_column = "type"
            params.append(conference)
        else:
            # Every conference: the position range itself (an index on type would read
            # every event of those types the log ever had).
            where = "position > ? AND position <= ?"
            type_column = "+type"
        marks = ", ".join("?" * len(types))
        return [
            Message(r[0], "msg_" + r[1], r[2])
            for r in self.conn.execute(
                f"SELECT position, id, type FROM events WHERE {where} "
                f"AND {type_column} IN ({marks}) ORDER BY position LIMIT ?",
                (*params, *types, limit),
            )
        ]

    def enqueue(
        self, subscription_id: str, messages: Sequence[Message], due_at: float, created_at: str
    ) -> None:
        self.conn.executemany(
            INSERT_DELIVERY,
            [
                (subscription_id, m.message_id, m.type, m.position, m.summary, due_at, created_at)
                for m in messages
            ],
        )

    # Many at once: one statement each is nothing to save in a file (no round trips).

    def pending_counts(self, subscription_ids: Collection[str]) -> dict[str, int]:
        found = {s: self.pending_count(s) for s in subscription_ids}
        return {s: n for s, n in found.items() if n}

    def enqueue_many(
        self,
        queues: Sequence[tuple[str, Sequence[Message]]],
        due_at: float,
        created_at: str,
    ) -> None:
        for subscription_id, messages in queues:
            self.enqueue(subscription_id, messages, due_at, created_at)

    def move_cursors(self, moves: Sequence[tuple[str, int, bool]]) -> None:
        for subscription_id, cursor, follows in moves:
            self.move_cursor(subscription_id, cursor, follows=follows)

    def move_cursor(self, subscription_id: str, cursor: int, *, follows: bool) -> None:
        self.conn.execute(
            "UPDATE webhook_subscriptions SET cursor = ?, follows = ? WHERE id = ?",
            (cursor, int(follows), subscription_id),
        )

    def rewind(self, subscription_id: str, position: int) -> None:
        self.conn.execute(
            f"UPDATE webhook_subscriptions SET cursor = min({CURSOR}, ?), follows = 0 WHERE id = ?",
            (position, subscription_id),
        )

    # -- draining --------------------------------------------------------------------

    def due(self, now: float) -> list[str]:
        return [r[0] for r in self.conn.execute(DUE_SQL, (now,)).fetchall()]

    def pending(self, subscription_id: str, limit: int) -> list[Delivery]:
        # webhook_deliveries_pending (subscription, id) WHERE status = 'pending': a range.
        rows = self.conn.execute(
            f"SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE subscription = ? "
            "AND status = 'pending' ORDER BY id LIMIT ?",
            (subscription_id, limit),
        ).fetchall()
        return [delivery_from_row(r) for r in rows]

    def record_delivered_many(self, delivered: Sequence[tuple[int, int, str]]) -> None:
        self.conn.executemany(
            "UPDATE webhook_deliveries SET status = 'delivered', attempts = attempts + 1, "
            "last_attempt_at = ?3, last_status = ?2, last_error = NULL, finished_at = ?3 "
            "WHERE id = ?1 AND status = 'pending'",
            delivered,
        )

    def subscriptions_among(self, subscription_ids: Collection[str]) -> list[Subscription]:
        return self._read(
            "WHERE id IN (SELECT value FROM json_each(?))", (json.dumps(list(subscription_ids)),)
        )

    def pending_many(
        self, subscription_ids: Collection[str], limit: int
    ) -> dict[str, list[Delivery]]:
        # No round trips to save in a file: a range of the pending index per subscription.
        found = {s: self.pending(s, limit) for s in subscription_ids}
        return {s: deliveries for s, deliveries in found.items() if deliveries}

    def lock_queues(self, subscription_ids: Collection[str]) -> None:
        """Nothing to take: the write transaction already excludes every other writer."""

    # -- claims (in this process: the module's docstring) -----------------------------

    @cached_property
    def _claims(self) -> _Claims:
        path = str(self.database_path())
        # An in-memory database is its connection's alone.
        return _claims_of(path if path else f"memory:{id(self.conn)}")

    def claim(self, subscription_id: str, owner: str, until: float) -> bool:
        claims = self._claims
        with claims.lock:
            held = claims.held.get(subscription_id)
            if held is not None and held[0] != owner and held[1] > time.time():
                return False
            claims.held[subscription_id] = (owner, until)
            return True

    def renew(self, subscription_ids: Collection[str], owner: str, until: float) -> set[str]:
        claims = self._claims
        renewed = set()
        with claims.lock:
            for subscription_id in subscription_ids:
                held = claims.held.get(subscription_id)
                if held is not None and held[0] == owner:
                    claims.held[subscription_id] = (owner, until)
                    renewed.add(subscription_id)
        return renewed

    def release(self, subscription_id: str, owner: str) -> None:
        self.release_many((subscription_id,), owner)

    def claim_many(self, subscription_ids: Collection[str], owner: str, until: float) -> set[str]:
        return {s for s in subscription_ids if self.claim(s, owner, until)}

    def release_many(self, subscription_ids: Collection[str], owner: str) -> None:
        claims = self._claims
        with claims.lock:
            for subscription_id in subscription_ids:
                held = claims.held.get(subscription_id)
                if held is not None and held[0] == owner:
                    del claims.held[subscription_id]

    # -- history ---------------------------------------------------------------------

    def requeue(self, old: Delivery, due_at: float, created_at: str) -> Delivery:
        cursor = self.conn.execute(INSERT_DELIVERY, requeued(old, due_at, created_at))
        assert cursor.lastrowid is not None
        new = self.delivery(cursor.lastrowid)
        assert new is not None
        return new

    # -- the kept heads and counts ---------------------------------------------------

    def counts(self) -> dict[str, int]:
        sql = (
            "SELECT status, deliveries FROM webhook_delivery_counts"
            if has_queue_state(self.conn)
            # A read-only log from an older release: counted.
            else "SELECT status, count(*) FROM webhook_deliveries GROUP BY status"
        )
        counts: dict[str, int] = dict(self.conn.execute(sql).fetchall())
        return {s: int(counts.get(s, 0)) for s in DELIVERY_STATUSES}

    def _kept_tables(self) -> bool | None:
        tables = {
            r[0]
            for r in self.conn.execute(
                "SELECT name FROM sqlite_master WHERE name IN "
                "('webhook_deliveries', 'webhook_queue_heads', 'webhook_delivery_counts')"
            )
        }
        if "webhook_deliveries" not in tables:
            return None
        return has_queue_state(self.conn) and len(tables) == 3

    def _snapshot(self) -> contextlib.AbstractContextManager[object]:
        # One deliverer and one connection: the reads already see one state.
        return contextlib.nullcontext()

    def refill_queue_state(self) -> None:
        refill_queue_state(self.conn)
