"""`summary.published` / `summary.updated` messages: one per visible change of a closed day.

After the projections catch up, every closed day whose `changed_position` moved since
it was last checked is rendered again (found in the index of days by changed_position,
from the deliverer's progress on: the days that changed, not every day there is); if
its markdown or HTML differs from the last version sent, a new version is stored,
placed in the log order at the position of the event that changed it. Delivery queues
read these rows like events, so a summary reaches each subscriber right after the event
that closed or changed its day.

Which messages exist depends on the log alone, not on when the deliverer looked: when
several events changed a day since it was last checked (a deliverer that was down, a
batch import, a reporter's offline queue sent at once), the conference is replayed into
a private in-memory timeline, as `summary --as-of` does, and the day is rendered as it
stood after each of them: the close gets its `summary.published`, each later change its
`summary.updated`.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..store.eventstore import EventStore
    from ..store.stores import Stores
    from ..store.webhooks import SummaryVersions


def record_summary_changes(stores: Stores, until: int | None = None) -> int:
    """Store new summary versions; the caller holds the write transaction. Returns how
    many were stored. `until` is the position the projections have reached, if known.
    """
    store = stores.webhooks
    progress = store.progress()
    if until is not None and until <= progress:
        # No day changed after a position the projections have not passed (nor is
        # there a timeline to read before they first ran).
        return 0
    # Only the days changed since the deliverer's progress: a range of the index of days
    # by changed_position (every day changed before it was checked then).
    stale = store.stale_days(progress)
    if not stale:
        return 0
    from ..summary import build_day_summary

    stored = 0
    replays: dict[str, list[tuple[int, int, int]]] = {}
    for found in stale:
        conference, day, changed_position = found.conference, found.day, found.changed_position
        after = _last_seen(store, conference, day, changed_position, found.checked)
        if after is None:  # nothing but the latest event can have changed it
            summary = build_day_summary(stores.timeline, conference, day)
            stored += _store(store, conference, day, changed_position, summary)
        else:
            replays.setdefault(conference, []).append((day, after, changed_position))
        store.mark_checked(conference, day, changed_position)
    for conference, days in replays.items():
        stored += _replay(stores.events, store, conference, days)
    return stored


def _last_seen(
    store: SummaryVersions, conference: str, day: int, changed_position: int, checked: int | None
) -> int | None:
    """None when the day's current state is its only state not yet looked at (the usual
    case: one event since the last check); else the position after which its changes
    must be found by replaying."""
    if checked is None:
        # Never looked at: every change from its close on counts, the close included.
        closed_at = store.day_closed_at(conference, day, changed_position)
        if closed_at is None or closed_at == changed_position:
            return None
        return closed_at - 1
    return None if store.nothing_between(conference, checked, changed_position) else checked


def _replay(
    log: EventStore, store: SummaryVersions, conference: str, days: list[tuple[int, int, int]]
) -> int:
    """Replay `conference` into memory; store a version of each (day, after, until) as it
    stood after every event in (after, until] that changed it while it was closed."""
    from ..summary import build_day_summary
    from ..summary.history import PrivateTimeline

    until = max(last for _, _, last in days)
    seen: dict[int, int | None] = {day: None for day, _, _ in days}
    stored = 0
    # One transaction for the whole replay (in memory): no commit per event.
    with PrivateTimeline() as past, past.writing():
        for chunk in log.records(until=until, conference=conference):
            for record in chunk:
                past.apply([record])
                for day, after, last in days:
                    state = past.day_state(conference, day)
                    if state is None or state[1] == seen[day]:
                        continue
                    closed_at, changed = state
                    seen[day] = changed
                    if closed_at is not None and after < changed <= last:
                        summary = build_day_summary(past.timeline, conference, day)
                        stored += _store(store, conference, day, changed, summary)
    return stored


def _store(store: SummaryVersions, conference: str, day: int, position: int, summary: Any) -> int:
    """Store `summary` as the day's next version at `position`, unless it reads exactly
    as the last version stored. Returns how many were stored (0 or 1)."""
    from ..summary import render
    from ..summary.render import render_fragment

    markdown = render(summary, "markdown")
    html = render_fragment(summary)
    digest = hashlib.sha256(f"{markdown}\0{html}".encode()).hexdigest()
    last = store.last_version(conference, day)
    if last is not None and last[1] == digest:
        return 0
    version = 1 if last is None else last[0] + 1
    recorded = store.recorded_at(position)
    body = {
        "type": "summary.published" if version == 1 else "summary.updated",
        "timestamp": recorded if recorded is not None else summary["day"]["closed_at"],
        "data": {
            "conference": conference,
            "day": day,
            "title": summary["title"],
            "version": version,
            "position": position,
            "markdown": markdown,
            "html": html,
        },
    }
    store.add_version(conference, day, version, position, digest, body)
    return 1
