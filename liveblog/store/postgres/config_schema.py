"""The configuration tables on PostgreSQL: webhook subscriptions, their delivery queues
and summary versions, and API tokens (migration m002 of liveblog.store.postgres.schema
applies `CONFIG_DDL`, in one transaction).

Ported from SQLite's (liveblog.store.sqlite.schema: CONFIG_DDL and QUEUE_DDL, i.e. what
its m002..m005 leave), with these differences:

* Text that is sorted or searched by prefix (ids, names, creation stamps) is
  `COLLATE "C"`: byte order, as SQLite compares, whatever the database's locale.
* Summary bodies are `json` (the text kept as given, so a body reads back with its keys
  in their order; `jsonb` would reorder them). Event data is read through `::jsonb`,
  which accepts a `json`, `jsonb` or text column alike.
* The kept counts by status are striped by backend (`stripe` = the pid of the backend
  that changed them): two nodes recording outcomes at once never wait on one counter
  row, and never deadlock on two. A pid is unique among live backends, so a stripe has
  one writer at a time; the rows of backends that have gone are folded into stripe 0
  now and then (liveblog.store.postgres.webhook_queue.fold_counts). `counts()` sums them.
* The heads and counts are kept by statement-level triggers (transition tables): one
  trigger call per statement, however many rows it changed.

Concurrency (SQLite has one writer; PostgreSQL does not): every change to one
subscription's queue (enqueue, an outcome, a requeue, a cancel) first locks that
subscription's row (FOR NO KEY UPDATE, which does not stop the deliveries' foreign-key
checks), so the queue changes of one subscription are serialised, the triggers that keep
its head never miss a delivery committed meanwhile, and delivery ids, taken from an
identity after the lock, grow in commit order within each subscription.
"""

from __future__ import annotations

from .webhook_claims import CLAIMS_DDL

