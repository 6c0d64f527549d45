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
import json
from typing import Any

from ..projections.timeline import DAYS
from ..store.sqlite.driver import Connection
from ..store.sqlite.log import EventLog
from .queue import prepared_position


def record_summary_changes(log: EventLog) -> int:
    """Store new summary versions; the caller holds the write transaction. Returns how
    many were stored."""
    conn = log.conn
    # Only the days changed since the deliverer's progress: a range of the index of days
    # by changed_position (every day changed before it was checked then).
    stale = conn.execute(
        f"SELECT d.conference, d.number, d.changed_position, c.changed_position FROM {DAYS} AS d "
        "LEFT JOIN webhook_summary_checks AS c ON c.conference = d.conference AND c.day = d.number "
        "WHERE d.changed_position > ? AND d.closed_at IS NOT NULL "
        "AND c.changed_position IS NOT d.changed_position ORDER BY d.changed_position",
        (prepared_position(conn),),
    ).fetchall()
    if not stale:
        return 0
    from ..store.sqlite.timeline import SqliteTimeline
    from ..summary import build_day_summary

    stored = 0
    replays: dict[str, list[tuple[int, int, int]]] = {}
    for conference, day, changed_position, checked in stale:
        after = _last_seen(conn, conference, day, changed_position, checked)
        if after is None:  # nothing but the latest event can have changed it
            summary = build_day_summary(SqliteTimeline(conn), conference, day)
            stored += _store(conn, conference, day, changed_position, summary)
        else:
            replays.setdefault(conference, []).append((day, after, changed_position))
        conn.execute(
            "INSERT INTO webhook_summary_checks (conference, day, changed_position) "
            "VALUES (?, ?, ?) ON CONFLICT (conference, day) "
            "DO UPDATE SET changed_position = excluded.changed_position",
            (conference, day, changed_position),
        )
    for conference, days in replays.items():
        stored += _replay(log, conference, days)
    return stored


def _last_seen(
    conn: Connection, conference: str, day: int, changed_position: int, checked: int | None
) -> int | None:
    """None when the day's current state is its only state not yet looked at (the usual
    case: one event since the last check); else the position after which its changes
    must be found by replaying."""
    if checked is None:
        # Never looked at: every change from its close on counts, the close included.
        row = conn.execute(
            "SELECT max(position) FROM events WHERE conference = ? AND type = 'day.closed' "
            "AND json_extract(data, '$.number') = ? AND position <= ?",
            (conference, day, changed_position),
        ).fetchone()
        closed_at = row[0] if row else None
        if closed_at is None or closed_at == changed_position:
            return None
        return int(closed_at) - 1
    return None if _nothing_between(conn, conference, checked, changed_position) else checked


def _nothing_between(conn: Connection, conference: str, after: int, before: int) -> bool:
    """No event of `conference` lies strictly between positions `after` and `before`.

    A conference's versions grow with positions, gap-free: when both positions hold its
    events, their versions answer with two primary-key lookups, however long the
    conference or the log."""
    versions = {
        position: version
        for position, version, of in conn.execute(
            "SELECT position, version, conference FROM events WHERE position IN (?, ?)",
            (after, before),
        )
        if of == conference
    }
    if after in versions and before in versions:
        return bool(versions[before] - versions[after] == 1)
    found = conn.execute(  # a change made by another conference's event (an import)
        "SELECT 1 FROM events WHERE conference = ? AND position > ? AND position < ? LIMIT 1",
        (conference, after, before),
    ).fetchone()
    return found is None


def _replay(log: EventLog, conference: str, days: list[tuple[int, int, int]]) -> int:
    """Replay `conference` into memory; store a version of each (day, after, until) as it
    stood after every event in (after, until] that changed it while it was closed."""
    from ..summary import build_day_summary
    from ..summary.history import PrivateTimeline

    until = max(last for _, _, last in days)
    seen: dict[int, int | None] = {day: None for day, _, _ in days}
    stored = 0
    with PrivateTimeline() as past:
        past.conn.execute("BEGIN")
        for chunk in log.records(until=until, conference=conference):
            for record in chunk:
                past.apply([record])
                for day, after, last in days:
                    state = past.conn.execute(
                        f"SELECT closed_at, changed_position FROM {DAYS} "
                        "WHERE conference = ? AND number = ?",
                        (conference, day),
                    ).fetchone()
                    if state is None or state[1] == seen[day]:
                        continue
                    seen[day] = state[1]
                    if state[0] is not None and after < state[1] <= last:
                        summary = build_day_summary(past.timeline, conference, day)
                        stored += _store(log.conn, conference, day, int(state[1]), summary)
        past.conn.execute("COMMIT")
    return stored


def _store(conn: Connection, conference: str, day: int, position: int, summary: Any) -> int:
    """Store `summary` as the day's next version at `position`, unless it reads exactly
    as the last version stored. Returns how many were stored (0 or 1)."""
    from ..summary import render
    from ..summary.render import render_fragment

    markdown = render(summary, "markdown")
    html = render_fragment(summary)
    digest = hashlib.sha256(f"{markdown}\0{html}".encode()).hexdigest()
    last = conn.execute(
        "SELECT version, digest FROM webhook_summaries WHERE conference = ? AND day = ? "
        "ORDER BY version DESC LIMIT 1",
        (conference, day),
    ).fetchone()
    if last is not None and last[1] == digest:
        return 0
    version = 1 if last is None else last[0] + 1
    recorded = conn.execute(
        "SELECT recorded_at FROM events WHERE position = ?", (position,)
    ).fetchone()
    body = {
        "type": "summary.published" if version == 1 else "summary.updated",
        "timestamp": recorded[0] if recorded else summary["day"]["closed_at"],
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
    conn.execute(
        "INSERT INTO webhook_summaries (conference, day, version, position, digest, body) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (conference, day, version, position, digest, json.dumps(body)),
    )
    return 1
