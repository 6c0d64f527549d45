"""The timeline on SQLite: its tables, the projection that fills them, and its reads.

The timeline projection: conferences, days, and every entry in its current state.

Entries are the events of the types the registry marks as entries (`events.ENTRY_TYPES`:
sessions, talks, quotes, notes, photos, links…): where each sits (day, session, talk),
what corrections changed, whether it is retracted (and why), and its edit history.
Nothing here names a kind's fields: a correction is kept as a JSON object of the entry
fields it replaced (`corrected`, through the kind's `EntryKind.correctable`), and the
view lays it over the event's data, so a new entry type needs no edit here.

Each day records the position of the last event that changed it, so publishers know
which summaries to refresh; each conference, the position of its newest event of any
type (`last_position`, indexed), so a publisher finds the conferences changed since it
last ran with a range scan, never reading the others.

An entry row does not copy the event's text: `TIMELINE` (a view) joins each entry with
its event and gives its current `data` (the event's, corrections applied), so a rebuild
writes a few small columns per entry, mapped inside SQLite. Only events stored under an
older schema keep their upcast data in the row (`upcast`).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from ...domain.events import CORRECTION_FIELDS, REGISTRY, entry_model
from ..dialect import SQLITE
from ..rows import timeline_entry
from ..timeline import (
    Edit,
    TimelineEntry,
    iter_chunks,
)
from ..timeline_apply import CALENDAR_TYPES, ChunkChanges, apply_calendar
from ..timeline_reads import (
    CONFERENCES as CONFERENCES,
)
from ..timeline_reads import (
    DAYS as DAYS,
)
from ..timeline_reads import (
    EDITS as EDITS,
)
from ..timeline_reads import (
    ENTRIES as ENTRIES,
)
from ..timeline_reads import (
    REPORTERS as REPORTERS,
)
from ..timeline_reads import (
    TIMELINE as TIMELINE,
)
from ..timeline_reads import (
    TimelineReads,
)
from .driver import Connection, connect, read_transaction, write_transaction
from .log import Record
from .replay import copy_records, create_copy

ENTRY_TYPES: tuple[str, ...] = tuple(t for t, m in REGISTRY.items() if m.ENTRY is not None)
"""The registry's entry types, in its order (the SQL below is written from it)."""

KINDS: dict[str, str] = {t: m.ENTRY.name for t, m in REGISTRY.items() if m.ENTRY is not None}
"""Entry type → its kind (`quote.captured` → `quote`)."""

_ENVELOPE_COLUMNS = frozenset({"day", "session", "talk", "kind"})
FIELD_COLUMNS: tuple[str, ...] = tuple(
    dict.fromkeys(
        name
        for t in ENTRY_TYPES
        for name in REGISTRY[t].model_fields
        if name != "type" and name not in _ENVELOPE_COLUMNS
    )
)
"""The entries' own fields, each a column of the view (for people browsing the file):
every field of every entry model, but those the view already has as its own columns
(a session's `kind` is `data`'s, the view's `kind` is the entry's)."""


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _field_columns() -> str:
    return "".join(f"json_extract(data, '$.{name}') AS {name}, " for name in FIELD_COLUMNS)


# No ELSE: every type reaching it is in ENTRY_TYPES, and a NULL kind would fail the
# NOT NULL constraint rather than publish an entry as some other kind.
_KIND_CASE = (
    "CASE type "
    + " ".join(f"WHEN {_sql_text(t)} THEN {_sql_text(k)}" for t, k in KINDS.items())
    + " END"
)

