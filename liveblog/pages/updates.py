"""EntryUpdate: one entry as the live page, the embed page, the stream and live.json
all see it (one renderer, so a streamed entry reads exactly like a published one)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from html import escape
from typing import Any
from zoneinfo import ZoneInfo

from liveblog.store.timeline import Conference, Timeline, TimelineEntry
from liveblog.summary.kinds import rendering


def _local_time(conference: Conference, utc_at: str) -> tuple[str, str]:
    """(the ISO instant for `datetime=`, HH:MM in the conference's timezone)."""
    when = dt.datetime.fromisoformat(utc_at)
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    local = when.astimezone(ZoneInfo(conference.timezone))
    return local.isoformat(), local.strftime("%H:%M")


def entry_html(conference: Conference, entry: TimelineEntry) -> str:
    """The `<article>` fragment of one entry (empty for a retracted one)."""
    if entry.retracted:
        return ""
    iso, hhmm = _local_time(conference, entry.utc_at)
    corrected = ""
    if entry.updated_at:
        _, at = _local_time(conference, entry.updated_at)
        corrected = f'<p class="corrected">corrected {at}</p>'
    return (
        f'<article class="entry" id="entry-{escape(entry.id)}"'
        f' data-position="{entry.position}" data-changed="{entry.changed}"'
        f' data-kind="{escape(entry.kind)}">'
        f'<p class="meta"><time datetime="{iso}">{hhmm}</time>'
        f' <span class="author">{escape(entry.author)}</span></p>'
        # The kind's own feed rendering (summary/kinds.py): a page entry reads as its
        # feed entry does, and a kind without renderings is an error, never a guess.
        f"{rendering(entry.kind).feed(entry.data).html}{corrected}</article>"
    )


def entry_updates(
    timeline: Timeline, conference: Conference, entries: Sequence[TimelineEntry]
) -> list[dict[str, Any]]:
    """One JSON-ready EntryUpdate per entry, in the order given."""
    del timeline  # reserved: earlier wordings and talk titles (not yet read)
    return [
        {
            "id": entry.id,
            "position": entry.position,
            "changed": entry.changed,
            "day": entry.day,
            "utc_at": entry.utc_at,
            "retracted": entry.retracted,
            "pinned": entry.pinned and not entry.retracted,
            "key_moment": (
                {"label": entry.highlight_label}
                if entry.highlighted and not entry.retracted
                else None
            ),
            "html": entry_html(conference, entry),
        }
        for entry in entries
    ]
