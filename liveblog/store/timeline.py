"""The timeline's read side: what feeds, summaries and the publisher ask of the timeline.

The timeline is a projection of the log (conferences, days, and every entry in its
current state); `Timeline` is how everything outside `store/` reads it, and
`ProjectionState` how the projection runner keeps each projection's position. The
SQLite implementation is `store.sqlite.timeline`; a second backend implements these
two protocols and passes `tests/contract/test_timeline.py`.

Contracts every implementation keeps:

- **Positions** are the log's: an entry is known by the position of the event that
  made it, and "as of position P" means "after applying every event up to P".
- **Current data**: an entry's `data` is its event's data (upcast to the current
  schema) with every correction applied, each correction field replacing the entry
  field its kind maps it to (`events.EntryKind.correctable`); a retracted entry keeps
  its data and is flagged.
- **Ordering**: every list is returned in the order its method states; ties are
  broken by position, never left to the backend.
- **Snapshots**: inside `snapshot()`, every read sees the same state of the log and
  the timeline, whatever other writers commit meanwhile.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol


def parse_time(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value)


@dataclass(frozen=True)
class Conference:
    slug: str
    title: str
    venue: str | None
    timezone: str
    url: str | None
    language: str
    opened_at: dt.datetime
    closed_at: dt.datetime | None
    changed_position: int

    @property
    def tag_date(self) -> str:
        """The date in every tag: URI of this conference: fixed when it opened."""
        return self.opened_at.date().isoformat()

    def tag(self, *parts: str) -> str:
        """A permanent id (RFC 4151): never reused, never changed."""
        return f"tag:liveblog,{self.tag_date}:{'/'.join((self.slug, *parts))}"


@dataclass(frozen=True)
class Day:
    conference: str
    number: int
    date: str
    title: str | None
    opened_at: str
    closed_at: str | None
    changed_position: int  # the last event that changed the day (its summary)


@dataclass(frozen=True)
class ClosedDay:
    number: int
    title: str | None
    date: str
    closed_at: dt.datetime
    changed_position: int


@dataclass(frozen=True)
class TimelineEntry:
    """An entry as the timeline holds it now: where it sits, and its current data."""

    position: int
    id: str
    conference: str
    day: int
    kind: str  # the registry's entry kind: `quote`, `link`…
    author: str
    occurred_at: str  # as the reporter gave it (with its offset)
    utc_at: str  # the same instant in UTC: the summary's order
    session: str | None  # the session it sits in (its own id for a session)
    talk: str | None  # the talk it sits in (its own id for a talk)
    data: Mapping[str, Any]  # current: corrections applied
    ended_at: str | None = None
    updated_at: str | None = None  # the last correction's time
    retracted: bool = False
    retraction_reason: str | None = None
    retracted_at: str | None = None
    # The reader's page (pins and key moments are events like every other):
    pinned: bool = False  # the conference's one pinned entry (never a retracted one)
    highlighted: bool = False  # a key moment
    highlight_label: str | None = None  # its optional short label
    # The last event that changed how this entry reads: its own, a correction, a
    # retraction, a pin or unpin (pinning another entry unpins this one), a highlight or
    # an unhighlight. The live stream's position: "every change after P". 0 = not known
    # (an entry built by hand): read it through `changed`.
    changed_position: int = 0

    @property
    def changed(self) -> int:
        return self.changed_position or self.position


@dataclass(frozen=True)
class OriginalEntry:
    """An entry with its event's own data (upcast), before any correction: what an
    archive replays its edits over."""

    position: int
    id: str
    kind: str
    day: int
    author: str
    occurred_at: str
    data: dict[str, Any]


@dataclass(frozen=True)
class Edit:
    """A correction or a retraction of an entry, as filed (its correction fields)."""

    entry: str
    position: int
    type: str  # entry.corrected or entry.retracted
    occurred_at: str
    author: str
    changes: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Tombstone:
    id: str
    when: dt.datetime
    by: str
    reason: str | None


class Timeline(Protocol):
    """The timeline's read side. Every method reads; none writes."""

    def snapshot(self) -> AbstractContextManager[None]:
        """A context in which every read sees one state of the log (re-entrant)."""

    def head(self) -> int:
        """The log's last position (0 for an empty log)."""

    def projected(self) -> int:
        """The last position the timeline's rows reflect: the timeline projection's own,
        committed with them (0 before its first catch-up). At most `head()`, and below
        it while an append is not projected yet: what is rendered from these rows is
        published as of this position, never the log's head."""

    def location(self) -> str | None:
        """Where another process can open this same store read-only (the feeds helper),
        or None when it cannot (a database in memory)."""

    # -- conferences and days -------------------------------------------------------------

    def conference(self, slug: str) -> Conference | None:
        """The conference `slug`, or None if the timeline has not seen it open."""

    def conference_slugs(self) -> list[str]:
        """Every conference, by slug."""

    def day(self, conference: str, number: int) -> Day | None:
        """Day `number` of `conference`, or None."""

    def days(self, conference: str) -> list[tuple[int, int]]:
        """(number, changed_position) of every day of `conference`, by number."""

    def closed_days(self, conference: str) -> list[ClosedDay]:
        """The closed days of `conference`, by number."""

    def day_reporters(self, conference: str, number: int) -> list[str]:
        """Who posted entries on that day, in the order they first did."""

    # -- entries ------------------------------------------------------------------------

    def day_entries(self, conference: str, number: int) -> list[TimelineEntry]:
        """Every entry of the day, retracted ones included, by (utc_at, position)."""

    def live_entries(self, conference: str, size: int, archived_to: int) -> list[TimelineEntry]:
        """The live feed's entries, none retracted, in no particular order: every entry
        positioned after `archived_to` (the newest `size` of them), then entries at or
        before it changed since they were posted (corrected, pinned or unpinned,
        highlighted or unhighlighted: `changed_position` moved; the latest change
        first), then the newest of the others, until `size` are chosen. Each step reads
        about as many rows as it chooses."""

    def changes(self, conference: str, after: int, limit: int) -> list[TimelineEntry]:
        """Entries of `conference` whose `changed_position` is after `after`, retracted
        ones included, by (changed_position, position), at most `limit` (the live
        stream and polling)."""

    def entries_by_id(self, conference: str, ids: Sequence[str]) -> list[TimelineEntry]:
        """Those entries of `conference` (full ids), in no particular order."""

    def pinned_entry(self, conference: str) -> TimelineEntry | None:
        """The conference's pinned entry (never a retracted one), or None."""

    def key_moments(self, conference: str) -> list[TimelineEntry]:
        """The conference's key moments (highlighted, not retracted), by (utc_at, position)."""

    def tombstones(self, conference: str, size: int) -> list[Tombstone]:
        """The `size` most recent retractions filed in `conference`, newest first."""

    def archive_block(self, conference: str, after: int, size: int) -> list[int] | None:
        """Positions of the `size` entries of `conference` positioned after `after`, and
        of the entry after them, in position order — or None while there are not that
        many (the block cannot be archived yet)."""

    def original_entries(self, conference: str, first: int, last: int) -> list[OriginalEntry]:
        """The entries of `conference` positioned from `first` to `last`, with their
        events' own data, in position order."""

    def edits(self, entries: Sequence[str], before: int) -> dict[str, list[Edit]]:
        """The edits of each of `entries` (by event id, whatever conference they were
        filed in) positioned before `before`, each entry's in position order."""

    # -- positions --------------------------------------------------------------------------

    def occurred_at(self, position: int) -> dt.datetime | None:
        """When the event at `position` happened (reporter's clock), or None."""

    def recorded_at(self, position: int) -> str | None:
        """When the log stored the event at `position` (UTC, ISO 8601), or None. It
        grows with position: `summary --as-of` searches it."""

    # -- what changed: the publisher's selection ----------------------------------------

    def any_conference(self) -> bool:
        """The timeline knows at least one conference."""

    def every_conference(self) -> list[tuple[str, int]]:
        """(slug, last_position) of every conference, by slug: last_position is the
        position of the conference's newest event of any type."""

    def changed_after(self, position: int) -> list[tuple[str, int]]:
        """(slug, last_position) of the conferences with an event after `position`, by
        last_position; the cost follows the answer, not the number of conferences."""

    def lagging(self, position: int, limit: int) -> tuple[int, list[tuple[str, int]]]:
        """How many conferences have events after `position`, and the `limit` of them
        changed longest ago (slug, last_position), by last_position."""

    def last_positions(self, slugs: Iterable[str]) -> dict[str, int]:
        """The last_position of each of `slugs` that is a conference."""

    def entry_counts(self, slugs: Iterable[str] | None) -> dict[str, int]:
        """Entries per conference (of `slugs`, or of all), retracted ones included."""

    def day_counts(self, slugs: Iterable[str] | None) -> dict[str, int]:
        """Days per conference (of `slugs`, or of all)."""

    def entries_of_days(self, conference: str, days: Sequence[int]) -> int:
        """How many entries those days of `conference` hold."""