DDL = f"""
CREATE TABLE {CONFERENCES} (
    slug TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    venue TEXT,
    timezone TEXT NOT NULL,
    url TEXT,
    language TEXT NOT NULL,
    opened_at TEXT NOT NULL,
    closed_at TEXT,
    changed_position INTEGER NOT NULL,
    last_position INTEGER NOT NULL  -- the newest event of this conference, of any type
);
-- "Conferences changed after position P" (the publisher's selection): a range scan.
CREATE INDEX {CONFERENCES}_by_last ON {CONFERENCES} (last_position);
CREATE TABLE {DAYS} (
    conference TEXT NOT NULL,
    number INTEGER NOT NULL,
    date TEXT NOT NULL,
    title TEXT,
    opened_at TEXT NOT NULL,
    closed_at TEXT,
    changed_position INTEGER NOT NULL,
    PRIMARY KEY (conference, number)
);
CREATE INDEX {DAYS}_by_change ON {DAYS} (changed_position);
CREATE TABLE {REPORTERS} (
    conference TEXT NOT NULL,
    day INTEGER NOT NULL,
    author TEXT NOT NULL,
    first_position INTEGER NOT NULL,
    PRIMARY KEY (conference, day, author)
);
CREATE TABLE {ENTRIES} (
    position INTEGER PRIMARY KEY,
    id TEXT NOT NULL,  -- no index: found through the log's own unique index on ids
    conference TEXT NOT NULL,
    day INTEGER NOT NULL,
    kind TEXT NOT NULL,
    author TEXT NOT NULL,
    utc_at TEXT NOT NULL,
    session TEXT,
    talk TEXT,
    ended_at TEXT,
    updated_at TEXT,
    corrected TEXT,  -- JSON: entry field → the value corrections gave it (NULL: none)
    retracted INTEGER NOT NULL DEFAULT 0,
    retraction_reason TEXT,
    retracted_at TEXT,
    upcast TEXT,
    pinned INTEGER NOT NULL DEFAULT 0,
    highlighted INTEGER NOT NULL DEFAULT 0,
    highlight_label TEXT,
    changed_position INTEGER NOT NULL  -- the last event that changed how it reads
);
CREATE INDEX {ENTRIES}_by_day ON {ENTRIES} (conference, day, utc_at, position);
CREATE INDEX {ENTRIES}_by_conference ON {ENTRIES} (conference, position);
-- The live stream's "every change after P" and the page's pinned entry: range scans.
CREATE INDEX {ENTRIES}_by_change ON {ENTRIES} (conference, changed_position, position);
CREATE INDEX {ENTRIES}_pinned ON {ENTRIES} (conference) WHERE pinned = 1;
-- Each as long as its answer: the page's key moments in their order, and the entries
-- changed since they were posted (corrected, marked), latest change first, from which
-- the live feed brings archived ones back. A new entry is in neither.
CREATE INDEX {ENTRIES}_highlighted ON {ENTRIES} (conference, utc_at, position)
    WHERE highlighted = 1;
CREATE INDEX {ENTRIES}_changed ON {ENTRIES} (conference, changed_position, position)
    WHERE changed_position > position AND retracted = 0;
CREATE TABLE {EDITS} (
    event_id TEXT PRIMARY KEY,
    conference TEXT NOT NULL,
    entry TEXT NOT NULL,
    position INTEGER NOT NULL,
    type TEXT NOT NULL,
    occurred_at TEXT NOT NULL,
    author TEXT NOT NULL,
    changes TEXT NOT NULL
);
CREATE INDEX {EDITS}_by_entry ON {EDITS} (entry, position);
CREATE INDEX {EDITS}_by_conference ON {EDITS} (conference, position);
CREATE VIEW {TIMELINE} AS
SELECT position, id, conference, day, kind, author, occurred_at, utc_at, session, talk,
    data, {_field_columns()}ended_at, updated_at, retracted, retraction_reason, retracted_at,
    pinned, highlighted, highlight_label, changed_position
FROM (
    SELECT e.*, ev.occurred_at AS occurred_at,
        CASE WHEN e.corrected IS NULL THEN coalesce(e.upcast, ev.data)
            ELSE json_patch(coalesce(e.upcast, ev.data), e.corrected) END AS data
    FROM {ENTRIES} AS e JOIN events AS ev ON ev.position = e.position
)
"""

