"""EntryUpdate: one entry as the live page, the embed page, the stream and live.json
all see it (one renderer, so a streamed entry reads exactly like a published one)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from html import escape
from typing import Any
from zoneinfo import ZoneInfo

from liveblog.store.timeline import Conference, Timeline, TimelineEntry

# The data fields a kind's body is read from, in the order they are shown.
_BODY_FIELDS = ("text", "quote", "title", "url", "caption", "speaker")


def _local_time(conference: Conference, utc_at: str) -> tuple[str, str]:
    """(the ISO instant for `datetime=`, HH:MM in the conference's timezone)."""
    when = dt.datetime.fromisoformat(utc_at)
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    local = when.astimezone(ZoneInfo(conference.timezone))
    return local.isoformat(), local.strftime("%H:%M")


def _body(entry: TimelineEntry) -> str:
    data = entry.data
    kind = entry.kind
    if kind == "quote":
        speaker = data.get("speaker")
        cite = f"<footer>{escape(str(speaker))}</footer>" if speaker else ""
        return f"<blockquote><p>{escape(str(data.get('text', '')))}</p>{cite}</blockquote>"
    if kind == "photo":
        caption = escape(str(data.get("caption") or data.get("text") or ""))
        src = escape(str(data.get("url", "")))
        return (
            f'<figure><img src="{src}" alt="{caption}"><figcaption>{caption}</figcaption></figure>'
        )
    if kind == "link":
        url = escape(str(data.get("url", "")))
        title = escape(str(data.get("title") or data.get("url", "")))
        about = data.get("description")
        more = f"<span>{escape(str(about))}</span>" if about else ""
        return f'<p class="link-card"><a href="{url}" rel="nofollow">{title}</a>{more}</p>'
    if kind in ("talk", "session"):
        who = f" — {escape(str(data['speaker']))}" if data.get("speaker") else ""
        return f'<p class="context">{escape(str(data.get("title", "")))}{who}</p>'
    parts = [escape(str(data[name])) for name in _BODY_FIELDS if data.get(name)]
    return "".join(f"<p>{part}</p>" for part in parts)


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
        f"{_body(entry)}{corrected}</article>"
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
