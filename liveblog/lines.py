"""One-line renderings of events, for the CLI's output and `liveblog log`."""

from __future__ import annotations

from .envelope import Event

SHORT_ID = 8


def short(event_id: str) -> str:
    return event_id[:SHORT_ID]


def excerpt(text: str, width: int = 60) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1].rstrip() + "…"


def summary(event: Event) -> str:
    """What the event says, in a few words."""
    d = event.data.data()
    kind = event.type
    if kind == "conference.opened":
        return excerpt(d["title"])
    if kind == "day.opened":
        label = f"day {d['number']} ({d['date']})"
        return f"{label}: {excerpt(d['title'])}" if d.get("title") else label
    if kind == "day.closed":
        return f"day {d['number']}"
    if kind == "session.started":
        where = ", ".join(x for x in (d["kind"], d.get("room")) if x)
        return f"{excerpt(d['title'])} [{where}]"
    if kind == "talk.started":
        return f"{excerpt(d['title'])} — {d['speaker']}"
    if kind == "quote.captured":
        return f"“{excerpt(d['text'])}” — {d['speaker']}"
    if kind == "note.posted":
        return excerpt(d["text"])
    if kind == "photo.posted":
        return excerpt(d["caption"])
    if kind == "session.ended":
        return f"session {short(d['session'])}"
    if kind == "talk.ended":
        return f"talk {short(d['talk'])}"
    if kind == "entry.corrected":
        changed = ", ".join(k for k in ("text", "speaker", "caption") if d.get(k) is not None)
        return f"{short(d['target'])}: {changed}"
    if kind == "entry.retracted":
        reason = f": {excerpt(d['reason'])}" if d.get("reason") else ""
        return f"{short(d['target'])}{reason}"
    return ""


def appended(event: Event) -> str:
    """The line a reporting command prints for each event it appended."""
    text = summary(event)
    line = f"#{event.position} {event.type} {short(event.id)}"
    return f"{line}  {text}" if text else line


def log_line(event: Event) -> str:
    when = event.occurred_at.isoformat(timespec="seconds")
    text = summary(event)
    line = f"#{event.position}  {when}  {event.conference}  {event.author}  {event.type}  "
    line += short(event.id)
    return f"{line}  {text}" if text else line
