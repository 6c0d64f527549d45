"""Rows to the store's records, the same on every backend.

Both backends select the same columns in the same order and get the same Python values
back (text, integers; a SQLite boolean is 0/1, hence the `bool()`), so the mapping from
a row to an `Event`, a `Conference`, a `TimelineEntry`… is written once, here.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from ..domain.envelope import Event, describe, parse_data
from ..errors import LiveblogError, NewerSchemaVersion, UnreadableEvent
from .timeline import Conference, TimelineEntry, parse_time

EVENT_COLUMNS = (
    "position, id, type, conference, occurred_at, recorded_at, author, version, "
    "schema_version, data"
)
"""The `events` table's columns, in the order `event_from_row` reads them."""


def event_from_row(row: Sequence[Any], edited: str) -> Event:
    """A row of `EVENT_COLUMNS` as a validated Event; UnreadableEvent for a row that
    cannot be read, ending with `edited` (the backend's guess at how it got so)."""
    position, id_, type_, conference, occurred_at, recorded_at, author, version, sv, data = row
    try:
        parsed = parse_data(type_, json.loads(data), sv)
        return Event.model_validate(
            {
                "id": id_,
                "conference": conference,
                "occurred_at": occurred_at,
                "recorded_at": recorded_at,
                "author": author,
                "position": position,
                "version": version,
                "data": parsed,
            }
        )
    except NewerSchemaVersion as exc:
        raise UnreadableEvent(
            f"the event at position {position} was written by a newer liveblog ({exc})"
        ) from None
    except (LiveblogError, ValidationError, ValueError, TypeError, LookupError) as exc:
        detail = describe(exc) if isinstance(exc, ValidationError) else str(exc)
        detail = " ".join(detail.split())
        raise UnreadableEvent(
            f"the event at position {position} cannot be read ({detail}); {edited}"
        ) from None


CONFERENCE_COLUMNS = (
    "slug, title, venue, timezone, url, language, opened_at, closed_at, changed_position"
)


def conference_from_row(row: Sequence[Any]) -> Conference:
    """A `Conference` from a row of `CONFERENCE_COLUMNS`."""
    return Conference(
        row[0],
        row[1],
        row[2],
        row[3],
        row[4],
        row[5],
        parse_time(row[6]),
        parse_time(row[7]) if row[7] else None,
        int(row[8]),
    )


def timeline_entry(row: Sequence[Any], data: dict[str, Any], rest: int) -> TimelineEntry:
    """A `TimelineEntry` from an entry row: its first ten columns are position, id,
    conference, day, kind, author, occurred_at, utc_at, session and talk; `data` is its
    current data (each backend decodes it its own way); from column `rest` on come
    ended_at, updated_at, retracted, retraction_reason, retracted_at, pinned, highlighted,
    highlight_label and changed_position."""
    return TimelineEntry(
        position=row[0],
        id=row[1],
        conference=row[2],
        day=row[3],
        kind=row[4],
        author=row[5],
        occurred_at=row[6],
        utc_at=row[7],
        session=row[8],
        talk=row[9],
        data=data,
        ended_at=row[rest],
        updated_at=row[rest + 1],
        retracted=bool(row[rest + 2]),
        retraction_reason=row[rest + 3],
        retracted_at=row[rest + 4],
        pinned=bool(row[rest + 5]),
        highlighted=bool(row[rest + 6]),
        highlight_label=row[rest + 7],
        changed_position=int(row[rest + 8]),
    )