# One mapping from an entry event to its row, in SQL, used two ways: over a range of the
# events table (a run of entries is mapped without leaving SQLite) and over one event
# passed as parameters (an event stored under an older schema, with its upcast data).
_ENTRY_SELECT = """
SELECT position, id, conference, json_extract(data, '$.day'),
    {kind},
    author, strftime('%Y-%m-%dT%H:%M:%fZ', occurred_at),
    CASE WHEN type = 'session.started' THEN id ELSE json_extract(data, '$.session') END,
    CASE WHEN type = 'talk.started' THEN id ELSE json_extract(data, '$.talk') END,
    {upcast}, position
FROM {source}
"""
_INSERT_ENTRIES = f"""
INSERT OR IGNORE INTO {ENTRIES} (position, id, conference, day, kind, author, utc_at,
    session, talk, upcast, changed_position)
"""
_ENTRY_TYPE_LIST = ", ".join(f"'{t}'" for t in ENTRY_TYPES)
_CURRENT_SCHEMA = " ".join(f"WHEN '{t}' THEN {REGISTRY[t].SCHEMA_VERSION}" for t in ENTRY_TYPES)
INSERT_RANGE = _INSERT_ENTRIES + _ENTRY_SELECT.format(
    kind=_KIND_CASE,
    upcast="NULL",
    # `+type`: walk the primary-key range; an index on type would scan every entry.
    source=f"events WHERE position BETWEEN ? AND ? AND +type IN ({_ENTRY_TYPE_LIST}) "
    f"AND schema_version = CASE type {_CURRENT_SCHEMA} END",
)
INSERT_ONE = _INSERT_ENTRIES + _ENTRY_SELECT.format(
    kind=_KIND_CASE,
    upcast="data",
    source="(SELECT ? AS position, ? AS id, ? AS type, ? AS conference, ? AS author, "
    "? AS occurred_at, ? AS data)",
)

_MARK_TYPES = frozenset(
    {"entry.pinned", "entry.unpinned", "entry.highlighted", "entry.unhighlighted"}
)
"""The reader's page marks: each sets a flag of its target entry."""

_POSITION_OF = "(SELECT position FROM events WHERE id = ?)"
"""An entry's row is keyed by its event's position; the log's unique index finds it."""


class _Batch(ChunkChanges):
    """One chunk of records: its entries are inserted first, in one statement.

    Every other event then touches only entries positioned before it (`AND position <
    ?`), so applying a chunk gives exactly what applying its events one by one would:
    a rebuild equals an incremental catch-up, whatever the chunk boundaries.
    """

    def __init__(self, conn: Connection) -> None:
        super().__init__()
        self.conn = conn

    def insert_entries(self, records: Sequence[Record]) -> None:
        entries = [r for r in records if r.type in KINDS]
        if not entries:
            return
        low, high = entries[0].position, entries[-1].position
        # Current-schema entries: mapped inside SQLite over the chunk's range.
        self.conn.execute(INSERT_RANGE, (low, high))
        for r in entries:
            if not r.current:  # stored under an older schema: insert its upcast data
                self.conn.execute(
                    INSERT_ONE,
                    (
                        r.position,
                        r.id,
                        r.type,
                        r.conference,
                        r.author,
                        r.occurred_at,
                        json.dumps(r.data, ensure_ascii=False),
                    ),
                )
        rows = self.conn.execute(
            f"SELECT conference, day, author, min(position), max(position) FROM {ENTRIES} "
            "WHERE position BETWEEN ? AND ? GROUP BY conference, day, author",
            (low, high),
        ).fetchall()
        self.conn.executemany(
            f"INSERT OR IGNORE INTO {REPORTERS} (conference, day, author, first_position) "
            "VALUES (?, ?, ?, ?)",
            [row[:4] for row in rows],
        )
        for conference, day, _author, _first, last in rows:
            self.day_changed(conference, day, last)

    def finish(self) -> None:
        if self.conferences:
            self.conn.executemany(
                f"UPDATE {CONFERENCES} SET last_position = max(last_position, ?) WHERE slug = ?",
                [(position, slug) for slug, position in self.conferences.items()],
            )
        if self.days:
            self.conn.executemany(
                f"UPDATE {DAYS} SET changed_position = max(changed_position, ?) "
                "WHERE conference = ? AND number = ?",
                [(position, conf, day) for (conf, day), position in self.days.items()],
            )


