"""Upcasting: events stored under an older schema version are read as the current one.

The log is never rewritten. Each model declares its upcasters (`EventData.UPCASTERS`),
one per older version; reading applies them in a chain up to the model's SCHEMA_VERSION.
"""

from __future__ import annotations

from .events import REGISTRY, Data


def upcast(event_type: str, schema_version: int, data: Data, current: int) -> Data:
    """Bring `data` from `schema_version` up to `current`; a missing step is a bug."""
    model = REGISTRY.get(event_type)
    steps = model.UPCASTERS if model is not None else {}
    while schema_version < current:
        step = steps.get(schema_version)
        if step is None:
            raise LookupError(f"no upcaster for {event_type} schema {schema_version}")
        data = step(dict(data))
        schema_version += 1
    return data
