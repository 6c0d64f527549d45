"""What a feed document holds, read from the timeline projection.

Every query is bounded (a page, a window of recent changes), so publishing after one
new event costs the same on a log of a thousand events or a million.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from ..events import entry_model
from ..projections.timeline import CONFERENCES, DAYS, EDITS, ENTRIES, TIMELINE
from ..store.sqlite.driver import Connection
from ..summary.kinds import rendering, xml_safe


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


@dataclass(frozen=True)
class Tombstone:
    id: str
    when: dt.datetime
    by: str
    reason: str | None


def load_conference(conn: Connection, slug: str) -> Conference | None:
    row = conn.execute(
        f"SELECT slug, title, venue, timezone, url, language, opened_at, closed_at, "
        f"changed_position FROM {CONFERENCES} WHERE slug = ?",
        (slug,),
    ).fetchone()
    if row is None:
        return None
    return Conference(
        row[0],
        row[1],
        row[2],
        row[3],
        row[4],
        row[5],
        parse_time(row[6]),
        parse_time(row[7]) if row[7] else None,
        row[8],
    )


def conferences(conn: Connection) -> list[str]:
    return [r[0] for r in conn.execute(f"SELECT slug FROM {CONFERENCES} ORDER BY slug")]


_COLUMNS = "id, kind, day, author, occurred_at, updated_at, data, retracted"


def _entry(row: Any) -> FeedEntry:
    """A feed entry from a row of `_COLUMNS` (the timeline view's)."""
    id_, kind, day, author, occurred_at, updated_at, data = row[:7]
    return _from_data(id_, kind, day, author, occurred_at, updated_at, json.loads(data))


def _from_data(
    id_: str,
    kind: str,
    day: int,
    author: str,
    occurred_at: str,
    updated_at: str | None,
    data: dict[str, Any],
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


def live_entries(conn: Connection, slug: str, size: int, archived_to: int) -> list[FeedEntry]:
    """The live document: every entry not yet archived (created after `archived_to`), then
    archived entries corrected since, most recent correction first, up to `size` in all.

    Together with the archives, that holds every live entry (RFC 5005); a correction of
    an archived entry comes back to readers with its new `updated`.
    """
    fresh = [
        r[0]
        for r in conn.execute(
            f"SELECT position FROM {ENTRIES} WHERE conference = ? AND position > ? "
            "ORDER BY position DESC LIMIT ?",
            (slug, archived_to, size),
        )
    ]
    chosen = list(fresh)
    if len(chosen) < size:  # room left: archived entries corrected since, latest first
        # The newest corrections only (an index walk backwards, bounded), never all.
        recent = conn.execute(
            f"SELECT ev.position FROM {EDITS} AS x JOIN events AS ev ON ev.id = x.entry "
            "WHERE x.conference = ? AND x.type = 'entry.corrected' "
            "ORDER BY x.position DESC LIMIT ?",
            (slug, size * 4),
        ).fetchall()
        for (position,) in recent:
            if len(chosen) >= size:
                break
            if position <= archived_to and position not in chosen:
                chosen.append(position)
    if len(chosen) < size:  # and then the newest archived ones, so a page is full
        chosen += [
            r[0]
            for r in conn.execute(
                f"SELECT position FROM {ENTRIES} WHERE conference = ? AND position <= ? "
                f"AND retracted = 0 ORDER BY position DESC LIMIT ?",
                (slug, archived_to, size),
            )
            if r[0] not in chosen
        ][: size - len(chosen)]
    if not chosen:
        return []
    marks = ", ".join("?" * len(chosen))
    rows = conn.execute(
        f"SELECT position, {_COLUMNS} FROM {TIMELINE} WHERE position IN ({marks}) "
        "AND retracted = 0",
        chosen,
    ).fetchall()
    return newest_first([_entry(r[1:]) for r in rows])


def tombstones(conn: Connection, slug: str, size: int) -> list[Tombstone]:
    """The `size` most recent retractions, newest first."""
    rows = conn.execute(
        f"SELECT entry, occurred_at, author, changes FROM {EDITS} "
        "WHERE conference = ? AND type = 'entry.retracted' ORDER BY position DESC LIMIT ?",
        (slug, size),
    ).fetchall()
    return [Tombstone(r[0], parse_time(r[1]), r[2], json.loads(r[3]).get("reason")) for r in rows]


def archive_block(conn: Connection, slug: str, after: int, size: int) -> list[int] | None:
    """Positions of the next `size` entries created after `after`, and of the entry after
    them — or None while that block is not yet full and followed (not yet archivable)."""
    rows = [
        r[0]
        for r in conn.execute(
            f"SELECT position FROM {ENTRIES} WHERE conference = ? AND position > ? "
            "ORDER BY position LIMIT ?",
            (slug, after, size + 1),
        )
    ]
    return rows if len(rows) == size + 1 else None


_IDS_PER_QUERY = 500
"""Entry ids looked up per query (SQLite allows 32,766 parameters; fewer keep it quick)."""

Block = tuple[int, int, int]
"""An archive block: the positions of its first and last entries, and of the entry after
it (the block shows its entries as they stood before that one was posted)."""


def archive_contents(
    conn: Connection, slug: str, blocks: list[Block]
) -> list[tuple[list[FeedEntry], list[Tombstone]]]:
    """For each of `blocks` (consecutive, in order), its entries as they stood before the
    block's following entry, in log order, and the tombstones of those retracted by then.

    An archive document shows its entries as they were when it was written, so the same
    log always gives the same archive bytes, whenever it is published. A run of blocks
    is read at once: its entries with their event data (parsed here once, rather than
    field by field through the timeline view), then the edits of those entries, by id;
    each block replays the edits made before its own end.
    """
    if not blocks:
        return []
    first, last = blocks[0][0], blocks[-1][1]
    rows = conn.execute(
        f"SELECT e.position, e.id, e.kind, e.day, e.author, ev.occurred_at, "
        f"coalesce(e.upcast, ev.data) FROM {ENTRIES} AS e "
        "JOIN events AS ev ON ev.position = e.position "
        "WHERE e.conference = ? AND e.position BETWEEN ? AND ? ORDER BY e.position",
        (slug, first, last),
    ).fetchall()
    # Each entry's edits, by id (as the timeline applies them: whatever conference the
    # edit was filed in), in log order; each block keeps those before its end.
    edits_of: dict[str, list[Any]] = {}
    ids = [row[1] for row in rows]
    for start in range(0, len(ids), _IDS_PER_QUERY):
        chunk = ids[start : start + _IDS_PER_QUERY]
        for edit in conn.execute(
            f"SELECT entry, position, type, occurred_at, author, changes FROM {EDITS} "
            f"WHERE entry IN ({', '.join('?' * len(chunk))}) AND position < ?",
            [*chunk, blocks[-1][2]],
        ):
            edits_of.setdefault(edit[0], []).append(edit[1:])
    for edits in edits_of.values():
        edits.sort()  # by position: one entry's edits come from one chunk
    out: list[tuple[list[FeedEntry], list[Tombstone]]] = []
    index = 0
    for low, high, until in blocks:
        entries: list[FeedEntry] = []
        gone: list[Tombstone] = []
        while index < len(rows) and rows[index][0] < low:
            index += 1
        while index < len(rows) and rows[index][0] <= high:
            entry, stone = _as_of(rows[index], edits_of.get(rows[index][1], ()), until)
            if stone is not None:
                gone.append(stone)
            elif entry is not None:
                entries.append(entry)
            index += 1
        out.append((entries, gone))
    return out


def _as_of(row: Any, edits: Any, until: int) -> tuple[FeedEntry | None, Tombstone | None]:
    """One entry as it stood before position `until`: its original data, then its edits
    up to there (or its tombstone, if one of them retracted it)."""
    _position, id_, kind, day, author, occurred_at, src = row
    data = json.loads(src)
    entry_kind = entry_model(kind).ENTRY
    assert entry_kind is not None  # an entry kind's model has one
    updated_at = None
    retraction = None
    for edit_position, edit_kind, edit_at, edit_author, changes_json in edits:
        if edit_position >= until:
            break  # in position order: the rest came later still
        changes = json.loads(changes_json)
        if edit_kind == "entry.retracted":
            retraction = Tombstone(id_, parse_time(edit_at), edit_author, changes.get("reason"))
            continue
        updated_at = edit_at
        # As the timeline applies it: each correction field the kind takes replaces
        # the entry field it names (a talk's `text` is its title).
        for name, value in changes.items():
            if name in entry_kind.correctable:
                data[entry_kind.correctable[name]] = value
    if retraction is not None:
        return None, retraction
    return _from_data(id_, kind, day, author, occurred_at, updated_at, data), None


@dataclass(frozen=True)
class ClosedDay:
    number: int
    title: str | None
    date: str
    closed_at: dt.datetime
    changed_position: int


def closed_days(conn: Connection, slug: str) -> list[ClosedDay]:
    rows = conn.execute(
        f"SELECT number, title, date, closed_at, changed_position FROM {DAYS} "
        "WHERE conference = ? AND closed_at IS NOT NULL ORDER BY number",
        (slug,),
    ).fetchall()
    return [ClosedDay(r[0], r[1], r[2], parse_time(r[3]), r[4]) for r in rows]


def all_days(conn: Connection, slug: str) -> list[tuple[int, int]]:
    """(number, changed_position) of every day of the conference."""
    return [
        (r[0], r[1])
        for r in conn.execute(
            f"SELECT number, changed_position FROM {DAYS} WHERE conference = ? ORDER BY number",
            (slug,),
        )
    ]


def time_of(conn: Connection, position: int) -> dt.datetime | None:
    row = conn.execute("SELECT occurred_at FROM events WHERE position = ?", (position,)).fetchone()
    return parse_time(row[0]) if row else None
