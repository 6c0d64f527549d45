"""What a feed document holds, read from the timeline projection.

Every query is bounded (a page, a window of recent changes), so publishing after one
new event costs the same on a log of a thousand events or a million.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup

from ..lines import excerpt
from ..projections.timeline import CONFERENCES, DAYS, EDITS, ENTRIES, TIMELINE
from ..store.sqlite import Connection
from ..summary.render import paragraphs

# XML 1.0 cannot carry these at all (C0 controls are refused at input already; a JSON
# import can still smuggle in a lone surrogate or a non-character).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_safe(text: str) -> str:
    return _NOT_XML.sub("", text)


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


def _html_paragraphs(text: str) -> Markup:
    return Markup("<p>{}</p>").format(paragraphs(xml_safe(text)))


def _who(speaker: str, role: str | None, org: str | None) -> str:
    if role and org:
        return f"{speaker}, {role} at {org}"
    return ", ".join(x for x in (speaker, role or org) if x)


_COLUMNS = (
    "id, kind, day, author, occurred_at, updated_at, title, text, speaker, role, "
    "organisation, caption, url, session_kind, room, hosts, retracted"
)


def _entry(row: Any, position: int = 0) -> FeedEntry:
    (
        id_,
        kind,
        day,
        author,
        occurred_at,
        updated_at,
        title,
        text,
        speaker,
        role,
        org,
        caption,
        url,
        session_kind,
        room,
        hosts,
        _retracted,
    ) = row
    published = parse_time(occurred_at)
    updated = parse_time(updated_at) if updated_at else published
    image = None
    if kind == "quote":
        heading = f"Quote — {speaker}"
        body = Markup("<blockquote>{}<footer>— {}</footer></blockquote>").format(
            _html_paragraphs(text), xml_safe(speaker)
        )
        plain = f"“{text}” — {speaker}"
    elif kind == "note":
        heading = f"Note — {excerpt(text)}"
        body = _html_paragraphs(text)
        plain = text
    elif kind == "photo":
        heading = f"Photo — {excerpt(caption)}"
        body = Markup('<figure><img src="{}" alt="{}"><figcaption>{}</figcaption></figure>').format(
            xml_safe(url), xml_safe(caption), xml_safe(caption)
        )
        plain = caption
        image = url
    elif kind == "talk":
        who = _who(speaker, role, org)
        heading = f"Talk: {title} — {speaker}"
        body = Markup("<p>“{}”, by {}.</p>").format(xml_safe(title), xml_safe(who))
        plain = f"“{title}”, by {who}."
    else:  # session
        label = (session_kind or "session").capitalize()
        heading = f"{label}: {title}"
        details = [f"in {room}" if room else "", ""]
        names = json.loads(hosts) if hosts else []
        if names:
            details[1] = "hosted by " + ", ".join(names)
        line = " ".join(d for d in details if d)
        plain = f"{label} “{title}” {line}".strip() + "."
        body = Markup("<p>{}</p>").format(xml_safe(plain))
    return FeedEntry(
        id=id_,
        kind=kind,
        day=day,
        author=author,
        published=published,
        updated=updated,
        title=xml_safe(heading),
        html=str(body),
        text=xml_safe(plain),
        image=image,
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
    return newest_first([_entry(r[1:], r[0]) for r in rows])


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


def entries_as_of(
    conn: Connection, positions: list[int], until: int
) -> tuple[list[FeedEntry], list[Tombstone]]:
    """The entries at `positions` as they stood before log position `until`.

    An archive document shows its entries as they were when it was written, so the same
    log always gives the same archive bytes, whenever it is published.
    """
    marks = ", ".join("?" * len(positions))
    rows = conn.execute(
        f"SELECT position, {_COLUMNS} FROM {TIMELINE} WHERE position IN ({marks}) "
        "ORDER BY position",
        positions,
    ).fetchall()
    ids = [row[1] for row in rows]
    id_marks = ", ".join("?" * len(ids))
    edits_of: dict[str, list[Any]] = {}
    for edit in conn.execute(
        f"SELECT entry, type, occurred_at, author, changes FROM {EDITS} "
        f"WHERE entry IN ({id_marks}) AND position < ? ORDER BY position",
        [*ids, until],
    ):
        edits_of.setdefault(edit[0], []).append(edit[1:])
    originals = {
        r[0]: json.loads(r[1])
        for r in conn.execute(
            f"SELECT e.position, coalesce(e.upcast, ev.data) FROM {ENTRIES} AS e "
            f"JOIN events AS ev ON ev.position = e.position WHERE e.position IN ({marks})",
            positions,
        )
    }
    entries: list[FeedEntry] = []
    gone: list[Tombstone] = []
    for row in rows:
        values = list(row[1:])
        values[5] = None  # updated_at: replayed from the edits before `until`
        base = originals.get(row[0], {})
        values[6] = base.get("title")
        values[7] = base.get("text")
        values[8] = base.get("speaker")
        values[11] = base.get("caption")
        retraction = None
        for kind, occurred_at, author, changes_json in edits_of.get(values[0], []):
            changes = json.loads(changes_json)
            if kind == "entry.retracted":
                retraction = Tombstone(
                    values[0], parse_time(occurred_at), author, changes.get("reason")
                )
                continue
            values[5] = occurred_at
            if "text" in changes:
                if values[1] in ("session", "talk"):
                    values[6] = changes["text"]
                else:
                    values[7] = changes["text"]
            if "speaker" in changes:
                values[8] = changes["speaker"]
            if "caption" in changes:
                values[11] = changes["caption"]
        if retraction is not None:
            gone.append(retraction)
        else:
            entries.append(_entry(values, row[0]))
    return entries, gone


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
