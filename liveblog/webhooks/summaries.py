"""`summary.published` / `summary.updated` messages: one per visible change of a closed day.

After the projections catch up, every closed day whose `changed_position` moved since
it was last checked is rendered again; if its markdown or HTML differs from the last
version sent, a new version is stored, placed in the log order at the position of the
event that changed it. Delivery queues read these rows like events, so a summary reaches
each subscriber right after the event that closed or changed its day.
"""

from __future__ import annotations

import hashlib
import json

from ..projections.timeline import DAYS
from ..store.sqlite import Connection


def record_summary_changes(conn: Connection) -> int:
    """Store new summary versions; the caller holds the write transaction. Returns how
    many were stored."""
    stale = conn.execute(
        f"SELECT d.conference, d.number, d.changed_position FROM {DAYS} AS d "
        "LEFT JOIN webhook_summary_checks AS c ON c.conference = d.conference AND c.day = d.number "
        "WHERE d.closed_at IS NOT NULL AND c.changed_position IS NOT d.changed_position "
        "ORDER BY d.changed_position"
    ).fetchall()
    if not stale:
        return 0
    from ..summary import build_day_summary, render
    from ..summary.render import render_fragment

    stored = 0
    for conference, day, changed_position in stale:
        summary = build_day_summary(conn, conference, day)
        markdown = render(summary, "markdown")
        html = render_fragment(summary)
        digest = hashlib.sha256(f"{markdown}\0{html}".encode()).hexdigest()
        last = conn.execute(
            "SELECT version, digest FROM webhook_summaries WHERE conference = ? AND day = ? "
            "ORDER BY version DESC LIMIT 1",
            (conference, day),
        ).fetchone()
        if last is None or last[1] != digest:
            version = 1 if last is None else last[0] + 1
            recorded = conn.execute(
                "SELECT recorded_at FROM events WHERE position = ?", (changed_position,)
            ).fetchone()
            body = {
                "type": "summary.published" if version == 1 else "summary.updated",
                "timestamp": recorded[0] if recorded else summary["day"]["closed_at"],
                "data": {
                    "conference": conference,
                    "day": day,
                    "title": summary["title"],
                    "version": version,
                    "position": changed_position,
                    "markdown": markdown,
                    "html": html,
                },
            }
            conn.execute(
                "INSERT INTO webhook_summaries (conference, day, version, position, digest, body) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (conference, day, version, changed_position, digest, json.dumps(body)),
            )
            stored += 1
        conn.execute(
            "INSERT INTO webhook_summary_checks (conference, day, changed_position) "
            "VALUES (?, ?, ?) ON CONFLICT (conference, day) "
            "DO UPDATE SET changed_position = excluded.changed_position",
            (conference, day, changed_position),
        )
    return stored
