"""The application facade: one object for code that embeds liveblog (README).

`Liveblog` composes the service's parts, each its own interface for the front ends
that need only it:

- `liveblog.service.reporting.ReportingService` (the `Reporter` protocol): the reporting
  commands, local; `liveblog.cli.remote.RemoteReporter` is the same protocol over HTTP;
- `liveblog.service.importing.Importing`: JSON Lines in, atomically;
- `liveblog.service.reading.Reading`: export, projections, status, summaries, publishing;
- `liveblog.service.administration.Administration`: tokens, webhooks, the secrets' key.

They share one open log and one author; the facade opens (and closes) the log.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..store.factory import open_store
from . import roles
from .administration import Administration
from .base import author_name, new_event_id
from .importing import Importing, ImportResult, ParsedImport, parse_import
from .reading import Reading
from .reporting import Reporter, ReportingService

if TYPE_CHECKING:
    from ..store.eventstore import EventStore

__all__ = [
    "Administration",
    "ImportResult",
    "Importing",
    "Liveblog",
    "ParsedImport",
    "Reading",
    "Reporter",
    "ReportingService",
    "new_event_id",
    "parse_import",
]


class Liveblog(ReportingService, Importing, Reading, Administration):
    """One event store (an events.db, a PostgreSQL URL), used by one author (the
    reporter typing, or the API's caller)."""

    def __init__(
        self,
        db_path: str | Path,
        author: str,
        *,
        log: EventStore | None = None,
        role: roles.Role | None = None,
    ) -> None:
        """`db_path` is a --db value (a path, a `sqlite:///` or `postgresql://` URL).
        `log` shares an open log (the API: one connection per thread, many authors).
        `role` is the API caller's token's (liveblog.service.roles); None, the local CLI's, may
        do everything."""
        author = author_name(author)  # before the log is opened: a bad name creates no file
        self._owns_log = log is None
        opened = log if log is not None else open_store(db_path)
        super().__init__(opened, author, role=role)

    def __enter__(self) -> Liveblog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
