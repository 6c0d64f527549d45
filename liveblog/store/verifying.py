"""`liveblog verify`'s findings, and the log's invariants, the same on both backends.

Each backend checks its own file or schema (SQLite's integrity_check and
sqlite_master, PostgreSQL's catalogs and trigger states) and, on SQLite, each
projection against a rebuild; the log's invariants are one check, here: positions
1..head without a gap, each conference's versions 1..n in log order, unique ids, every
row a valid event. Its statements are written so that both databases run them as they
are (`coalesce`, a CAST, aliased subqueries), with the table named by the backend
(SQLite's `main.events`, which an attached scratch database cannot shadow).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import UnreadableEvent
from .dialect import Dialect, Executes
from .rows import EVENT_COLUMNS

SHOWN = 10
"""Problems of one kind listed before the rest are counted."""


@dataclass(frozen=True)
class Finding:
    ok: bool
    text: str

    def line(self) -> str:
        return f"{'ok' if self.ok else 'problem'}: {self.text}"


def capped(problems: list[str], what: str) -> Iterator[Finding]:
    """A finding per problem, the first SHOWN of them, then how many more."""
    for text in problems[:SHOWN]:
        yield Finding(False, text)
    if len(problems) > SHOWN:
        yield Finding(False, f"… and {len(problems) - SHOWN} more {what}")


_STATS = "SELECT count(*), coalesce(min(position), 0), coalesce(max(position), 0) FROM {events}"
_GAPS = (
    "SELECT previous + 1, position - 1 FROM ("
    " SELECT position, lag(position, 1, CAST(0 AS BIGINT)) OVER (ORDER BY position)"
    " AS previous FROM {events}) AS p WHERE position <> previous + 1"
)
_VERSIONS = (
    "SELECT conference, position, version, previous FROM ("
    " SELECT conference, position, version,"
    " lag(version, 1, 0) OVER (PARTITION BY conference ORDER BY position) AS previous"
    " FROM {events}) AS v WHERE version <> previous + 1"
)
_CONFERENCES = "SELECT count(DISTINCT conference) FROM {events}"
_DUPLICATES = "SELECT id, count(*) FROM {events} GROUP BY id HAVING count(*) > 1"
_ROWS = f"SELECT {EVENT_COLUMNS} FROM {{events}} WHERE position > ? ORDER BY position LIMIT 1000"


def log_findings(
    conn: Executes,
    dialect: Dialect,
    events: str,
    read: Callable[[Sequence[Any]], object],
    all_readable: Callable[[int], str],
) -> Iterator[Finding]:
    """The log's invariants, checked in `events` (the table's name as the backend must
    write it) on `conn`, in the caller's snapshot; `read` decodes a row (raising
    UnreadableEvent), `all_readable` says all of the log's `count` events read."""
    count, low, head = conn.execute(_STATS.format(events=events)).fetchone()
    if count == head and (count == 0 or low == 1):
        yield Finding(True, f"{count} events at positions 1..{head} without a gap")
    else:
        gaps = [
            f"positions {start}..{end} are missing" if start < end else f"position {start} missing"
            for start, end in conn.execute(_GAPS.format(events=events))
        ]
        yield from capped(
            [f"the log has a gap: {gap} (head {head}, {count} events)" for gap in gaps], "gaps"
        )

    wrong = [
        f"conference {conference}: version {version} at position {position} "
        f"follows version {previous}"
        for conference, position, version, previous in conn.execute(_VERSIONS.format(events=events))
    ]
    conferences = conn.execute(_CONFERENCES.format(events=events)).fetchone()[0]
    if wrong:
        yield from capped(wrong, "version problems")
    else:
        noun = "conference" if conferences == 1 else "conferences"
        yield Finding(True, f"{conferences} {noun}, each at versions 1..n without a gap")

    duplicates = [
        f"event id {event_id} appears {times} times"
        for event_id, times in conn.execute(_DUPLICATES.format(events=events))
    ]
    if duplicates:
        yield from capped(duplicates, "duplicate ids")
    else:
        yield Finding(True, "every event id is unique")

    unreadable: list[str] = []
    rows_sql = dialect.sql(_ROWS.format(events=events))
    after = 0
    while True:
        rows = conn.execute(rows_sql, (after,)).fetchall()
        if not rows:
            break
        for row in rows:
            try:
                read(row)
            except UnreadableEvent as exc:
                unreadable.append(str(exc))
        after = rows[-1][0]
    if unreadable:
        yield from capped(unreadable, "unreadable events")
    else:
        yield Finding(True, all_readable(count))
