"""The timeline on PostgreSQL: its tables, the projection that fills them, and its reads.

The same projection as `store.sqlite.timeline` (read its docstring for what the tables
hold), giving the same rows and the same answers: conferences, days, reporters, every
entry with where it sits, its corrections (`corrected`, a JSON object of the entry
fields they replaced, laid over the event's data when read), its retraction, and the
edit history. Kinds come from the registry; nothing here names a kind's fields.

How it stays equal to SQLite where the two databases differ:

* **Key order.** `corrected` and entry data are JSON *text*, merged in Python with the
  same merge-patch rules as SQLite's `json_patch` (`merge_patch`), so a corrected
  entry's `data` has its keys in the same order on both backends (jsonb would sort them).
  The `timeline` view (for people browsing the database) lays them over with jsonb.
* **UTC times.** `utc_at` is SQLite's own `strftime('%Y-%m-%dT%H:%M:%fZ', occurred_at)`
  (`utc_times`: the same library, in memory, once per chunk), milliseconds rounded the
  same way, so entries sort and print identically.
* **Text order.** Columns that lists are ordered by are `COLLATE "C"`: byte order, as
  SQLite's BINARY (a database's default collation may ignore dashes).

Applying is bulk work: a chunk's entries are one INSERT … SELECT over the chunk's
positions (their fields read from the events' JSON inside PostgreSQL), its ends,
retractions and edits one statement each; only corrections (a read, then a write, in
order: a later one sees the earlier) and the rare conference and day events are one
statement per event.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from ...domain.events import CORRECTION_FIELDS, REGISTRY, entry_model
from ..dialect import POSTGRES
from ..records import Record
from ..rows import timeline_entry
from ..timeline import (
    Edit,
    TimelineEntry,
    iter_chunks,
)
from ..timeline_apply import CALENDAR_TYPES, ChunkChanges, apply_calendar
from ..timeline_reads import (
    CONFERENCES,
    DAYS,
    EDITS,
    ENTRIES,
    ENTRIES_FROM,
    REPORTERS,
    TIMELINE,
    TimelineReads,
)
from .driver import PgConnection, connect_direct

__all__ = [
    "CONFERENCES",
    "DAYS",
    "EDITS",
    "ENTRIES",
    "REPORTERS",
    "TIMELINE",
    "PostgresProjectionState",
    "PostgresTimeline",
    "PostgresTimelineProjection",
    "close_timeline",
    "merge_patch",
    "open_timeline",
    "sqlite_utc",
    "utc_times",
]


# Derived from the registry, as SQLite's projection does (kept here rather than imported
# from the SQLite backend: each backend stands on its own).
ENTRY_TYPES: tuple[str, ...] = tuple(t for t, m in REGISTRY.items() if m.ENTRY is not None)
KINDS: dict[str, str] = {t: m.ENTRY.name for t, m in REGISTRY.items() if m.ENTRY is not None}
"""Entry type → its kind (`quote.captured` → `quote`): passed with each entry's row, so
the SQL needs no CASE over types (and no ELSE that would guess one)."""

_ENVELOPE_COLUMNS = frozenset({"day", "session", "talk", "kind"})
FIELD_COLUMNS: tuple[str, ...] = tuple(
    dict.fromkeys(
        name
        for t in ENTRY_TYPES
        for name in REGISTRY[t].model_fields
        if name != "type" and name not in _ENVELOPE_COLUMNS
    )
)
"""The entries' own fields, each a column of the view (for people browsing the database)."""


def _field_columns() -> str:
    return "".join(f"data ->> '{name}' AS \"{name}\", " for name in FIELD_COLUMNS)


