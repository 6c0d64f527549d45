"""The schema of events.db, created and upgraded with sqlite-utils `Migrations`.

`PRAGMA user_version` caches how many migrations a file has, so opening an up-to-date
database (every CLI command) costs one pragma and never imports sqlite-utils.

The `events` table is the log. Its triggers make it append-only for every connection,
a user's `sqlite3` shell included:

* UPDATE and DELETE raise;
* an INSERT must take the next position (gap-free), the conference's next version, and a
  new id, which also refuses `INSERT OR REPLACE` over an existing event: BEFORE INSERT
  triggers run before the REPLACE conflict resolution would delete anything.
"""

from __future__ import annotations

from typing import Any

from ..errors import SchemaTooNew
from .sqlite import Connection, write_transaction

APPLICATION_ID = 0x4C42_4C47
"""`PRAGMA application_id` of every liveblog database ("LBLG"): how a file is known as
ours before anything is written to it (liveblog.store.opening)."""

EVENTS_DDL = """
CREATE TABLE events (
    position INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    conference TEXT NOT NULL,
    occurred_at TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    author TEXT NOT NULL,
    version INTEGER NOT NULL CHECK (version >= 1),
    schema_version INTEGER NOT NULL CHECK (schema_version >= 1),
    data TEXT NOT NULL CHECK (json_valid(data)),
    UNIQUE (conference, version)
);
CREATE INDEX events_by_author ON events (author, position);
CREATE INDEX events_by_type ON events (type, conference, position);
CREATE INDEX events_by_reporter ON events (conference, author, type, position);
CREATE INDEX events_by_target ON events (json_extract(data, '$.target'))
    WHERE type IN ('entry.corrected', 'entry.retracted');

CREATE TRIGGER events_no_update BEFORE UPDATE ON events
BEGIN
    SELECT RAISE(ABORT, 'events is append-only: UPDATE is refused');
END;

CREATE TRIGGER events_no_delete BEFORE DELETE ON events
BEGIN
    SELECT RAISE(ABORT, 'events is append-only: DELETE is refused');
END;

CREATE TRIGGER events_no_overwrite BEFORE INSERT ON events
WHEN EXISTS (SELECT 1 FROM events WHERE id = NEW.id)
BEGIN
    SELECT RAISE(ABORT, 'events is append-only: an event with this id exists');
END;

CREATE TRIGGER events_gap_free BEFORE INSERT ON events
WHEN NEW.position IS NULL
  OR NEW.position <> (SELECT ifnull(max(position), 0) + 1 FROM events)
  OR NEW.version <> (SELECT ifnull(max(version), 0) + 1 FROM events
                     WHERE conference = NEW.conference)
BEGIN
    SELECT RAISE(ABORT, 'events is append-only: position and version must be the next ones');
END;
"""


def _m001_events(db: Any) -> None:
    for statement in _split(EVENTS_DDL):
        db.execute(statement)


def _split(script: str) -> list[str]:
    """Split DDL on statement boundaries; trigger bodies keep their inner semicolons."""
    statements, current = [], []
    for line in script.strip().splitlines():
        current.append(line)
        text = "\n".join(current).strip()
        is_trigger = text.upper().startswith("CREATE TRIGGER")
        if text.endswith(";") and (not is_trigger or text.upper().endswith("END;")):
            statements.append(text)
            current = []
    return statements


def log_objects() -> dict[str, tuple[str, str]]:
    """The log's table, indexes and triggers as this release creates them:
    name -> (type, CREATE statement), for `verify` to compare with what a file holds."""
    objects = {}
    for statement in _split(EVENTS_DDL):
        words = statement.split()
        kind, name = words[1].lower(), words[2]
        objects[name] = (kind, statement)
    return objects


