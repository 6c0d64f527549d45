"""The webhook store in events.db: `webhook_*` tables beside the log, on the event
store's own connection (one transaction covers the log and the webhook tables).

The tables, their triggers and their migrations are in liveblog.store.sqlite.schema
(CONFIG_DDL, QUEUE_DDL); the queue's queries are in webhook_queue, the summary
versions' in webhook_summaries, the statements both backends share in
liveblog.store.webhook_reads. This module: subscriptions and their secrets.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from ...webhooks.model import Subscription
from ..dialect import SQLITE
from ..webhook_reads import SUBSCRIPTION_COLUMNS, SubscriptionReads, subscription_from_row
from .driver import Connection, write_transaction
from .schema import has_queue_state
from .webhook_queue import CURSOR, PROGRESS, SqliteDeliveryQueue
from .webhook_summaries import SqliteSummaryVersions

_SELECT_COLUMNS = SUBSCRIPTION_COLUMNS.replace("cursor", CURSOR) + ", follows"
_OLD_COLUMNS = SUBSCRIPTION_COLUMNS + ", 0"


__all__ = ["CURSOR", "PROGRESS", "SqliteWebhookStore", "subscription_from_row"]


class SqliteWebhookStore(SqliteDeliveryQueue, SqliteSummaryVersions, SubscriptionReads[Connection]):
    """liveblog.store.webhooks.WebhookStore on one events.db connection (the event
    store's: the caller makes sure the configuration tables exist)."""

    conn: Connection
    dialect = SQLITE

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    @staticmethod
    def _flag(value: bool) -> object:
        return int(value)

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

    def _read(self, where: str, params: Sequence[Any] = ()) -> list[Subscription]:
        rows = self.conn.execute(f"{self._select()} {where}", params).fetchall()
        return [subscription_from_row(r) for r in rows]

    def _totals_sql(self) -> str:
        cursor = CURSOR if has_queue_state(self.conn) else "cursor"
        return (
            "SELECT count(*), ifnull(sum(status = 'active'), 0), "
            f"ifnull(sum(CASE WHEN status = 'active' THEN ? - {cursor} END), 0) "
            "FROM webhook_subscriptions"
        )

    def _deleting(self, subscription_id: str) -> contextlib.AbstractContextManager[object]:
        return write_transaction(self.conn)

    def keeps_subscriptions(self) -> bool:
        return bool(
            self.conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' "
                "AND name = 'webhook_subscriptions'"
            ).fetchone()
        )

    # -- secrets at rest -------------------------------------------------------------

    def reseal(self, secrets: Iterable[tuple[str, str]]) -> None:
        # The old text is overwritten in the page, not left in its free space.
        self.conn.execute("PRAGMA secure_delete = ON")
        for id_, sealed in secrets:
            self.conn.execute(
                "UPDATE webhook_subscriptions SET secret = ? WHERE id = ?", (sealed, id_)
            )
