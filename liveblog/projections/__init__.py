"""Projections: tables derived from the log, droppable and rebuildable at any time.

Each backend has its own (the timeline is mapped inside the store): `Stores.projections()`
gives them bound to the store's connection, and `runner_for(stores)` keeps them current.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .._lazy import lazy_getattr
from .runner import Projection, ProjectionRunner, ProjectionStatus

if TYPE_CHECKING:
    from ..store.eventstore import EventStore
    from ..store.sqlite.timeline import TimelineProjection
    from ..store.stores import Stores
    from ..store.timeline import ProjectionState


def default_projections() -> Sequence[Any]:
    """The names and versions of the default projections (unbound SQLite ones: what
    `status` lists for a log not created yet, and what `verify` replays)."""
    from ..store.sqlite.timeline import TimelineProjection

    return (TimelineProjection(),)


def runner_for(
    stores: Stores | EventStore, state: ProjectionState | None = None
) -> ProjectionRunner:
    """The default projections of `stores`, with its projection state (or `state`).

    An event store alone is accepted too (the sub-stores built on it), as before the
    projections were bound: `runner_for(log)`, `runner_for(log, state)`."""
    if not hasattr(stores, "projections"):
        from ..store.factory import stores_on

        stores = stores_on(stores)
    found: Stores = stores  # type: ignore[assignment]
    return ProjectionRunner(
        found.events,
        found.projections(),
        state if state is not None else found.projection_state,
    )


# The SQLite projection, for code that imported it from here (tests, benches).
__getattr__ = lazy_getattr(__name__, {"TimelineProjection": "..store.sqlite.timeline"})


__all__ = [
    "Projection",
    "ProjectionRunner",
    "ProjectionStatus",
    "TimelineProjection",
    "default_projections",
    "runner_for",
]
