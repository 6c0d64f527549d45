"""What the webhook store keeps, as the rest of the code sees it: subscriptions and
deliveries, and the message types a subscription's filters name.

No storage here: `liveblog.store.webhooks` says how these are kept, and each backend
builds them from its rows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..domain.events import EVENT_TYPES
from ..errors import InvalidWebhook
from .signing import secret_key

if TYPE_CHECKING:
    from .secretkey import Keyring

SUMMARY_TYPES = ("summary.published", "summary.updated")
MESSAGE_TYPES = (*EVENT_TYPES, *SUMMARY_TYPES)
DELIVERY_STATUSES = ("pending", "delivered", "dead", "cancelled")


def matching_types(pattern: str) -> list[str]:
    """The message types a filter names: `quote.captured`, `quote.*`, `summary.*` or `*`."""
    if pattern == "*":
        return list(MESSAGE_TYPES)
    if pattern.endswith(".*"):
        family = pattern[:-1]
        found = [t for t in MESSAGE_TYPES if t.startswith(family)]
    else:
        found = [t for t in MESSAGE_TYPES if t == pattern]
    if not found:
        families = sorted({t.split(".")[0] + ".*" for t in MESSAGE_TYPES})
        raise InvalidWebhook(
            f"--event {pattern!r} names no event type: use a type such as quote.captured, "
            f"or one of {', '.join(families)}"
        )
    return found


@dataclass(frozen=True)
class Subscription:
    id: str
    url: str
    events: tuple[str, ...]  # the filters as given; empty means every type
    conference: str | None
    sealed_secret: str = field(repr=False)  # as stored: encrypted (see liveblog.webhooks.secretkey)
    allow_private: bool
    status: str
    status_reason: str | None
    cursor: int
    follows: bool = False  # the cursor moves with the deliverer's progress
    # The clear secret, on the subscription `add` returns only (printed once); never in
    # a log line or a traceback.
    secret: str | None = field(default=None, repr=False)

    @property
    def types(self) -> list[str]:
        """Every message type this subscription receives."""
        if not self.events:
            return list(MESSAGE_TYPES)
        chosen = {t for pattern in self.events for t in matching_types(pattern)}
        return [t for t in MESSAGE_TYPES if t in chosen]

    def key(self, keyring: Keyring) -> bytes:
        """The HMAC key: the secret decrypted, then decoded."""
        return secret_key(keyring.open(self.sealed_secret, self.id))

    def describe(self) -> dict[str, object]:
        """What `webhook list` shows: everything but the secret."""
        return {
            "id": self.id,
            "url": self.url,
            "events": list(self.events) or ["*"],
            "conference": self.conference,
            "allow_private": self.allow_private,
            "status": self.status,
            "status_reason": self.status_reason,
            "cursor": self.cursor,
        }


@dataclass(frozen=True)
class NewSubscription:
    """What `add` stores: a subscription before it has a status (it starts active)."""

    id: str
    url: str
    events: tuple[str, ...]
    conference: str | None
    sealed_secret: str = field(repr=False)
    allow_private: bool
    cursor: int
    created_at: str


@dataclass(frozen=True)
class Delivery:
    id: int
    subscription: str
    message_id: str
    type: str
    position: int
    summary: int | None
    status: str
    attempts: int
    next_attempt_at: float
    last_attempt_at: str | None
    last_status: int | None
    last_error: str | None
    created_at: str
    finished_at: str | None

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "subscription": self.subscription,
            "message_id": self.message_id,
            "type": self.type,
            "position": self.position,
            "status": self.status,
            "attempts": self.attempts,
            "next_attempt_at": (
                dt.datetime.fromtimestamp(self.next_attempt_at, dt.UTC).isoformat(
                    timespec="seconds"
                )
                if self.status == "pending"
                else None
            ),
            "last_attempt_at": self.last_attempt_at,
            "last_status": self.last_status,
            "last_error": self.last_error,
            "finished_at": self.finished_at,
        }


@dataclass(frozen=True)
class Message:
    """One message to queue: an event (summary None) or a stored summary version (its
    seq), at its log position."""

    position: int
    message_id: str
    type: str
    summary: int | None = None


@dataclass(frozen=True)
class SummaryVersion:
    """A stored summary version as the queue reads it: where and what it is."""

    seq: int
    conference: str
    day: int
    position: int
    type: str


@dataclass(frozen=True)
class StaleDay:
    """A closed day whose `changed_position` moved since the last check (`checked`,
    None when never checked)."""

    conference: str
    day: int
    changed_position: int
    checked: int | None


@dataclass(frozen=True)
class QueueState:
    """What `verify` compares: the counts kept by status against those counted from the
    delivery history, and whether the kept queue heads equal the derived ones.

    `kept` is None when the store keeps no such state (an older file read as it is);
    `deliveries` False when there is no delivery history at all."""

    deliveries: bool
    kept: dict[str, int] | None
    counted: dict[str, int]
    heads_match: bool


def ordered(messages: Iterable[Message]) -> list[Message]:
    """Log order: a summary right after the event at its position (sorted() is stable)."""
    return sorted(messages, key=lambda m: (m.position, m.summary is not None))