DDL: tuple[str, ...] = (
    f"""CREATE TABLE {CONFERENCES} (
        slug TEXT COLLATE "C" PRIMARY KEY,
        title TEXT NOT NULL,
        venue TEXT,
        timezone TEXT NOT NULL,
        url TEXT,
        language TEXT NOT NULL,
        opened_at TEXT NOT NULL,
        closed_at TEXT,
        changed_position BIGINT NOT NULL,
        last_position BIGINT NOT NULL  -- the newest event of this conference, of any type
    )""",
    # "Conferences changed after position P" (the publisher's selection): a range scan.
    f"CREATE INDEX {CONFERENCES}_by_last ON {CONFERENCES} (last_position, slug)",
    f"""CREATE TABLE {DAYS} (
        conference TEXT COLLATE "C" NOT NULL,
        number INTEGER NOT NULL,
        date TEXT NOT NULL,
        title TEXT,
        opened_at TEXT NOT NULL,
        closed_at TEXT,
        changed_position BIGINT NOT NULL,
        PRIMARY KEY (conference, number)
    )""",
    f"CREATE INDEX {DAYS}_by_change ON {DAYS} (changed_position)",
    f"""CREATE TABLE {REPORTERS} (
        conference TEXT NOT NULL,
        day INTEGER NOT NULL,
        author TEXT NOT NULL,
        first_position BIGINT NOT NULL,
        PRIMARY KEY (conference, day, author)
    )""",
    f"""CREATE TABLE {ENTRIES} (
        position BIGINT PRIMARY KEY,
        id TEXT NOT NULL,  -- no index: found through the log's own unique index on ids
        conference TEXT COLLATE "C" NOT NULL,
        day INTEGER NOT NULL,
        kind TEXT NOT NULL,
        author TEXT NOT NULL,
        utc_at TEXT COLLATE "C" NOT NULL,
        session TEXT,
        talk TEXT,
        ended_at TEXT,
        updated_at TEXT,
        corrected TEXT,  -- JSON: entry field -> the value corrections gave it (NULL: none)
        retracted BOOLEAN NOT NULL DEFAULT false,
        retraction_reason TEXT,
        retracted_at TEXT,
        upcast TEXT,  -- the upcast data of an event stored under an older schema
        pinned BOOLEAN NOT NULL DEFAULT false,
        highlighted BOOLEAN NOT NULL DEFAULT false,
        highlight_label TEXT,
        changed_position BIGINT NOT NULL  -- the last event that changed how it reads
    )""",
    f"CREATE INDEX {ENTRIES}_by_day ON {ENTRIES} (conference, day, utc_at, position)",
    f"CREATE INDEX {ENTRIES}_by_conference ON {ENTRIES} (conference, position)",
    # The live stream's "every change after P" and the page's pinned entry: range scans.
    f"CREATE INDEX {ENTRIES}_by_change ON {ENTRIES} (conference, changed_position, position)",
    f"CREATE INDEX {ENTRIES}_pinned ON {ENTRIES} (conference) WHERE pinned",
    # Each as long as its answer: the page's key moments in their order, and the entries
    # changed since they were posted (corrected, marked), latest change first, from which
    # the live feed brings archived ones back. A new entry is in neither.
    f"CREATE INDEX {ENTRIES}_highlighted ON {ENTRIES} (conference, utc_at, position) "
    "WHERE highlighted",
    f"CREATE INDEX {ENTRIES}_changed ON {ENTRIES} (conference, changed_position, position) "
    "WHERE changed_position > position AND NOT retracted",
    f"""CREATE TABLE {EDITS} (
        event_id TEXT PRIMARY KEY,
        conference TEXT COLLATE "C" NOT NULL,
        entry TEXT NOT NULL,
        position BIGINT NOT NULL,
        type TEXT NOT NULL,
        occurred_at TEXT NOT NULL,
        author TEXT NOT NULL,
        changes TEXT NOT NULL
    )""",
    f"CREATE INDEX {EDITS}_by_entry ON {EDITS} (entry, position)",
    f"CREATE INDEX {EDITS}_by_conference ON {EDITS} (conference, position)",
    f"""CREATE VIEW {TIMELINE} AS
    SELECT position, id, conference, day, kind, author, occurred_at, utc_at, session, talk,
        data, {_field_columns()}ended_at, updated_at, retracted, retraction_reason,
        retracted_at, pinned, highlighted, highlight_label, changed_position
    FROM (
        SELECT e.*, ev.occurred_at AS occurred_at,
            -- An uncorrected entry's data as stored (json keeps its keys' order); a
            -- corrected one's merged with jsonb (for browsing: liveblog merges in Python).
            CASE WHEN e.corrected IS NULL THEN coalesce(e.upcast, ev.data)::json
                ELSE (coalesce(e.upcast, ev.data)::jsonb || e.corrected::jsonb)::json
            END AS data
        FROM {ENTRIES} AS e JOIN events AS ev ON ev.position = e.position
    ) AS current_entries""",
)


# -- the same values as SQLite ---------------------------------------------------------


def merge_patch(target: Any, patch: Any) -> Any:
    """`patch` laid over `target` (RFC 7396, as SQLite's json_patch): keys keep their
    place, new ones follow in the patch's order, a null removes, objects merge."""
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def sqlite_utc(occurred_at: str) -> str:
    """`occurred_at` in UTC as SQLite's `strftime('%Y-%m-%dT%H:%M:%fZ', …)` gives it."""
    return utc_times([occurred_at])[0]


def utc_times(occurred: Sequence[str]) -> list[str]:
    """Each of `occurred` in UTC, to the millisecond, computed by SQLite itself.

    The string must be the SQLite projection's byte for byte (entries sort by it, and it
    is printed). SQLite rounds the fraction of a second through its own decimal parser,
    which no arithmetic here reproduces at every half millisecond (PostgreSQL's `to_char`
    truncates instead), so the same library computes it: one query per chunk, on a
    database in memory that is never written."""
    try:  # the library `store.sqlite.driver` chooses, by the same rule
        from pysqlite3 import dbapi2 as sqlite3
    except ImportError:  # pragma: no cover - only on a platform without the wheel
        import sqlite3

    conn = sqlite3.connect(":memory:")
    try:
        rows = conn.execute(
            "SELECT strftime('%Y-%m-%dT%H:%M:%fZ', value) FROM json_each(?) ORDER BY key",
            (json.dumps(list(occurred)),),
        ).fetchall()
    finally:
        conn.close()
    return [str(row[0]) for row in rows]


