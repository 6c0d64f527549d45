"""What a feed document holds, read from the timeline (`store.timeline.Timeline`).

Every read is bounded (a page, a window of recent changes), so publishing after one
new event costs the same on a log of a thousand events or a million. Each entry is
rendered by its kind (`summary.kinds`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..domain.events import entry_model
from ..store.timeline import (
    ClosedDay,
    Conference,
    Edit,
    OriginalEntry,
    Timeline,
    TimelineEntry,
    Tombstone,
    parse_time,
)
from ..summary.kinds import rendering, xml_safe

__all__ = [
    "Block",
    "ClosedDay",
    "Conference",
    "FeedEntry",
    "Tombstone",
    "all_days",
    "archive_block",
    "archive_contents",
    "closed_days",
    "conferences",
    "live_entries",
    "load_conference",
    "newest_first",
    "parse_time",
    "time_of",
    "tombstones",
    "xml_safe",
]


@dataclass(frozen=True)
class FeedEntry:
    id: str  # the event id
    kind: str
    day: int
    author: str
    published: dt.datetime
    updated: dt.datetime
    title: str
    html: str
    text: str
    image: str | None = None
    position: int = 0  # in the log: breaks ties between entries of the same minute
    # The reader's page marks, as categories in Atom and RSS (live documents only: an
    # archive shows its entries as they stood, and marks are not replayed there).
    pinned: bool = False
    highlighted: bool = False
    highlight_label: str | None = None


def load_conference(timeline: Timeline, slug: str) -> Conference | None:
    return timeline.conference(slug)


def conferences(timeline: Timeline) -> list[str]:
    return timeline.conference_slugs()


def _feed_entry(entry: TimelineEntry) -> FeedEntry:
    feed_entry = _from_data(
        entry.id,
        entry.kind,
        entry.day,
        entry.author,
        entry.occurred_at,
        entry.updated_at,
        entry.data,
    )
    if not (entry.pinned or entry.highlighted):
        return feed_entry
    label = xml_safe(entry.highlight_label) if entry.highlight_label else None
    return dataclasses.replace(
        feed_entry,
        pinned=entry.pinned,
        highlighted=entry.highlighted,
        highlight_label=label if entry.highlighted else None,
    )


def _from_data(
    id_: str,
    kind: str,
    day: int,
    author: str,
    occurred_at: str,
    updated_at: str | None,
    data: Mapping[str, Any],
) -> FeedEntry:
    """A feed entry from an entry's current data, rendered by its kind."""
    # FeedEntry.position is left at 0, as it always was: the order of entries updated
    # and published in the same second is the order they were read in (sorted() is
    # stable), and changing that would change published bytes.
    published = parse_time(occurred_at)
    parts = rendering(kind).feed(data)
    return FeedEntry(
        id=id_,
        kind=kind,
        day=day,
        author=author,
        published=published,
        updated=parse_time(updated_at) if updated_at else published,
        title=xml_safe(parts.title),
        html=parts.html,
        text=xml_safe(parts.text),
        image=parts.image,
    )


def newest_first(entries: list[FeedEntry]) -> list[FeedEntry]:
    """Explicit order for every document: last updated first, then last published."""
    return sorted(
        entries,
        key=lambda e: (e.updated.timestamp(), e.published.timestamp(), e.position),
        reverse=True,
    )


def live_entries(timeline: Timeline, slug: str, size: int, archived_to: int) -> list[FeedEntry]:
    """The live document: every entry not yet archived (created after `archived_to`), then
    archived entries changed since (corrected or marked), most recent change first, up to
    `size` in all.

    Together with the archives, that holds every live entry (RFC 5005); a correction of
    an archived entry comes back to readers with its new `updated`. The pinned entry is
    always there (one indexed read), even when archived long ago, so its `pinned`
    category reaches readers.
    """
    chosen = timeline.live_entries(slug, size, archived_to)
    pinned = timeline.pinned_entry(slug)
    if pinned is not None and all(e.id != pinned.id for e in chosen):
        chosen = [*chosen, pinned]
    return newest_first([_feed_entry(e) for e in chosen])


