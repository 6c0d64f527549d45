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

from ...errors import SchemaTooNew
from .driver import Connection, driver_errors, write_transaction

APPLICATION_ID = 0x4C42_4C47
"""`PRAGMA application_id` of every liveblog database ("LBLG"): how a file is known as
ours before anything is written to it (liveblog.store.sqlite.opening)."""

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
    created_at TEXT NOT NULL,
    follows INTEGER NOT NULL DEFAULT 0
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
    ensure_config_tables(Connection(db.conn))


# What the deliverer keeps so that a tick, a change and `status` cost what changed, not
# how many subscriptions, deliveries or days there are (README: "What each job costs"):
#
# * webhook_progress: the log position the deliverer has prepared through. Every closed
#   day changed at or before it has its summaries recorded, and a subscription that
#   `follows` (webhook_subscriptions.follows = 1) has every message up to it queued:
#   its cursor is max(cursor, that position), so a change that concerns it not costs it
#   nothing (liveblog.webhooks.queue).
# * webhook_queue_heads: each subscription's head, its oldest pending delivery (the
#   only one that may be sent), and when it is due; webhook_delivery_counts: how many
#   deliveries are in each status. Both are derived from webhook_deliveries, kept by its
#   triggers, and refilled from it whenever one of them (or a trigger) is missing.
QUEUE_DDL = """
CREATE TABLE IF NOT EXISTS webhook_progress (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    position INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS webhook_subscriptions_following
    ON webhook_subscriptions (conference) WHERE status = 'active' AND follows = 1;
CREATE INDEX IF NOT EXISTS webhook_subscriptions_own_cursor
    ON webhook_subscriptions (created_at, id) WHERE status = 'active' AND follows = 0;
CREATE INDEX IF NOT EXISTS webhook_summaries_by_position ON webhook_summaries (position);
CREATE INDEX IF NOT EXISTS webhook_deliveries_by_status ON webhook_deliveries (status, id);
CREATE INDEX IF NOT EXISTS webhook_deliveries_by_subscription
    ON webhook_deliveries (subscription, id);
CREATE TABLE IF NOT EXISTS webhook_queue_heads (
    subscription TEXT PRIMARY KEY,
    delivery INTEGER NOT NULL,
    due_at REAL NOT NULL,
    active INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS webhook_queue_heads_due ON webhook_queue_heads (due_at)
    WHERE active = 1;
CREATE TABLE IF NOT EXISTS webhook_delivery_counts (
    status TEXT PRIMARY KEY,
    deliveries INTEGER NOT NULL
);
CREATE TRIGGER IF NOT EXISTS webhook_deliveries_counted AFTER INSERT ON webhook_deliveries
BEGIN
    UPDATE webhook_delivery_counts SET deliveries = deliveries + 1 WHERE status = NEW.status;
END;
CREATE TRIGGER IF NOT EXISTS webhook_deliveries_queued AFTER INSERT ON webhook_deliveries
WHEN NEW.status = 'pending'
BEGIN
    INSERT OR IGNORE INTO webhook_queue_heads (subscription, delivery, due_at, active)
        SELECT NEW.subscription, NEW.id, NEW.next_attempt_at, s.status = 'active'
        FROM webhook_subscriptions AS s WHERE s.id = NEW.subscription;
END;
CREATE TRIGGER IF NOT EXISTS webhook_deliveries_recounted
AFTER UPDATE OF status ON webhook_deliveries WHEN OLD.status IS NOT NEW.status
BEGIN
    UPDATE webhook_delivery_counts SET deliveries = deliveries - 1 WHERE status = OLD.status;
    UPDATE webhook_delivery_counts SET deliveries = deliveries + 1 WHERE status = NEW.status;
END;
CREATE TRIGGER IF NOT EXISTS webhook_deliveries_requeued
AFTER UPDATE OF status, next_attempt_at ON webhook_deliveries
WHEN OLD.status = 'pending' OR NEW.status = 'pending'
BEGIN
    DELETE FROM webhook_queue_heads WHERE subscription = OLD.subscription;
    INSERT INTO webhook_queue_heads (subscription, delivery, due_at, active)
        SELECT d.subscription, d.id, d.next_attempt_at, s.status = 'active'
        FROM webhook_deliveries AS d JOIN webhook_subscriptions AS s ON s.id = d.subscription
        WHERE d.subscription = OLD.subscription AND d.status = 'pending'
        ORDER BY d.id LIMIT 1;
END;
CREATE TRIGGER IF NOT EXISTS webhook_deliveries_uncounted AFTER DELETE ON webhook_deliveries
BEGIN
    UPDATE webhook_delivery_counts SET deliveries = deliveries - 1 WHERE status = OLD.status;
END;
CREATE TRIGGER IF NOT EXISTS webhook_deliveries_unqueued AFTER DELETE ON webhook_deliveries
WHEN OLD.status = 'pending'
BEGIN
    DELETE FROM webhook_queue_heads WHERE subscription = OLD.subscription AND delivery = OLD.id;
    INSERT OR IGNORE INTO webhook_queue_heads (subscription, delivery, due_at, active)
        SELECT d.subscription, d.id, d.next_attempt_at, s.status = 'active'
        FROM webhook_deliveries AS d JOIN webhook_subscriptions AS s ON s.id = d.subscription
        WHERE d.subscription = OLD.subscription AND d.status = 'pending'
        ORDER BY d.id LIMIT 1;
END;
CREATE TRIGGER IF NOT EXISTS webhook_subscriptions_status
AFTER UPDATE OF status ON webhook_subscriptions
BEGIN
    UPDATE webhook_queue_heads SET active = NEW.status = 'active' WHERE subscription = NEW.id;
    -- Disabled, it stops following: its cursor stays where it was (`webhook enable`
    -- queues what it missed).
    UPDATE webhook_subscriptions
        SET cursor = max(cursor, ifnull((SELECT position FROM webhook_progress), 0)), follows = 0
        WHERE id = NEW.id AND NEW.status <> 'active' AND follows = 1;
END;
CREATE TRIGGER IF NOT EXISTS webhook_subscriptions_removed
AFTER DELETE ON webhook_subscriptions
BEGIN
    DELETE FROM webhook_queue_heads WHERE subscription = OLD.id;
END;
"""

