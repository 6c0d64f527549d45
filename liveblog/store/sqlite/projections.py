"""SQLite projections bound to a connection: what the runner drives.

A SQLite projection (`TimelineProjection`, a test's or an embedder's own) takes the
connection on each call, because `verify` also replays it into a scratch file of its
own. The runner wants bound projections (`liveblog.projections.runner.Projection`):
`bind` fixes the connection, and `Stores.projections()` hands the bound defaults out.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from ..records import Record
    from .driver import Connection


class SqliteProjection(Protocol):
    """A projection that is given its connection on every call."""

    @property
    def name(self) -> str: ...

    @property
    def version(self) -> int: ...

    @property
    def tables(self) -> Sequence[str]: ...

    def create(self, conn: Connection) -> None: ...

    def apply(self, conn: Connection, records: Sequence[Record]) -> None: ...


class BoundProjection:
    """`projection` on `conn`: the runner's `create()` and `apply(records)`."""

    def __init__(self, projection: SqliteProjection, conn: Connection) -> None:
        self.projection = projection
        self.conn = conn
        self.name = projection.name
        self.version = projection.version
        self.tables = tuple(projection.tables)
        # The types it maps in SQL (the runner then need not fetch their data).
        self.lazy_types: frozenset[str] = frozenset(getattr(projection, "lazy_types", ()))

    def create(self) -> None:
        self.projection.create(self.conn)

    def apply(self, records: Sequence[Record]) -> None:
        self.projection.apply(self.conn, records)

    def __repr__(self) -> str:
        return f"BoundProjection({self.projection!r})"


def bind(projection: SqliteProjection, conn: Connection) -> BoundProjection:
    return BoundProjection(projection, conn)


def default_projections(conn: Connection) -> tuple[BoundProjection, ...]:
    """The SQLite backend's default projections, bound to `conn`."""
    from .timeline import TimelineProjection

    return (bind(TimelineProjection(), conn),)


__all__ = ["BoundProjection", "SqliteProjection", "bind", "default_projections"]
