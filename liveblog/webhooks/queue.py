"""Each subscription's delivery queue, kept by the webhook store (liveblog.store.webhooks).

Queues are filled from the log in position order (a summary right after the event that
closed or changed its day) and drained head first: a delivery is sent only when every
earlier one of its subscription is delivered or dead-lettered, which is what keeps each
subscriber's messages in log order. Only a window of messages is queued at a time, so a
subscriber that is down for days does not copy the log into the queue.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from ..errors import NotFound, RefusedCommand
from .model import (
    SUMMARY_TYPES,
    Delivery,
    Message,
    QueueState,
    Subscription,
    SummaryVersion,
    ordered,
)
from .subscriptions import all_subscriptions, get

if TYPE_CHECKING:
    from ..store.webhooks import WebhookStore

__all__ = ["WINDOW", "Delivery"]

WINDOW = 500  # pending deliveries queued ahead per subscription


def _now_text() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


now_text = _now_text
"""When an attempt was made, as stored (UTC, milliseconds)."""


@dataclass(frozen=True, slots=True)
class Attempted:
    """An attempt made and decided, not yet recorded: `delivered`; `retry` at
    `retry_at`; `dead` (the schedule is spent); `gone` (410: the subscription is
    disabled)."""

    delivery: Delivery
    outcome: Literal["delivered", "retry", "dead", "gone"]
    status: int | None
    error: str | None
    stamp: str
    retry_at: float | None = None


class _Reads:
    """What queueing reads of the log, read once per `fill_all`: the subscriptions it
    fills mostly ask for the same range (a hundred subscribers owed the same events ask
    one question a hundred times). Valid within one write transaction, which the
    reads' tables (events, summary versions, the progress) do not change in."""

    def __init__(self, store: WebhookStore) -> None:
        self.store = store
        self.progress = store.progress()
        self._events: dict[tuple[object, ...], list[Message]] = {}
        self._versions: dict[tuple[object, ...], list[SummaryVersion]] = {}

    def event_messages(
        self, after: int, until: int, conference: str | None, types: list[str], limit: int
    ) -> list[Message]:
        key = (after, until, conference, tuple(types), limit)
        found = self._events.get(key)
        if found is None:
            found = self._events[key] = self.store.event_messages(
                after, until, conference, types, limit
            )
        return found

    def summary_versions(
        self, after: int, until: int, conference: str | None
    ) -> list[SummaryVersion]:
        key = (after, until, conference)
        found = self._versions.get(key)
        if found is None:
            found = self._versions[key] = self.store.summary_versions(after, until, conference)
        return found


@dataclass(frozen=True, slots=True)
class _Plan:
    """What filling one queue writes: messages to queue, and the cursor moved to
    `move` (the cursor, and whether it follows the progress), if it moves."""

    subscription: str
    messages: list[Message]
    move: tuple[int, bool] | None


def fill(db: WebhookStore, subscription: Subscription, until: int, now: float) -> int:
    """Queue `subscription`'s messages after its cursor, up to log position `until`,
    keeping at most WINDOW pending. Returns how many were queued. The caller holds the
    write transaction (the cursor moves with the rows).

    A subscription that reaches the deliverer's progress follows it from then on; one
    whose window filled up keeps its own cursor (it is filled again as it drains)."""
    return fill_many(db, [subscription], until, now)


def fill_many(db: WebhookStore, subscriptions: list[Subscription], until: int, now: float) -> int:
    """`fill` of each of these subscriptions (sorted by id), in a few statements
    whatever their number: their pending counts read at once, the log read once per
    range asked (_Reads), their queues locked in id order, then every window queued
    in one statement and every cursor moved in another."""
    store = db
    reads = _Reads(store)
    behind = [s.id for s in subscriptions if s.cursor < until]
    pending = store.pending_counts(behind) if behind else {}
    plans = [
        plan
        for s in subscriptions
        if (plan := _plan(s, until, pending.get(s.id, 0), reads)) is not None
    ]
    if not plans:
        return 0
    # Every queue written, locked first and in one order: the deliverers recording
    # outcomes take theirs in that order too, so neither waits on the other in a cycle.
    store.lock_queues([p.subscription for p in plans])
    queued = [(p.subscription, p.messages) for p in plans if p.messages]
    if queued:
        store.enqueue_many(queued, now, _now_text())
    store.move_cursors([(p.subscription, *p.move) for p in plans if p.move is not None])
    return sum(len(p.messages) for p in plans)


