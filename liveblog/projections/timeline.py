"""The timeline projection: conferences, days, and every entry in its current state.

Entries are sessions, talks, quotes, notes and photos, with their text after corrections,
whether they are retracted (and why), and their edit history. Each day records the
position of the last event that changed it, so publishers know which summaries to
refresh. Day summaries are read from these tables (liveblog.summary).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from ..store import Record
from ..store.sqlite import Connection

CONFERENCES = "timeline_conferences"
DAYS = "timeline_days"
REPORTERS = "timeline_reporters"
ENTRIES = "timeline_entries"
EDITS = "timeline_edits"

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
    changed_position INTEGER NOT NULL
);
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
CREATE TABLE {REPORTERS} (
    conference TEXT NOT NULL,
    day INTEGER NOT NULL,
    author TEXT NOT NULL,
    first_position INTEGER NOT NULL,
    PRIMARY KEY (conference, day, author)
);
CREATE TABLE {ENTRIES} (
    id TEXT PRIMARY KEY,
    position INTEGER NOT NULL,
    conference TEXT NOT NULL,
    day INTEGER NOT NULL,
    kind TEXT NOT NULL,
    author TEXT NOT NULL,
    occurred_at TEXT NOT NULL,
    utc_at TEXT NOT NULL,
    session TEXT,
    talk TEXT,
    title TEXT,
    text TEXT,
    speaker TEXT,
    role TEXT,
    organisation TEXT,
    caption TEXT,
    url TEXT,
    session_kind TEXT,
    room TEXT,
    hosts TEXT,
    ended_at TEXT,
    updated_at TEXT,
    retracted INTEGER NOT NULL DEFAULT 0,
    retraction_reason TEXT,
    retracted_at TEXT
);
CREATE INDEX {ENTRIES}_by_day ON {ENTRIES} (conference, day, utc_at, position);
CREATE TABLE {EDITS} (
    event_id TEXT PRIMARY KEY,
    entry TEXT NOT NULL,
    position INTEGER NOT NULL,
    type TEXT NOT NULL,
    occurred_at TEXT NOT NULL,
    author TEXT NOT NULL,
    changes TEXT NOT NULL
);
CREATE INDEX {EDITS}_by_entry ON {EDITS} (entry, position);
"""

_ENTRY_KIND = {
    "session.started": "session",
    "talk.started": "talk",
    "quote.captured": "quote",
    "note.posted": "note",
    "photo.posted": "photo",
}


def utc(timestamp: str) -> str:
    """An ISO timestamp as UTC text, so entries of one day sort by the instant."""
    import datetime as dt

    return dt.datetime.fromisoformat(timestamp).astimezone(dt.UTC).isoformat()