def tombstones(timeline: Timeline, slug: str, size: int) -> list[Tombstone]:
    """The `size` most recent retractions, newest first."""
    return timeline.tombstones(slug, size)


def archive_block(timeline: Timeline, slug: str, after: int, size: int) -> list[int] | None:
    """Positions of the next `size` entries created after `after`, and of the entry after
    them — or None while that block is not yet full and followed (not yet archivable)."""
    return timeline.archive_block(slug, after, size)


Block = tuple[int, int, int]
"""An archive block: the positions of its first and last entries, and of the entry after
it (the block shows its entries as they stood before that one was posted)."""


def archive_contents(
    timeline: Timeline, slug: str, blocks: list[Block]
) -> list[tuple[list[FeedEntry], list[Tombstone]]]:
    """For each of `blocks` (consecutive, in order), its entries as they stood before the
    block's following entry, in log order, and the tombstones of those retracted by then.

    An archive document shows its entries as they were when it was written, so the same
    log always gives the same archive bytes, whenever it is published. A run of blocks
    is read at once: its entries with their events' own data, then the edits of those
    entries, by id; each block replays the edits made before its own end.
    """
    if not blocks:
        return []
    first, last = blocks[0][0], blocks[-1][1]
    rows = timeline.original_entries(slug, first, last)
    # Each entry's edits, by id (as the timeline applies them: whatever conference the
    # edit was filed in), in log order; each block keeps those before its end.
    edits_of = timeline.edits([row.id for row in rows], blocks[-1][2])
    out: list[tuple[list[FeedEntry], list[Tombstone]]] = []
    index = 0
    for low, high, until in blocks:
        entries: list[FeedEntry] = []
        gone: list[Tombstone] = []
        while index < len(rows) and rows[index].position < low:
            index += 1
        while index < len(rows) and rows[index].position <= high:
            entry, stone = _as_of(rows[index], edits_of.get(rows[index].id, []), until)
            if stone is not None:
                gone.append(stone)
            elif entry is not None:
                entries.append(entry)
            index += 1
        out.append((entries, gone))
    return out


def _as_of(
    row: OriginalEntry, edits: list[Edit], until: int
) -> tuple[FeedEntry | None, Tombstone | None]:
    """One entry as it stood before position `until`: its original data, then its edits
    up to there (or its tombstone, if one of them retracted it)."""
    id_, kind = row.id, row.kind
    data = dict(row.data)
    entry_kind = entry_model(kind).ENTRY
    assert entry_kind is not None  # an entry kind's model has one
    updated_at = None
    retraction = None
    for edit in edits:
        if edit.position >= until:
            break  # in position order: the rest came later still
        changes = edit.changes
        if edit.type == "entry.retracted":
            retraction = Tombstone(
                id_, parse_time(edit.occurred_at), edit.author, changes.get("reason")
            )
            continue
        updated_at = edit.occurred_at
        # As the timeline applies it: each correction field the kind takes replaces
        # the entry field it names (a talk's `text` is its title).
        for name, value in changes.items():
            if name in entry_kind.correctable:
                data[entry_kind.correctable[name]] = value
    if retraction is not None:
        return None, retraction
    return _from_data(id_, kind, row.day, row.author, row.occurred_at, updated_at, data), None


def closed_days(timeline: Timeline, slug: str) -> list[ClosedDay]:
    return timeline.closed_days(slug)


def all_days(timeline: Timeline, slug: str) -> list[tuple[int, int]]:
    """(number, changed_position) of every day of the conference."""
    return timeline.days(slug)


def time_of(timeline: Timeline, position: int) -> dt.datetime | None:
    return timeline.occurred_at(position)
