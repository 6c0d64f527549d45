"""Projections: tables derived from the log, droppable and rebuildable at any time."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..store import EventLog
from .runner import Projection, ProjectionRunner, ProjectionStatus
from .timeline import TimelineProjection

if TYPE_CHECKING:
    from ..store.timeline import ProjectionState


def default_projections() -> Sequence[Projection]:
    return (TimelineProjection(),)


def runner_for(log: EventLog, state: ProjectionState | None = None) -> ProjectionRunner:
    """The default projections of `log`; `state` is its store's projection state
    (`Stores.projection_state`), or the SQLite one on its connection if not given."""
    return ProjectionRunner(log, default_projections(), state)


__all__ = [
    "Projection",
    "ProjectionRunner",
    "ProjectionStatus",
    "TimelineProjection",
    "default_projections",
    "runner_for",
]
