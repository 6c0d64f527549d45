"""One feed document, independent of its format: metadata, entries, tombstones, links."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from .model import FeedEntry, Tombstone

ATOM_TYPE = "application/atom+xml"
RSS_TYPE = "application/rss+xml"
JSON_TYPE = "application/feed+json"


@dataclass(frozen=True)
class Document:
    """What every format renders. Times are explicit: nothing here is ever "now"."""

    id: str
    title: str
    subtitle: str
    language: str
    author: str
    updated: dt.datetime
    self_url: str
    site_url: str
    entry_ids: dict[str, str]  # event id -> permanent entry id
    entries: list[FeedEntry]
    tombstones: list[Tombstone] = field(default_factory=list)
    entry_links: dict[str, str] = field(default_factory=dict)  # event id -> page URL
    hub: str | None = None
    expired: bool = False
    archive: bool = False
    current_url: str | None = None
    prev_archive: str | None = None
    next_archive: str | None = None
    # The live page's extension of live.json (JSON Feed `_liveblog`, liveblog/pages):
    # the top level's, and each entry's EntryUpdate (by event id). Empty: none.
    extension: dict[str, Any] = field(default_factory=dict)
    entry_extensions: dict[str, dict[str, Any]] = field(default_factory=dict)


def latest(
    entries: list[FeedEntry], tombstones: list[Tombstone], default: dt.datetime
) -> dt.datetime:
    """A document's `updated`: its newest entry or tombstone, else `default`."""
    times = [e.updated for e in entries] + [t.when for t in tombstones]
    return max(times, key=lambda t: t.timestamp()) if times else default