class TimelineProjection:
    """The timeline, projected on SQLite (the runner drives it)."""

    name = "timeline"
    version = 9
    tables = (CONFERENCES, DAYS, REPORTERS, ENTRIES, EDITS, TIMELINE)
    lazy_types = frozenset(ENTRY_TYPES)
    """Entry events are mapped in SQL: the runner need not fetch their data."""

    def create(self, conn: Connection) -> None:
        for statement in DDL.split(";"):
            if statement.strip():
                conn.execute(statement)

    def apply(self, conn: Connection, records: Sequence[Record]) -> None:
        batch = _Batch(conn)
        batch.insert_entries(records)
        for r in records:
            # Every event counts, whatever its type: the newest one of each conference.
            batch.conference_changed(r.conference, r.position)
            if r.type not in KINDS:
                self._other(batch, r)
        batch.finish()

    def _other(self, batch: _Batch, r: Record) -> None:
        execute = batch.conn.execute
        d = r.data
        t = r.type
        if t in ("session.ended", "talk.ended"):
            target = d["session"] if t == "session.ended" else d["talk"]
            row = execute(
                f"UPDATE {ENTRIES} SET ended_at = ? WHERE position = {_POSITION_OF} "
                "AND position < ? RETURNING conference, day",
                (r.occurred_at, target, r.position),
            ).fetchone()
            if row:
                batch.day_changed(row[0], row[1], r.position)
        elif t == "entry.corrected":
            self._correct(batch, r)
        elif t == "entry.retracted":
            row = execute(
                f"UPDATE {ENTRIES} SET retracted = 1, retraction_reason = ?, "
                "retracted_at = ?, pinned = 0, highlighted = 0, highlight_label = NULL, "
                f"changed_position = {r.position} WHERE position = {_POSITION_OF} AND position < ? "
                "RETURNING conference, day",
                (d.get("reason"), r.occurred_at, d["target"], r.position),
            ).fetchone()
            self._edit(batch, r, {"reason": d.get("reason")})
            if row:
                batch.day_changed(row[0], row[1], r.position)
        elif t in _MARK_TYPES:
            self._mark(batch, r)
        elif t in CALENDAR_TYPES:
            apply_calendar(batch.conn, SQLITE, batch, r)

    def _correct(self, batch: _Batch, r: Record) -> None:
        conn = batch.conn
        d = r.data
        changes = {k: d[k] for k in CORRECTION_FIELDS if d.get(k) is not None}
        self._edit(batch, r, changes)
        before = conn.execute(
            f"SELECT kind, json_extract(data, '$.speaker'), conference, day, position "
            f"FROM {TIMELINE} WHERE position = {_POSITION_OF} AND position < ?",
            (d["target"], r.position),
        ).fetchone()
        if before is None:
            return  # a correction of an entry this log never saw (an import): kept as history
        kind, old_speaker, conference, day, target_position = before
        # The kind says which correction fields it takes, and the field each replaces
        # (a talk's `text` is its title); the others are ignored, as they always were.
        entry = entry_model(kind).ENTRY
        assert entry is not None  # an entry kind's model has one
        patch = {entry.correctable[k]: v for k, v in changes.items() if k in entry.correctable}
        conn.execute(
            f"UPDATE {ENTRIES} SET corrected = CASE WHEN ?1 = '{{}}' THEN corrected "
            "ELSE json_patch(coalesce(corrected, '{}'), ?1) END, "
            f"updated_at = ?2, changed_position = ?4 WHERE position = ?3",
            (json.dumps(patch, ensure_ascii=False), r.occurred_at, target_position, r.position),
        )
        if kind == "talk" and "speaker" in patch:
            # Quotes defaulted to the talk's speaker follow the corrected name.
            # A talk's quotes lie between its start and this correction: a primary-key
            # range, however large the day.
            conn.execute(
                f"UPDATE {ENTRIES} SET corrected = "
                "json_patch(coalesce(corrected, '{}'), json_object('speaker', ?)), "
                f"changed_position = {r.position} WHERE position IN "
                f"(SELECT position FROM {TIMELINE} WHERE position > ? "
                "AND position < ? AND talk = ? AND kind = 'quote' "
                "AND json_extract(data, '$.speaker') = ?)",
                (patch["speaker"], target_position, r.position, d["target"], old_speaker),
            )
        batch.day_changed(conference, day, r.position)

    def _mark(self, batch: _Batch, r: Record) -> None:
        """A pin, unpin, highlight or unhighlight: only a non-retracted entry of the
        event's conference positioned before it takes one."""
        execute = batch.conn.execute
        t = r.type
        target = (
            f"WHERE position = {_POSITION_OF} AND position < ? AND conference = ? "
            "AND retracted = 0 RETURNING conference, day"
        )
        args: tuple[object, ...] = (r.data["target"], r.position, r.conference)
        if t == "entry.pinned":
            sets = "pinned = 1"
        elif t == "entry.unpinned":
            sets = "pinned = 0"
        elif t == "entry.highlighted":
            sets = "highlighted = 1, highlight_label = ?"
            args = (r.data.get("label"), *args)
        else:
            sets = "highlighted = 0, highlight_label = NULL"
        row = execute(
            f"UPDATE {ENTRIES} SET {sets}, changed_position = {r.position} {target}", args
        ).fetchone()
        if row is None:
            return  # no such entry here (an import's stray mark): kept in the log only
        batch.day_changed(row[0], row[1], r.position)
        if t == "entry.pinned":
            # One pinned entry per conference: the old one is unpinned by this event.
            for conference, day in execute(
                f"UPDATE {ENTRIES} SET pinned = 0, changed_position = ? WHERE conference = ? "
                f"AND pinned = 1 AND position <> {_POSITION_OF} RETURNING conference, day",
                (r.position, r.conference, r.data["target"]),
            ).fetchall():
                batch.day_changed(conference, day, r.position)

    def _edit(self, batch: _Batch, r: Record, changes: dict[str, object]) -> None:
        batch.conn.execute(
            f"INSERT OR IGNORE INTO {EDITS} (event_id, conference, entry, position, type, "
            "occurred_at, author, changes) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                r.id,
                r.conference,
                r.data["target"],
                r.position,
                r.type,
                r.occurred_at,
                r.author,
                json.dumps(changes, ensure_ascii=False),
            ),
        )


