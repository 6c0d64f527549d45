"""Webhook subscriptions: who receives what, stored in events.db beside the log.

A subscription's `cursor` is the last log position whose messages are already queued
for it: the log itself is the outbox, so an event appended just before a crash is still
delivered afterwards. A subscription that keeps up `follows` the deliverer's progress
(webhook_progress): its cursor is the larger of its stored one and that position, so a
change none of its messages are in moves it without a write (liveblog.webhooks.queue).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from ..errors import AmbiguousId, InvalidWebhook, NotFound, RefusedCommand
from ..events import EVENT_TYPES
from ..store.sqlite.driver import Connection, write_transaction
from ..text import SLUG_PATTERN
from .addresses import parse_url
from .signing import new_secret, secret_key

if TYPE_CHECKING:
    from ..secretkey import Keyring

SUMMARY_TYPES = ("summary.published", "summary.updated")
MESSAGE_TYPES = (*EVENT_TYPES, *SUMMARY_TYPES)
_SLUG = re.compile(SLUG_PATTERN)
_COLUMNS = "id, url, events, conference, secret, allow_private, status, status_reason, cursor"
PROGRESS = "ifnull((SELECT position FROM webhook_progress), 0)"
"""The log position the deliverer has prepared through (0 before it first ran)."""
CURSOR = f"CASE WHEN follows = 1 THEN max(cursor, {PROGRESS}) ELSE cursor END"
"""A subscription's cursor, in SQL: a follower's moves with the deliverer's progress."""
_SELECT_COLUMNS = _COLUMNS.replace("cursor", CURSOR) + ", follows"
_OLD_COLUMNS = _COLUMNS + ", 0"


def _select(conn: Connection) -> str:
    """SELECT every column of a subscription, its cursor as it stands."""
    from ..store.sqlite.schema import has_queue_state

    # A read-only log from an older release has no followers: its cursors are as stored.
    columns = _SELECT_COLUMNS if has_queue_state(conn) else _OLD_COLUMNS
    return f"SELECT {columns} FROM webhook_subscriptions"


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
    sealed_secret: str = field(repr=False)  # as stored: encrypted (see liveblog.secretkey)
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


def _subscription(row: Iterable[object]) -> Subscription:
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
    keyring: Keyring | None = None,
) -> Subscription:
    """Store a new subscription; its queue starts after `since` (default: the log head).

    The URL's address is checked by the caller (it needs the resolver), after `check`.
    Only the secret sealed under `keyring` (default: the database's) is stored; the
    subscription returned carries the clear one, to be shown once.
    """
    filters = check(url, events, conference, secret, since)
    if secret is None:
        secret = new_secret()
    subscription_id = "wh_" + secrets.token_hex(6)
    with write_transaction(conn):
        head = int(conn.execute("SELECT ifnull(max(position), 0) FROM events").fetchone()[0])
        cursor = head if since is None else min(since, head)
        # Under the write lock: a rotation in another process cannot swap the key between
        # reading it and storing what it sealed.
        keyring = keyring or keyring_for(conn)
        keyring.reload()
        keyring.ready_to_seal(_stored_key_ids(conn))
        conn.execute(
            f"INSERT INTO webhook_subscriptions ({_COLUMNS}, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, 'active', NULL, ?, ?)",
            (
                subscription_id,
                url,
                json.dumps(list(filters)),
                conference,
                keyring.seal(secret, subscription_id),
                int(allow_private),
                cursor,
                dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            ),
        )
    return replace(get(conn, subscription_id), secret=secret)


def all_subscriptions(conn: Connection, *, active_only: bool = False) -> list[Subscription]:
    where = " WHERE status = 'active'" if active_only else ""
    rows = conn.execute(f"{_select(conn)}{where} ORDER BY created_at, id").fetchall()
    return [_subscription(r) for r in rows]


def any_active(conn: Connection) -> bool:
    return bool(
        conn.execute(
            "SELECT 1 FROM webhook_subscriptions WHERE status = 'active' LIMIT 1"
        ).fetchone()
    )


def totals(conn: Connection, head: int) -> dict[str, int]:
    """For `status`: how many subscriptions, how many active, and the log events their
    queues have not reached yet (an upper bound: filters apply). One pass in SQL."""
    from ..store.sqlite.schema import has_queue_state

    cursor = CURSOR if has_queue_state(conn) else "cursor"
    row = conn.execute(
        "SELECT count(*), ifnull(sum(status = 'active'), 0), "
        f"ifnull(sum(CASE WHEN status = 'active' THEN ? - {cursor} END), 0) "
        "FROM webhook_subscriptions",
        (head,),
    ).fetchone()
    return {"subscriptions": int(row[0]), "active": int(row[1]), "unqueued": int(row[2])}


