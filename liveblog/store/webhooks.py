"""The webhook store: subscriptions, their delivery queues and the summary versions
queued like events. `liveblog.webhooks` decides what to queue, send and record; a
backend only keeps it (the SQLite one: liveblog.store.sqlite.webhooks).

Contracts every implementation keeps (tests/contract/test_webhook_store.py):

* **One unit of work.** `writing()` opens one write transaction, re-entrant (inside an
  open one it joins it), shared with the event store the webhook store was built on:
  what is read inside it cannot change before it commits, and an exception rolls back
  every write made in it. Every method that writes may also be called outside one (it
  then commits on its own).
* **Positions are the log's.** Cursors, the progress and every message's position are
  event-log positions, gap-free and in commit order (liveblog.store.eventstore): a
  cursor at N means every message at a position <= N is queued.
* **A follower's cursor.** A subscription that `follows` reports as its cursor the
  larger of its stored one and the progress (`progress()`), so moving the progress
  moves every follower without a write. A subscription that stops being active stops
  following, its cursor kept where it stood.
* **Queue heads and counts.** A subscription's head is its pending delivery with the
  smallest id; `due(now)` lists the active subscriptions whose head is due at or before
  `now`, `counts()` the deliveries in each status, both kept as deliveries change (a
  tick or `status` never counts the history). `queue_state()` compares them with the
  history; `refill_queue_state()` derives them from it again.
* **Delivery ids grow**: a delivery queued later has a larger id, so id order is queue
  order within a subscription. An attempt's outcome is written only to a delivery still
  pending (one cancelled while its attempt was out stays cancelled).
* **Secrets at rest** are stored exactly as given (already sealed by the caller:
  liveblog.webhooks.secretkey) and given back byte for byte; `reseal` overwrites the old values
  where they lay, so the clear text of an older release leaves no readable copy.
* **Summary versions**: each stored version gets a `seq` larger than every earlier one;
  its body is given back as the JSON value stored.
* **Claims** (tests/contract/test_delivery_claims.py): one sender per subscription
  across every process on the store. `claim(id, owner, until)` takes the subscription
  for `owner` until `until` (seconds since the epoch) and is true unless another owner
  holds a claim that has not expired; the holder's own claim is renewed. `renew` moves
  the holder's claims on, `release` gives one up (`claim_many` and `release_many`:
  several in one statement, for a deliverer starting many senders). A claim is a
  lease, never a lock a dead process keeps: one not renewed expires and anyone may
  take it. A claim does not
  change the queue: what its holder sent but did not record is still pending, and the
  next holder sends it again (at least once). On a backend several nodes share, expiry is
  judged by the database's clock: nodes keep their clocks close to it (NTP), well
  within a lease.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol

from ..webhooks.model import (
    Delivery,
    Message,
    NewSubscription,
    QueueState,
    StaleDay,
    Subscription,
    SummaryVersion,
)


class SubscriptionStore(Protocol):
    """Who receives what (`webhook add/list/remove/enable/disable`, key rotation)."""

    def writing(self) -> AbstractContextManager[object]:
        """One write transaction (re-entrant): see the module's contract."""
        ...

    def database_path(self) -> Path | None:
        """The database file the key file may lie beside (liveblog.webhooks.secretkey
        .Keyring); None for a database without one (PostgreSQL), whose key is configured
        (LIVEBLOG_SECRET_KEY or LIVEBLOG_SECRET_KEY_FILE), the same on every node."""
        ...

    def relax_durability(self) -> None:
        """Let this connection's later commits be lost in a power cut (never in a crash
        of the process): for the deliverer, which writes only delivery state, and
        at-least-once delivery sends again what it forgot. The event store's next
        catch-up or append may make them durable again."""
        ...

    def log_head(self) -> int:
        """The last log position (0 for an empty log), as this transaction sees it."""
        ...

    def insert_subscription(self, new: NewSubscription) -> None:
        """Store a new, active subscription (its id is new: a clash raises)."""
        ...

    def subscriptions(self, *, active_only: bool = False) -> list[Subscription]:
        """Every subscription (only the active ones), by creation time then id."""
        ...

    def subscription(self, subscription_id: str) -> Subscription | None:
        """The subscription with exactly this id."""
        ...

    def subscriptions_starting(self, prefix: str, limit: int) -> list[Subscription]:
        """Up to `limit` subscriptions whose id starts with `prefix`, by id."""
        ...

    def any_active(self) -> bool: ...

    def totals(self, head: int) -> dict[str, int]:
        """`subscriptions`, `active`, and `unqueued`: the sum over active subscriptions
        of `head` minus their cursor (0 when there are none)."""
        ...

    def set_status(self, subscription_id: str, status: str, reason: str | None) -> None:
        """`active` or `disabled`, with a reason (None when active)."""
        ...

    def delete_subscription(self, subscription_id: str) -> None:
        """Forget a subscription and its whole delivery history."""
        ...

    def keeps_subscriptions(self) -> bool:
        """Whether this store holds subscriptions at all (a file from before webhooks,
        read as it is, does not): `verify` says so rather than fail."""
        ...

    def sealed_secrets(self) -> list[tuple[str, str]]:
        """(subscription id, secret as stored) of every subscription, by id."""
        ...

    def reseal(self, secrets: Iterable[tuple[str, str]]) -> None:
        """Replace these subscriptions' stored secrets, overwriting the old bytes."""
        ...


