"""Webhook subscriptions: who receives what, kept by the webhook store
(liveblog.store.webhooks) beside the log.

A subscription's `cursor` is the last log position whose messages are already queued
for it: the log itself is the outbox, so an event appended just before a crash is still
delivered afterwards. A subscription that keeps up `follows` the deliverer's progress
(the store's `progress`): its cursor is the larger of its stored one and that position,
so a change none of its messages are in moves it without a write (liveblog.webhooks.queue).
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from collections.abc import Iterable
from dataclasses import replace
from typing import TYPE_CHECKING

from ..domain.text import SLUG_PATTERN
from ..errors import AmbiguousId, InvalidWebhook, NotFound, RefusedCommand
from .addresses import parse_url
from .model import MESSAGE_TYPES, SUMMARY_TYPES, NewSubscription, Subscription, matching_types
from .signing import new_secret, secret_key

if TYPE_CHECKING:
    from ..store.webhooks import SubscriptionStore, WebhookStore
    from .secretkey import Keyring

__all__ = ["MESSAGE_TYPES", "SUMMARY_TYPES", "Subscription", "matching_types"]

_SLUG = re.compile(SLUG_PATTERN)


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
    db: WebhookStore,
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
    store = db
    filters = check(url, events, conference, secret, since)
    if secret is None:
        secret = new_secret()
    subscription_id = "wh_" + secrets.token_hex(6)
    with store.writing():
        head = store.log_head()
        # Under the write lock: a rotation in another process cannot swap the key between
        # reading it and storing what it sealed.
        keyring = keyring or keyring_for(store)
        keyring.reload()
        keyring.ready_to_seal(_stored_key_ids(store))
        store.insert_subscription(
            NewSubscription(
                id=subscription_id,
                url=url,
                events=filters,
                conference=conference,
                sealed_secret=keyring.seal(secret, subscription_id),
                allow_private=allow_private,
                cursor=head if since is None else min(since, head),
                created_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            )
        )
    return replace(get(store, subscription_id), secret=secret)


def all_subscriptions(db: WebhookStore, *, active_only: bool = False) -> list[Subscription]:
    return db.subscriptions(active_only=active_only)


def any_active(db: WebhookStore) -> bool:
    return db.any_active()


def totals(db: WebhookStore, head: int) -> dict[str, int]:
    """For `status`: how many subscriptions, how many active, and the log events their
    queues have not reached yet (an upper bound: filters apply)."""
    return db.totals(head)


def get(db: WebhookStore, ref: str) -> Subscription:
    """The subscription with id `ref`, or the only one whose id starts with it."""
    store = db
    exact = store.subscription(ref)
    if exact is not None:
        return exact
    found = store.subscriptions_starting(ref, 5) if ref else []
    if not found:
        raise NotFound(f"no webhook subscription {ref!r} (see `liveblog webhook list`)")
    if len(found) > 1:
        shown = ", ".join(s.id for s in found)
        raise AmbiguousId(f"{ref!r} matches several subscriptions ({shown}): type more of it")
    return found[0]


def remove(db: WebhookStore, ref: str) -> Subscription:
    """Delete a subscription and its delivery history."""
    store = db
    with store.writing():
        subscription = get(store, ref)
        store.delete_subscription(subscription.id)
    return subscription


def set_status(db: WebhookStore, ref: str, status: str, reason: str | None = None) -> Subscription:
    """Disable (with a reason) or re-enable a subscription; its queue is kept."""
    store = db
    with store.writing():
        subscription = get(store, ref)
        if subscription.status == status and status == "active":
            raise RefusedCommand(f"webhook {subscription.id} is already active")
        store.set_status(subscription.id, status, reason)
    return get(store, subscription.id)


# -- secrets at rest (the key: liveblog.webhooks.secretkey) -------------------------------------


def keyring_for(db: WebhookStore) -> Keyring:
    """The keys of the database the store keeps (its key file lies beside it)."""
    from .secretkey import Keyring

    return Keyring(db.database_path())


def _stored_key_ids(store: SubscriptionStore) -> set[str]:
    from .secretkey import is_sealed, sealed_key_id

    return {sealed_key_id(s) for _, s in store.sealed_secrets() if is_sealed(s)}


def check_secrets(db: WebhookStore, keyring: Keyring) -> int:
    """Open every active subscription's secret (what `run` and `serve` will sign with);
    raise the one-line SecretKeyError of the first that does not open."""
    active = all_subscriptions(db, active_only=True)
    for subscription in active:
        subscription.key(keyring)
    return len(active)


def verify_secrets(db: WebhookStore, keyring: Keyring) -> tuple[bool, str]:
    """For `liveblog verify`: whether every active subscription's secret opens with the
    key (a restored backup needs the key it was made under), said in one line."""
    store = db
    if not store.keeps_subscriptions():
        return True, "webhook secrets: no subscriptions"
    from ..errors import SecretKeyError

    try:
        opened = check_secrets(store, keyring)
    except SecretKeyError as exc:
        return False, f"webhook secrets: {exc}"
    if not opened:
        return True, "webhook secrets: no active subscriptions"
    return True, f"webhook secrets: all {opened} active subscriptions' secrets open with the key"


def seal_clear_secrets(db: WebhookStore, keyring: Keyring) -> int:
    """Encrypt the secrets an older release stored in clear (inside the caller's
    transaction); the key file is created if need be. Returns how many."""
    from .secretkey import is_sealed

    store = db
    clear = [(id_, s) for id_, s in store.sealed_secrets() if not is_sealed(s)]
    if not clear:
        return 0
    keyring.ready_to_seal(_stored_key_ids(store))
    store.reseal((id_, keyring.seal(secret, id_)) for id_, secret in clear)
    return len(clear)


def rotate_key(db: WebhookStore, keyring: Keyring) -> tuple[int, str]:
    """Re-encrypt every secret under a new key; returns (how many, the new key's id).

    Key file: a new key is put first in the file, beside the old ones; every secret is
    re-encrypted in one transaction; once that committed, keys no secret uses any more
    are dropped from the file. A crash at any step leaves every secret with its key in
    the file. With LIVEBLOG_SECRET_KEY, its first key is the new one (the user put it
    there), and the others can be dropped from the variable afterwards.
    """
    from .secretkey import key_id, new_key

    store = db
    with store.writing():
        keyring.reload()
        stored = store.sealed_secrets()
        clear = [(id_, keyring.open(s, id_)) for id_, s in stored]  # refuse a missing key
        if not keyring.from_env:
            kept = [_b64(k) for k in keyring.key_list()]
            keyring.replace_file([new_key(), *kept])
        store.reseal((id_, keyring.seal(secret, id_)) for id_, secret in clear)
    new_id = key_id(keyring.key_list()[0])
    if not keyring.from_env:
        with store.writing():
            # Under the lock again: a rotation started meanwhile has its keys kept.
            keyring.reload()
            used = _stored_key_ids(store)
            keys = keyring.key_list()
            keyring.replace_file(
                [_b64(k) for i, k in enumerate(keys) if i == 0 or key_id(k) in used]
            )
    return len(clear), new_id


def _b64(key: bytes) -> str:
    import base64

    return base64.b64encode(key).decode("ascii")
