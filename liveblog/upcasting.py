"""Upcasting: events stored under an older schema version are read as the current one.

The log is never rewritten. Each upcaster turns the `data` of one type from version N
into version N+1; reading applies them in a chain up to the model's SCHEMA_VERSION.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Data = dict[str, Any]
Upcaster = Callable[[Data], Data]

_UPCASTERS: dict[tuple[str, int], Upcaster] = {}


def upcaster(event_type: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
    """Register a function turning `event_type` data from `from_version` to the next."""

    def register(fn: Upcaster) -> Upcaster:
        _UPCASTERS[(event_type, from_version)] = fn
        return fn

    return register


def upcast(event_type: str, schema_version: int, data: Data, current: int) -> Data:
    """Bring `data` from `schema_version` up to `current`; a missing step is a bug."""
    while schema_version < current:
        step = _UPCASTERS.get((event_type, schema_version))
        if step is None:
            raise LookupError(f"no upcaster for {event_type} schema {schema_version}")
        data = step(dict(data))
        schema_version += 1
    return data


@upcaster("session.started", 1)
def _session_single_host_to_hosts(data: Data) -> Data:
    host = data.pop("host", None)
    data["hosts"] = [host] if host else []
    return data
