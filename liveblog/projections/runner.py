"""Running projections: each keeps its position in the same transaction as its rows.

A projection is a name, a version, the tables it owns and an `apply` for a chunk of
records. Catching up reads only the events after its position (a primary-key range), so
the cost follows what is new, never the size of the log. A changed version, or a missing
table, drops the projection's tables and replays it from the start.

A projection is bound: it was built on its backend's connection (the store's unit of
work), so nothing here names a driver. `Stores.projections()` gives a backend's default
ones; `runner_for(stores)` runs them with that store's `projection_state`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from ..store.eventstore import EventStore
    from ..store.records import Record
    from ..store.timeline import ProjectionState

__all__ = ["CHUNK", "Projection", "ProjectionRunner", "ProjectionStatus"]

CHUNK = 50_000
"""Events applied per transaction: large enough to amortise each commit."""

Progress = Callable[[int], None]
"""Called with the number of events just applied (for a progress bar)."""


class Projection(Protocol):
    @property
    def name(self) -> str:
        """Unique, stable: the key of its row in projection_state."""

    @property
    def version(self) -> int:
        """Bump it when the tables or the rules change: the projection is rebuilt."""

    @property
    def tables(self) -> Sequence[str]:
        """Every table and view it owns (dropped on rebuild, checked on catch-up)."""

    def create(self) -> None:
        """Create the projection's (empty) tables, on the connection it is bound to."""

    def apply(self, records: Sequence[Record]) -> None:
        """Apply records in position order, inside the caller's transaction (the unit
        of work of the store it is bound to). A projection may also say `lazy_types`:
        the types whose data it maps inside the store (not fetched into Python)."""


@dataclass(frozen=True)
class ProjectionStatus:
    name: str
    version: int
    position: int
    head: int

    @property
    def lag(self) -> int:
        return self.head - self.position


class ProjectionRunner:
    """Keeps a set of projections of one log up to date."""

    def __init__(
        self,
        events: EventStore,
        projections: Sequence[Projection],
        state: ProjectionState | None = None,
    ) -> None:
        """`projections` bound to `events`' unit of work; `state` is its store's
        projection state (`Stores.projection_state`; looked up from `events` if not
        given)."""
        self.log = events
        if state is None:
            from ..store.factory import stores_on

            state = stores_on(events).projection_state
        self.state = state
        self.projections = list(projections)
        # Types whose data every projection maps in SQL: not fetched into Python.
        lazy = [frozenset(getattr(p, "lazy_types", ())) for p in self.projections]
        self._lazy = frozenset.intersection(*lazy) if lazy else frozenset()

    # -- state -----------------------------------------------------------------------

    def _position(self, projection: Projection) -> int | None:
        return self.state.position(projection.name, projection.version, projection.tables)

    def _reset(self, projection: Projection) -> None:
        self.state.reset(projection.name, projection.version, projection.tables)
        projection.create()

    def _ensure(self, projection: Projection) -> int:
        """The projection's position, resetting it first when stale (in the caller's tx)."""
        self.state.ensure()
        position = self._position(projection)
        if position is None:
            self._reset(projection)
            position = 0
        return position

    # -- work ------------------------------------------------------------------------

    def catch_up(self, progress: Progress | None = None) -> dict[str, int]:
        """Apply every new event to every projection; returns events applied per name.

        One read of the log feeds every projection: each takes the records after its
        own position, and its new position is committed with its rows.
        """
        applied = {p.name: 0 for p in self.projections}
        if self._current():
            return applied  # nothing new: no write lock, no DDL
        with self.state.fast_writes():
            self._catch_up(applied, progress)
        return applied

    def _catch_up(self, applied: dict[str, int], progress: Progress | None) -> None:
        while True:
            # Positions are read inside the write transaction: two processes catching up
            # at once never apply the same event twice.
            with self.state.transaction():
                positions = {p.name: self._ensure(p) for p in self.projections}
                start = min(positions.values(), default=0)
                chunk = next(self.log.records(after=start, chunk=CHUNK, lazy=self._lazy), None)
                if not chunk:
                    return
                for projection in self.projections:
                    mine = [r for r in chunk if r.position > positions[projection.name]]
                    if not mine:
                        continue
                    projection.apply(mine)
                    self.state.advance(projection.name, mine[-1].position)
                    applied[projection.name] += len(mine)
            if progress is not None:
                progress(len(chunk))

    def current(self) -> bool:
        """Every projection is at the head, at its version, with its tables (read-only)."""
        return self._current()

    def _current(self) -> bool:
        """Every projection is at the head, at its version, with its tables (read-only)."""
        if not self.state.exists():
            return False
        head = self.log.head()
        return all(self._position(p) == head for p in self.projections)

    def rebuild(self, progress: Progress | None = None) -> dict[str, int]:
        """Drop every projection and replay the whole log into it."""
        for projection in self.projections:
            with self.state.transaction():
                self.state.ensure()
                self._reset(projection)
        return self.catch_up(progress)

    def status(self) -> list[ProjectionStatus]:
        head = self.log.head()
        if self.log.readonly and not self.state.exists():
            return [ProjectionStatus(p.name, p.version, 0, head) for p in self.projections]
        if not self.log.readonly:
            self.state.ensure()
        out = []
        for projection in self.projections:
            position = self._position(projection)
            out.append(ProjectionStatus(projection.name, projection.version, position or 0, head))
        return out
