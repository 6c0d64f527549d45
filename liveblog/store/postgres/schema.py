"""The PostgreSQL schema: versioned migrations, applied in order, once.

`liveblog_schema` holds one row per migration applied (its number, name and when), so
the database's version is `max(version)`. Opening a store reads it (one query, then
cached per process and URL); a database behind this release is brought up to date in
one transaction under a transaction-level advisory lock (`MIGRATION_LOCK`), so nodes
that start together on a new database do not race: one migrates, the others wait for
its commit, read the version again and find nothing to do. A database ahead of this
release (a newer node migrated it) is refused with SchemaTooNew.

The migrations (append new ones; never edit or reorder old ones):

* m001: the log (`EVENTS_DDL`);
* m002: the configuration tables, webhooks and tokens (`config_schema.CONFIG_DDL`);
* m003: the feed documents (`documents.DOCUMENTS_DDL`).

Projection tables and the publish state are derived from the log: their owners create
them on demand, never a migration.

The `events` table mirrors SQLite's column for column, every column text or integer as
stored there (the data as the exact JSON text written, timestamps as their ISO text), so
an export from one backend and an import into the other give the same bytes. Text
columns use the "C" collation: ids, types and timestamps compare byte-wise, as in
SQLite, whatever the database's locale (the prefix scan of `resolve` and the ISO-text
comparison of `position_at` rely on it). The data is checked and read as `json`, not
`jsonb`: `json` keeps the text as written and accepts every escape JSON has, where
`jsonb` refuses `\\u0000` (a note may hold one).

Append-only is enforced by the database for every role, a superuser's `psql` included:

* `events_no_change` (BEFORE UPDATE OR DELETE, per row) and `events_no_truncate`
  (BEFORE TRUNCATE) raise "events is append-only: … is refused" (SQLSTATE P0001, which
  the driver maps to StoreRefused);
* `events_next` (BEFORE INSERT, per row) refuses a row whose position or version is not
  the next one, so a writer that bypasses liveblog can neither leave a gap nor commit a
  position before the one below it has committed (see `log.py` on commit order);
* `events_notify` (AFTER INSERT, per statement) sends `NOTIFY liveblog_log, '<head>'` in
  the appending transaction: a hint for readers, delivered on commit.

The triggers are ENABLE ALWAYS: `SET session_replication_role = replica`, which skips
ordinary triggers, does not skip these. Only the table's owner can drop them: the
application's role should not own it (README: "Running on PostgreSQL", the grants).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from ...errors import (
    MissingLog,
    NotOurDatabase,
    SchemaTooNew,
    StoreRefused,
    UnopenableDatabase,
)
from .driver import PgConnection, describe

MIGRATION_LOCK = (0x4C42_4C47, 1)
"""`pg_advisory_xact_lock(int, int)` keys taken while migrating ("LBLG", 1); released by
the migrating transaction's end, so a node killed mid-migration holds nothing."""

NOTIFY_CHANNEL = "liveblog_log"
"""The channel `events_notify` signals on; the payload is the head after the insert."""

EVENTS_DDL = """
CREATE TABLE events (
    position bigint PRIMARY KEY CHECK (position >= 1),
    id text COLLATE "C" NOT NULL UNIQUE,
    type text COLLATE "C" NOT NULL,
    conference text COLLATE "C" NOT NULL,
    occurred_at text COLLATE "C" NOT NULL,
    recorded_at text COLLATE "C" NOT NULL,
    author text COLLATE "C" NOT NULL,
    version integer NOT NULL CHECK (version >= 1),
    schema_version integer NOT NULL CHECK (schema_version >= 1),
    data text NOT NULL CHECK (data::json IS NOT NULL),
    UNIQUE (conference, version)
);
CREATE INDEX events_by_author ON events (author, position);
CREATE INDEX events_by_type ON events (type, conference, position);
CREATE INDEX events_by_reporter ON events (conference, author, type, position);
CREATE INDEX events_by_target ON events ((data::json ->> 'target'))
    WHERE type IN ('entry.corrected', 'entry.retracted');

CREATE FUNCTION liveblog_events_refuse() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'events is append-only: % is refused', TG_OP;
END;
$$;

CREATE FUNCTION liveblog_events_next() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- Rows inserted earlier by the same statement are visible here (a row-level
    -- BEFORE trigger sees them), so a multi-row INSERT is checked row by row.
    IF NEW.position IS DISTINCT FROM
           (SELECT coalesce(max(position), 0) + 1 FROM events)
       OR NEW.version IS DISTINCT FROM
           (SELECT coalesce(max(version), 0) + 1 FROM events
            WHERE conference = NEW.conference) THEN
        RAISE EXCEPTION 'events is append-only: position and version must be the next ones';
    END IF;
    RETURN NEW;
END;
$$;

CREATE FUNCTION liveblog_events_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('liveblog_log', (SELECT max(position) FROM events)::text);
    RETURN NULL;
END;
$$;

CREATE TRIGGER events_no_change BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION liveblog_events_refuse();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION liveblog_events_refuse();
CREATE TRIGGER events_next BEFORE INSERT ON events
    FOR EACH ROW EXECUTE FUNCTION liveblog_events_next();
CREATE TRIGGER events_notify AFTER INSERT ON events
    FOR EACH STATEMENT EXECUTE FUNCTION liveblog_events_notify();

ALTER TABLE events ENABLE ALWAYS TRIGGER events_no_change;
ALTER TABLE events ENABLE ALWAYS TRIGGER events_no_truncate;
ALTER TABLE events ENABLE ALWAYS TRIGGER events_next;
ALTER TABLE events ENABLE ALWAYS TRIGGER events_notify;
"""

LOG_TRIGGERS = ("events_next", "events_no_change", "events_no_truncate", "events_notify")
"""The log's triggers as m001 creates them (for `verify` and the tests)."""