# Webhook subscriptions and API tokens are configuration, not coverage: they cannot be
# derived from the log, so `rebuild` leaves them (and delivery history) alone. Dropped by
# hand, they come back empty (`ensure_config_tables`), like every table but the log.
CONFIG_DDL = """
CREATE TABLE IF NOT EXISTS webhook_subscriptions (
    id TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    events TEXT NOT NULL,
    conference TEXT,
    secret TEXT NOT NULL,
    allow_private INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL CHECK (status IN ('active', 'disabled')),
    status_reason TEXT,
    cursor INTEGER NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS webhook_summaries (
    seq INTEGER PRIMARY KEY,
    conference TEXT NOT NULL,
    day INTEGER NOT NULL,
    version INTEGER NOT NULL,
    position INTEGER NOT NULL,
    digest TEXT NOT NULL,
    body TEXT NOT NULL,
    UNIQUE (conference, day, version)
);
CREATE TABLE IF NOT EXISTS webhook_summary_checks (
    conference TEXT NOT NULL,
    day INTEGER NOT NULL,
    changed_position INTEGER NOT NULL,
    PRIMARY KEY (conference, day)
);
CREATE TABLE IF NOT EXISTS webhook_deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    subscription TEXT NOT NULL REFERENCES webhook_subscriptions (id),
    message_id TEXT NOT NULL,
    type TEXT NOT NULL,
    position INTEGER NOT NULL,
    summary INTEGER REFERENCES webhook_summaries (seq),
    status TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'dead', 'cancelled')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    last_attempt_at TEXT,
    last_status INTEGER,
    last_error TEXT,
    created_at TEXT NOT NULL,
    finished_at TEXT
);
CREATE INDEX IF NOT EXISTS webhook_deliveries_queue
    ON webhook_deliveries (subscription, status, id);
CREATE INDEX IF NOT EXISTS webhook_deliveries_pending
    ON webhook_deliveries (subscription, id) WHERE status = 'pending';
CREATE TABLE IF NOT EXISTS api_tokens (
    name TEXT PRIMARY KEY,
    digest TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    role TEXT NOT NULL DEFAULT 'reporter' CHECK (role IN ('reporter', 'editor'))
);
"""


def _m002_config(db: Any) -> None:
    ensure_config_tables(db.conn)


def ensure_config_tables(conn: Connection) -> None:
    for statement in _split(CONFIG_DDL):
        conn.execute(statement)


def _m003_encrypt_webhook_secrets(db: Any) -> None:
    """Secrets stored in clear by an older release are encrypted (liveblog.secretkey);
    the key file is created beside the database only if there is one to encrypt."""
    from ..webhooks.subscriptions import keyring_for, seal_clear_secrets

    ensure_config_tables(db.conn)
    seal_clear_secrets(db.conn, keyring_for(db.conn))


def _m004_token_roles(db: Any) -> None:
    """Tokens get a role. The ones created before roles existed could do everything:
    they stay editors, so an upgrade locks no one out. (A file that reaches this from
    scratch made its table with the role column already, in m002: nothing to do.)"""
    columns = {row[1] for row in db.conn.execute("PRAGMA table_info(api_tokens)")}
    if not columns or "role" in columns:
        return
    db.conn.execute(
        "ALTER TABLE api_tokens ADD COLUMN role TEXT NOT NULL DEFAULT 'reporter' "
        "CHECK (role IN ('reporter', 'editor'))"
    )
    db.conn.execute("UPDATE api_tokens SET role = 'editor'")


# Each entry is (name, function). Append new migrations; never edit or reorder old ones.
MIGRATIONS: list[tuple[str, Any]] = [
    ("m001_events", _m001_events),
    ("m002_webhooks", _m002_config),
    ("m003_encrypt_webhook_secrets", _m003_encrypt_webhook_secrets),
    ("m004_token_roles", _m004_token_roles),
]
LATEST = len(MIGRATIONS)


def ensure_schema(conn: Connection, *, readonly: bool = False) -> None:
    """Bring the database up to this release's schema and mark it ours; refuse a newer one.

    A database opened read-only is read as it is: the next writer upgrades it.
    """
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > LATEST:
        raise SchemaTooNew(
            f"this events.db has schema {version}, newer than this release knows ({LATEST}): "
            "upgrade liveblog"
        )
    marked = conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    if readonly or (version == LATEST and marked):
        return
    if not marked:
        # A new file, or a log from before the mark. The mark is committed on its own,
        # first: sqlite-utils commits as it creates tables, and another process opening
        # the file meanwhile must see a file being initialised as ours, not a stranger's.
        with write_transaction(conn):
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        if version == LATEST:
            return
    from sqlite_utils import Database
    from sqlite_utils.migrations import Migrations

    migrations = Migrations("liveblog")
    for name, fn in MIGRATIONS:
        migrations(name=name)(fn)
    # IMMEDIATE: several processes may open a new file at once; one migrates, the
    # others wait, then find nothing pending.
    with write_transaction(conn):
        db = Database(conn, execute_plugins=False)
        migrations.apply(db)
        conn.execute(f"PRAGMA user_version = {LATEST}")
