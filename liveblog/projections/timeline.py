"""The timeline projection: conferences, days, and every entry in its current state.

It is the storage's business (the rebuild maps entries inside the database, the fast
path of a million-event log): each backend has its own (SQLite's in
`liveblog.store.sqlite.timeline`, PostgreSQL's in `liveblog.store.postgres.timeline`),
handed out bound by `Stores.projections()` and read through the
`liveblog.store.timeline.Timeline` protocol. Nothing here names a kind: the entry types,
their kinds and correctable fields come from the registry.

The names below are SQLite's, kept importable from here for code that used them; they
are loaded on first use, so importing this module loads no backend.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_getattr

if TYPE_CHECKING:
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


__getattr__ = lazy_getattr(__name__, {name: "...store.sqlite.timeline" for name in __all__})