SCHEMA_DDL = """
CREATE TABLE IF NOT EXISTS liveblog_schema (
    version integer PRIMARY KEY,
    name text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


def _run(conn: PgConnection, script: str) -> None:
    # One simple-protocol round trip for the whole script (no parameters): psycopg then
    # accepts several statements, dollar-quoted function bodies included.
    if script.strip():
        conn.execute(script)


def _m001_events(conn: PgConnection) -> None:
    _run(conn, EVENTS_DDL)


def _m002_config(conn: PgConnection) -> None:
    from .config_schema import CONFIG_DDL

    _run(conn, CONFIG_DDL)


def _m003_documents(conn: PgConnection) -> None:
    from .documents import DOCUMENTS_DDL

    _run(conn, DOCUMENTS_DDL)


Migration = Callable[[PgConnection], None]

MIGRATIONS: list[tuple[str, Migration]] = [
    ("m001_events", _m001_events),
    ("m002_config", _m002_config),
    ("m003_documents", _m003_documents),
]
"""(name, function), in order; migration n is MIGRATIONS[n - 1]."""
LATEST = len(MIGRATIONS)


@dataclass(frozen=True)
class SchemaState:
    """What a database holds, read without writing."""

    version: int
    """Migrations applied (0: none, or no liveblog_schema table)."""
    has_log: bool
    """An `events` table exists (ours, or a stranger's when version is 0)."""
    standby: bool
    """The server is a hot standby: it can only be read."""
    may_insert: bool
    """This role may INSERT into `events` (False without the table)."""


def inspect(conn: PgConnection) -> SchemaState:
    """The schema's state in two queries (one when the database is new)."""
    marked, has_log, standby, may_insert = conn.execute(
        "SELECT to_regclass('liveblog_schema') IS NOT NULL, to_regclass('events') IS NOT NULL, "
        "pg_is_in_recovery(), "
        "to_regclass('events') IS NOT NULL AND has_table_privilege('events', 'INSERT')"
    ).fetchone()
    version = 0
    if marked:
        version = int(
            conn.execute("SELECT coalesce(max(version), 0) FROM liveblog_schema").fetchone()[0]
        )
    return SchemaState(version, bool(has_log), bool(standby), bool(may_insert))


_current: dict[str, SchemaState] = {}
_current_lock = threading.Lock()


def ensure_schema(
    conn: PgConnection, url: str, *, readonly: bool = False, require_log: bool = True
) -> SchemaState:
    """Bring the database up to this release's schema (unless `readonly`); refuse a
    newer one, a stranger's `events` table, and (with `require_log`) a database of ours
    whose log is gone or, read-only, not created yet.

    Once a process has seen `url` at LATEST it does not look again: a server opens a
    store per request, and a schema never goes back.
    """
    with _current_lock:
        known = _current.get(url)
    if known is not None:
        return known
    state = inspect(conn)
    where = describe(url)
    if state.version > LATEST:
        raise SchemaTooNew(
            f"the database at {where} has schema {state.version}, newer than this release "
            f"knows ({LATEST}): upgrade liveblog"
        )
    if state.version == 0 and state.has_log:
        raise NotOurDatabase(
            f"the database at {where} has an events table that liveblog did not create: "
            "refusing to touch it (check --db / LIVEBLOG_DB)"
        )
    if state.version >= 1 and not state.has_log and require_log:
        raise MissingLog(
            f"the database at {where} has lost its events table (dropped by hand?): "
            "restore it from a backup"
        )
    if state.version < LATEST and not readonly and not state.standby:
        try:
            state = migrate(conn)
        except StoreRefused as exc:
            if exc.code != "42501":  # insufficient_privilege: the application's role
                raise
            raise UnopenableDatabase(
                f"the database at {where} has schema {state.version} and this release "
                f"needs {LATEST}, but this role may not migrate it: run one liveblog "
                "command as the role that owns the schema first"
            ) from None
    if state.version == 0 and require_log:
        raise UnopenableDatabase(
            f"the database at {where} holds no liveblog log yet: open it once read-write "
            "(as the role that owns the schema) to create it"
        )
    if state.version == LATEST:
        with _current_lock:
            _current[url] = state
    return state


def migrate(conn: PgConnection) -> SchemaState:
    """Apply every pending migration in one transaction, under MIGRATION_LOCK."""
    with conn.writing():
        conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", MIGRATION_LOCK)
        # Read again under the lock: another node may have migrated while we waited.
        conn.execute(SCHEMA_DDL)
        done = int(
            conn.execute("SELECT coalesce(max(version), 0) FROM liveblog_schema").fetchone()[0]
        )
        if done > LATEST:
            raise SchemaTooNew(
                f"the database has schema {done}, newer than this release knows ({LATEST}): "
                "upgrade liveblog"
            )
        for number, (name, apply) in enumerate(MIGRATIONS, start=1):
            if number <= done:
                continue
            apply(conn)
            conn.execute(
                "INSERT INTO liveblog_schema (version, name) VALUES (%s, %s)", (number, name)
            )
    return inspect(conn)


def known_current(url: str) -> bool:
    """Whether this process has already seen `url` at this release's schema."""
    with _current_lock:
        return url in _current


def forget_checked() -> None:
    """Forget which URLs were seen up to date (tests that drop and recreate databases)."""
    with _current_lock:
        _current.clear()


__all__ = [
    "EVENTS_DDL",
    "LATEST",
    "LOG_TRIGGERS",
    "MIGRATIONS",
    "MIGRATION_LOCK",
    "NOTIFY_CHANNEL",
    "SchemaState",
    "ensure_schema",
    "forget_checked",
    "inspect",
    "known_current",
    "migrate",
]