# -- reading it ------------------------------------------------------------------------

_ENTRY_COLUMNS = (
    "position, id, conference, day, kind, author, occurred_at, utc_at, session, talk, data, "
    "ended_at, updated_at, retracted, retraction_reason, retracted_at, "
    "pinned, highlighted, highlight_label, changed_position"
)


def _timeline_entry(row: Any) -> TimelineEntry:
    """A `TimelineEntry` from a row of `_ENTRY_COLUMNS` (the view's: corrections applied)."""
    return timeline_entry(row, json.loads(row[10]), 11)


_IDS_PER_QUERY = 500
"""Entry ids looked up per query (SQLite allows 32,766 parameters; fewer keep it quick)."""


class SqliteTimeline(TimelineReads):
    """The `Timeline` of one SQLite database, read on the log's own connection (so a
    reader's snapshot, and the unit of work, cover the log and the timeline at once).

    Every query is bounded (a page, a window of recent changes, a day), so publishing
    after one new event costs the same on a log of a thousand events or a million.
    The reads both backends run alike are `TimelineReads`'; here, those in SQLite's own
    SQL (its view, IN lists).
    """

    conn: Connection
    dialect = SQLITE
    NOT_RETRACTED = "retracted = 0"
    BY_LAST = "last_position"

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[None]:
        with read_transaction(self.conn):
            yield

    def head(self) -> int:
        return int(self.conn.execute("SELECT ifnull(max(position), 0) FROM events").fetchone()[0])

    def projected(self) -> int:
        row = self.conn.execute(
            "SELECT ifnull((SELECT position FROM projection_state WHERE name = ?), 0)",
            (TimelineProjection.name,),
        ).fetchone()
        return int(row[0])

    def location(self) -> str | None:
        for _, name, file in self.conn.execute("PRAGMA database_list"):
            if name == "main":
                return str(file) if file else None
        return None

    # -- entries ------------------------------------------------------------------------

    def day_entries(self, conference: str, number: int) -> list[TimelineEntry]:
        rows = self.conn.execute(
            f"SELECT {_ENTRY_COLUMNS} FROM {TIMELINE} WHERE conference = ? AND day = ? "
            "ORDER BY utc_at, position",
            (conference, number),
        ).fetchall()
        return [_timeline_entry(r) for r in rows]

    def changes(self, conference: str, after: int, limit: int) -> list[TimelineEntry]:
        rows = self.conn.execute(
            f"SELECT {_ENTRY_COLUMNS} FROM {TIMELINE} WHERE conference = ? "
            "AND changed_position > ? ORDER BY changed_position, position LIMIT ?",
            (conference, after, limit),
        ).fetchall()
        return [_timeline_entry(r) for r in rows]

    def entries_by_id(self, conference: str, ids: Sequence[str]) -> list[TimelineEntry]:
        out: list[TimelineEntry] = []
        for chunk in iter_chunks(ids, _IDS_PER_QUERY):
            rows = self.conn.execute(
                f"SELECT {_ENTRY_COLUMNS} FROM {TIMELINE} WHERE position IN "
                f"(SELECT position FROM events WHERE id IN ({', '.join('?' * len(chunk))})) "
                "AND conference = ?",
                [*chunk, conference],
            ).fetchall()
            out.extend(_timeline_entry(r) for r in rows)
        return out

    def pinned_entry(self, conference: str) -> TimelineEntry | None:
        row = self.conn.execute(
            f"SELECT {_ENTRY_COLUMNS} FROM {TIMELINE} WHERE position = (SELECT position "
            f"FROM {ENTRIES} WHERE conference = ? AND pinned = 1 AND retracted = 0)",
            (conference,),
        ).fetchone()
        return _timeline_entry(row) if row else None

    def key_moments(self, conference: str) -> list[TimelineEntry]:
        rows = self.conn.execute(
            f"SELECT {_ENTRY_COLUMNS} FROM {TIMELINE} WHERE conference = ? "
            "AND highlighted = 1 AND retracted = 0 ORDER BY utc_at, position",
            (conference,),
        ).fetchall()
        return [_timeline_entry(r) for r in rows]

    def _entries_at(self, positions: list[int]) -> list[TimelineEntry]:
        marks = ", ".join("?" * len(positions))
        rows = self.conn.execute(
            f"SELECT {_ENTRY_COLUMNS} FROM {TIMELINE} WHERE position IN ({marks}) "
            "AND retracted = 0",
            positions,
        ).fetchall()
        return [_timeline_entry(r) for r in rows]

    def edits(self, entries: Sequence[str], before: int) -> dict[str, list[Edit]]:
        out: dict[str, list[Edit]] = {}
        for chunk in iter_chunks(entries, _IDS_PER_QUERY):
            for entry, position, type_, occurred_at, author, changes in self.conn.execute(
                f"SELECT entry, position, type, occurred_at, author, changes FROM {EDITS} "
                f"WHERE entry IN ({', '.join('?' * len(chunk))}) AND position < ?",
                [*chunk, before],
            ):
                out.setdefault(entry, []).append(
                    Edit(entry, position, type_, occurred_at, author, json.loads(changes))
                )
        for edits in out.values():
            edits.sort(key=lambda e: e.position)  # one entry's edits come from one chunk
        return out

    # -- the publisher's selection ----------------------------------------------------------

    def last_positions(self, slugs: Iterable[str]) -> dict[str, int]:
        out: dict[str, int] = {}
        for slug in slugs:
            row = self.conn.execute(
                f"SELECT last_position FROM {CONFERENCES} WHERE slug = ?", (slug,)
            ).fetchone()
            if row:
                out[slug] = int(row[0])
        return out

    def _counts(self, table: str, slugs: Iterable[str] | None) -> dict[str, int]:
        if slugs is None:
            return {
                r[0]: int(r[1])
                for r in self.conn.execute(
                    f"SELECT conference, count(*) FROM {table} GROUP BY conference"
                )
            }
        return {
            slug: int(
                self.conn.execute(
                    f"SELECT count(*) FROM {table} WHERE conference = ?", (slug,)
                ).fetchone()[0]
            )
            for slug in slugs
        }

    def entries_of_days(self, conference: str, days: Sequence[int]) -> int:
        marks = ", ".join("?" * len(days))
        row = self.conn.execute(
            f"SELECT count(*) FROM {ENTRIES} WHERE conference = ? AND day IN ({marks})",
            [conference, *days],
        ).fetchone()
        return int(row[0])