def _json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


# -- applying it -----------------------------------------------------------------------

_INSERT_ENTRIES = f"""
INSERT INTO {ENTRIES} (position, id, conference, day, kind, author, utc_at, session, talk,
    upcast, changed_position)
SELECT ev.position, ev.id, ev.conference, d.day, u.kind, ev.author, u.utc_at,
    CASE WHEN u.kind = 'session' THEN ev.id ELSE d.session END,
    CASE WHEN u.kind = 'talk' THEN ev.id ELSE d.talk END,
    u.upcast, ev.position
FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::text[])
    AS u (position, kind, utc_at, upcast)
JOIN events AS ev ON ev.position = u.position
-- The three envelope fields of the data, parsed once (json: no jsonb tree is built).
CROSS JOIN LATERAL json_to_record(coalesce(u.upcast, ev.data)::json)
    AS d (day integer, session text, talk text)
ON CONFLICT (position) DO NOTHING
"""
"""A chunk's entries in one statement: the fields of each row that live in the event's
data (day, session, talk) are read inside PostgreSQL, so the runner never fetches the
data of current-schema entries (`lazy_types`); an older-schema entry brings its upcast
data, which then stands for the event's."""

_REPORTERS = f"""
WITH found AS (
    SELECT conference, day, author, min(position) AS first, max(position) AS last
    FROM {ENTRIES} WHERE position BETWEEN %s AND %s GROUP BY conference, day, author
), added AS (
    INSERT INTO {REPORTERS} (conference, day, author, first_position)
    SELECT conference, day, author, first FROM found
    ON CONFLICT DO NOTHING
)
SELECT conference, day, max(last) FROM found GROUP BY conference, day
"""

# Ends and retractions of a chunk, each kind one statement. An event touches only an
# entry positioned before it, and for one target a later event is valid whenever an
# earlier one is (its position is higher): keeping the last per target is exact.
_END_ENTRIES = f"""
UPDATE {ENTRIES} AS e SET ended_at = u.at
FROM unnest(%s::text[], %s::text[], %s::bigint[]) AS u (target, at, position)
JOIN events AS ev ON ev.id = u.target
WHERE e.position = ev.position AND e.position < u.position
RETURNING e.conference, e.day, u.position
"""
_RETRACT_ENTRIES = f"""
UPDATE {ENTRIES} AS e SET retracted = true, retraction_reason = u.reason,
    retracted_at = u.at, pinned = false, highlighted = false, highlight_label = NULL,
    changed_position = greatest(e.changed_position, u.position)
FROM unnest(%s::text[], %s::text[], %s::text[], %s::bigint[])
    AS u (target, reason, at, position)
JOIN events AS ev ON ev.id = u.target
WHERE e.position = ev.position AND e.position < u.position
RETURNING e.conference, e.day, u.position
"""
_INSERT_EDITS = f"""
INSERT INTO {EDITS} (event_id, conference, entry, position, type, occurred_at, author,
    changes)
SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], %s::bigint[], %s::text[],
    %s::text[], %s::text[], %s::text[])
ON CONFLICT (event_id) DO NOTHING
"""
_CONFERENCES_CHANGED = f"""
UPDATE {CONFERENCES} AS c SET last_position = greatest(c.last_position, u.position)
FROM unnest(%s::text[], %s::bigint[]) AS u (slug, position) WHERE c.slug = u.slug
"""
_DAYS_CHANGED = f"""
UPDATE {DAYS} AS d SET changed_position = greatest(d.changed_position, u.position)
FROM unnest(%s::text[], %s::integer[], %s::bigint[]) AS u (conference, number, position)
WHERE d.conference = u.conference AND d.number = u.number
"""
_TARGETS = f"""
SELECT e.position, e.kind, coalesce(e.upcast, ev.data), e.corrected, e.updated_at,
    e.conference, e.day, ev.id
FROM events AS ev JOIN {ENTRIES} AS e ON e.position = ev.position
WHERE ev.id = ANY(%s)
"""
# A talk's quotes lie between its start and the correction of its speaker: a primary-key
# range per talk, however large the day.
_QUOTES_OF_TALKS = f"""
SELECT e.position, e.kind, coalesce(e.upcast, ev.data), e.corrected, e.updated_at,
    e.conference, e.day, e.talk
FROM unnest(%s::text[], %s::bigint[], %s::bigint[]) AS u (talk, low, high)
JOIN {ENTRIES} AS e ON e.position > u.low AND e.position < u.high AND e.talk = u.talk
JOIN events AS ev ON ev.position = e.position
WHERE e.kind = 'quote'
ORDER BY e.position
"""
_CORRECT_ENTRIES = f"""
UPDATE {ENTRIES} AS e SET corrected = u.corrected, updated_at = u.updated_at,
    changed_position = greatest(e.changed_position, u.changed)
FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::bigint[])
    AS u (position, corrected, updated_at, changed)
WHERE e.position = u.position
"""
# The marks' state of the entries a chunk's pins, unpins, highlights and unhighlights
# target, and of the entries pinned in the conferences it pins in (the pin replaces them).
_MARK_COLUMNS = (
    "e.position, ev.id, e.conference, e.day, e.retracted, e.pinned, e.highlighted, "
    "e.highlight_label"
)
_MARK_TARGETS = (
    f"SELECT {_MARK_COLUMNS} FROM events AS ev JOIN {ENTRIES} AS e "
    "ON e.position = ev.position WHERE ev.id = ANY(%s)"
)
_PINNED_IN = (
    f"SELECT {_MARK_COLUMNS} FROM {ENTRIES} AS e JOIN events AS ev "
    "ON ev.position = e.position WHERE e.conference = ANY(%s) AND e.pinned"
)
_MARK_ENTRIES = f"""
UPDATE {ENTRIES} AS e SET pinned = u.pinned, highlighted = u.highlighted,
    highlight_label = u.label, changed_position = greatest(e.changed_position, u.changed)
FROM unnest(%s::bigint[], %s::boolean[], %s::boolean[], %s::text[], %s::bigint[])
    AS u (position, pinned, highlighted, label, changed)
WHERE e.position = u.position
"""
_MARK_TYPES = frozenset(
    {"entry.pinned", "entry.unpinned", "entry.highlighted", "entry.unhighlighted"}
)


