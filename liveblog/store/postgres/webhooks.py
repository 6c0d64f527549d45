"""The webhook store on PostgreSQL: the `webhook_*` tables (config_schema.CONFIG_DDL,
applied by the configuration migration) on the event store's own connection, so one
transaction covers the log and the webhook tables, as on SQLite.

The queue's queries are in webhook_queue, the summary versions' in webhook_summaries,
the claims that let several nodes share the delivery in webhook_claims, the statements
both backends share in liveblog.store.webhook_reads. This module:
subscriptions, their secrets, and the unit of work.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from ...webhooks.model import Subscription
from ..dialect import POSTGRES
from ..webhook_reads import SUBSCRIPTION_COLUMNS, SubscriptionReads, subscription_from_row
from .driver import PgConnection
from .webhook_claims import WebhookClaimsMixin
from .webhook_queue import CURSOR, PROGRESS, PostgresDeliveryQueue
from .webhook_summaries import PostgresSummaryVersions

_SELECT = (
    f"SELECT {SUBSCRIPTION_COLUMNS.replace('cursor', CURSOR)}, follows FROM webhook_subscriptions"
)


class PostgresWebhookStore(
    PostgresDeliveryQueue,
    PostgresSummaryVersions,
    WebhookClaimsMixin,
    SubscriptionReads[PgConnection],
):
    """liveblog.store.webhooks.WebhookStore on one PgConnection (the event store's; the
    configuration migration has created the tables)."""

    conn: PgConnection
    dialect = POSTGRES

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

    def _totals_sql(self) -> str:
        return (
            "SELECT count(*), count(*) FILTER (WHERE status = 'active'), "
            f"coalesce(sum(%s - {CURSOR}) FILTER (WHERE status = 'active'), 0) "
            "FROM webhook_subscriptions"
        )

    @contextlib.contextmanager
    def _deleting(self, subscription_id: str) -> Iterator[None]:
        with self.conn.writing():
            # FOR UPDATE first: the queue's lock (webhook_queue), then the rows.
            self.conn.execute(
                "SELECT 1 FROM webhook_subscriptions WHERE id = %s FOR UPDATE", (subscription_id,)
            )
            yield

    def keeps_subscriptions(self) -> bool:
        return bool(
            self.conn.execute("SELECT to_regclass('webhook_subscriptions') IS NOT NULL").fetchone()[
                0
            ]
        )

    # -- secrets at rest -------------------------------------------------------------

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
