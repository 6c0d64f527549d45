"""The live page's day sections, rendered only for the days that changed.

A publish re-renders a conference's pages after every event; re-rendering every entry
of a long conference each time would make a publish cost follow the conference, not
what is new. So each day's rendered entries are kept, per conference, in a small
in-process cache (the scheduler of `run`/`serve` publishes over and over in one
process), and the next render asks the timeline which entries changed since
(`Timeline.changes`, whose cost follows the answer): only their days, and days whose
own heading changed, are rendered again. A cache entry is trusted only for the same
log: the position it was rendered at must still have been recorded at the same instant
(a new log at the same path renders everything), and the conference itself must not
have changed (its timezone is in every time shown).

The page holds the newest LIVE_PAGE_ENTRIES entries that are not retracted (a few
days of heavy coverage), newest first in day sections; a day's older entries past that
are on its day page, which the section links to. So a page's size, and a publish's
cost, is bounded whatever the length of the log.
"""

from __future__ import annotations

import datetime as dt
import functools
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from ..store.timeline import Conference, Day, Timeline, TimelineEntry
from .updates import entry_updates

LIVE_PAGE_ENTRIES = 1_000
"""Entries the live page holds (the newest; older ones are on their day pages)."""
LD_UPDATES = 100
"""The newest entries listed as `liveBlogUpdate` in the JSON-LD."""
CACHED_CONFERENCES = 16
"""Conferences whose rendered days one process keeps (the ones being covered now)."""
DIRTY_LIMIT = 2_000
"""Changed entries read to find the days to render again; more: render every day."""


@dataclass(frozen=True)
class Rendered:
    """One day as last rendered: its entries (not retracted, not pinned), newest first,
    and their articles; None while the day was past the page's budget (not read)."""

    day: Day  # its changed position: the heading's
    entries: tuple[TimelineEntry, ...] | None
    articles: tuple[str, ...] | None


@dataclass(frozen=True)
class Section:
    """One day's section of the page."""

    day: Day
    html: str
    shown: tuple[TimelineEntry, ...]  # the entries it holds, newest first
    complete: bool  # False: some (or all) of the day's entries are only on its day page


@dataclass(frozen=True)
class State:
    """What the live page shows of a conference as of its last position."""

    position: int  # the conference's last log position
    pinned: TimelineEntry | None
    moments: tuple[TimelineEntry, ...]  # key moments, by (utc_at, position)
    sections: tuple[Section, ...]  # one per day, newest day first

    @functools.cached_property
    def on_page(self) -> frozenset[str]:
        """The ids of the entries the live page holds (its window and the pinned one):
        an entry link to `index.html#entry-<id>` finds its anchor for exactly these."""
        ids = {e.id for s in self.sections for e in s.shown}
        if self.pinned is not None:
            ids.add(self.pinned.id)
        return frozenset(ids)


@dataclass(frozen=True)
class _Kept:
    state: State
    recorded: str | None  # when the log recorded its position (the same log?)
    conference_changed: int
    days: dict[int, Rendered]


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


def _read_day(timeline: Timeline, conference: Conference, day: Day, pinned: str | None) -> Rendered:
    entries = newest_first(
        [
            e
            for e in timeline.day_entries(conference.slug, day.number)
            if not e.retracted and e.id != pinned
        ]
    )
    articles = tuple(u["html"] for u in entry_updates(timeline, conference, entries))
    return Rendered(day, tuple(entries), articles)


def _section(rendered: Rendered, room: int) -> Section:
    """The day's section holding at most `room` of its newest entries."""
    day = rendered.day
    entries, articles = rendered.entries or (), rendered.articles or ()
    take = min(room, len(articles))
    complete = rendered.entries is not None and take == len(articles)
    link = f'<a href="day-{day.number}.html">Day {day.number} summary</a>'
    if complete:
        summary = f'<p class="day-summary">{link}</p>'
    elif take:
        summary = f'<p class="day-summary">{link} (with the day’s earlier entries)</p>'
    else:
        summary = f'<p class="day-summary">This day’s entries are on its own page: {link}.</p>'
    body = "".join(f"\n{a}" for a in articles[:take])
    html = (
        f'<section class="day" id="day-{day.number}" data-day="{day.number}"'
        f' aria-labelledby="day-{day.number}-title">\n{_heading(day)}\n{summary}{body}\n'
        "</section>"
    )
    return Section(day, html, tuple(entries[:take]), complete)