class _Entry:
    """An entry's correction state, read once per chunk and changed in memory."""

    __slots__ = (
        "changed",
        "conference",
        "corrected",
        "data",
        "day",
        "dirty",
        "kind",
        "updated_at",
    )

    def __init__(self, row: Sequence[Any]) -> None:
        _, self.kind, data, corrected, self.updated_at, self.conference, self.day, _ = row
        self.data: dict[str, Any] = json.loads(data)
        self.corrected: dict[str, Any] | None = (
            json.loads(corrected) if corrected is not None else None
        )
        self.dirty = False
        self.changed = 0  # the last correction that changed it (its changed_position)

    def current(self) -> dict[str, Any]:
        """Its data now (SQLite's view: json_patch of the data with the corrections)."""
        merged: dict[str, Any] = merge_patch(self.data, self.corrected or {})
        return merged

    def patch(self, patch: dict[str, Any], position: int) -> None:
        if patch:  # an empty patch leaves `corrected` as it was (NULL stays NULL)
            self.corrected = merge_patch(self.corrected or {}, patch)
        self.dirty = True
        self.changed = max(self.changed, position)


class _Marked:
    """An entry's marks (pinned, key moment), read once per chunk and changed in memory
    in log order, as SQLite's statements would one by one."""

    __slots__ = (
        "changed",
        "conference",
        "day",
        "dirty",
        "highlighted",
        "id",
        "label",
        "pinned",
        "position",
        "retracted",
    )

    def __init__(self, row: Sequence[Any]) -> None:
        self.position, self.id, self.conference, self.day = int(row[0]), row[1], row[2], row[3]
        self.retracted, self.pinned, self.highlighted = bool(row[4]), bool(row[5]), bool(row[6])
        self.label: str | None = row[7]
        self.changed = 0
        self.dirty = False

    def touch(self, batch: ChunkChanges, position: int) -> None:
        self.changed = max(self.changed, position)
        self.dirty = True
        batch.day_changed(self.conference, self.day, position)


class _Batch(ChunkChanges):
    """One chunk of records: its entries are inserted first, in one statement.

    Every other event then touches only entries positioned before it, so applying a
    chunk gives exactly what applying its events one by one would: a rebuild equals an
    incremental catch-up, whatever the chunk boundaries (as on SQLite).
    """

    def __init__(self, conn: PgConnection) -> None:
        super().__init__()
        self.conn = conn
        self.ends: dict[str, tuple[str, int]] = {}  # target → (at, position): the last
        self.retractions: dict[str, tuple[str | None, str, int]] = {}
        self.edits: list[tuple[str, str, str, int, str, str, str, str]] = []
        self.corrections: list[Record] = []
        self.marks: list[Record] = []
        self.retracting: list[tuple[int, str]] = []  # (position, target), in log order

    def insert_entries(self, records: Sequence[Record]) -> None:
        entries = [r for r in records if r.type in KINDS]
        if not entries:
            return
        self.conn.execute(
            _INSERT_ENTRIES,
            (
                [r.position for r in entries],
                [KINDS[r.type] for r in entries],
                utc_times([r.occurred_at for r in entries]),
                # Stored under an older schema: its upcast data (Record upcasts on read).
                [None if r.current else _json(r.data) for r in entries],
            ),
        )
        rows = self.conn.execute(_REPORTERS, (entries[0].position, entries[-1].position)).fetchall()
        for conference, day, last in rows:
            self.day_changed(conference, day, last)

    def edit(self, r: Record, changes: dict[str, object]) -> None:
        self.edits.append(
            (
                r.id,
                r.conference,
                r.data["target"],
                r.position,
                r.type,
                r.occurred_at,
                r.author,
                _json(changes),
            )
        )

    def finish(self) -> None:
        conn = self.conn
        changed: list[Any] = []
        if self.ends:
            targets = list(self.ends)
            changed += conn.execute(
                _END_ENTRIES,
                (
                    targets,
                    [self.ends[t][0] for t in targets],
                    [self.ends[t][1] for t in targets],
                ),
            ).fetchall()
        if self.retractions:
            targets = list(self.retractions)
            changed += conn.execute(
                _RETRACT_ENTRIES,
                (
                    targets,
                    [self.retractions[t][0] for t in targets],
                    [self.retractions[t][1] for t in targets],
                    [self.retractions[t][2] for t in targets],
                ),
            ).fetchall()
        for conference, day, position in changed:
            self.day_changed(conference, day, position)
        if self.edits:
            conn.execute(_INSERT_EDITS, [list(column) for column in zip(*self.edits, strict=True)])
        if self.conferences:
            slugs = list(self.conferences)
            conn.execute(_CONFERENCES_CHANGED, (slugs, [self.conferences[s] for s in slugs]))
        if self.days:
            keys = list(self.days)
            conn.execute(
                _DAYS_CHANGED,
                ([k[0] for k in keys], [k[1] for k in keys], [self.days[k] for k in keys]),
            )


