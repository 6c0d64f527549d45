"""The webhook store in events.db: `webhook_*` tables beside the log, on the event
store's own connection (one transaction covers the log and the webhook tables).

The tables, their triggers and their migrations are in liveblog.store.sqlite.schema
(CONFIG_DDL, QUEUE_DDL); the queue's queries are in webhook_queue, the summary
versions' in webhook_summaries. This module: subscriptions and their secrets.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ...webhooks.model import NewSubscription, Subscription
from .driver import Connection, write_transaction
from .schema import has_queue_state
from .webhook_queue import CURSOR, PROGRESS, SqliteDeliveryQueue
from .webhook_summaries import SqliteSummaryVersions

_COLUMNS = "id, url, events, conference, secret, allow_private, status, status_reason, cursor"
_SELECT_COLUMNS = _COLUMNS.replace("cursor", CURSOR) + ", follows"
_OLD_COLUMNS = _COLUMNS + ", 0"


def subscription_from_row(row: Iterable[object]) -> Subscription:
    id_, url, events, conference, secret, private, status, reason, cursor, follows = row
    return Subscription(
        id=str(id_),
        url=str(url),
        events=tuple(json.loads(str(events))),
        conference=None if conference is None else str(conference),
        sealed_secret=str(secret),
        allow_private=bool(private),
        status=str(status),
        status_reason=None if reason is None else str(reason),
        cursor=int(str(cursor)),
        follows=bool(follows),
    )


__all__ = ["CURSOR", "PROGRESS", "SqliteWebhookStore", "subscription_from_row"]


class SqliteWebhookStore(SqliteDeliveryQueue, SqliteSummaryVersions):
    """liveblog.store.webhooks.WebhookStore on one events.db connection (the event
    store's: the caller makes sure the configuration tables exist)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    # -- the unit of work ------------------------------------------------------------

    def writing(self) -> contextlib.AbstractContextManager[object]:
        return write_transaction(self.conn)

    def database_path(self) -> Path:
        rows = self.conn.execute("PRAGMA database_list").fetchall()
        return Path(next(str(r[2]) for r in rows if r[1] == "main"))

    def relax_durability(self) -> None:
        # NORMAL: in WAL mode a power cut may lose the last commits, a crash never.
        self.conn.execute("PRAGMA synchronous = NORMAL")

    def log_head(self) -> int:
        return int(self.conn.execute("SELECT ifnull(max(position), 0) FROM events").fetchone()[0])

    # -- subscriptions ---------------------------------------------------------------

    def _select(self) -> str:
        """SELECT every column of a subscription, its cursor as it stands."""
        # A read-only log from an older release has no followers: its cursors are as stored.
        columns = _SELECT_COLUMNS if has_queue_state(self.conn) else _OLD_COLUMNS
        return f"SELECT {columns} FROM webhook_subscriptions"

    def _read(self, where: str, params: tuple[Any, ...] = ()) -> list[Subscription]:
        rows = self.conn.execute(f"{self._select()} {where}", params).fetchall()
        return [subscription_from_row(r) for r in rows]

    def insert_subscription(self, new: NewSubscription) -> None:
        self.conn.execute(
            f"INSERT INTO webhook_subscriptions ({_COLUMNS}, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, 'active', NULL, ?, ?)",
            (
                new.id,
                new.url,
                json.dumps(list(new.events)),
                new.conference,
                new.sealed_secret,
                int(new.allow_private),
                new.cursor,
                new.created_at,
            ),
        )

    def subscriptions(self, *, active_only: bool = False) -> list[Subscription]:
        where = "WHERE status = 'active' " if active_only else ""
        return self._read(f"{where}ORDER BY created_at, id")

    def subscription(self, subscription_id: str) -> Subscription | None:
        found = self._read("WHERE id = ?", (subscription_id,))
        return found[0] if found else None

    def subscriptions_starting(self, prefix: str, limit: int) -> list[Subscription]:
        # A range of the primary key: ids sharing the prefix sort together.
        return self._read(
            "WHERE id >= ? AND id < ? ORDER BY id LIMIT ?", (prefix, prefix + "\U0010ffff", limit)
        )

    def any_active(self) -> bool:
        return bool(
            self.conn.execute(
                "SELECT 1 FROM webhook_subscriptions WHERE status = 'active' LIMIT 1"
            ).fetchone()
        )

    def totals(self, head: int) -> dict[str, int]:
        # One pass in SQL, never a count of the delivery history.
        cursor = CURSOR if has_queue_state(self.conn) else "cursor"
        row = self.conn.execute(
            "SELECT count(*), ifnull(sum(status = 'active'), 0), "
            f"ifnull(sum(CASE WHEN status = 'active' THEN ? - {cursor} END), 0) "
            "FROM webhook_subscriptions",
            (head,),
        ).fetchone()
        return {"subscriptions": int(row[0]), "active": int(row[1]), "unqueued": int(row[2])}

    def set_status(self, subscription_id: str, status: str, reason: str | None) -> None:
        # The trigger webhook_subscriptions_status stops a disabled follower following.
        self.conn.execute(
            "UPDATE webhook_subscriptions SET status = ?, status_reason = ? WHERE id = ?",
            (status, reason, subscription_id),
        )

    def delete_subscription(self, subscription_id: str) -> None:
        with write_transaction(self.conn):
            self.conn.execute(
                "DELETE FROM webhook_deliveries WHERE subscription = ?", (subscription_id,)
            )
            self.conn.execute("DELETE FROM webhook_subscriptions WHERE id = ?", (subscription_id,))

    def keeps_subscriptions(self) -> bool:
        return bool(
            self.conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' "
                "AND name = 'webhook_subscriptions'"
            ).fetchone()
        )

    # -- secrets at rest -------------------------------------------------------------

    def sealed_secrets(self) -> list[tuple[str, str]]:
        rows = self.conn.execute(
            "SELECT id, secret FROM webhook_subscriptions ORDER BY id"
        ).fetchall()
        return [(str(id_), str(secret)) for id_, secret in rows]

    def reseal(self, secrets: Iterable[tuple[str, str]]) -> None:
        # The old text is overwritten in the page, not left in its free space.
        self.conn.execute("PRAGMA secure_delete = ON")
        for id_, sealed in secrets:
            self.conn.execute(
                "UPDATE webhook_subscriptions SET secret = ? WHERE id = ?", (sealed, id_)
            )
