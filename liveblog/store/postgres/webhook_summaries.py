"""Summary versions on PostgreSQL (`webhook_summaries`, `webhook_summary_checks`) and the
reads of the log and the timeline that deciding them takes. Part of PostgresWebhookStore.

The timeline's days are read in SQL through the timeline projection's table name
(liveblog.projections.timeline.DAYS, imported when used), by its index on
changed_position: finding the days that changed is a range, not a scan.

Event data is read as `data::jsonb` whatever the log's column type (json, jsonb or
text); a day's number is compared as JSON, so an event whose number is not a number
never makes the query fail.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from ...webhooks.model import StaleDay
from ..dialect import POSTGRES
from ..summary_versions import SharedSummaryVersions
from .driver import PgConnection


class PostgresSummaryVersions(SharedSummaryVersions[PgConnection]):
    """Summary versions in this backend's SQL (the rest: `SharedSummaryVersions`)."""

    conn: PgConnection
    dialect = POSTGRES

    def stale_days(self, after: int) -> list[StaleDay]:
        from ...projections.timeline import DAYS

        rows = self.conn.execute(
            "SELECT d.conference, d.number, d.changed_position, c.changed_position "
            f"FROM {DAYS} AS d LEFT JOIN webhook_summary_checks AS c "
            "ON c.conference = d.conference AND c.day = d.number "
            "WHERE d.changed_position > %s AND d.closed_at IS NOT NULL "
            "AND c.changed_position IS DISTINCT FROM d.changed_position "
            "ORDER BY d.changed_position, d.conference, d.number",
            (after,),
        ).fetchall()
        return [
            StaleDay(str(c), int(n), int(p), None if k is None else int(k)) for c, n, p, k in rows
        ]

    def day_closed_at(self, conference: str, day: int, until: int) -> int | None:
        row = self.conn.execute(
            "SELECT max(position) FROM events WHERE conference = %s AND type = 'day.closed' "
            "AND data::jsonb -> 'number' = to_jsonb(%s::bigint) AND position <= %s",
            (conference, day, until),
        ).fetchone()
        return None if row is None or row[0] is None else int(row[0])

    def recorded_at(self, position: int) -> str | None:
        row = self.conn.execute(
            "SELECT recorded_at FROM events WHERE position = %s", (position,)
        ).fetchone()
        if row is None:
            return None
        stamp = row[0]
        if isinstance(stamp, dt.datetime):  # a timestamptz column: as SQLite stores it
            return stamp.astimezone(dt.UTC).isoformat(timespec="microseconds")
        return str(stamp)

    def add_version(
        self, conference: str, day: int, version: int, position: int, digest: str, body: Any
    ) -> None:
        # The text json.dumps gives, kept as it is (a `json` column): the same body, key
        # order included, as SQLite keeps.
        self.conn.execute(
            "INSERT INTO webhook_summaries (conference, day, version, position, digest, body) "
            "VALUES (%s, %s, %s, %s, %s, %s::json)",
            (conference, day, version, position, digest, json.dumps(body)),
        )

    def version_body(self, seq: int) -> Any | None:
        # ::text: the stored text, parsed here, rather than psycopg's json loader.
        row = self.conn.execute(
            "SELECT body::text FROM webhook_summaries WHERE seq = %s", (seq,)
        ).fetchone()
        return None if row is None else json.loads(row[0])
