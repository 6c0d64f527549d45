"""One sender per subscription across every node on a PostgreSQL store: claims as
leases, and the deliverer's batched reads and writes of a queue.

`WebhookClaimsMixin` is a base of `PostgresWebhookStore` (liveblog.store.postgres
.webhooks), which must keep its `PgConnection` as `self.conn`: every method here runs
on it, so a claim made inside the store's unit of work joins it.

A claim is a row of `webhook_claims` (CLAIMS_DDL, created by the configuration
migration, m002): who holds the subscription and until when. Taking it is one
`INSERT … ON CONFLICT DO UPDATE … WHERE` the row has expired or is already ours: the
conflicting row is locked for the statement, and under READ COMMITTED its condition is
evaluated again on the newest committed version, so of two nodes racing for an expired
claim exactly one gets it. A lease rather than a lock held by a session: a node killed
mid-POST keeps nothing; its claim expires within a lease, the deliveries it did not
record are still pending, and the next holder sends them again (at least once).

Expiry is judged by the database's clock (`clock_timestamp()`), `until` by the
claimer's: nodes keep their clocks within a small part of a lease of the database's.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Any

from ...webhooks.model import Delivery

if TYPE_CHECKING:
    from .driver import PgConnection

CLAIMS_DDL = """
CREATE TABLE IF NOT EXISTS webhook_claims (
    subscription text PRIMARY KEY,
    owner text NOT NULL,
    expires double precision NOT NULL
);
"""
"""The claims table (no foreign key: a claim on a removed subscription only expires).
It belongs in the configuration migration (m002, beside CONFIG_DDL)."""

_NOW = "extract(epoch FROM clock_timestamp())"
_CLAIM = (
    "INSERT INTO webhook_claims AS c (subscription, owner, expires) VALUES (%s, %s, %s) "
    "ON CONFLICT (subscription) DO UPDATE SET owner = excluded.owner, "
    "expires = excluded.expires "
    f"WHERE c.owner = excluded.owner OR c.expires < {_NOW} RETURNING 1"
)
_RENEW = (
    "UPDATE webhook_claims SET expires = %s "
    "WHERE owner = %s AND subscription = ANY(%s) RETURNING subscription"
)
_RELEASE = "DELETE FROM webhook_claims WHERE subscription = %s AND owner = %s"
_CLAIM_MANY = (
    # In id order, as every node claims: two claiming overlapping sets never deadlock.
    "INSERT INTO webhook_claims AS c (subscription, owner, expires) "
    "SELECT s, %s, %s FROM unnest(%s::text[]) AS s ORDER BY s "
    "ON CONFLICT (subscription) DO UPDATE SET owner = excluded.owner, "
    "expires = excluded.expires "
    f"WHERE c.owner = excluded.owner OR c.expires < {_NOW} RETURNING subscription"
)
_RELEASE_MANY = "DELETE FROM webhook_claims WHERE subscription = ANY (%s) AND owner = %s"

# The deliveries' columns, in liveblog.webhooks.model.Delivery's order: the same table
# as SQLite's webhook_deliveries (PostgresWebhookStore may override both methods if
# its table differs).
_COLUMNS = (
    "id, subscription, message_id, type, position, summary, status, attempts, "
    "next_attempt_at, last_attempt_at, last_status, last_error, created_at, finished_at"
)
_DELIVERED = (
    "UPDATE webhook_deliveries SET status = 'delivered', attempts = attempts + 1, "
    "last_attempt_at = %(stamp)s, last_status = %(status)s, last_error = NULL, "
    "finished_at = %(stamp)s WHERE id = %(id)s AND status = 'pending'"
)


class WebhookClaimsMixin:
    """Claims and batched queue access on `self.conn` (a PgConnection that the class
    inheriting this one sets in its constructor)."""

    conn: PgConnection

    def claim(self, subscription_id: str, owner: str, until: float) -> bool:
        return self.conn.execute(_CLAIM, (subscription_id, owner, until)).fetchone() is not None

    def renew(self, subscription_ids: Collection[str], owner: str, until: float) -> set[str]:
        if not subscription_ids:
            return set()
        rows = self.conn.execute(_RENEW, (until, owner, list(subscription_ids))).fetchall()
        return {str(r[0]) for r in rows}

    def release(self, subscription_id: str, owner: str) -> None:
        self.conn.execute(_RELEASE, (subscription_id, owner))

    def claim_many(self, subscription_ids: Collection[str], owner: str, until: float) -> set[str]:
        if not subscription_ids:
            return set()
        # Each id once: a statement may not update the same row twice.
        wanted = sorted(set(subscription_ids))
        rows = self.conn.execute(_CLAIM_MANY, (owner, until, wanted)).fetchall()
        return {str(r[0]) for r in rows}

    def release_many(self, subscription_ids: Collection[str], owner: str) -> None:
        if subscription_ids:
            self.conn.execute(_RELEASE_MANY, (list(subscription_ids), owner))

    def pending(self, subscription_id: str, limit: int) -> list[Delivery]:
        rows = self.conn.execute(
            f"SELECT {_COLUMNS} FROM webhook_deliveries WHERE subscription = %s "
            "AND status = 'pending' ORDER BY id LIMIT %s",
            (subscription_id, limit),
        ).fetchall()
        return [_delivery(r) for r in rows]

    def record_delivered_many(self, delivered: Sequence[tuple[int, int, str]]) -> None:
        if delivered:
            # One transaction for the batch (joined when the caller holds one).
            with self.conn.writing():
                self.conn.executemany(
                    _DELIVERED,
                    [{"id": d, "status": s, "stamp": stamp} for d, s, stamp in delivered],
                )


def _delivery(row: Sequence[Any]) -> Delivery:
    return Delivery(*row)


__all__ = ["CLAIMS_DDL", "WebhookClaimsMixin"]
