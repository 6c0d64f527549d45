"""Projections: tables derived from the log, droppable and rebuildable at any time."""

from __future__ import annotations

from collections.abc import Sequence

from ..store import EventLog
from .runner import Projection, ProjectionRunner, ProjectionStatus
from .timeline import TimelineProjection


def default_projections() -> Sequence[Projection]:
    return (TimelineProjection(),)


def runner_for(log: EventLog) -> ProjectionRunner:
    return ProjectionRunner(log, default_projections())


__all__ = [
    "Projection",
    "ProjectionRunner",
    "ProjectionStatus",
    "TimelineProjection",
    "default_projections",
    "runner_for",
]
