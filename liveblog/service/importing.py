"""Import: JSON Lines in the export format, appended atomically and idempotently."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ..domain.envelope import Event, from_export_line
from ..errors import ConflictingEvent, DriverError, InvalidEvent, LiveblogError
from ..store import Appended
from .base import ServicePart


@dataclass(frozen=True)
class ImportResult:
    added: int
    skipped: int


@dataclass(frozen=True)
class ParsedImport:
    """A JSON Lines file read and validated, not yet appended."""

    source: str
    events: list[Event]
    line_of: dict[str, int]  # event id -> its line, to name a clash


def parse_import(lines: Iterable[str | bytes], *, source: str = "input") -> ParsedImport:
    """Read every line first: a bad one refuses the file before the log is even opened."""
    events = []
    line_of: dict[str, int] = {}
    for number, line in enumerate(lines, start=1):
        try:
            if isinstance(line, bytes):
                line = line.decode("utf-8")
            if not line.strip():
                continue
            event = from_export_line(line)
        except UnicodeDecodeError:
            raise InvalidEvent(f"{source}:{number}: not UTF-8 text") from None
        except RecursionError:
            # json (and pydantic) recurse once per level: a hostile line exhausts the stack.
            raise InvalidEvent(f"{source}:{number}: JSON nested too deeply for an event") from None
        except LiveblogError as exc:
            exc.args = (f"{source}:{number}: {exc}",)
            raise
        events.append(event)
        line_of[event.id] = number  # a clash within the file is its later line
    return ParsedImport(source, events, line_of)


class Importing(ServicePart):
    """Appends whole files of events as they were exported (ids, authors, times kept)."""

    def import_lines(self, lines: Iterable[str | bytes], *, source: str = "input") -> ImportResult:
        """Import JSON Lines atomically: one bad line refuses the whole file."""
        return self.import_parsed(parse_import(lines, source=source))

    def import_parsed(self, parsed: ParsedImport) -> ImportResult:
        """Append what `parse_import` read, atomically."""
        source, line_of = parsed.source, parsed.line_of
        try:
            results: list[Appended] = self.log.append(parsed.events)
        except ConflictingEvent as exc:
            exc.args = (f"{source}:{line_of.get(exc.event_id, '?')}: {exc}",)
            raise
        except DriverError:
            raise  # the database's own failure: worded by the front end, not the source's
        except LiveblogError as exc:
            exc.args = (f"{source}: {exc}",)
            raise
        added = sum(1 for r in results if r.created)
        return ImportResult(added=added, skipped=len(results) - added)