def get(conn: Connection, ref: str) -> Subscription:
    """The subscription with id `ref`, or the only one whose id starts with it."""
    select = _select(conn)
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


# -- secrets at rest (the key: liveblog.secretkey) -------------------------------------


def keyring_for(conn: Connection) -> Keyring:
    """The keys of the database `conn` has open (its key file lies beside it)."""
    from ..secretkey import Keyring

    rows = conn.execute("PRAGMA database_list").fetchall()
    return Keyring(next(str(r[2]) for r in rows if r[1] == "main"))


def _stored_secrets(conn: Connection) -> list[tuple[str, str]]:
    rows = conn.execute("SELECT id, secret FROM webhook_subscriptions ORDER BY id").fetchall()
    return [(str(id_), str(secret)) for id_, secret in rows]


def _stored_key_ids(conn: Connection) -> set[str]:
    from ..secretkey import is_sealed, sealed_key_id

    return {sealed_key_id(s) for _, s in _stored_secrets(conn) if is_sealed(s)}


def check_secrets(conn: Connection, keyring: Keyring) -> int:
    """Open every active subscription's secret (what `run` and `serve` will sign with);
    raise the one-line SecretKeyError of the first that does not open."""
    active = all_subscriptions(conn, active_only=True)
    for subscription in active:
        subscription.key(keyring)
    return len(active)


def verify_secrets(conn: Connection, keyring: Keyring) -> tuple[bool, str]:
    """For `liveblog verify`: whether every active subscription's secret opens with the
    key (a restored backup needs the key it was made under), said in one line."""
    if not conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'webhook_subscriptions'"
    ).fetchone():
        return True, "webhook secrets: no subscriptions"
    from ..errors import SecretKeyError

    try:
        opened = check_secrets(conn, keyring)
    except SecretKeyError as exc:
        return False, f"webhook secrets: {exc}"
    if not opened:
        return True, "webhook secrets: no active subscriptions"
    return True, f"webhook secrets: all {opened} active subscriptions' secrets open with the key"


def seal_clear_secrets(conn: Connection, keyring: Keyring) -> int:
    """Encrypt the secrets an older release stored in clear (inside the caller's
    transaction); the key file is created if need be. Returns how many."""
    from ..secretkey import is_sealed

    stored = _stored_secrets(conn)
    clear = [(id_, s) for id_, s in stored if not is_sealed(s)]
    if not clear:
        return 0
    keyring.ready_to_seal(_stored_key_ids(conn))
    # The clear text is overwritten in the page, not left in its free space.
    conn.execute("PRAGMA secure_delete = ON")
    for id_, secret in clear:
        conn.execute(
            "UPDATE webhook_subscriptions SET secret = ? WHERE id = ?",
            (keyring.seal(secret, id_), id_),
        )
    return len(clear)


def rotate_key(conn: Connection, keyring: Keyring) -> tuple[int, str]:
    """Re-encrypt every secret under a new key; returns (how many, the new key's id).

    Key file: a new key is put first in the file, beside the old ones; every secret is
    re-encrypted in one transaction; once that committed, keys no secret uses any more
    are dropped from the file. A crash at any step leaves every secret with its key in
    the file. With LIVEBLOG_SECRET_KEY, its first key is the new one (the user put it
    there), and the others can be dropped from the variable afterwards.
    """
    from ..secretkey import key_id, new_key

    with write_transaction(conn):
        keyring.reload()
        stored = _stored_secrets(conn)
        clear = [(id_, keyring.open(s, id_)) for id_, s in stored]  # refuse a missing key
        if not keyring.from_env:
            kept = [_b64(k) for k in keyring.key_list()]
            keyring.replace_file([new_key(), *kept])
        conn.execute("PRAGMA secure_delete = ON")
        for id_, secret in clear:
            conn.execute(
                "UPDATE webhook_subscriptions SET secret = ? WHERE id = ?",
                (keyring.seal(secret, id_), id_),
            )
    new_id = key_id(keyring.key_list()[0])
    if not keyring.from_env:
        with write_transaction(conn):
            # Under the lock again: a rotation started meanwhile has its keys kept.
            keyring.reload()
            used = _stored_key_ids(conn)
            keys = keyring.key_list()
            keyring.replace_file(
                [_b64(k) for i, k in enumerate(keys) if i == 0 or key_id(k) in used]
            )
    return len(clear), new_id


def _b64(key: bytes) -> str:
    import base64

    return base64.b64encode(key).decode("ascii")