class PostgresTimelineProjection:
    """The timeline, projected on PostgreSQL, bound to the store's connection (the runner
    drives it: `create()` after a reset, `apply(records)` per chunk, in its transaction)."""

    name = "timeline"
    version = 9  # as SQLite's: the same rows
    tables = (CONFERENCES, DAYS, REPORTERS, ENTRIES, EDITS, TIMELINE)
    lazy_types = frozenset(ENTRY_TYPES)
    """Entry events are mapped in SQL: the runner need not fetch their data."""

    def __init__(self, conn: PgConnection) -> None:
        self.conn = conn

    def create(self) -> None:
        with self.conn.writing():
            for statement in DDL:
                self.conn.execute(statement)

    def apply(self, records: Sequence[Record]) -> None:
        with self.conn.writing():
            batch = _Batch(self.conn)
            batch.insert_entries(records)
            for r in records:
                # Every event counts, whatever its type: the newest one of each conference.
                batch.conference_changed(r.conference, r.position)
                if r.type not in KINDS:
                    self._other(batch, r)
            if batch.corrections:
                self._correct(batch)
            if batch.marks:
                self._mark(batch)
            batch.finish()

    def _other(self, batch: _Batch, r: Record) -> None:
        d = r.data
        t = r.type
        if t in ("session.ended", "talk.ended"):
            target = d["session"] if t == "session.ended" else d["talk"]
            batch.ends.pop(target, None)  # re-inserted last: dicts keep insertion order
            batch.ends[target] = (r.occurred_at, r.position)
        elif t == "entry.corrected":
            changes = {k: d[k] for k in CORRECTION_FIELDS if d.get(k) is not None}
            batch.edit(r, changes)
            batch.corrections.append(r)
        elif t == "entry.retracted":
            batch.retractions.pop(d["target"], None)
            batch.retractions[d["target"]] = (d.get("reason"), r.occurred_at, r.position)
            batch.retracting.append((r.position, d["target"]))
            batch.edit(r, {"reason": d.get("reason")})
        elif t in _MARK_TYPES:
            batch.marks.append(r)
        elif t in CALENDAR_TYPES:
            apply_calendar(batch.conn, POSTGRES, batch, r)

    def _correct(self, batch: _Batch) -> None:
        """The chunk's corrections, in order, each seeing the ones before it.

        Their targets (and the quotes of talks whose speaker changes) are read in one
        query each, corrected in memory as SQLite's statements would one by one, and
        written back in one: a rebuild costs three statements per chunk, not two per
        correction."""
        conn = batch.conn
        targets = list(dict.fromkeys(r.data["target"] for r in batch.corrections))
        state: dict[int, _Entry] = {}
        position_of: dict[str, int] = {}
        for row in conn.execute(_TARGETS, (targets,)).fetchall():
            state[row[0]] = _Entry(row)
            position_of[row[7]] = row[0]
        quotes = self._quotes_of_talks(batch, state, position_of)
        for r in batch.corrections:
            d = r.data
            target_position = position_of.get(d["target"])
            if target_position is None or target_position >= r.position:
                continue  # an entry this log never saw (an import), or not yet: history only
            target = state[target_position]
            changes = {k: d[k] for k in CORRECTION_FIELDS if d.get(k) is not None}
            # The kind says which correction fields it takes, and the field each replaces
            # (a talk's `text` is its title); the others are ignored, as they always were.
            entry = entry_model(target.kind).ENTRY
            assert entry is not None  # an entry kind's model has one
            patch = {entry.correctable[k]: v for k, v in changes.items() if k in entry.correctable}
            old_speaker = target.current().get("speaker")
            target.patch(patch, r.position)
            target.updated_at = r.occurred_at
            if target.kind == "talk" and "speaker" in patch and isinstance(old_speaker, str):
                # Quotes defaulted to the talk's speaker follow the corrected name.
                for position, quote in quotes.get(d["target"], ()):
                    if (
                        target_position < position < r.position
                        and quote.current().get("speaker") == old_speaker
                    ):
                        quote.patch({"speaker": patch["speaker"]}, r.position)
            batch.day_changed(target.conference, target.day, r.position)
        changed = [(p, e) for p, e in state.items() if e.dirty]
        if changed:
            conn.execute(
                _CORRECT_ENTRIES,
                (
                    [p for p, _ in changed],
                    [None if e.corrected is None else _json(e.corrected) for _, e in changed],
                    [e.updated_at for _, e in changed],
                    [e.changed for _, e in changed],
                ),
            )

    def _mark(self, batch: _Batch) -> None:
        """The chunk's pins, unpins, highlights and unhighlights, in log order with its
        retractions: a mark takes effect only on a non-retracted entry of the event's
        conference positioned before it; pinning one unpins the conference's pinned one
        (by that same event). Read in two queries, replayed in memory, written in one
        (the retractions' own statement, in `finish`, then clears their marks)."""
        conn = batch.conn
        targets = list(dict.fromkeys(r.data["target"] for r in batch.marks))
        pinning = list(dict.fromkeys(r.conference for r in batch.marks if r.type == "entry.pinned"))
        state: dict[str, _Marked] = {}
        for row in conn.execute(_MARK_TARGETS, (targets,)).fetchall():
            state[row[1]] = _Marked(row)
        if pinning:
            for row in conn.execute(_PINNED_IN, (pinning,)).fetchall():
                state.setdefault(row[1], _Marked(row))
        steps: list[tuple[int, str, Record | None]] = [
            (position, target, None) for position, target in batch.retracting if target in state
        ]
        steps += [(r.position, r.data["target"], r) for r in batch.marks]
        for position, target, r in sorted(steps, key=lambda step: step[0]):
            entry = state.get(target)
            if entry is None or entry.position >= position:
                continue  # an entry this log never saw (an import's stray mark), or not yet
            if r is None:  # a retraction: no longer pinned nor a key moment
                entry.retracted, entry.pinned, entry.highlighted, entry.label = (
                    True,
                    False,
                    False,
                    None,
                )
                continue
            if entry.retracted or entry.conference != r.conference:
                continue
            if r.type == "entry.pinned":
                entry.pinned = True
                for other in state.values():
                    if other.pinned and other is not entry and other.conference == r.conference:
                        other.pinned = False
                        other.touch(batch, position)
            elif r.type == "entry.unpinned":
                entry.pinned = False
            elif r.type == "entry.highlighted":
                entry.highlighted, entry.label = True, r.data.get("label")
            else:
                entry.highlighted, entry.label = False, None
            entry.touch(batch, position)
        changed = [e for e in state.values() if e.dirty]
        if changed:
            conn.execute(
                _MARK_ENTRIES,
                (
                    [e.position for e in changed],
                    [e.pinned for e in changed],
                    [e.highlighted for e in changed],
                    [e.label for e in changed],
                    [e.changed for e in changed],
                ),
            )

    def _quotes_of_talks(
        self, batch: _Batch, state: dict[int, _Entry], position_of: dict[str, int]
    ) -> dict[str, list[tuple[int, _Entry]]]:
        """talk id → its quotes (position, state), for the talks whose speaker the chunk
        corrects; quotes already in `state` (targets themselves) share their state."""
        ranges: dict[str, tuple[int, int]] = {}
        for r in batch.corrections:
            talk = r.data["target"]
            position = position_of.get(talk)
            speaker = r.data.get("speaker")
            if position is not None and state[position].kind == "talk" and speaker is not None:
                low, high = ranges.get(talk, (position, r.position))
                ranges[talk] = (low, max(high, r.position))
        if not ranges:
            return {}
        talks = list(ranges)
        rows = batch.conn.execute(
            _QUOTES_OF_TALKS,
            (talks, [ranges[t][0] for t in talks], [ranges[t][1] for t in talks]),
        ).fetchall()
        out: dict[str, list[tuple[int, _Entry]]] = {}
        for row in rows:
            position = row[0]
            quote = state.get(position)
            if quote is None:
                quote = state[position] = _Entry(row)
            out.setdefault(row[7], []).append((position, quote))
        return out


