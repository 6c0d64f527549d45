"""The timeline projection: conferences, days, and every entry in its current state.

It is the storage's business (the rebuild maps entries inside SQLite, the fast path of
a million-event log): the SQLite one lives in `liveblog.store.sqlite.timeline`, read
through the `liveblog.store.timeline.Timeline` protocol. Nothing here names a kind:
the entry types, their kinds and correctable fields come from the registry.
"""

from __future__ import annotations

from ..store.sqlite.timeline import (
    CONFERENCES,
    DAYS,
    EDITS,
    ENTRIES,
    ENTRY_TYPES,
    KINDS,
    REPORTERS,
    TIMELINE,
    TimelineProjection,
)

__all__ = [
    "CONFERENCES",
    "DAYS",
    "EDITS",
    "ENTRIES",
    "ENTRY_TYPES",
    "KINDS",
    "REPORTERS",
    "TIMELINE",
    "TimelineProjection",
]
