"""Driving the PostgreSQL timeline projection in tests, as the projection runner does.

Kept to the bound-projection protocol (`create()`, `apply(records)`) and
`PostgresProjectionState`, so the tests do not depend on how the runner is wired."""

from __future__ import annotations

from typing import Any


def pg_catch_up(store: Any, chunk: int | None = None) -> None:
    """Bring the timeline of `store` (a PostgresEventStore) up to its head: state and rows
    committed together, chunk by chunk (`chunk` events at most, if given)."""
    from liveblog.store.postgres.timeline import (
        PostgresProjectionState,
        PostgresTimelineProjection,
    )

    projection = PostgresTimelineProjection(store.conn)
    state = PostgresProjectionState(store.conn)
    name, version, tables = projection.name, projection.version, projection.tables
    sizes = {"chunk": chunk} if chunk else {}
    with state.fast_writes():
        while True:
            with state.transaction():
                state.ensure()
                position = state.position(name, version, tables)
                if position is None:
                    state.reset(name, version, tables)
                    projection.create()
                    position = 0
                found = store.records(after=position, lazy=projection.lazy_types, **sizes)
                records = next(found, None)
                if not records:
                    return
                projection.apply(records)
                state.advance(name, records[-1].position)


def pg_rebuild(store: Any, chunk: int | None = None) -> None:
    """Drop the timeline of `store` and replay the whole log into it."""
    from liveblog.store.postgres.timeline import (
        PostgresProjectionState,
        PostgresTimelineProjection,
    )

    projection = PostgresTimelineProjection(store.conn)
    state = PostgresProjectionState(store.conn)
    with state.transaction():
        state.ensure()
        state.reset(projection.name, projection.version, projection.tables)
        projection.create()
    pg_catch_up(store, chunk=chunk)
