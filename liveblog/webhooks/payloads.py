"""The bytes POSTed for a delivery: `{"type", "timestamp", "data"}`.

An event's `data` is the event in the export format (as `liveblog export` writes it);
a summary's is stored whole when its version is recorded. The same message always has
the same bytes, so a retry is the same POST with a fresh timestamp and signature.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from typing import TYPE_CHECKING

from ..errors import NotFound
from .model import Delivery

if TYPE_CHECKING:
    from ..store.eventstore import EventStore
    from ..store.webhooks import SummaryVersions

CACHE_SIZE = 4096  # bodies kept: one event usually goes to several subscribers at once


def encode(payload: object) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class Payloads:
    def __init__(self, log: EventStore, hooks: SummaryVersions) -> None:
        self.log = log
        self.hooks = hooks
        self._cache: OrderedDict[str, bytes] = OrderedDict()

    def body(self, delivery: Delivery) -> bytes:
        cached = self._cache.get(delivery.message_id)
        if cached is not None:
            self._cache.move_to_end(delivery.message_id)
            return cached
        body = self._summary(delivery.summary) if delivery.summary else self._event(delivery)
        self._cache[delivery.message_id] = body
        if len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)
        return body

    def _event(self, delivery: Delivery) -> bytes:
        found = self.log.at(delivery.position)
        if found is None:
            raise NotFound(f"delivery {delivery.id}: no event at position {delivery.position}")
        exported = found.to_export()
        return encode(
            {"type": exported["type"], "timestamp": exported["recorded_at"], "data": exported}
        )

    def _summary(self, seq: int) -> bytes:
        body = self.hooks.version_body(seq)
        if body is None:
            raise NotFound(f"no stored summary version {seq}")
        return encode(body)