def open_timeline(path: str) -> SqliteTimeline:
    """A read-only timeline of the database file at `path`, on a connection of its own
    (the feeds helper process); close it with `close_timeline`."""
    from urllib.parse import quote

    from .driver import open_raw

    return SqliteTimeline(open_raw(f"file:{quote(path)}?mode=ro", uri=True))


def close_timeline(timeline: SqliteTimeline) -> None:
    timeline.conn.close()


class PrivateTimeline:
    """A timeline of its own, in memory: a conference's past replayed (`summary
    --as-of`), never touching the live projection.

    Its events table is a `store.replay` copy: none of the log's triggers, which would
    refuse a one-conference copy (its positions have gaps)."""

    def __init__(self) -> None:
        self.conn = connect(":memory:")
        create_copy(self.conn)
        self.projection = TimelineProjection()
        self.projection.create(self.conn)
        # Its position too, as the live projection keeps it (`SqliteTimeline.projected`).
        self.conn.execute(STATE_DDL)
        self.conn.execute(
            "INSERT INTO projection_state (name, version, position) VALUES (?, ?, 0)",
            (self.projection.name, self.projection.version),
        )
        self.timeline = SqliteTimeline(self.conn)

    def writing(self) -> contextlib.AbstractContextManager[object]:
        """One transaction for a whole replay (in memory: no commit per event)."""
        return write_transaction(self.conn)

    def day_state(self, conference: str, day: int) -> tuple[str | None, int] | None:
        """(closed_at, changed_position) of the day as replayed so far, None if unseen."""
        from .webhook_summaries import day_state

        return day_state(self.conn, conference, day)

    def apply(self, records: list[Record]) -> None:
        copy_records(self.conn, records)
        self.projection.apply(self.conn, records)
        if records:
            self.conn.execute(
                "UPDATE projection_state SET position = ? WHERE name = ?",
                (records[-1].position, self.projection.name),
            )

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> PrivateTimeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- the projections' state ----------------------------------------------------------------

