"""Webhook subscriptions: who receives what, stored in events.db beside the log.

A subscription's `cursor` is the last log position whose messages are already queued
for it: the log itself is the outbox, so an event appended just before a crash is still
delivered afterwards.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field

from ..errors import AmbiguousId, InvalidWebhook, NotFound, RefusedCommand
from ..events import EVENT_TYPES
from ..store.sqlite import Connection, write_transaction
from ..text import SLUG_PATTERN
from .addresses import parse_url
from .signing import new_secret, secret_key

SUMMARY_TYPES = ("summary.published", "summary.updated")
MESSAGE_TYPES = (*EVENT_TYPES, *SUMMARY_TYPES)
_SLUG = re.compile(SLUG_PATTERN)
_COLUMNS = "id, url, events, conference, secret, allow_private, status, status_reason, cursor"


_decoded_key = functools.lru_cache(maxsize=1024)(secret_key)


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
    secret: str = field(repr=False)  # never in a log line or a traceback
    allow_private: bool
    status: str
    status_reason: str | None
    cursor: int

    @property
    def types(self) -> list[str]:
        """Every message type this subscription receives."""
        if not self.events:
            return list(MESSAGE_TYPES)
        chosen = {t for pattern in self.events for t in matching_types(pattern)}
        return [t for t in MESSAGE_TYPES if t in chosen]

    @property
    def key(self) -> bytes:
        """The HMAC key (decoded once per secret: it signs every attempt)."""
        return _decoded_key(self.secret)

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


def _subscription(row: Iterable[object]) -> Subscription:
    id_, url, events, conference, secret, private, status, reason, cursor = row
    return Subscription(
        id=str(id_),
        url=str(url),
        events=tuple(json.loads(str(events))),
        conference=None if conference is None else str(conference),
        secret=str(secret),
        allow_private=bool(private),
        status=str(status),
        status_reason=None if reason is None else str(reason),
        cursor=int(str(cursor)),
    )


def check(
    url: str,
    events: Iterable[str],
    conference: str | None,
    secret: str | None,
    since: int | None,
) -> tuple[str, ...]:
    """Refuse a malformed subscription (before any DNS lookup); return its filters."""
    parse_url(url)
    filters = tuple(dict.fromkeys(events))
    if "*" in filters:
        filters = ()
    for pattern in filters:
        matching_types(pattern)
    if conference is not None and not _SLUG.match(conference):
        raise InvalidWebhook(f"--conference {conference!r} is not a conference slug")
    if secret is not None:
        secret_key(secret)
    if since is not None and since < 0:
        raise InvalidWebhook("--since must be a log position (0 or more)")
    return filters


def add(
    conn: Connection,
    url: str,
    *,
    events: Iterable[str] = (),
    conference: str | None = None,
    secret: str | None = None,
    allow_private: bool = False,
    since: int | None = None,
) -> Subscription:
    """Store a new subscription; its queue starts after `since` (default: the log head).

    The URL's address is checked by the caller (it needs the resolver), after `check`.
    """
    filters = check(url, events, conference, secret, since)
    if secret is None:
        secret = new_secret()
    subscription_id = "wh_" + secrets.token_hex(6)
    with write_transaction(conn):
        head = int(conn.execute("SELECT ifnull(max(position), 0) FROM events").fetchone()[0])
        cursor = head if since is None else min(since, head)
        conn.execute(
            f"INSERT INTO webhook_subscriptions ({_COLUMNS}, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, 'active', NULL, ?, ?)",
            (
                subscription_id,
                url,
                json.dumps(list(filters)),
                conference,
                secret,
                int(allow_private),
                cursor,
                dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            ),
        )
    return get(conn, subscription_id)


def all_subscriptions(conn: Connection, *, active_only: bool = False) -> list[Subscription]:
    where = " WHERE status = 'active'" if active_only else ""
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM webhook_subscriptions{where} ORDER BY created_at, id"
    ).fetchall()
    return [_subscription(r) for r in rows]


def get(conn: Connection, ref: str) -> Subscription:
    """The subscription with id `ref`, or the only one whose id starts with it."""
    select = f"SELECT {_COLUMNS} FROM webhook_subscriptions"
    rows = (
        conn.execute(f"{select} WHERE id = ?", (ref,)).fetchall()
        or conn.execute(
            f"{select} WHERE id >= ? AND id < ? ORDER BY id LIMIT 5", (ref, ref + "\U0010ffff")
        ).fetchall()
    )
    if not ref or not rows:
        raise NotFound(f"no webhook subscription {ref!r} (see `liveblog webhook list`)")
    if len(rows) > 1:
        shown = ", ".join(str(r[0]) for r in rows)
        raise AmbiguousId(f"{ref!r} matches several subscriptions ({shown}): type more of it")
    return _subscription(rows[0])


def remove(conn: Connection, ref: str) -> Subscription:
    """Delete a subscription and its delivery history."""
    with write_transaction(conn):
        subscription = get(conn, ref)
        conn.execute("DELETE FROM webhook_deliveries WHERE subscription = ?", (subscription.id,))
        conn.execute("DELETE FROM webhook_subscriptions WHERE id = ?", (subscription.id,))
    return subscription


def set_status(conn: Connection, ref: str, status: str, reason: str | None = None) -> Subscription:
    """Disable (with a reason) or re-enable a subscription; its queue is kept."""
    with write_transaction(conn):
        subscription = get(conn, ref)
        if subscription.status == status and status == "active":
            raise RefusedCommand(f"webhook {subscription.id} is already active")
        conn.execute(
            "UPDATE webhook_subscriptions SET status = ?, status_reason = ? WHERE id = ?",
            (status, reason, subscription.id),
        )
    return get(conn, subscription.id)