def _plan(subscription: Subscription, until: int, pending: int, reads: _Reads) -> _Plan | None:
    """What `fill` writes for one subscription with `pending` deliveries pending."""
    progress = reads.progress
    if subscription.cursor >= until:
        if subscription.cursor >= progress and not subscription.follows:
            return _Plan(subscription.id, [], (subscription.cursor, True))
        return None
    room = WINDOW - pending
    if room <= 0:
        if subscription.follows:
            return _Plan(subscription.id, [], (subscription.cursor, False))
        return None
    types = subscription.types
    event_types = [t for t in types if t not in SUMMARY_TYPES]
    summary_types = {t for t in types if t in SUMMARY_TYPES}
    messages = reads.event_messages(
        subscription.cursor, until, subscription.conference, event_types, room
    )
    # Full window: stop the cursor at the last queued event, so nothing is skipped.
    full = len(messages) == room
    cursor = messages[-1].position if full else until
    if summary_types:
        versions = reads.summary_versions(subscription.cursor, cursor, subscription.conference)
        messages = ordered(
            [
                *messages,
                *(
                    Message(v.position, _summary_id(v), v.type, v.seq)
                    for v in versions
                    if v.type in summary_types
                ),
            ]
        )
    return _Plan(subscription.id, messages, (cursor, not full and cursor >= progress))


def _summary_id(version: SummaryVersion) -> str:
    return f"msg_summary_{version.conference}_{version.day}_{version.position}"


def prepared_position(db: WebhookStore) -> int:
    """The log position the deliverer has prepared through."""
    return db.progress()


def fill_all(db: WebhookStore, until: int, now: float) -> int:
    """Queue every active subscription's new messages, up to log position `until`, and
    move the deliverer's progress there.

    What it reads follows what changed since the progress: the events and summaries
    after it (a range of positions), the followers of the conferences they belong to
    (and those of every conference) whose filters take one of their types, and the
    subscriptions with a cursor of their own (new, re-enabled, moved back, or with a
    full window). A follower none of the new messages is for is not read at all: its
    cursor moves with the progress."""
    store = db
    with store.writing():
        progress = store.progress()
        chosen = store.own_cursors()
        if until > progress:
            chosen += _concerned_followers(store, progress, until)
            store.advance_progress(until)
        chosen.sort(key=lambda s: s.id)  # a stable order of writes, whatever was chosen
        # After the progress moved: the fills compare the cursors with it.
        return fill_many(store, chosen, until, now)


def _concerned_followers(store: WebhookStore, after: int, until: int) -> list[Subscription]:
    """Followers with a message in (after, until]: a conference of it, or every one,
    and a type of it among their filters (read before the progress moves)."""
    kinds = store.changed_types(after, until)
    if not kinds:
        return []
    every = set().union(*kinds.values())
    chosen = []
    for subscription in store.followers(sorted(kinds)):
        offered = every if subscription.conference is None else kinds[subscription.conference]
        if not offered.isdisjoint(subscription.types):
            chosen.append(subscription)
    return chosen


def head(db: WebhookStore, subscription: str) -> Delivery | None:
    """The subscription's oldest pending delivery: the only one that may be sent."""
    return db.head(subscription)


def due_subscriptions(db: WebhookStore, now: float) -> list[str]:
    """Active subscriptions whose head delivery may be sent now: the store keeps the
    heads by due time, so a tick reads only the heads that are due."""
    return db.due(now)


# An attempt's outcome is written only to a delivery still pending: one that
# `redeliver --since` cancelled while the attempt was out stays cancelled.


def record_success(db: WebhookStore, delivery: Delivery, status: int) -> None:
    store = db
    with store.writing():
        store.record_delivered(delivery.id, status, _now_text())


def record_failure(
    db: WebhookStore,
    delivery: Delivery,
    *,
    status: int | None,
    error: str,
    retry_at: float | None,
) -> None:
    """A failed attempt: retried at `retry_at`, or dead-lettered when it is None."""
    store = db
    stamp = _now_text()
    with store.writing():
        if retry_at is None:
            store.record_dead(delivery.id, status=status, error=error, stamp=stamp)
        else:
            store.record_retry(
                delivery.id, status=status, error=error, retry_at=retry_at, stamp=stamp
            )