_INSERT_ENTRY = (
    f"INSERT OR IGNORE INTO {ENTRIES} (id, position, conference, day, kind, author, "
    "occurred_at, utc_at, session, talk, title, text, speaker, role, organisation, "
    "caption, url, session_kind, room, hosts) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


class _Batch:
    """Work gathered over one chunk and written with executemany.

    New entries are buffered and flushed before any statement that reads or updates
    entries; day changes and reporters are deduplicated and written once per chunk.
    """

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.entries: list[tuple[object, ...]] = []
        self.days: dict[tuple[str, int], int] = {}
        self.reporters: dict[tuple[str, int, str], int] = {}

    def day_changed(self, conference: str, day: int, position: int) -> None:
        self.days[(conference, day)] = position

    def flush_entries(self) -> None:
        if self.entries:
            self.conn.executemany(_INSERT_ENTRY, self.entries)
            self.entries.clear()

    def finish(self) -> None:
        self.flush_entries()
        if self.reporters:
            self.conn.executemany(
                f"INSERT OR IGNORE INTO {REPORTERS} (conference, day, author, first_position) "
                "VALUES (?, ?, ?, ?)",
                [(*key, position) for key, position in self.reporters.items()],
            )
        if self.days:
            self.conn.executemany(
                f"UPDATE {DAYS} SET changed_position = max(changed_position, ?) "
                "WHERE conference = ? AND number = ?",
                [(position, conf, day) for (conf, day), position in self.days.items()],
            )


class TimelineProjection:
    name = "timeline"
    version = 1
    tables = (CONFERENCES, DAYS, REPORTERS, ENTRIES, EDITS)

    def create(self, conn: Connection) -> None:
        for statement in DDL.split(";"):
            if statement.strip():
                conn.execute(statement)

    def apply(self, conn: Connection, records: Sequence[Record]) -> None:
        batch = _Batch(conn)
        for r in records:
            kind = _ENTRY_KIND.get(r.type)
            if kind is not None:
                self._entry(batch, r, kind)
            else:
                batch.flush_entries()
                self._other(batch, r)
        batch.finish()

    def _other(self, batch: _Batch, r: Record) -> None:
        execute = batch.conn.execute
        d = r.data
        t = r.type
        if t in ("session.ended", "talk.ended"):
            target = d["session"] if t == "session.ended" else d["talk"]
            row = execute(
                f"UPDATE {ENTRIES} SET ended_at = ? WHERE id = ? RETURNING conference, day",
                (r.occurred_at, target),
            ).fetchone()
            if row:
                batch.day_changed(row[0], row[1], r.position)
        elif t == "entry.corrected":
            self._correct(batch, r)
        elif t == "entry.retracted":
            row = execute(
                f"UPDATE {ENTRIES} SET retracted = 1, retraction_reason = ?, "
                "retracted_at = ? WHERE id = ? RETURNING conference, day",
                (d.get("reason"), r.occurred_at, d["target"]),
            ).fetchone()
            self._edit(batch, r, {"reason": d.get("reason")})
            if row:
                batch.day_changed(row[0], row[1], r.position)
        elif t == "day.opened":
            execute(
                f"INSERT OR IGNORE INTO {DAYS} (conference, number, date, title, opened_at,"
                " changed_position) VALUES (?, ?, ?, ?, ?, ?)",
                (r.conference, d["number"], d["date"], d.get("title"), r.occurred_at, r.position),
            )
        elif t == "day.closed":
            execute(
                f"UPDATE {DAYS} SET closed_at = ? WHERE conference = ? AND number = ?",
                (r.occurred_at, r.conference, d["number"]),
            )
            batch.day_changed(r.conference, d["number"], r.position)
        elif t == "conference.opened":
            execute(
                f"INSERT OR IGNORE INTO {CONFERENCES} (slug, title, venue, timezone, url, "
                "language, opened_at, changed_position) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    r.conference,
                    d["title"],
                    d.get("venue"),
                    d["timezone"],
                    d.get("url"),
                    d["language"],
                    r.occurred_at,
                    r.position,
                ),
            )
        elif t == "conference.closed":
            execute(
                f"UPDATE {CONFERENCES} SET closed_at = ?, changed_position = ? WHERE slug = ?",
                (r.occurred_at, r.position, r.conference),
            )

    def _entry(self, batch: _Batch, r: Record, kind: str) -> None:
        d = r.data
        hosts = d.get("hosts")
        day = d["day"]
        batch.entries.append(
            (
                r.id,
                r.position,
                r.conference,
                day,
                kind,
                r.author,
                r.occurred_at,
                utc(r.occurred_at),
                r.id if kind == "session" else d.get("session"),
                r.id if kind == "talk" else d.get("talk"),
                d.get("title"),
                d.get("text"),
                d.get("speaker"),
                d.get("role"),
                d.get("organisation"),
                d.get("caption"),
                d.get("url"),
                d.get("kind") if kind == "session" else None,
                d.get("room"),
                json.dumps(hosts, ensure_ascii=False) if hosts is not None else None,
            )
        )
        key = (r.conference, day, r.author)
        if key not in batch.reporters:
            batch.reporters[key] = r.position
        batch.day_changed(r.conference, day, r.position)

    def _correct(self, batch: _Batch, r: Record) -> None:
        conn = batch.conn
        d = r.data
        before = conn.execute(
            f"SELECT kind, speaker FROM {ENTRIES} WHERE id = ?", (d["target"],)
        ).fetchone()
        changes = {k: d[k] for k in ("text", "speaker", "caption") if d.get(k) is not None}
        self._edit(batch, r, changes)
        if before is None:
            return  # a correction of an entry this log never saw (an import): kept as history
        kind, old_speaker = before
        text = changes.get("text")
        row = conn.execute(
            f"UPDATE {ENTRIES} SET "
            "text = CASE WHEN kind IN ('quote', 'note') THEN coalesce(?, text) ELSE text END, "
            "title = CASE WHEN kind IN ('session', 'talk') THEN coalesce(?, title) "
            "ELSE title END, "
            "speaker = CASE WHEN kind IN ('quote', 'talk') THEN coalesce(?, speaker) "
            "ELSE speaker END, "
            "caption = CASE WHEN kind = 'photo' THEN coalesce(?, caption) ELSE caption END, "
            "updated_at = ? WHERE id = ? RETURNING conference, day",
            (
                text,
                text,
                changes.get("speaker"),
                changes.get("caption"),
                r.occurred_at,
                d["target"],
            ),
        ).fetchone()
        if kind == "talk" and "speaker" in changes:
            # Quotes defaulted to the talk's speaker follow the corrected name.
            conn.execute(
                f"UPDATE {ENTRIES} SET speaker = ? WHERE talk = ? AND kind = 'quote' "
                "AND speaker = ?",
                (changes["speaker"], d["target"], old_speaker),
            )
        if row:
            batch.day_changed(row[0], row[1], r.position)

    def _edit(self, batch: _Batch, r: Record, changes: dict[str, object]) -> None:
        batch.conn.execute(
            f"INSERT OR IGNORE INTO {EDITS} (event_id, entry, position, type, occurred_at, "
            "author, changes) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                r.id,
                r.data["target"],
                r.position,
                r.type,
                r.occurred_at,
                r.author,
                json.dumps(changes, ensure_ascii=False),
            ),
        )