STATE_DDL = """
CREATE TABLE IF NOT EXISTS projection_state (
    name TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    position INTEGER NOT NULL
)
"""

PROJECTION_CACHE_KIB = -65_536
"""Page cache while projecting (64 MiB): a rebuild's indexes stay in memory."""


class SqliteProjectionState:
    """`ProjectionState` in the table projection_state of the log's own database."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        with write_transaction(self.conn):
            yield

    @contextlib.contextmanager
    def fast_writes(self) -> Iterator[None]:
        """synchronous=NORMAL in WAL mode never corrupts the file; the log's own appends
        restore FULL before anything is acknowledged."""
        self.conn.execute("PRAGMA synchronous = NORMAL")
        self.conn.execute(f"PRAGMA cache_size = {PROJECTION_CACHE_KIB}")
        try:
            yield
        finally:
            self.conn.execute("PRAGMA synchronous = FULL")
            self.conn.execute("PRAGMA cache_size = -2000")

    def ensure(self) -> None:
        self.conn.execute(STATE_DDL)

    def exists(self) -> bool:
        return bool(
            self.conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'projection_state'"
            ).fetchone()
        )

    def _objects(self) -> dict[str, str]:
        rows = self.conn.execute(
            "SELECT name, type FROM sqlite_master WHERE type IN ('table', 'view')"
        )
        return {name: kind for name, kind in rows}

    def position(self, name: str, version: int, tables: Sequence[str]) -> int | None:
        row = self.conn.execute(
            "SELECT version, position FROM projection_state WHERE name = ?", (name,)
        ).fetchone()
        if row is None or row[0] != version:
            return None
        objects = self._objects()
        if not all(t in objects for t in tables):
            return None
        return int(row[1])

    def reset(self, name: str, version: int, tables: Sequence[str]) -> None:
        objects = self._objects()
        # Views first: a view over a dropped table would otherwise linger, broken.
        for table in sorted(tables, key=lambda n: objects.get(n) != "view"):
            kind = "VIEW" if objects.get(table) == "view" else "TABLE"
            self.conn.execute(f'DROP {kind} IF EXISTS "{table}"')
        self.conn.execute(
            "INSERT INTO projection_state (name, version, position) VALUES (?, ?, 0) "
            "ON CONFLICT (name) DO UPDATE SET version = excluded.version, position = 0",
            (name, version),
        )

    def advance(self, name: str, position: int) -> None:
        self.conn.execute(
            "UPDATE projection_state SET position = ? WHERE name = ?", (position, name)
        )