# -- reading it ------------------------------------------------------------------------

_ENTRY_COLUMNS = (
    "e.position, e.id, e.conference, e.day, e.kind, e.author, ev.occurred_at, e.utc_at, "
    "e.session, e.talk, coalesce(e.upcast, ev.data), e.corrected, e.ended_at, "
    "e.updated_at, e.retracted, e.retraction_reason, e.retracted_at, "
    "e.pinned, e.highlighted, e.highlight_label, e.changed_position"
)


def _timeline_entry(row: Any) -> TimelineEntry:
    """A `TimelineEntry` from a row of `_ENTRY_COLUMNS`: its corrections laid over."""
    data = json.loads(row[10])
    if row[11] is not None:
        data = merge_patch(data, json.loads(row[11]))
    return timeline_entry(row, data, 12)


_IDS_PER_QUERY = 5_000
"""Entry ids looked up per query (one array parameter: bounded, not limited)."""


class PostgresTimeline(TimelineReads):
    """The `Timeline` of one PostgreSQL database, read on the event store's connection
    (so a reader's snapshot, and the unit of work, cover the log and the timeline).

    Every query is bounded (a page, a window of recent changes, a day), as on SQLite.
    The reads both backends run alike are `TimelineReads`'; here, those in PostgreSQL's
    own SQL (arrays, entries joined with their events, corrections merged in Python).
    """

    conn: PgConnection
    dialect = POSTGRES
    NOT_RETRACTED = "NOT retracted"
    BY_LAST = "last_position, slug"

    def __init__(self, conn: PgConnection, url: str) -> None:
        self.conn = conn
        self.url = url

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[None]:
        with self.conn.snapshot():
            yield

    def head(self) -> int:
        return int(self.conn.execute("SELECT coalesce(max(position), 0) FROM events").fetchone()[0])

    def projected(self) -> int:
        row = self.conn.execute(
            f"SELECT coalesce((SELECT position FROM {STATE} WHERE name = %s), 0)",
            (PostgresTimelineProjection.name,),
        ).fetchone()
        return int(row[0])

    def location(self) -> str | None:
        # The URL itself: the feeds helper process opens it (`open_timeline`).
        return self.url

    # -- entries ------------------------------------------------------------------------

    def day_entries(self, conference: str, number: int) -> list[TimelineEntry]:
        rows = self.conn.execute(
            f"SELECT {_ENTRY_COLUMNS} FROM {ENTRIES_FROM} "
            "WHERE e.conference = %s AND e.day = %s ORDER BY e.utc_at, e.position",
            (conference, number),
        ).fetchall()
        return [_timeline_entry(r) for r in rows]

    def changes(self, conference: str, after: int, limit: int) -> list[TimelineEntry]:
        rows = self.conn.execute(
            f"SELECT {_ENTRY_COLUMNS} FROM {ENTRIES_FROM} WHERE e.conference = %s "
            "AND e.changed_position > %s ORDER BY e.changed_position, e.position LIMIT %s",
            (conference, after, limit),
        ).fetchall()
        return [_timeline_entry(r) for r in rows]

    def entries_by_id(self, conference: str, ids: Sequence[str]) -> list[TimelineEntry]:
        out: list[TimelineEntry] = []
        for chunk in iter_chunks(ids, _IDS_PER_QUERY):
            rows = self.conn.execute(
                f"SELECT {_ENTRY_COLUMNS} FROM {ENTRIES_FROM} "
                "WHERE ev.id = ANY(%s) AND e.conference = %s",
                (list(chunk), conference),
            ).fetchall()
            out.extend(_timeline_entry(r) for r in rows)
        return out

    def pinned_entry(self, conference: str) -> TimelineEntry | None:
        row = self.conn.execute(
            f"SELECT {_ENTRY_COLUMNS} FROM {ENTRIES_FROM} "
            "WHERE e.conference = %s AND e.pinned AND NOT e.retracted "
            "ORDER BY e.position LIMIT 1",
            (conference,),
        ).fetchone()
        return _timeline_entry(row) if row else None

    def key_moments(self, conference: str) -> list[TimelineEntry]:
        rows = self.conn.execute(
            f"SELECT {_ENTRY_COLUMNS} FROM {ENTRIES_FROM} WHERE e.conference = %s "
            "AND e.highlighted AND NOT e.retracted ORDER BY e.utc_at, e.position",
            (conference,),
        ).fetchall()
        return [_timeline_entry(r) for r in rows]

    def _entries_at(self, positions: list[int]) -> list[TimelineEntry]:
        rows = self.conn.execute(
            f"SELECT {_ENTRY_COLUMNS} FROM {ENTRIES_FROM} "
            "WHERE e.position = ANY(%s) AND NOT e.retracted ORDER BY e.position",
            (positions,),
        ).fetchall()
        return [_timeline_entry(r) for r in rows]

    def edits(self, entries: Sequence[str], before: int) -> dict[str, list[Edit]]:
        out: dict[str, list[Edit]] = {}
        for chunk in iter_chunks(entries, _IDS_PER_QUERY):
            for entry, position, type_, occurred_at, author, changes in self.conn.execute(
                f"SELECT entry, position, type, occurred_at, author, changes FROM {EDITS} "
                "WHERE entry = ANY(%s) AND position < %s ORDER BY position",
                (list(chunk), before),
            ):
                out.setdefault(entry, []).append(
                    Edit(entry, int(position), type_, occurred_at, author, json.loads(changes))
                )
        return out

    # -- the publisher's selection ----------------------------------------------------------

    def last_positions(self, slugs: Iterable[str]) -> dict[str, int]:
        wanted = list(slugs)
        found = {
            r[0]: int(r[1])
            for r in self.conn.execute(
                f"SELECT slug, last_position FROM {CONFERENCES} WHERE slug = ANY(%s)", (wanted,)
            )
        }
        return {slug: found[slug] for slug in dict.fromkeys(wanted) if slug in found}

    def _counts(self, table: str, slugs: Iterable[str] | None) -> dict[str, int]:
        if slugs is None:
            return {
                r[0]: int(r[1])
                for r in self.conn.execute(
                    f"SELECT conference, count(*) FROM {table} GROUP BY conference "
                    "ORDER BY conference"
                )
            }
        wanted = list(slugs)
        found = {
            r[0]: int(r[1])
            for r in self.conn.execute(
                f"SELECT conference, count(*) FROM {table} WHERE conference = ANY(%s) "
                "GROUP BY conference",
                (wanted,),
            )
        }
        return {slug: found.get(slug, 0) for slug in wanted}

    def entries_of_days(self, conference: str, days: Sequence[int]) -> int:
        row = self.conn.execute(
            f"SELECT count(*) FROM {ENTRIES} WHERE conference = %s AND day = ANY(%s)",
            (conference, list(days)),
        ).fetchone()
        return int(row[0])


