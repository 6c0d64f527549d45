"""Webhooks: signed, ordered, at-least-once POSTs of the log to downstream blogs.

model          what the webhook store keeps: subscriptions, deliveries, messages
subscriptions  who receives which message types (URL, filters, secret, cursor)
summaries      summary.published / summary.updated versions of closed days
queue          each subscription's deliveries, filled from the log, drained in order
payloads       the bytes of each message
signing        Standard Webhooks headers (whsec_ secrets, v1 HMAC-SHA256)
addresses      the SSRF rules, and the address an attempt is pinned to
policy         retry schedule, jitter and Retry-After
deliverer      the async sender: one client, bounded concurrency, deadlines
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_getattr

if TYPE_CHECKING:
    from .addresses import check_address, parse_url, pin_address, refusal
    from .deliverer import Deliverer, DeliveryOptions, Outcome, Tally
    from .model import MESSAGE_TYPES, SUMMARY_TYPES, Delivery, Subscription
    from .policy import DEFAULT_SCHEDULE, RetryPolicy, parse_schedule
    from .signing import new_secret, sign

# Imported on first use: `webhook list` or `status` need no HTTP client (httpx).
_WHERE = {
    "check_address": ".addresses",
    "parse_url": ".addresses",
    "pin_address": ".addresses",
    "refusal": ".addresses",
    "Deliverer": ".deliverer",
    "DeliveryOptions": ".deliverer",
    "Outcome": ".deliverer",
    "Tally": ".deliverer",
    "DEFAULT_SCHEDULE": ".policy",
    "RetryPolicy": ".policy",
    "parse_schedule": ".policy",
    "Delivery": ".model",
    "new_secret": ".signing",
    "sign": ".signing",
    "MESSAGE_TYPES": ".model",
    "SUMMARY_TYPES": ".model",
    "Subscription": ".model",
}


__getattr__ = lazy_getattr(__name__, _WHERE)

__all__ = [
    "DEFAULT_SCHEDULE",
    "MESSAGE_TYPES",
    "SUMMARY_TYPES",
    "Deliverer",
    "Delivery",
    "DeliveryOptions",
    "Outcome",
    "RetryPolicy",
    "Subscription",
    "Tally",
    "check_address",
    "new_secret",
    "parse_schedule",
    "parse_url",
    "pin_address",
    "refusal",
    "sign",
]
