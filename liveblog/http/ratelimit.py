"""Failed authentications per client address: a token bucket each, in bounded memory.

Every address starts with `capacity` allowed failures; each failure takes one, and they
come back at `capacity / window` per second. An address with none left is refused until
one has come back. Only addresses that failed are remembered, at most `max_tracked`
(the one that failed least recently is forgotten first), so a flood from many addresses
costs a fixed amount of memory. IPv6 clients are counted per /64, the block one host
usually owns, so rotating through its own addresses buys an attacker nothing.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Bucket:
    tokens: float
    updated: float


def client_key(address: str) -> str:
    """The unit counted: the address itself, or its /64 for IPv6."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


class FailureLimiter:
    def __init__(
        self,
        capacity: int,
        window: float,
        *,
        max_tracked: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.capacity = float(capacity)
        self.rate = capacity / window
        self.max_tracked = max_tracked
        self.clock = clock
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def _refilled(self, key: str, now: float) -> _Bucket | None:
        bucket = self._buckets.get(key)
        if bucket is not None:
            bucket.tokens = min(self.capacity, bucket.tokens + (now - bucket.updated) * self.rate)
            bucket.updated = now
        return bucket

    def retry_after(self, address: str) -> int | None:
        """Seconds until `address` may try again, or None if it may try now."""
        bucket = self._refilled(client_key(address), self.clock())
        if bucket is None or bucket.tokens >= 1.0:
            return None
        return max(1, math.ceil((1.0 - bucket.tokens) / self.rate))

    def failed(self, address: str) -> bool:
        """Count one failure; True if it used the address's last allowed one."""
        key, now = client_key(address), self.clock()
        bucket = self._refilled(key, now)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(self.capacity, now)
            while len(self._buckets) > self.max_tracked:
                self._buckets.popitem(last=False)
        self._buckets.move_to_end(key)
        bucket.tokens = max(0.0, bucket.tokens - 1.0)
        return bucket.tokens < 1.0

    def __len__(self) -> int:
        return len(self._buckets)
