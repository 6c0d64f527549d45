"""`liveblog verify`: is this events.db whole, and does every projection match its log?

Everything is read in one snapshot of a read-only connection, so `verify` changes
nothing and can run beside reporters and `serve`. It checks, in order:

* SQLite's own `PRAGMA integrity_check`;
* the `events` table and its indexes and append-only triggers, exactly as liveblog
  creates them (another program can drop or replace them; SQLite cannot prevent it);
* the log's invariants: positions 1..head without a gap, each conference's versions
  1..n without a gap and in log order, unique ids, every row a valid event;
* each projection against a rebuild: the log up to the projection's own position is
  replayed into a private temporary database, and each of its tables is compared row
  for row with the live one (a projection that lags is not wrong, only behind).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ..dialect import SQLITE
from ..verifying import SHOWN, Finding, capped, log_findings
from .driver import Connection, open_raw
from .log import EventLog, row_to_event
from .replay import copy_records, create_copy
from .schema import log_objects

__all__ = ["SHOWN", "Finding", "verify"]

if TYPE_CHECKING:
    from .projections import SqliteProjection as Projection


def verify(log: EventLog) -> list[Finding]:
    """Every finding, good and bad, in the order checked."""
    from ...projections import default_projections

    findings: list[Finding] = []
    projections = default_projections()
    with tempfile.TemporaryDirectory(prefix="liveblog-verify-") as scratch:
        # One scratch file per projection, attached before the snapshot begins (SQLite
        # refuses ATTACH in a transaction); each is written before it is first read.
        rebuilt = [Path(scratch) / f"rebuilt-{i}.db" for i in range(len(projections))]
        for i, path in enumerate(rebuilt):
            log.conn.execute("ATTACH DATABASE ? AS ?", (str(path), f"rebuilt_{i}"))
        try:
            with log.snapshot():
                findings.extend(_integrity(log))
                findings.extend(_schema(log))
                if _has_events(log.conn):
                    findings.extend(_log(log))
                    findings.extend(_projections(log, projections, rebuilt))
        finally:
            for i in range(len(rebuilt)):
                log.conn.execute(f"DETACH DATABASE rebuilt_{i}")
    return findings


def _has_events(conn: Connection) -> bool:
    row = conn.execute(
        "SELECT 1 FROM main.sqlite_master WHERE type = 'table' AND name = 'events'"
    ).fetchone()
    return row is not None


# -- the file --------------------------------------------------------------------------


def _integrity(log: EventLog) -> Iterator[Finding]:
    rows = [str(r[0]) for r in log.conn.execute("PRAGMA main.integrity_check")]
    if rows == ["ok"]:
        yield Finding(True, "integrity_check passes")
        return
    yield from capped([f"integrity_check: {row}" for row in rows], "integrity problems")


def _normal(sql: str) -> str:
    return " ".join(sql.rstrip().rstrip(";").split())


def _schema(log: EventLog) -> Iterator[Finding]:
    expected = log_objects()
    found = {
        name: (kind, sql or "")
        for kind, name, sql in log.conn.execute(
            "SELECT type, name, sql FROM main.sqlite_master WHERE tbl_name = 'events'"
        )
    }
    if "events" not in found:
        yield Finding(
            False,
            "the events table is missing (dropped by another program?): the log is gone; "
            "restore events.db from a backup",
        )
        return
    problems = []
    for name, (kind, sql) in expected.items():
        if name not in found:
            why = ": the log can be changed in place" if kind == "trigger" else ""
            problems.append(f"the {kind} {name} of the events table is missing{why}")
        elif _normal(found[name][1]) != _normal(sql):
            problems.append(f"the {kind} {name} is not the one liveblog creates (altered)")
    for name, (kind, _sql) in found.items():
        if name not in expected and not name.startswith("sqlite_autoindex"):
            problems.append(f"an unknown {kind} {name} on the events table")
    if problems:
        yield from capped(problems, "schema problems")
        return
    triggers = sum(1 for kind, _ in expected.values() if kind == "trigger")
    yield Finding(True, f"events table, its indexes and its {triggers} append-only triggers")


# -- the log ---------------------------------------------------------------------------


def _log(log: EventLog) -> Iterator[Finding]:
    # `main.events`: the scratch databases attached beside it hold tables named `events`.
    return log_findings(
        log.conn,
        SQLITE,
        "main.events",
        row_to_event,
        lambda _: "every event reads as a valid event",
    )


# -- projections -----------------------------------------------------------------------


def _projections(
    log: EventLog, projections: Sequence[Projection], rebuilt: Sequence[Path]
) -> Iterator[Finding]:
    conn = log.conn
    has_state = conn.execute(
        "SELECT 1 FROM main.sqlite_master WHERE type = 'table' AND name = 'projection_state'"
    ).fetchone()
    objects = {
        name: kind
        for kind, name in conn.execute(
            "SELECT type, name FROM main.sqlite_master WHERE type IN ('table', 'view')"
        )
    }
    head = log.head()
    for index, projection in enumerate(projections):
        state = (
            conn.execute(
                "SELECT version, position FROM main.projection_state WHERE name = ?",
                (projection.name,),
            ).fetchone()
            if has_state
            else None
        )
        name = f"projection {projection.name}"
        if state is None or any(t not in objects for t in projection.tables):
            yield Finding(True, f"{name}: not built (derived: built on next use)")
            continue
        version, position = state
        if version != projection.version:
            yield Finding(
                True,
                f"{name}: version {version}, this release's is {projection.version} "
                "(rebuilt on next use; not compared)",
            )
            continue
        if position > head:
            yield Finding(False, f"{name}: at position {position}, past the log's head {head}")
            continue
        _replay(log, rebuilt[index], projection, position)
        schema = f"rebuilt_{index}"
        problems = [
            text
            for table in projection.tables
            for text in _compare(conn, schema, table, objects.get(table, "table"))
        ]
        if problems:
            yield from capped(
                [f"{name}: {p}; run `liveblog rebuild`" for p in problems], "differences"
            )
        else:
            behind = f" (lag {head - position})" if position < head else ""
            yield Finding(True, f"{name}: equals a rebuild at position {position}{behind}")


def _replay(log: EventLog, path: Path, projection: Projection, until: int) -> None:
    """Replay the log up to `until` (read in the caller's snapshot) into `path`."""
    from ...projections.runner import CHUNK
    from .timeline import PROJECTION_CACHE_KIB

    scratch = open_raw(path)
    try:
        # A throwaway file: no journal, no syncs; the cache a rebuild uses.
        scratch.execute("PRAGMA journal_mode = OFF")
        scratch.execute("PRAGMA synchronous = OFF")
        scratch.execute(f"PRAGMA cache_size = {PROJECTION_CACHE_KIB}")
        scratch.execute("BEGIN")
        create_copy(scratch)
        projection.create(scratch)
        for chunk in log.records(until=until, chunk=CHUNK):
            copy_records(scratch, chunk)
            projection.apply(scratch, chunk)
        scratch.execute("COMMIT")
    finally:
        scratch.close()


def _compare(conn: Connection, rebuilt: str, table: str, kind: str) -> Iterator[str]:
    """How the live `table` differs from the rebuilt one (nothing when equal)."""
    quoted = '"' + table.replace('"', '""') + '"'
    if kind == "view":
        live, new = (
            conn.execute(
                f"SELECT sql FROM {schema}.sqlite_master WHERE name = ?", (table,)
            ).fetchone()
            for schema in ("main", rebuilt)
        )
        if live is None or new is None or _normal(live[0]) != _normal(new[0]):
            yield f"the view {table} is not the one a rebuild creates"
        return
    columns = [
        [row[1] for row in conn.execute(f"PRAGMA {schema}.table_info({quoted})")]
        for schema in ("main", rebuilt)
    ]
    if columns[0] != columns[1]:
        yield f"table {table} has columns {columns[0]}, a rebuild has {columns[1]}"
        return
    live, new = f"main.{quoted}", f"{rebuilt}.{quoted}"
    only_live, only_rebuilt = (
        conn.execute(
            f"SELECT count(*) FROM (SELECT * FROM {a} EXCEPT SELECT * FROM {b})"
        ).fetchone()[0]
        for a, b in ((live, new), (new, live))
    )
    counts = [
        conn.execute(f"SELECT count(*) FROM {schema}.{quoted}").fetchone()[0]
        for schema in ("main", rebuilt)
    ]
    if only_live or only_rebuilt or counts[0] != counts[1]:
        yield (
            f"table {table} differs from a rebuild ({counts[0]} rows, a rebuild has "
            f"{counts[1]}; {only_live} only here, {only_rebuilt} only in the rebuild)"
        )