def record_attempts(db: WebhookStore, attempts: Sequence[Attempted]) -> None:
    """Record runs of attempts in one transaction (one sender's, or several senders'
    at once): the deliveries sent in a row, each only if still pending. Until it
    commits they are all still pending, so a sender that dies first loses nothing: they
    are sent again (at least once)."""
    if not attempts:
        return
    store = db
    delivered = [
        (a.delivery.id, a.status or 0, a.stamp) for a in attempts if a.outcome == "delivered"
    ]
    with store.writing():
        # Several senders' runs may be recorded together: their queues are taken in one
        # order before any is written (record_delivered_many takes those of its own
        # deliveries so: enough when every attempt delivered, the usual run).
        if len(delivered) < len(attempts):
            store.lock_queues({a.delivery.subscription for a in attempts})
        if delivered:
            store.record_delivered_many(delivered)
        for a in attempts:
            if a.outcome == "retry":
                assert a.retry_at is not None
                store.record_retry(
                    a.delivery.id,
                    status=a.status,
                    error=a.error or "failed",
                    retry_at=a.retry_at,
                    stamp=a.stamp,
                )
            elif a.outcome == "dead":
                store.record_dead(
                    a.delivery.id, status=a.status, error=a.error or "failed", stamp=a.stamp
                )
            elif a.outcome == "gone":
                assert a.status is not None
                store.record_gone(
                    a.delivery.id, a.delivery.subscription, a.status, a.error or "gone", a.stamp
                )


def record_gone(db: WebhookStore, delivery: Delivery, status: int, reason: str) -> None:
    """410 Gone: the subscription is disabled; its queue waits for `webhook enable`."""
    store = db
    with store.writing():
        store.record_gone(delivery.id, delivery.subscription, status, reason, _now_text())


def listing(
    db: WebhookStore,
    subscription: str | None = None,
    *,
    status: str | None = None,
    limit: int = 50,
) -> list[Delivery]:
    """The newest deliveries (of one subscription, in one status), newest first."""
    store = db
    chosen = None if subscription is None else get(store, subscription).id
    return store.deliveries(chosen, status, limit)


def backlog(db: WebhookStore) -> dict[str, int]:
    """Deliveries by status (for `status`): the counts the store keeps."""
    return db.counts()


def verify_queue_state(db: WebhookStore) -> tuple[bool, str]:
    """For `liveblog verify`: whether the kept heads and counts say what the deliveries
    say (one pass over the delivery history), in one line."""
    state: QueueState = db.queue_state()
    if not state.deliveries:
        return True, "webhook queues: no deliveries"
    if state.kept is None:
        return True, "webhook queues: heads and counts not kept yet (the next writer does)"
    kept, counted = state.kept, state.counted
    wrong = [s for s in kept if kept[s] != int(counted.get(s, 0))]
    if wrong or not state.heads_match:
        what = ", ".join(f"{s} {kept[s]} kept, {counted.get(s, 0)} counted" for s in wrong)
        if not state.heads_match:
            what = ", ".join(filter(None, [what, "queue heads differ"]))
        return False, f"webhook queues: {what}; run `liveblog rebuild` (it derives them again)"
    total = sum(kept.values())
    return True, f"webhook queues: heads and counts match the {total} deliveries"


def redeliver_one(db: WebhookStore, delivery_id: int, now: float) -> Delivery:
    """Queue delivery `delivery_id` again, as a new delivery at the end of its queue
    (same message id, so a receiver that got it already can tell)."""
    store = db
    with store.writing():
        old = store.delivery(delivery_id)
        if old is None:
            raise NotFound(f"no delivery {delivery_id} (see `liveblog webhook deliveries`)")
        if old.status == "pending":
            raise RefusedCommand(f"delivery {delivery_id} is still pending: it will be sent")
        _active(store, old.subscription)
        return store.requeue(old, now, _now_text())


def redeliver_since(
    db: WebhookStore, position: int, subscription: str | None = None
) -> list[Subscription]:
    """Send every message after log `position` again: each chosen subscription's cursor
    moves back to `position` and its pending deliveries past it are cancelled (they
    are queued again, in order, with everything else)."""
    store = db
    with store.writing():
        chosen = (
            [get(store, subscription)]
            if subscription is not None
            else all_subscriptions(store, active_only=True)
        )
        for sub in chosen:
            _active(store, sub.id)
            store.cancel_pending_after(sub.id, position, _now_text())
            store.rewind(sub.id, position)
    return chosen


def _active(store: WebhookStore, subscription: str) -> None:
    sub = get(store, subscription)
    if sub.status != "active":
        raise RefusedCommand(
            f"webhook {sub.id} is disabled ({sub.status_reason or 'by hand'}): "
            f"run `liveblog webhook enable {sub.id}` first"
        )
