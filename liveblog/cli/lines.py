"""One-line renderings of events, for the CLI's output and `liveblog log`.

What an event says in a few words is its model's own `line()` (liveblog.domain.events): one
place per type, and a type without one raises instead of printing an empty line.
"""

from __future__ import annotations

from ..domain.envelope import Event
from ..domain.events import SHORT_ID, excerpt, short

__all__ = ["SHORT_ID", "appended", "excerpt", "log_line", "short", "summary"]


def summary(event: Event) -> str:
    """What the event says, in a few words."""
    return event.data.line()


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
