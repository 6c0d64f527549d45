"""Summary versions in events.db (`webhook_summaries`, `webhook_summary_checks`) and the
reads of the log and the timeline that deciding them takes. Part of SqliteWebhookStore.

The timeline's days are read here, in SQL, through the timeline projection's table name
(liveblog.projections.timeline.DAYS, imported when used: `webhook list` and `token`
commands never load the projections): the index of days by changed_position makes
finding the days that changed a range, not a scan.
"""

from __future__ import annotations

import json
from typing import Any

from ...webhooks.model import StaleDay
from ..dialect import SQLITE
from ..summary_versions import SharedSummaryVersions
from .driver import Connection


class SqliteSummaryVersions(SharedSummaryVersions[Connection]):
    """Summary versions in this backend's SQL (the rest: `SharedSummaryVersions`)."""

    conn: Connection
    dialect = SQLITE

    def stale_days(self, after: int) -> list[StaleDay]:
        from ...projections.timeline import DAYS

        rows = self.conn.execute(
            "SELECT d.conference, d.number, d.changed_position, c.changed_position "
            f"FROM {DAYS} AS d LEFT JOIN webhook_summary_checks AS c "
            "ON c.conference = d.conference AND c.day = d.number "
            "WHERE d.changed_position > ? AND d.closed_at IS NOT NULL "
            "AND c.changed_position IS NOT d.changed_position ORDER BY d.changed_position",
            (after,),
        ).fetchall()
        return [StaleDay(*row) for row in rows]

    def day_closed_at(self, conference: str, day: int, until: int) -> int | None:
        row = self.conn.execute(
            "SELECT max(position) FROM events WHERE conference = ? AND type = 'day.closed' "
            "AND json_extract(data, '$.number') = ? AND position <= ?",
            (conference, day, until),
        ).fetchone()
        return None if row is None or row[0] is None else int(row[0])

    def recorded_at(self, position: int) -> str | None:
        row = self.conn.execute(
            "SELECT recorded_at FROM events WHERE position = ?", (position,)
        ).fetchone()
        return None if row is None else str(row[0])

    def add_version(
        self, conference: str, day: int, version: int, position: int, digest: str, body: Any
    ) -> None:
        self.conn.execute(
            "INSERT INTO webhook_summaries (conference, day, version, position, digest, body) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (conference, day, version, position, digest, json.dumps(body)),
        )

    def version_body(self, seq: int) -> Any | None:
        row = self.conn.execute(
            "SELECT body FROM webhook_summaries WHERE seq = ?", (seq,)
        ).fetchone()
        return None if row is None else json.loads(row[0])


def day_state(timeline: Connection, conference: str, day: int) -> tuple[str | None, int] | None:
    """(closed_at, changed_position) of a day in a timeline (a private replay's): None
    while the day does not exist there.

    Transitional: a private timeline is a connection until the timeline's read side
    (helper "read") gives it a protocol; then this is one of its queries."""
    from ...projections.timeline import DAYS

    row = timeline.execute(
        f"SELECT closed_at, changed_position FROM {DAYS} WHERE conference = ? AND number = ?",
        (conference, day),
    ).fetchone()
    return None if row is None else (row[0], int(row[1]))
