"""EntryUpdate: one entry as the live page, the embed page, the stream and live.json
all see it (one renderer, so a streamed entry reads exactly like a published one)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any
from zoneinfo import ZoneInfo

from liveblog.domain.events import entry_model
from liveblog.store.timeline import Conference, Timeline, TimelineEntry
from liveblog.summary.kinds import rendering


@dataclass(frozen=True)
class Wording:
    """One earlier state of a corrected entry: its plain text, and since when it read so."""

    since: str  # ISO instant: when it was posted, or corrected to this
    first: bool  # as first posted (else: as corrected)
    text: str


@dataclass(frozen=True)
class Context:
    """What a fragment needs besides its entry: the talks and sessions its entries sit
    in (by id), and the earlier wordings of the corrected ones (by id, oldest first)."""

    containers: Mapping[str, TimelineEntry]
    earlier: Mapping[str, Sequence[Wording]]


NO_CONTEXT = Context({}, {})


def _local_time(conference: Conference, utc_at: str) -> tuple[str, str]:
    """(the ISO instant for `datetime=`, HH:MM in the conference's timezone)."""
    when = dt.datetime.fromisoformat(utc_at)
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    local = when.astimezone(ZoneInfo(conference.timezone))
    return local.isoformat(), local.strftime("%H:%M")


def _container_ids(entry: TimelineEntry) -> list[str]:
    """The talk and the session an entry sits in (not itself)."""
    return [i for i in (entry.talk, entry.session) if i is not None and i != entry.id]


def _wordings(timeline: Timeline, entries: Sequence[TimelineEntry]) -> dict[str, list[Wording]]:
    """Each corrected entry's earlier wordings: its event's own data, then each
    correction but the last applied in turn (as the timeline applies them)."""
    corrected = [e for e in entries if e.updated_at and not e.retracted]
    if not corrected:
        return {}
    # An edit of an entry moves its changed position: none of its edits lies after it.
    edits = timeline.edits([e.id for e in corrected], max(e.changed for e in corrected) + 1)
    out: dict[str, list[Wording]] = {}
    for entry in corrected:
        corrections = [c for c in edits.get(entry.id, []) if c.type == "entry.corrected"]
        found = timeline.original_entries(entry.conference, entry.position, entry.position)
        if not corrections or not found or found[0].id != entry.id:
            continue
        kind = entry_model(found[0].kind).ENTRY
        assert kind is not None  # an entry's model has an entry kind
        data = dict(found[0].data)
        render = rendering(entry.kind)
        versions = [Wording(found[0].occurred_at, True, render.feed(data).text)]
        for correction in corrections[:-1]:
            for name, value in correction.changes.items():
                if name in kind.correctable:
                    data[kind.correctable[name]] = value
            versions.append(Wording(correction.occurred_at, False, render.feed(data).text))
        out[entry.id] = versions
    return out


def read_context(timeline: Timeline, entries: Sequence[TimelineEntry]) -> Context:
    """The context of `entries`, in two reads (the containers, the edits) plus one per
    corrected entry; nothing is read when none sits in a talk or was corrected."""
    wanted = sorted({i for e in entries if not e.retracted for i in _container_ids(e)})
    containers: dict[str, TimelineEntry] = {}
    if wanted:
        conference = entries[0].conference
        containers = {c.id: c for c in timeline.entries_by_id(conference, wanted)}
    return Context(containers, _wordings(timeline, entries))


def _context_line(entry: TimelineEntry, context: Context) -> str:
    parts = []
    talk = context.containers.get(entry.talk or "") if entry.talk != entry.id else None
    if talk is not None and not talk.retracted:
        title, speaker = talk.data.get("title"), talk.data.get("speaker")
        who = f" — {escape(str(speaker))}" if speaker else ""
        parts.append(f'<span class="talk">“{escape(str(title))}”{who}</span>')
    session = context.containers.get(entry.session or "") if entry.session != entry.id else None
    if session is not None and not session.retracted:
        parts.append(f'<span class="session">{escape(str(session.data.get("title")))}</span>')
    if not parts:
        return ""
    return f'<p class="context">In {", ".join(parts)}</p>'


def _earlier(conference: Conference, versions: Sequence[Wording]) -> str:
    items = []
    for version in versions:
        iso, hhmm = _local_time(conference, version.since)
        how = "First posted" if version.first else "Corrected"
        items.append(
            f'<li><p class="version">{how} at <time datetime="{iso}">{hhmm}</time>:</p>'
            f"<p>{escape(version.text)}</p></li>"
        )
    return (
        '<details class="earlier"><summary>Earlier wording</summary>'
        f"<ol>{''.join(items)}</ol></details>"
    )


def entry_html(conference: Conference, entry: TimelineEntry, context: Context = NO_CONTEXT) -> str:
    """The `<article>` fragment of one entry (empty for a retracted one)."""
    if entry.retracted:
        return ""
    iso, hhmm = _local_time(conference, entry.utc_at)
    corrected = ""
    if entry.updated_at:
        at_iso, at = _local_time(conference, entry.updated_at)
        corrected = f'<p class="corrected">corrected <time datetime="{at_iso}">{at}</time></p>'
        versions = context.earlier.get(entry.id)
        if versions:
            corrected += _earlier(conference, versions)
    return (
        f'<article class="entry" id="entry-{escape(entry.id)}"'
        f' data-position="{entry.position}" data-changed="{entry.changed}"'
        f' data-kind="{escape(entry.kind)}" data-at="{escape(entry.utc_at)}">'
        f'<p class="meta"><time datetime="{iso}">{hhmm}</time>'
        f' <span class="author">{escape(entry.author)}</span></p>'
        f"{_context_line(entry, context)}"
        # The kind's own feed rendering (summary/kinds.py): a page entry reads as its
        # feed entry does, and a kind without renderings is an error, never a guess.
        f"{rendering(entry.kind).feed(entry.data).html}{corrected}</article>"
    )


def entry_update(
    conference: Conference, entry: TimelineEntry, context: Context = NO_CONTEXT
) -> dict[str, Any]:
    """One JSON-ready EntryUpdate."""
    return {
        "id": entry.id,
        "position": entry.position,
        "changed": entry.changed,
        "day": entry.day,
        "utc_at": entry.utc_at,
        "retracted": entry.retracted,
        "pinned": entry.pinned and not entry.retracted,
        "key_moment": (
            {"label": entry.highlight_label} if entry.highlighted and not entry.retracted else None
        ),
        "html": entry_html(conference, entry, context),
    }


def entry_updates(
    timeline: Timeline, conference: Conference, entries: Sequence[TimelineEntry]
) -> list[dict[str, Any]]:
    """One JSON-ready EntryUpdate per entry, in the order given."""
    context = read_context(timeline, entries) if entries else NO_CONTEXT
    return [entry_update(conference, entry, context) for entry in entries]