_WEBHOOKS_DDL = """
CREATE TABLE IF NOT EXISTS webhook_subscriptions (
    id TEXT COLLATE "C" PRIMARY KEY,
    url TEXT NOT NULL,
    events TEXT NOT NULL,
    conference TEXT,
    secret TEXT NOT NULL,
    allow_private BOOLEAN NOT NULL DEFAULT false,
    status TEXT NOT NULL CHECK (status IN ('active', 'disabled')),
    status_reason TEXT,
    cursor BIGINT NOT NULL,
    created_at TEXT COLLATE "C" NOT NULL,
    follows BOOLEAN NOT NULL DEFAULT false
);
CREATE INDEX IF NOT EXISTS webhook_subscriptions_following
    ON webhook_subscriptions (conference) WHERE status = 'active' AND follows;
CREATE INDEX IF NOT EXISTS webhook_subscriptions_own_cursor
    ON webhook_subscriptions (created_at, id) WHERE status = 'active' AND NOT follows;
CREATE INDEX IF NOT EXISTS webhook_subscriptions_by_creation
    ON webhook_subscriptions (created_at, id);

CREATE TABLE IF NOT EXISTS webhook_summaries (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    conference TEXT NOT NULL,
    day INTEGER NOT NULL,
    version INTEGER NOT NULL,
    position BIGINT NOT NULL,
    digest TEXT NOT NULL,
    body JSON NOT NULL,
    UNIQUE (conference, day, version)
);
CREATE INDEX IF NOT EXISTS webhook_summaries_by_position ON webhook_summaries (position);

CREATE TABLE IF NOT EXISTS webhook_summary_checks (
    conference TEXT NOT NULL,
    day INTEGER NOT NULL,
    changed_position BIGINT NOT NULL,
    PRIMARY KEY (conference, day)
);

CREATE TABLE IF NOT EXISTS webhook_progress (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    position BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS webhook_deliveries (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subscription TEXT COLLATE "C" NOT NULL REFERENCES webhook_subscriptions (id),
    message_id TEXT NOT NULL,
    type TEXT NOT NULL,
    position BIGINT NOT NULL,
    summary BIGINT REFERENCES webhook_summaries (seq),
    status TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'dead', 'cancelled')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at DOUBLE PRECISION NOT NULL,
    last_attempt_at TEXT,
    last_status INTEGER,
    last_error TEXT,
    created_at TEXT NOT NULL,
    finished_at TEXT
);
CREATE INDEX IF NOT EXISTS webhook_deliveries_pending
    ON webhook_deliveries (subscription, id) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS webhook_deliveries_by_subscription
    ON webhook_deliveries (subscription, id);
CREATE INDEX IF NOT EXISTS webhook_deliveries_by_status ON webhook_deliveries (status, id);

CREATE TABLE IF NOT EXISTS webhook_queue_heads (
    subscription TEXT COLLATE "C" PRIMARY KEY,
    delivery BIGINT NOT NULL,
    due_at DOUBLE PRECISION NOT NULL,
    active BOOLEAN NOT NULL
);
CREATE INDEX IF NOT EXISTS webhook_queue_heads_due ON webhook_queue_heads (due_at)
    WHERE active;

CREATE TABLE IF NOT EXISTS webhook_delivery_counts (
    status TEXT NOT NULL,
    stripe INTEGER NOT NULL,
    deliveries BIGINT NOT NULL,
    PRIMARY KEY (status, stripe)
);

-- The counts: +1 per delivery inserted, -1 per one deleted, both per status changed.
-- Rows are upserted in status order: one statement's locks are always taken alike.
CREATE OR REPLACE FUNCTION webhook_deliveries_count() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO webhook_delivery_counts (status, stripe, deliveries)
            SELECT status, pg_backend_pid(), count(*) FROM new_rows
            GROUP BY status ORDER BY status
        ON CONFLICT (status, stripe)
            DO UPDATE SET deliveries = webhook_delivery_counts.deliveries + excluded.deliveries;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO webhook_delivery_counts (status, stripe, deliveries)
            SELECT status, pg_backend_pid(), -count(*) FROM old_rows
            GROUP BY status ORDER BY status
        ON CONFLICT (status, stripe)
            DO UPDATE SET deliveries = webhook_delivery_counts.deliveries + excluded.deliveries;
    ELSE
        INSERT INTO webhook_delivery_counts (status, stripe, deliveries)
            SELECT status, pg_backend_pid(), sum(change) FROM (
                SELECT o.status, -1 AS change FROM old_rows AS o JOIN new_rows AS n USING (id)
                WHERE o.status <> n.status
                UNION ALL
                SELECT n.status, 1 FROM old_rows AS o JOIN new_rows AS n USING (id)
                WHERE o.status <> n.status
            ) AS changes
            GROUP BY status ORDER BY status
        ON CONFLICT (status, stripe)
            DO UPDATE SET deliveries = webhook_delivery_counts.deliveries + excluded.deliveries;
    END IF;
    RETURN NULL;
END $$;

-- A subscription's head: its pending delivery with the smallest id, with its due time.
-- The callers hold the subscription's row lock (see the module's docstring), so no
-- other transaction changes that queue between these statements.
CREATE OR REPLACE FUNCTION webhook_queue_heads_refill(subscriptions TEXT[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM webhook_queue_heads WHERE subscription = ANY (subscriptions);
    INSERT INTO webhook_queue_heads (subscription, delivery, due_at, active)
        SELECT d.subscription, d.id, d.next_attempt_at, s.status = 'active'
        FROM unnest(subscriptions) AS wanted (id)
        JOIN webhook_subscriptions AS s ON s.id = wanted.id
        CROSS JOIN LATERAL (
            SELECT id, subscription, next_attempt_at FROM webhook_deliveries
            WHERE subscription = wanted.id AND status = 'pending' ORDER BY id LIMIT 1
        ) AS d;
END $$;

CREATE OR REPLACE FUNCTION webhook_deliveries_queued() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        -- New deliveries go to the end of their queue: a head is set only where none was.
        INSERT INTO webhook_queue_heads (subscription, delivery, due_at, active)
            SELECT DISTINCT ON (n.subscription)
                n.subscription, n.id, n.next_attempt_at, s.status = 'active'
            FROM new_rows AS n JOIN webhook_subscriptions AS s ON s.id = n.subscription
            WHERE n.status = 'pending' ORDER BY n.subscription, n.id
        ON CONFLICT (subscription) DO NOTHING;
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM webhook_queue_heads_refill(ARRAY(
            SELECT DISTINCT subscription FROM old_rows WHERE status = 'pending'
        ));
    ELSE
        PERFORM webhook_queue_heads_refill(ARRAY(
            SELECT DISTINCT o.subscription FROM old_rows AS o JOIN new_rows AS n USING (id)
            WHERE (o.status = 'pending' OR n.status = 'pending')
              AND (o.status <> n.status OR o.next_attempt_at <> n.next_attempt_at)
        ));
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE TRIGGER webhook_deliveries_counted_insert AFTER INSERT ON webhook_deliveries
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION webhook_deliveries_count();
CREATE OR REPLACE TRIGGER webhook_deliveries_counted_update AFTER UPDATE ON webhook_deliveries
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION webhook_deliveries_count();
CREATE OR REPLACE TRIGGER webhook_deliveries_counted_delete AFTER DELETE ON webhook_deliveries
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION webhook_deliveries_count();
CREATE OR REPLACE TRIGGER webhook_deliveries_queued_insert AFTER INSERT ON webhook_deliveries
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION webhook_deliveries_queued();
CREATE OR REPLACE TRIGGER webhook_deliveries_queued_update AFTER UPDATE ON webhook_deliveries
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION webhook_deliveries_queued();
CREATE OR REPLACE TRIGGER webhook_deliveries_queued_delete AFTER DELETE ON webhook_deliveries
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION webhook_deliveries_queued();

-- Disabled, a follower stops following: its cursor stays where the progress had taken
-- it (`webhook enable` queues what it missed). BEFORE: the row is changed as written.
CREATE OR REPLACE FUNCTION webhook_subscriptions_stop_following() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status <> 'active' AND NEW.follows THEN
        NEW.cursor := greatest(
            NEW.cursor, coalesce((SELECT position FROM webhook_progress WHERE id = 1), 0)
        );
        NEW.follows := false;
    END IF;
    RETURN NEW;
END $$;
CREATE OR REPLACE TRIGGER webhook_subscriptions_status BEFORE UPDATE OF status
    ON webhook_subscriptions
    FOR EACH ROW EXECUTE FUNCTION webhook_subscriptions_stop_following();

CREATE OR REPLACE FUNCTION webhook_subscriptions_head_active() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        DELETE FROM webhook_queue_heads WHERE subscription = OLD.id;
        RETURN NULL;
    END IF;
    IF NEW.status IS DISTINCT FROM OLD.status THEN
        UPDATE webhook_queue_heads SET active = NEW.status = 'active'
            WHERE subscription = NEW.id;
    END IF;
    RETURN NULL;
END $$;
CREATE OR REPLACE TRIGGER webhook_subscriptions_head_active AFTER UPDATE OF status
    ON webhook_subscriptions
    FOR EACH ROW EXECUTE FUNCTION webhook_subscriptions_head_active();
CREATE OR REPLACE TRIGGER webhook_subscriptions_removed AFTER DELETE ON webhook_subscriptions
    FOR EACH ROW EXECUTE FUNCTION webhook_subscriptions_head_active();

CREATE TABLE IF NOT EXISTS api_tokens (
    name TEXT COLLATE "C" PRIMARY KEY,
    digest TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    role TEXT NOT NULL DEFAULT 'reporter' CHECK (role IN ('reporter', 'editor'))
);
"""