DELIVERY_STATUSES = ("pending", "delivered", "dead", "cancelled")


def _names(script: str) -> set[str]:
    return {statement.split()[5] for statement in _split(script)}


_EXPECTED = _names(CONFIG_DDL) | _names(QUEUE_DDL)


def ensure_config_tables(conn: Connection) -> None:
    """Create whatever configuration table, index or trigger is missing (a new file, a
    table dropped by hand): one look at sqlite_master when nothing is."""
    marks = ", ".join("?" * len(_EXPECTED))
    sql = f"SELECT count(*) FROM sqlite_master WHERE name IN ({marks})"
    if conn.execute(sql, sorted(_EXPECTED)).fetchone()[0] == len(_EXPECTED):
        return
    with write_transaction(conn):
        for statement in _split(CONFIG_DDL):
            conn.execute(statement)
        columns = {row[1] for row in conn.execute("PRAGMA table_info(webhook_subscriptions)")}
        if "follows" not in columns:  # a table from before m005
            conn.execute(
                "ALTER TABLE webhook_subscriptions ADD COLUMN follows INTEGER NOT NULL DEFAULT 0"
            )
        for statement in _split(QUEUE_DDL):
            conn.execute(statement)
        # Whatever was missing (a table, a trigger), the heads and counts may be stale.
        refill_queue_state(conn)


def refill_queue_state(conn: Connection) -> None:
    """Derive the heads and the counts from webhook_deliveries again (one scan of it)."""
    conn.execute("DELETE FROM webhook_queue_heads")
    conn.execute(
        "INSERT INTO webhook_queue_heads (subscription, delivery, due_at, active) "
        "SELECT d.subscription, d.id, d.next_attempt_at, s.status = 'active' "
        "FROM (SELECT subscription, min(id) AS id FROM webhook_deliveries "
        "      WHERE status = 'pending' GROUP BY subscription) AS h "
        "JOIN webhook_deliveries AS d ON d.id = h.id "
        "JOIN webhook_subscriptions AS s ON s.id = d.subscription"
    )
    conn.execute("DELETE FROM webhook_delivery_counts")
    conn.executemany(
        "INSERT INTO webhook_delivery_counts (status, deliveries) "
        "VALUES (?, (SELECT count(*) FROM webhook_deliveries WHERE status = ?))",
        [(status, status) for status in DELIVERY_STATUSES],
    )


def has_queue_state(conn: Connection) -> bool:
    """Whether this file has m005's tables: a read-only log from an older release is
    read as it is, with the queries of before."""
    return int(conn.execute("PRAGMA user_version").fetchone()[0]) >= QUEUE_STATE_SCHEMA


def _m003_encrypt_webhook_secrets(db: Any) -> None:
    """Secrets stored in clear by an older release are encrypted (liveblog.webhooks.secretkey);
    the key file is created beside the database only if there is one to encrypt."""
    from ...webhooks.subscriptions import keyring_for, seal_clear_secrets
    from .webhooks import SqliteWebhookStore

    conn = Connection(db.conn)
    ensure_config_tables(conn)
    hooks = SqliteWebhookStore(conn)
    seal_clear_secrets(hooks, keyring_for(hooks))


def _m004_token_roles(db: Any) -> None:
    """Tokens get a role. The ones created before roles existed could do everything:
    they stay editors, so an upgrade locks no one out. (A file that reaches this from
    scratch made its table with the role column already, in m002: nothing to do.)"""
    conn = Connection(db.conn)
    columns = {row[1] for row in conn.execute("PRAGMA table_info(api_tokens)")}
    if not columns or "role" in columns:
        return
    conn.execute(
        "ALTER TABLE api_tokens ADD COLUMN role TEXT NOT NULL DEFAULT 'reporter' "
        "CHECK (role IN ('reporter', 'editor'))"
    )
    conn.execute("UPDATE api_tokens SET role = 'editor'")


def _m005_webhook_queue_state(db: Any) -> None:
    """Subscriptions get `follows`; the deliverer's progress, each queue's head and the
    counts by status are kept (QUEUE_DDL), filled from the deliveries already there.
    Existing subscriptions keep their own cursors until their next fill."""
    ensure_config_tables(Connection(db.conn))


# Each entry is (name, function). Append new migrations; never edit or reorder old ones.
MIGRATIONS: list[tuple[str, Any]] = [
    ("m001_events", _m001_events),
    ("m002_webhooks", _m002_config),
    ("m003_encrypt_webhook_secrets", _m003_encrypt_webhook_secrets),
    ("m004_token_roles", _m004_token_roles),
    ("m005_webhook_queue_state", _m005_webhook_queue_state),
]
LATEST = len(MIGRATIONS)
QUEUE_STATE_SCHEMA = 5
"""The schema version from which QUEUE_DDL's tables exist (m005)."""


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
        db = Database(conn.driver_connection, execute_plugins=False)
        with driver_errors():
            migrations.apply(db)
        conn.execute(f"PRAGMA user_version = {LATEST}")
