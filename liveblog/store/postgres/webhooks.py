"""The webhook store on PostgreSQL: the `webhook_*` tables (config_schema.CONFIG_DDL,
applied by the configuration migration) on the event store's own connection, so one
transaction covers the log and the webhook tables, as on SQLite.

The queue's queries are in webhook_queue, the summary versions' in webhook_summaries,
the claims that let several nodes share the delivery in webhook_claims. This module:
subscriptions, their secrets, and the unit of work.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from ...webhooks.model import NewSubscription, Subscription
from .driver import PgConnection
from .webhook_claims import WebhookClaimsMixin
from .webhook_queue import CURSOR, PROGRESS, PostgresDeliveryQueue
from .webhook_summaries import PostgresSummaryVersions

_COLUMNS = "id, url, events, conference, secret, allow_private, status, status_reason, cursor"
_SELECT = f"SELECT {_COLUMNS.replace('cursor', CURSOR)}, follows FROM webhook_subscriptions"


def subscription_from_row(row: Sequence[Any]) -> Subscription:
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
        cursor=int(cursor),
        follows=bool(follows),
    )


class PostgresWebhookStore(PostgresDeliveryQueue, PostgresSummaryVersions, WebhookClaimsMixin):
    """liveblog.store.webhooks.WebhookStore on one PgConnection (the event store's; the
    configuration migration has created the tables)."""

    def __init__(self, conn: PgConnection, url: str) -> None:
        self.conn = conn
        self.url = url

    # -- the unit of work ------------------------------------------------------------

    def writing(self) -> contextlib.AbstractContextManager[object]:
        # No log lock: delivery bookkeeping never holds up appends. Inside the event
        # store's writing() (which takes it) this joins that transaction.
        return self.conn.writing()

    def database_path(self) -> Path | None:
        # No file to keep the key beside: on PostgreSQL the key is configured, the same
        # on every node (liveblog.webhooks.secretkey: LIVEBLOG_SECRET_KEY or
        # LIVEBLOG_SECRET_KEY_FILE).
        return None

    def relax_durability(self) -> None:
        # synchronous_commit off: a crash of the server may lose the last commits of this
        # connection (never corrupt anything), a crash of ours nothing. Undone when the
        # connection goes back to the pool, so no other store appends undurably.
        self.conn.relax_durability()

    def log_head(self) -> int:
        return int(self.conn.execute("SELECT coalesce(max(position), 0) FROM events").fetchone()[0])

    # -- subscriptions ---------------------------------------------------------------

    def _read(self, where: str, params: Sequence[Any] = ()) -> list[Subscription]:
        rows = self.conn.execute(f"{_SELECT} {where}", params).fetchall()
        return [subscription_from_row(r) for r in rows]

    def insert_subscription(self, new: NewSubscription) -> None:
        self.conn.execute(
            f"INSERT INTO webhook_subscriptions ({_COLUMNS}, created_at) "
            "VALUES (%s, %s, %s, %s, %s, %s, 'active', NULL, %s, %s)",
            (
                new.id,
                new.url,
                json.dumps(list(new.events)),
                new.conference,
                new.sealed_secret,
                bool(new.allow_private),
                new.cursor,
                new.created_at,
            ),
        )

    def subscriptions(self, *, active_only: bool = False) -> list[Subscription]:
        where = "WHERE status = 'active' " if active_only else ""
        return self._read(f"{where}ORDER BY created_at, id")

    def subscription(self, subscription_id: str) -> Subscription | None:
        found = self._read("WHERE id = %s", (subscription_id,))
        return found[0] if found else None

    def subscriptions_starting(self, prefix: str, limit: int) -> list[Subscription]:
        # A range of the primary key (COLLATE "C": byte order, as SQLite's): ids sharing
        # the prefix sort together, and U+10FFFF sorts after every other character.
        return self._read(
            "WHERE id >= %s AND id < %s ORDER BY id LIMIT %s",
            (prefix, prefix + "\U0010ffff", limit),
        )

    def any_active(self) -> bool:
        return bool(
            self.conn.execute(
                "SELECT 1 FROM webhook_subscriptions WHERE status = 'active' LIMIT 1"
            ).fetchone()
        )

    def totals(self, head: int) -> dict[str, int]:
        # One pass in SQL, never a count of the delivery history.
        row = self.conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE status = 'active'), "
            f"coalesce(sum(%s - {CURSOR}) FILTER (WHERE status = 'active'), 0) "
            "FROM webhook_subscriptions",
            (head,),
        ).fetchone()
        return {"subscriptions": int(row[0]), "active": int(row[1]), "unqueued": int(row[2])}

    def set_status(self, subscription_id: str, status: str, reason: str | None) -> None:
        # The trigger webhook_subscriptions_status stops a disabled follower following;
        # webhook_subscriptions_head_active marks its head.
        self.conn.execute(
            "UPDATE webhook_subscriptions SET status = %s, status_reason = %s WHERE id = %s",
            (status, reason, subscription_id),
        )

    def delete_subscription(self, subscription_id: str) -> None:
        with self.conn.writing():
            # FOR UPDATE first: the queue's lock (webhook_queue), then the rows.
            self.conn.execute(
                "SELECT 1 FROM webhook_subscriptions WHERE id = %s FOR UPDATE", (subscription_id,)
            )
            self.conn.execute(
                "DELETE FROM webhook_deliveries WHERE subscription = %s", (subscription_id,)
            )
            self.conn.execute("DELETE FROM webhook_subscriptions WHERE id = %s", (subscription_id,))

    def keeps_subscriptions(self) -> bool:
        return bool(
            self.conn.execute("SELECT to_regclass('webhook_subscriptions') IS NOT NULL").fetchone()[
                0
            ]
        )

    # -- secrets at rest -------------------------------------------------------------

    def sealed_secrets(self) -> list[tuple[str, str]]:
        rows = self.conn.execute(
            "SELECT id, secret FROM webhook_subscriptions ORDER BY id"
        ).fetchall()
        return [(str(id_), str(secret)) for id_, secret in rows]

    def reseal(self, secrets: Iterable[tuple[str, str]]) -> None:
        # An UPDATE writes a new row version; the old one (the old text) stays in the
        # table's pages until VACUUM reclaims it. Vacuuming the table afterwards is the
        # operator's (README: secrets at rest), as it cannot run inside a transaction.
        rows = [(sealed, id_) for id_, sealed in secrets]
        if rows:
            with self.conn.writing():
                self.conn.executemany(
                    "UPDATE webhook_subscriptions SET secret = %s WHERE id = %s", rows
                )


__all__ = ["CURSOR", "PROGRESS", "PostgresWebhookStore", "subscription_from_row"]