class DeliveryQueue(Protocol):
    """Each subscription's queue, filled from the log and drained head first."""

    def progress(self) -> int:
        """The log position the deliverer has prepared through (0 before it ran)."""
        ...

    def advance_progress(self, position: int) -> None:
        """Move the progress to `position` unless it is already further."""
        ...

    def own_cursors(self) -> list[Subscription]:
        """The active subscriptions that do not follow the progress."""
        ...

    def changed_types(self, after: int, until: int) -> dict[str, set[str]]:
        """conference -> the types of its events and stored summary versions with a
        position in (after, until]."""
        ...

    def followers(self, conferences: Sequence[str]) -> list[Subscription]:
        """The active followers of every conference, and of each of `conferences`."""
        ...

    def pending_count(self, subscription_id: str) -> int: ...

    def event_messages(
        self,
        after: int,
        until: int,
        conference: str | None,
        types: Sequence[str],
        limit: int,
    ) -> list[Message]:
        """The first `limit` events with a position in (after, until] of `types` (of
        `conference`, or of every one), in position order, as messages `msg_<id>`."""
        ...

    def summary_versions(
        self, after: int, until: int, conference: str | None
    ) -> list[SummaryVersion]:
        """Stored summary versions at a position in (after, until], by seq."""
        ...

    def enqueue(
        self, subscription_id: str, messages: Sequence[Message], due_at: float, created_at: str
    ) -> None:
        """Queue `messages` as pending deliveries, in this order (ids grow)."""
        ...

    def move_cursor(self, subscription_id: str, cursor: int, *, follows: bool) -> None: ...

    # -- queueing for many subscriptions at once (the deliverer's prepare) ------------

    def pending_counts(self, subscription_ids: Collection[str]) -> dict[str, int]:
        """`pending_count` of each, in one read (a subscription with none is absent)."""
        ...

    def enqueue_many(
        self,
        queues: Sequence[tuple[str, Sequence[Message]]],
        due_at: float,
        created_at: str,
    ) -> None:
        """`enqueue` of each (subscription id, messages), in one statement: each
        subscription's messages in their order (ids grow within each queue)."""
        ...

    def move_cursors(self, moves: Sequence[tuple[str, int, bool]]) -> None:
        """`move_cursor` of each (subscription id, cursor, follows), in one statement."""
        ...

    def rewind(self, subscription_id: str, position: int) -> None:
        """Move the cursor back to `position` (never forward) and stop following."""
        ...

    def head(self, subscription_id: str) -> Delivery | None:
        """The subscription's pending delivery with the smallest id."""
        ...

    def due(self, now: float) -> list[str]:
        """The active subscriptions whose head is due at or before `now`."""
        ...

    def pending(self, subscription_id: str, limit: int) -> list[Delivery]:
        """The subscription's first `limit` pending deliveries, by id (its head first):
        what one sender sends in a row before it records their outcomes."""
        ...

    def record_delivered_many(self, delivered: Sequence[tuple[int, int, str]]) -> None:
        """`record_delivered` of every (delivery id, status, stamp), in one statement;
        the queues of these deliveries are held first, in one order, as by
        `lock_queues`."""
        ...

    # -- the deliverer's batched reads and writes: several senders' runs at a time ----

    def subscriptions_among(self, subscription_ids: Collection[str]) -> list[Subscription]:
        """The subscriptions with these ids (those that exist), in no particular order."""
        ...

    def pending_many(
        self, subscription_ids: Collection[str], limit: int
    ) -> dict[str, list[Delivery]]:
        """`pending` of each of these subscriptions, in one read: id -> its first `limit`
        pending deliveries by id (a subscription with none pending is absent)."""
        ...

    def lock_queues(self, subscription_ids: Collection[str]) -> None:
        """Inside a write transaction: hold these subscriptions' queues until it ends,
        taken in one order (by id), so that two transactions each changing several
        queues never deadlock. A backend whose write transactions run one at a time
        (SQLite) has nothing to do."""
        ...

    # -- one sender per subscription (the module's contract: Claims) -----------------

    def claim(self, subscription_id: str, owner: str, until: float) -> bool:
        """Take the subscription for `owner` until `until` (or renew `owner`'s claim):
        false when another owner holds one that has not expired."""
        ...

    def renew(self, subscription_ids: Collection[str], owner: str, until: float) -> set[str]:
        """Move `owner`'s claims on these subscriptions to `until`; the ids it still
        holds (not one released, or taken by another owner after it expired)."""
        ...

    def release(self, subscription_id: str, owner: str) -> None:
        """Give up `owner`'s claim (another owner's is left as it is)."""
        ...

    def claim_many(self, subscription_ids: Collection[str], owner: str, until: float) -> set[str]:
        """`claim` of each of these subscriptions, in one statement: the ids `owner`
        holds afterwards."""
        ...

    def release_many(self, subscription_ids: Collection[str], owner: str) -> None:
        """`release` of each of these subscriptions, in one statement."""
        ...

    def record_delivered(self, delivery_id: int, status: int, stamp: str) -> None: ...

    def record_retry(
        self,
        delivery_id: int,
        *,
        status: int | None,
        error: str,
        retry_at: float,
        stamp: str,
    ) -> None:
        """A failed attempt, tried again at `retry_at`."""
        ...

    def record_dead(self, delivery_id: int, *, status: int | None, error: str, stamp: str) -> None:
        """A failed attempt, the last one: dead-lettered."""
        ...

    def record_gone(
        self, delivery_id: int, subscription_id: str, status: int, reason: str, stamp: str
    ) -> None:
        """A failed attempt that disables its subscription (`{reason} at {stamp}`)."""
        ...

    def delivery(self, delivery_id: int) -> Delivery | None: ...

    def deliveries(
        self, subscription_id: str | None, status: str | None, limit: int
    ) -> list[Delivery]:
        """The newest deliveries (of one subscription, in one status), newest first."""
        ...

    def requeue(self, old: Delivery, due_at: float, created_at: str) -> Delivery:
        """The same message queued again, as a new pending delivery at the queue's end."""
        ...

    def cancel_pending_after(self, subscription_id: str, position: int, stamp: str) -> None:
        """Cancel the subscription's pending deliveries past `position`."""
        ...

    def counts(self) -> dict[str, int]:
        """Deliveries in each status (every one of DELIVERY_STATUSES, 0 included)."""
        ...

    def queue_state(self) -> QueueState: ...

    def refill_queue_state(self) -> None: ...


