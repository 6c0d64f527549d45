"""The subscriptions' statements that both backends run alike (part of each backend's
webhook store: `SqliteWebhookStore`, `PostgresWebhookStore`).

Each backend keeps its own SELECT (`_read`: the cursor's SQL, an older SQLite log's
columns), its upserts, locks and catalogue lookups; these differ only in placeholders.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Sequence
from typing import Any, ClassVar, Generic, TypeVar

from ..webhooks.model import NewSubscription, Subscription
from .dialect import Dialect, Executes

SUBSCRIPTION_COLUMNS = (
    "id, url, events, conference, secret, allow_private, status, status_reason, cursor"
)
"""A subscription's stored columns, in the order `subscription_from_row` reads them
(after them every SELECT gives `follows`)."""

_INSERT = (
    f"INSERT INTO webhook_subscriptions ({SUBSCRIPTION_COLUMNS}, created_at) "
    "VALUES (?, ?, ?, ?, ?, ?, 'active', NULL, ?, ?)"
)
_STARTING = "WHERE id >= ? AND id < ? ORDER BY id LIMIT ?"
_ANY_ACTIVE = "SELECT 1 FROM webhook_subscriptions WHERE status = 'active' LIMIT 1"
_SET_STATUS = "UPDATE webhook_subscriptions SET status = ?, status_reason = ? WHERE id = ?"
_DELETE_DELIVERIES = "DELETE FROM webhook_deliveries WHERE subscription = ?"
_DELETE = "DELETE FROM webhook_subscriptions WHERE id = ?"
_SECRETS = "SELECT id, secret FROM webhook_subscriptions ORDER BY id"


def subscription_from_row(row: Iterable[Any]) -> Subscription:
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


Conn = TypeVar("Conn", bound=Executes)


class SubscriptionReads(Generic[Conn]):
    """Generic in the connection's type, as `SharedSummaryVersions`: the store that
    inherits both declares one `conn`."""

    conn: Conn
    dialect: ClassVar[Dialect]

    # The backend's: its SELECT of every column, the cursor as it stands.
    def _read(self, where: str, params: Sequence[Any] = ()) -> list[Subscription]:
        raise NotImplementedError

    def _totals_sql(self) -> str:
        """`totals`' one pass over the subscriptions, in the backend's SQL: count,
        active, and the log positions the active ones have still to queue (`head`)."""
        raise NotImplementedError

    def _deleting(self, subscription_id: str) -> contextlib.AbstractContextManager[object]:
        """The transaction deleting this subscription and its queue."""
        raise NotImplementedError

    @staticmethod
    def _flag(value: bool) -> object:
        """A boolean as the backend's column holds it (SQLite: 0/1)."""
        return value

    def insert_subscription(self, new: NewSubscription) -> None:
        self.conn.execute(
            self.dialect.sql(_INSERT),
            (
                new.id,
                new.url,
                json.dumps(list(new.events)),
                new.conference,
                new.sealed_secret,
                self._flag(new.allow_private),
                new.cursor,
                new.created_at,
            ),
        )

    def subscriptions(self, *, active_only: bool = False) -> list[Subscription]:
        where = "WHERE status = 'active' " if active_only else ""
        return self._read(f"{where}ORDER BY created_at, id")

    def subscription(self, subscription_id: str) -> Subscription | None:
        found = self._read(self.dialect.sql("WHERE id = ?"), (subscription_id,))
        return found[0] if found else None

    def subscriptions_starting(self, prefix: str, limit: int) -> list[Subscription]:
        # A range of the primary key (PostgreSQL's ids are COLLATE "C": byte order, as
        # SQLite's): ids sharing the prefix sort together, and U+10FFFF sorts after
        # every other character.
        return self._read(self.dialect.sql(_STARTING), (prefix, prefix + "\U0010ffff", limit))

    def any_active(self) -> bool:
        return bool(self.conn.execute(_ANY_ACTIVE).fetchone())

    def set_status(self, subscription_id: str, status: str, reason: str | None) -> None:
        # The trigger webhook_subscriptions_status stops a disabled follower following
        # (on PostgreSQL webhook_subscriptions_head_active also marks its head).
        self.conn.execute(self.dialect.sql(_SET_STATUS), (status, reason, subscription_id))

    def totals(self, head: int) -> dict[str, int]:
        # One pass in SQL, never a count of the delivery history.
        row = self.conn.execute(self._totals_sql(), (head,)).fetchone()
        return {"subscriptions": int(row[0]), "active": int(row[1]), "unqueued": int(row[2])}

    def delete_subscription(self, subscription_id: str) -> None:
        with self._deleting(subscription_id):
            self.conn.execute(self.dialect.sql(_DELETE_DELIVERIES), (subscription_id,))
            self.conn.execute(self.dialect.sql(_DELETE), (subscription_id,))

    def sealed_secrets(self) -> list[tuple[str, str]]:
        rows = self.conn.execute(_SECRETS).fetchall()
        return [(str(id_), str(secret)) for id_, secret in rows]