def open_timeline(url: str) -> PostgresTimeline:
    """A read-only timeline of the database at `url`, on a connection of its own (the
    feeds helper process); close it with `close_timeline`."""
    conn = connect_direct(url)
    # Every transaction of this session is read-only: the helper only renders.
    conn.execute("SET default_transaction_read_only = on")
    return PostgresTimeline(conn, url)


def close_timeline(timeline: PostgresTimeline) -> None:
    timeline.conn.close()


# -- the projections' state ----------------------------------------------------------------

STATE = "projection_state"
STATE_DDL = f"""
CREATE TABLE IF NOT EXISTS {STATE} (
    name TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    position BIGINT NOT NULL
)
"""

PROJECTION_LOCK = (0x4C42_4C47, 3)  # ("LBLG", 3): the log's are 1 and 2 (`driver`, `schema`)
"""The transaction-level advisory lock every projection transaction takes first.

SQLite's write transaction is exclusive; PostgreSQL's READ COMMITTED is not, so two
processes catching up at once (a node and a CLI command) would both read the same
position and apply the same chunk. Under this lock the second waits, then reads the
first's committed position. It never blocks appends or readers, and dies with its
transaction (a dead node keeps nothing)."""


class PostgresProjectionState:
    """`ProjectionState` in the table projection_state of the log's own database."""

    def __init__(self, conn: PgConnection) -> None:
        self.conn = conn
        self._fast = 0

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        outermost = not self.conn.in_transaction
        with self.conn.writing():
            if outermost:
                self.conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", PROJECTION_LOCK)
                if self._fast:
                    # Only a transaction of projection work, never one an append joins:
                    # the log's own commits stay durable.
                    self.conn.execute("SET LOCAL synchronous_commit = off")
            yield

    @contextlib.contextmanager
    def fast_writes(self) -> Iterator[None]:
        """Projection transactions commit without waiting for the WAL flush: a crash
        loses at most the last ones, which the next catch-up applies again."""
        self._fast += 1
        try:
            yield
        finally:
            self._fast -= 1

    def ensure(self) -> None:
        if not self.exists():
            # Under the projection lock even when called outside `transaction()`: two
            # processes creating the table at once would collide in the catalog.
            with self.transaction():
                self.conn.execute(STATE_DDL)

    def exists(self) -> bool:
        return bool(self.conn.execute("SELECT to_regclass(%s) IS NOT NULL", (STATE,)).fetchone()[0])

    def _objects(self, names: Sequence[str]) -> dict[str, str]:
        """Name → relkind ('r' table, 'v' view) of those of `names` in the current schema."""
        rows = self.conn.execute(
            "SELECT c.relname, c.relkind FROM pg_class AS c "
            "JOIN pg_namespace AS n ON n.oid = c.relnamespace "
            "WHERE n.nspname = current_schema() AND c.relname = ANY(%s)",
            (list(names),),
        )
        return {name: str(kind) for name, kind in rows}

    def position(self, name: str, version: int, tables: Sequence[str]) -> int | None:
        row = self.conn.execute(
            f"SELECT version, position FROM {STATE} WHERE name = %s", (name,)
        ).fetchone()
        if row is None or row[0] != version:
            return None
        objects = self._objects(tables)
        if not all(t in objects for t in tables):
            return None
        return int(row[1])

    def reset(self, name: str, version: int, tables: Sequence[str]) -> None:
        objects = self._objects(tables)
        # Views first: a table cannot be dropped while a view reads it.
        for table in sorted(objects, key=lambda n: objects[n] != "v"):
            kind = "VIEW" if objects[table] == "v" else "TABLE"
            self.conn.execute(f'DROP {kind} IF EXISTS "{table}"')
        self.conn.execute(
            f"INSERT INTO {STATE} (name, version, position) VALUES (%s, %s, 0) "
            "ON CONFLICT (name) DO UPDATE SET version = excluded.version, position = 0",
            (name, version),
        )

    def advance(self, name: str, position: int) -> None:
        self.conn.execute(f"UPDATE {STATE} SET position = %s WHERE name = %s", (position, name))
