"""The summary versions' statements that both backends run alike (part of each
backend's `SummaryVersions`: `SqliteSummaryVersions`, `PostgresSummaryVersions`).

The reads whose SQL is each backend's own (JSON fields, the timeline's days, the
bodies' column type) stay in its module; these differ only in their placeholders.
"""

from __future__ import annotations

from typing import ClassVar, Generic, TypeVar

from .dialect import Dialect, Executes

_MARK_CHECKED = (
    "INSERT INTO webhook_summary_checks (conference, day, changed_position) "
    "VALUES (?, ?, ?) ON CONFLICT (conference, day) "
    "DO UPDATE SET changed_position = excluded.changed_position"
)
_VERSIONS_AT = "SELECT position, version, conference FROM events WHERE position IN (?, ?)"
_ANY_BETWEEN = "SELECT 1 FROM events WHERE conference = ? AND position > ? AND position < ? LIMIT 1"
_LAST_VERSION = (
    "SELECT version, digest FROM webhook_summaries WHERE conference = ? AND day = ? "
    "ORDER BY version DESC LIMIT 1"
)


Conn = TypeVar("Conn", bound=Executes)


class SharedSummaryVersions(Generic[Conn]):
    """Generic in the connection's type: the webhook store that inherits this beside its
    other halves declares one `conn` for all of them."""

    conn: Conn
    dialect: ClassVar[Dialect]

    def mark_checked(self, conference: str, day: int, changed_position: int) -> None:
        self.conn.execute(self.dialect.sql(_MARK_CHECKED), (conference, day, changed_position))

    def nothing_between(self, conference: str, after: int, before: int) -> bool:
        # A conference's versions grow with positions, gap-free: when both positions
        # hold its events, their versions answer with two primary-key lookups, however
        # long the conference or the log.
        versions = {
            int(position): int(version)
            for position, version, of in self.conn.execute(
                self.dialect.sql(_VERSIONS_AT), (after, before)
            )
            if of == conference
        }
        if after in versions and before in versions:
            return versions[before] - versions[after] == 1
        # A change made by another conference's event (an import).
        found = self.conn.execute(
            self.dialect.sql(_ANY_BETWEEN), (conference, after, before)
        ).fetchone()
        return found is None

    def last_version(self, conference: str, day: int) -> tuple[int, str] | None:
        row = self.conn.execute(self.dialect.sql(_LAST_VERSION), (conference, day)).fetchone()
        return None if row is None else (int(row[0]), str(row[1]))