class ProjectionState(Protocol):
    """Where the projection runner keeps each projection's (version, position).

    A projection's position is committed in the same transaction as its rows, so a
    crash never leaves rows without their position or the other way round.
    """

    def transaction(self) -> AbstractContextManager[None]:
        """A write transaction (re-entrant): the unit of a catch-up step."""

    def fast_writes(self) -> AbstractContextManager[None]:
        """Cheaper commits while projections are written (at worst, a power cut loses
        the last projection transactions, which are then applied again)."""

    def ensure(self) -> None:
        """Create the state's own storage if missing (inside `transaction()`)."""

    def exists(self) -> bool:
        """The state's storage exists (a reader never creates it)."""

    def position(self, name: str, version: int, tables: Sequence[str]) -> int | None:
        """The projection's position, or None if it is absent, at another version, or
        lacks one of its `tables` (then it must be reset)."""

    def reset(self, name: str, version: int, tables: Sequence[str]) -> None:
        """Drop the projection's tables (views first) and set it at `version`, position
        0; the caller then creates its tables (inside `transaction()`)."""

    def advance(self, name: str, position: int) -> None:
        """Set the projection's position (inside `transaction()`)."""


def iter_chunks(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    """`items` in consecutive slices of at most `size` (bounded query parameters)."""
    for start in range(0, len(items), size):
        yield items[start : start + size]
