"""The live page's day sections, rendered only for the days that changed.

A publish re-renders a conference's pages after every event; re-rendering every entry
of a long conference each time would make a publish cost follow the conference, not
what is new. So each day's `<section>` is kept, per conference, in a small in-process
cache (the scheduler of `run`/`serve` publishes over and over in one process), and the
next render asks the timeline which entries changed since (`Timeline.changes`, whose
cost follows the answer): only their days, and days whose own heading changed, are
rendered again. A cache entry is trusted only for the same log: the position it was
rendered at must still have been recorded at the same instant (a new log at the same
path, or a rebuilt one that differs, renders everything), and the conference itself
must not have changed (its timezone is in every time shown).

The page holds every entry that is not retracted, newest day first, up to
LIVE_PAGE_ENTRIES: a day that would start past that shows only its heading and a link
to its day page (a conference that long is a log generator's, not a live blog's).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from ..store.timeline import Conference, Day, Timeline, TimelineEntry
from .updates import entry_updates

LIVE_PAGE_ENTRIES = 5_000
"""Entries the live page holds in full (whole days, newest first; the newest day always)."""
LD_UPDATES = 100
"""The newest entries listed as `liveBlogUpdate` in the JSON-LD."""
CACHED_CONFERENCES = 16
"""Conferences whose sections one process keeps (the ones being covered now)."""
DIRTY_LIMIT = 2_000
"""Changed entries read to find the days to render again; more: render every day."""


@dataclass(frozen=True)
class Section:
    day: Day  # as rendered (its changed position: the heading's)
    html: str
    count: int  # entries it shows (0 for a day past LIVE_PAGE_ENTRIES: heading only)
    full: bool  # False: heading and a link to the day page only
    newest: tuple[TimelineEntry, ...]  # its newest entries (up to LD_UPDATES), newest first


@dataclass(frozen=True)
class _Kept:
    position: int  # the conference's last position it was rendered as of
    recorded: str | None  # when the log recorded that position (the same log?)
    conference_changed: int
    pinned: str | None
    sections: dict[int, Section]


_cache: OrderedDict[tuple[str, str], _Kept] = OrderedDict()
_lock = threading.Lock()  # publishes may run on more than one thread of a process


def newest_first(entries: Sequence[TimelineEntry]) -> list[TimelineEntry]:
    return sorted(entries, key=lambda e: (e.utc_at, e.position), reverse=True)


def long_date(iso: str) -> str:
    try:
        day = dt.date.fromisoformat(iso)
    except ValueError:
        return iso
    return f"{day.day} {day.strftime('%B %Y')}"


def _heading(day: Day) -> str:
    title = f"Day {day.number}"
    if day.title:
        title += f" — {day.title}"
    return (
        f'<h2 id="day-{day.number}-title">{escape(title)}'
        f' <time datetime="{escape(day.date)}">{escape(long_date(day.date))}</time></h2>'
    )


def _render(
    timeline: Timeline,
    conference: Conference,
    day: Day,
    pinned: str | None,
    full: bool,
) -> Section:
    opening = (
        f'<section class="day" id="day-{day.number}" data-day="{day.number}"'
        f' aria-labelledby="day-{day.number}-title">\n{_heading(day)}\n'
    )
    link = f'<a href="day-{day.number}.html">Day {day.number} summary</a>'
    if not full:
        html = (
            f'{opening}<p class="day-summary">This day’s entries are on its own page: {link}.'
            "</p>\n</section>"
        )
        return Section(day, html, 0, False, ())
    entries = newest_first(
        [
            e
            for e in timeline.day_entries(conference.slug, day.number)
            if not e.retracted and e.id != pinned
        ]
    )
    articles = "\n".join(u["html"] for u in entry_updates(timeline, conference, entries))
    html = f'{opening}<p class="day-summary">{link}</p>\n{articles}\n</section>'
    return Section(day, html, len(entries), True, tuple(entries[:LD_UPDATES]))


def _dirty(
    timeline: Timeline,
    conference: Conference,
    kept: _Kept | None,
    position: int,
    pinned: str | None,
) -> set[int] | None:
    """The days whose entries changed since `kept` was rendered; None: every day."""
    if (
        kept is None
        or kept.conference_changed != conference.changed_position
        or kept.position > position
        or timeline.recorded_at(kept.position) != kept.recorded
    ):
        return None
    if kept.position == position:
        # Nothing new in the conference, but a pin's target may differ if another log
        # path led here: the pin is part of what each section leaves out.
        return set() if kept.pinned == pinned else None
    changed = timeline.changes(conference.slug, kept.position, DIRTY_LIMIT + 1)
    if len(changed) > DIRTY_LIMIT:
        return None
    return {e.day for e in changed}


def day_sections(
    timeline: Timeline, conference: Conference, position: int, pinned: str | None
) -> list[Section]:
    """The section of every day of the conference, newest first, as of `position`
    (the conference's last), leaving out the pinned entry; from the cache where the
    day did not change."""
    slug = conference.slug
    key = (timeline.location() or f"memory:{id(timeline)}", slug)
    with _lock:
        kept = _cache.get(key)
    dirty = _dirty(timeline, conference, kept, position, pinned)
    old = kept.sections if kept is not None and dirty is not None else {}
    sections: dict[int, Section] = {}
    shown = 0
    for number, changed in reversed(timeline.days(slug)):
        full = shown < LIVE_PAGE_ENTRIES
        section = old.get(number)
        if (
            section is None
            or dirty is None
            or number in dirty
            or section.day.changed_position != changed
            or section.full != full
        ):
            day = timeline.day(slug, number)
            if day is None:
                continue
            section = _render(timeline, conference, day, pinned, full)
        sections[number] = section
        shown += section.count
    done = _Kept(
        position, timeline.recorded_at(position), conference.changed_position, pinned, sections
    )
    with _lock:
        _cache[key] = done
        _cache.move_to_end(key)
        while len(_cache) > CACHED_CONFERENCES:
            _cache.popitem(last=False)
    return list(sections.values())