CONFIG_DDL = _WEBHOOKS_DDL + CLAIMS_DDL
"""Every configuration table, index, function and trigger (idempotent: IF NOT EXISTS,
OR REPLACE), as one script for a single `execute` inside the migration's transaction."""

CONFIG_TABLES = (
    "webhook_subscriptions",
    "webhook_summaries",
    "webhook_summary_checks",
    "webhook_progress",
    "webhook_deliveries",
    "webhook_queue_heads",
    "webhook_delivery_counts",
    "api_tokens",
    # The claims of liveblog.store.postgres.webhook_claims (CLAIMS_DDL), once it has one.
    *(("webhook_claims",) if "webhook_claims" in CLAIMS_DDL else ()),
)
"""The tables CONFIG_DDL creates (for `verify`, grants and exports)."""


def config_grants(role: str) -> list[str]:
    """What the application's role needs on the configuration tables (README: "Running
    on PostgreSQL"), beside SELECT, INSERT on the log: they are kept, changed and
    pruned, so all four privileges. The identities and trigger functions need nothing
    more (an identity is drawn with the table's INSERT privilege; functions are
    executable by PUBLIC)."""
    tables = ", ".join(CONFIG_TABLES)
    return [f"GRANT SELECT, INSERT, UPDATE, DELETE ON {tables} TO {role}"]


__all__ = ["CONFIG_DDL", "CONFIG_TABLES", "config_grants"]