class SummaryVersions(Protocol):
    """`summary.published` / `summary.updated` versions of closed days."""

    def stale_days(self, after: int) -> list[StaleDay]:
        """Closed days whose changed_position is past `after` and not the one last
        checked, by changed_position (reads the timeline's days)."""
        ...

    def mark_checked(self, conference: str, day: int, changed_position: int) -> None: ...

    def day_closed_at(self, conference: str, day: int, until: int) -> int | None:
        """The position of the last `day.closed` of that day at or before `until`."""
        ...

    def nothing_between(self, conference: str, after: int, before: int) -> bool:
        """No event of `conference` lies strictly between positions `after` and `before`."""
        ...

    def recorded_at(self, position: int) -> str | None:
        """When the log recorded the event at `position`."""
        ...

    def last_version(self, conference: str, day: int) -> tuple[int, str] | None:
        """(version, digest) of the day's latest stored version."""
        ...

    def add_version(
        self, conference: str, day: int, version: int, position: int, digest: str, body: Any
    ) -> None:
        """Store a version; `body` is any JSON value."""
        ...

    def version_body(self, seq: int) -> Any | None:
        """The body stored with version `seq`, as the JSON value it was."""
        ...


class WebhookStore(SubscriptionStore, DeliveryQueue, SummaryVersions, Protocol):
    """Everything `liveblog.webhooks` keeps, in one unit of work."""