def _changes(
    timeline: Timeline, conference: Conference, kept: _Kept | None, position: int
) -> list[TimelineEntry] | None:
    """The entries changed since `kept` was rendered; None: none of it can be reused."""
    if (
        kept is None
        or kept.conference_changed != conference.changed_position
        or kept.state.position > position
        or timeline.recorded_at(kept.state.position) != kept.recorded
    ):
        return None
    if kept.state.position == position:
        return []
    changed = timeline.changes(conference.slug, kept.state.position, DIRTY_LIMIT + 1)
    return None if len(changed) > DIRTY_LIMIT else changed


def conference_state(timeline: Timeline, conference: Conference) -> State:
    """The pinned entry, the key moments and the section of every day (newest first,
    the pinned entry left out), as of the conference's last position. What did not
    change since this process last rendered the conference is reused: a day whose
    entries all kept their changed positions, and the pin and key moments unless an
    entry changed that is or was one of them (pinning, highlighting, retracting or
    correcting an entry moves its changed position). Days past the page's budget are
    not read at all."""
    slug = conference.slug
    position = timeline.last_positions([slug]).get(slug, conference.changed_position)
    key = (timeline.location() or f"memory:{id(timeline)}", slug)
    with _lock:
        kept = _cache.get(key)
    changed = _changes(timeline, conference, kept, position)
    if kept is not None and changed is not None and kept.state.position == position:
        return kept.state  # nothing new (the page and live.json of one publish)
    if kept is None or changed is None:
        pinned, moments = timeline.pinned_entry(slug), tuple(timeline.key_moments(slug))
        dirty: set[int] | None = None
        old: dict[int, Rendered] = {}
    else:
        ids = {e.id for e in changed}
        pinned, moments = kept.state.pinned, kept.state.moments
        if any(e.pinned for e in changed) or (pinned is not None and pinned.id in ids):
            pinned = timeline.pinned_entry(slug)
        if any(e.highlighted for e in changed) or any(m.id in ids for m in moments):
            moments = tuple(timeline.key_moments(slug))
        dirty, old = {e.day for e in changed}, kept.days
    days, sections = _sections(timeline, conference, pinned, dirty, old)
    state = State(position, pinned, moments, tuple(sections))
    done = _Kept(state, timeline.recorded_at(position), conference.changed_position, days)
    with _lock:
        _cache[key] = done
        _cache.move_to_end(key)
        while len(_cache) > CACHED_CONFERENCES:
            _cache.popitem(last=False)
    return state


def _sections(
    timeline: Timeline,
    conference: Conference,
    pinned_entry: TimelineEntry | None,
    dirty: set[int] | None,
    old: dict[int, Rendered],
) -> tuple[dict[int, Rendered], list[Section]]:
    slug = conference.slug
    pinned = pinned_entry.id if pinned_entry is not None else None
    days: dict[int, Rendered] = {}
    sections: list[Section] = []
    room = LIVE_PAGE_ENTRIES
    for number, changed in reversed(timeline.days(slug)):
        rendered = old.get(number)
        stale = (
            rendered is None
            or dirty is None
            or number in dirty
            or rendered.day.changed_position != changed
        )
        if stale or (room > 0 and rendered is not None and rendered.entries is None):
            day = timeline.day(slug, number)
            if day is None:
                continue
            # Past the budget: the heading only, the entries not even read.
            rendered = _read_day(timeline, conference, day, pinned) if room > 0 else None
            rendered = rendered or Rendered(day, None, None)
        assert rendered is not None
        days[number] = rendered
        section = _section(rendered, room)
        room -= len(section.shown)
        sections.append(section)
    return days, sections
