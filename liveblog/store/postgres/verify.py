"""`liveblog verify` on PostgreSQL: is the log whole, and is it still guarded?

Everything is read in one snapshot of a read-only store (`snapshot()`: REPEATABLE READ,
read only), so it changes nothing and can run beside every node. It checks, in order:

* the schema's version (`liveblog_schema`) against this release's;
* the `events` table, its indexes and its append-only triggers: each there, enabled
  ALWAYS (a trigger disabled or dropped by the table's owner lets the log be changed in
  place; PostgreSQL cannot stop its owner), and no unknown trigger on the table;
* the log's invariants, as SQLite's verify does: positions 1..head without a gap, each
  conference's versions 1..n in log order, unique ids, every row a valid event.

The projections are compared with a rebuild by their own backend's code, not here.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..dialect import POSTGRES
from ..verifying import Finding, capped, log_findings
from .log import PostgresEventStore, row_to_event
from .schema import LATEST, LOG_TRIGGERS, inspect

LOG_INDEXES = (
    "events_by_author",
    "events_by_reporter",
    "events_by_target",
    "events_by_type",
    "events_conference_version_key",
    "events_id_key",
    "events_pkey",
)
"""The indexes of `events` as m001 creates them (PostgreSQL names the constraints')."""


def verify(store: PostgresEventStore) -> list[Finding]:
    """Every finding, good and bad, in the order checked."""
    findings: list[Finding] = []
    with store.snapshot():
        state = inspect(store.conn)
        if state.version == LATEST:
            findings.append(Finding(True, f"schema version {state.version}"))
        else:
            findings.append(
                Finding(
                    False,
                    f"schema version {state.version}, this release's is {LATEST}: "
                    "open the database read-write once to migrate it",
                )
            )
        findings.extend(_schema(store))
        if state.has_log:
            findings.extend(_log(store))
    return findings


def _schema(store: PostgresEventStore) -> Iterator[Finding]:
    conn = store.conn
    if conn.execute("SELECT to_regclass('events')").fetchone()[0] is None:
        yield Finding(
            False,
            "the events table is missing (dropped by hand?): the log is gone; restore the "
            "database from a backup",
        )
        return
    problems: list[str] = []
    triggers = {
        str(name): str(enabled)
        for name, enabled in conn.execute(
            "SELECT tgname, tgenabled FROM pg_trigger "
            "WHERE tgrelid = 'events'::regclass AND NOT tgisinternal"
        )
    }
    for name in LOG_TRIGGERS:
        if name not in triggers:
            problems.append(f"the trigger {name} of the events table is missing")
        elif triggers[name] != "A":
            state = "disabled" if triggers[name] == "D" else "not enabled ALWAYS"
            problems.append(f"the trigger {name} of the events table is {state}")
    for name in sorted(set(triggers) - set(LOG_TRIGGERS)):
        problems.append(f"an unknown trigger {name} on the events table")
    indexes = {
        str(row[0])
        for row in conn.execute(
            "SELECT c.relname FROM pg_index AS i JOIN pg_class AS c ON c.oid = i.indexrelid "
            "WHERE i.indrelid = 'events'::regclass"
        )
    }
    for name in LOG_INDEXES:
        if name not in indexes:
            problems.append(f"the index {name} of the events table is missing")
    if problems:
        yield from capped(problems, "schema problems")
        return
    yield Finding(
        True, f"events table, its indexes and its {len(LOG_TRIGGERS)} triggers (always enabled)"
    )


def _log(store: PostgresEventStore) -> Iterator[Finding]:
    return log_findings(
        store.conn,
        POSTGRES,
        "events",
        row_to_event,
        lambda count: f"all {count} events are readable",
    )


__all__ = ["LOG_INDEXES", "verify"]
