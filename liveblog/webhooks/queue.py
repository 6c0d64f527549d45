"""Each subscription's delivery queue, in the table `webhook_deliveries`.

Queues are filled from the log in position order (a summary right after the event that
closed or changed its day) and drained head first: a delivery is sent only when every
earlier one of its subscription is delivered or dead-lettered, which is what keeps each
subscriber's messages in log order. Only a window of messages is queued at a time, so a
subscriber that is down for days does not copy the log into this table.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from ..errors import NotFound, RefusedCommand
from ..store.sqlite.driver import Connection, write_transaction
from .subscriptions import (
    CURSOR,
    SUMMARY_TYPES,
    Subscription,
    _select,
    _subscription,
    all_subscriptions,
    get,
)

WINDOW = 500  # pending deliveries queued ahead per subscription


def _now_text() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class Delivery:
    id: int
    subscription: str
    message_id: str
    type: str
    position: int
    summary: int | None
    status: str
    attempts: int
    next_attempt_at: float
    last_attempt_at: str | None
    last_status: int | None
    last_error: str | None
    created_at: str
    finished_at: str | None

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "subscription": self.subscription,
            "message_id": self.message_id,
            "type": self.type,
            "position": self.position,
            "status": self.status,
            "attempts": self.attempts,
            "next_attempt_at": (
                dt.datetime.fromtimestamp(self.next_attempt_at, dt.UTC).isoformat(
                    timespec="seconds"
                )
                if self.status == "pending"
                else None
            ),
            "last_attempt_at": self.last_attempt_at,
            "last_status": self.last_status,
            "last_error": self.last_error,
            "finished_at": self.finished_at,
        }


_COLUMNS = (
    "id, subscription, message_id, type, position, summary, status, attempts, "
    "next_attempt_at, last_attempt_at, last_status, last_error, created_at, finished_at"
)


def _delivery(row: Any) -> Delivery:
    return Delivery(*row)


def fill(conn: Connection, subscription: Subscription, until: int, now: float) -> int:
    """Queue `subscription`'s messages after its cursor, up to log position `until`,
    keeping at most WINDOW pending. Returns how many were queued. The caller holds the
    write transaction (the cursor moves with the rows).

    A subscription that reaches the deliverer's progress follows it from then on; one
    whose window filled up keeps its own cursor (it is filled again as it drains)."""
    progress = prepared_position(conn)
    if subscription.cursor >= until:
        if subscription.cursor >= progress and not subscription.follows:
            _move(conn, subscription, subscription.cursor, follows=True)
        return 0
    pending = conn.execute(
        "SELECT count(*) FROM webhook_deliveries WHERE subscription = ? AND status = 'pending'",
        (subscription.id,),
    ).fetchone()[0]
    room = WINDOW - pending
    if room <= 0:
        if subscription.follows:
            _move(conn, subscription, subscription.cursor, follows=False)
        return 0
    types = subscription.types
    event_types = [t for t in types if t not in SUMMARY_TYPES]
    wants_summaries = any(t in SUMMARY_TYPES for t in types)
    params: list[Any] = [subscription.cursor, until]
    if subscription.conference is not None:
        # events_by_type: a seek per type into this conference's position range.
        where = "position > ? AND position <= ? AND conference = ?"
        type_column = "type"
        params.append(subscription.conference)
    else:
        # Every conference: the position range itself (an index on type would read every
        # event of those types the log ever had).
        where = "position > ? AND position <= ?"
        type_column = "+type"
    rows: list[tuple[int, str, str, int | None]] = []
    if event_types:
        marks = ", ".join("?" * len(event_types))
        rows = [
            (r[0], "msg_" + r[1], r[2], None)
            for r in conn.execute(
                f"SELECT position, id, type FROM events WHERE {where} "
                f"AND {type_column} IN ({marks}) ORDER BY position LIMIT ?",
                (*params, *event_types, room),
            )
        ]
    # Full window: stop the cursor at the last queued event, so nothing is skipped.
    full = len(rows) == room
    cursor = rows[-1][0] if full else until
    if wants_summaries:
        summaries = conn.execute(
            "SELECT seq, conference, day, position, "
            f"json_extract(body, '$.type') FROM webhook_summaries WHERE {where} ORDER BY seq",
            (subscription.cursor, cursor, *params[2:]),
        ).fetchall()
        summary_types = {t for t in types if t in SUMMARY_TYPES}
        rows += [
            (position, f"msg_summary_{conf}_{day}_{position}", kind, seq)
            for seq, conf, day, position, kind in summaries
            if kind in summary_types
        ]
        # A summary follows the event at its position; sorted() is stable.
        rows.sort(key=lambda r: (r[0], r[3] is not None))
    created = _now_text()
    conn.executemany(
        "INSERT INTO webhook_deliveries (subscription, message_id, type, position, summary, "
        "status, next_attempt_at, created_at) VALUES (?, ?, ?, ?, ?, 'pending', ?, ?)",
        [(subscription.id, mid, kind, pos, seq, now, created) for pos, mid, kind, seq in rows],
    )
    _move(conn, subscription, cursor, follows=not full and cursor >= progress)
    return len(rows)


def _move(conn: Connection, subscription: Subscription, cursor: int, *, follows: bool) -> None:
    conn.execute(
        "UPDATE webhook_subscriptions SET cursor = ?, follows = ? WHERE id = ?",
        (cursor, int(follows), subscription.id),
    )


def prepared_position(conn: Connection) -> int:
    """The log position the deliverer has prepared through (webhook_progress)."""
    row = conn.execute("SELECT position FROM webhook_progress").fetchone()
    return int(row[0]) if row else 0


def fill_all(conn: Connection, until: int, now: float) -> int:
    """Queue every active subscription's new messages, up to log position `until`, and
    move the deliverer's progress there.

    What it reads follows what changed since the progress: the events and summaries
    after it (a range of positions), the followers of the conferences they belong to
    (and those of every conference) whose filters take one of their types, and the
    subscriptions with a cursor of their own (new, re-enabled, moved back, or with a
    full window). A follower none of the new messages is for is not read at all: its
    cursor moves with the progress."""
    with write_transaction(conn):
        progress = prepared_position(conn)
        chosen = _own_cursors(conn)
        if until > progress:
            chosen += _concerned_followers(conn, progress, until)
            conn.execute(
                "INSERT INTO webhook_progress (id, position) VALUES (1, ?) "
                "ON CONFLICT (id) DO UPDATE SET position = max(position, excluded.position)",
                (until,),
            )
        chosen.sort(key=lambda s: s.id)  # a stable order of writes, whatever was chosen
        return sum(fill(conn, s, until, now) for s in chosen)


def _own_cursors(conn: Connection) -> list[Subscription]:
    """Active subscriptions that do not follow the progress (partial index)."""
    return [
        _subscription(r)
        for r in conn.execute(f"{_select(conn)} WHERE status = 'active' AND follows = 0")
    ]


def _concerned_followers(conn: Connection, after: int, until: int) -> list[Subscription]:
    """Followers with a message in (after, until]: a conference of it, or every one,
    and a type of it among their filters (read before the progress moves)."""
    kinds: dict[str, set[str]] = {}
    for conference, kind in conn.execute(
        "SELECT DISTINCT conference, type FROM events WHERE position > ? AND position <= ?",
        (after, until),
    ):
        kinds.setdefault(conference, set()).add(kind)
    for conference, kind in conn.execute(
        "SELECT DISTINCT conference, json_extract(body, '$.type') FROM webhook_summaries "
        "WHERE position > ? AND position <= ?",
        (after, until),
    ):
        kinds.setdefault(conference, set()).add(kind)
    if not kinds:
        return []
    every = set().union(*kinds.values())
    followers = f"{_select(conn)} WHERE status = 'active' AND follows = 1 AND "
    rows = [
        *conn.execute(followers + "conference IS NULL"),
        *conn.execute(
            followers + "conference IN (SELECT value FROM json_each(?))",
            (json.dumps(sorted(kinds)),),
        ),
    ]
    chosen = []
    for row in rows:
        subscription = _subscription(row)
        offered = every if subscription.conference is None else kinds[subscription.conference]
        if not offered.isdisjoint(subscription.types):
            chosen.append(subscription)
    return chosen


def head(conn: Connection, subscription: str) -> Delivery | None:
    """The subscription's oldest pending delivery: the only one that may be sent."""
    row = conn.execute(
        f"SELECT {_COLUMNS} FROM webhook_deliveries WHERE subscription = ? AND status = 'pending' "
        "ORDER BY id LIMIT 1",
        (subscription,),
    ).fetchone()
    return _delivery(row) if row else None


DUE_SQL = "SELECT subscription FROM webhook_queue_heads WHERE active = 1 AND due_at <= ?"


def due_subscriptions(conn: Connection, now: float) -> list[str]:
    """Active subscriptions whose head delivery may be sent now: a range of the index of
    heads by due time (kept by webhook_deliveries' triggers), so a tick reads only the
    heads that are due, never the deliveries or the subscriptions."""
    return [r[0] for r in conn.execute(DUE_SQL, (now,)).fetchall()]


# An attempt's outcome is written only to a delivery still pending: one that
# `redeliver --since` cancelled while the attempt was out stays cancelled.


def record_success(conn: Connection, delivery: Delivery, status: int) -> None:
    stamp = _now_text()
    with write_transaction(conn):
        conn.execute(
            "UPDATE webhook_deliveries SET status = 'delivered', attempts = attempts + 1, "
            "last_attempt_at = ?, last_status = ?, last_error = NULL, finished_at = ? "
            "WHERE id = ? AND status = 'pending'",
            (stamp, status, stamp, delivery.id),
        )


def record_failure(
    conn: Connection,
    delivery: Delivery,
    *,
    status: int | None,
    error: str,
    retry_at: float | None,
) -> None:
    """A failed attempt: retried at `retry_at`, or dead-lettered when it is None."""
    stamp = _now_text()
    with write_transaction(conn):
        if retry_at is None:
            conn.execute(
                "UPDATE webhook_deliveries SET status = 'dead', attempts = attempts + 1, "
                "last_attempt_at = ?, last_status = ?, last_error = ?, finished_at = ? "
                "WHERE id = ? AND status = 'pending'",
                (stamp, status, error, stamp, delivery.id),
            )
        else:
            conn.execute(
                "UPDATE webhook_deliveries SET attempts = attempts + 1, next_attempt_at = ?, "
                "last_attempt_at = ?, last_status = ?, last_error = ? "
                "WHERE id = ? AND status = 'pending'",
                (retry_at, stamp, status, error, delivery.id),
            )


def record_gone(conn: Connection, delivery: Delivery, status: int, reason: str) -> None:
    """410 Gone: the subscription is disabled; its queue waits for `webhook enable`."""
    stamp = _now_text()
    with write_transaction(conn):
        conn.execute(
            "UPDATE webhook_deliveries SET attempts = attempts + 1, last_attempt_at = ?, "
            "last_status = ?, last_error = ? WHERE id = ? AND status = 'pending'",
            (stamp, status, reason, delivery.id),
        )
        conn.execute(
            "UPDATE webhook_subscriptions SET status = 'disabled', status_reason = ? WHERE id = ?",
            (f"{reason} at {stamp}", delivery.subscription),
        )


def listing(
    conn: Connection,
    subscription: str | None = None,
    *,
    status: str | None = None,
    limit: int = 50,
) -> list[Delivery]:
    """The newest deliveries (of one subscription, in one status), newest first."""
    where, params = [], []
    if subscription is not None:
        where.append("subscription = ?")
        params.append(get(conn, subscription).id)
    if status is not None:
        where.append("status = ?")
        params.append(status)
    sql = f"SELECT {_COLUMNS} FROM webhook_deliveries"
    if where:
        sql += " WHERE " + " AND ".join(where)
    rows = conn.execute(f"{sql} ORDER BY id DESC LIMIT ?", (*params, limit)).fetchall()
    return [_delivery(r) for r in rows]


def backlog(conn: Connection) -> dict[str, int]:
    """Deliveries by status (for `status`): the counts the triggers keep, four rows."""
    from ..store.sqlite.schema import has_queue_state

    sql = (
        "SELECT status, deliveries FROM webhook_delivery_counts"
        if has_queue_state(conn)
        # A read-only log from an older release: counted.
        else "SELECT status, count(*) FROM webhook_deliveries GROUP BY status"
    )
    counts: dict[str, int] = dict(conn.execute(sql).fetchall())
    return {s: int(counts.get(s, 0)) for s in ("pending", "delivered", "dead", "cancelled")}


def verify_queue_state(conn: Connection) -> tuple[bool, str]:
    """For `liveblog verify`: whether the kept heads and counts say what the deliveries
    say (one pass over the delivery history), in one line."""
    from ..store.sqlite.schema import has_queue_state

    tables = {
        r[0]
        for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE name IN "
            "('webhook_deliveries', 'webhook_queue_heads', 'webhook_delivery_counts')"
        )
    }
    if "webhook_deliveries" not in tables:
        return True, "webhook queues: no deliveries"
    if not has_queue_state(conn) or len(tables) < 3:
        return True, "webhook queues: heads and counts not kept yet (the next writer does)"
    kept = backlog(conn)
    counted: dict[str, int] = dict(
        conn.execute("SELECT status, count(*) FROM webhook_deliveries GROUP BY status").fetchall()
    )
    heads = conn.execute(
        "SELECT subscription, delivery, due_at, active FROM webhook_queue_heads "
        "ORDER BY subscription"
    ).fetchall()
    derived = conn.execute(
        "SELECT d.subscription, d.id, d.next_attempt_at, s.status = 'active' "
        "FROM (SELECT subscription, min(id) AS id FROM webhook_deliveries "
        "      WHERE status = 'pending' GROUP BY subscription) AS h "
        "JOIN webhook_deliveries AS d ON d.id = h.id "
        "JOIN webhook_subscriptions AS s ON s.id = d.subscription ORDER BY d.subscription"
    ).fetchall()
    wrong = [s for s in kept if kept[s] != int(counted.get(s, 0))]
    if wrong or heads != derived:
        what = ", ".join(f"{s} {kept[s]} kept, {counted.get(s, 0)} counted" for s in wrong)
        if heads != derived:
            what = ", ".join(filter(None, [what, "queue heads differ"]))
        return False, f"webhook queues: {what}; run `liveblog rebuild` (it derives them again)"
    total = sum(kept.values())
    return True, f"webhook queues: heads and counts match the {total} deliveries"


def redeliver_one(conn: Connection, delivery_id: int, now: float) -> Delivery:
    """Queue delivery `delivery_id` again, as a new delivery at the end of its queue
    (same message id, so a receiver that got it already can tell)."""
    with write_transaction(conn):
        row = conn.execute(
            f"SELECT {_COLUMNS} FROM webhook_deliveries WHERE id = ?", (delivery_id,)
        ).fetchone()
        if row is None:
            raise NotFound(f"no delivery {delivery_id} (see `liveblog webhook deliveries`)")
        old = _delivery(row)
        if old.status == "pending":
            raise RefusedCommand(f"delivery {delivery_id} is still pending: it will be sent")
        _active(conn, old.subscription)
        cursor = conn.execute(
            "INSERT INTO webhook_deliveries (subscription, message_id, type, position, summary, "
            "status, next_attempt_at, created_at) VALUES (?, ?, ?, ?, ?, 'pending', ?, ?)",
            (
                old.subscription,
                old.message_id,
                old.type,
                old.position,
                old.summary,
                now,
                _now_text(),
            ),
        )
        new_id = cursor.lastrowid
        row = conn.execute(
            f"SELECT {_COLUMNS} FROM webhook_deliveries WHERE id = ?", (new_id,)
        ).fetchone()
    return _delivery(row)


def redeliver_since(
    conn: Connection, position: int, subscription: str | None = None
) -> list[Subscription]:
    """Send every message after log `position` again: each chosen subscription's cursor
    moves back to `position` and its pending deliveries past it are cancelled (they
    are queued again, in order, with everything else)."""
    with write_transaction(conn):
        chosen = (
            [get(conn, subscription)]
            if subscription is not None
            else all_subscriptions(conn, active_only=True)
        )
        for sub in chosen:
            _active(conn, sub.id)
            conn.execute(
                "UPDATE webhook_deliveries SET status = 'cancelled', finished_at = ? "
                "WHERE subscription = ? AND status = 'pending' AND position > ?",
                (_now_text(), sub.id, position),
            )
            conn.execute(
                f"UPDATE webhook_subscriptions SET cursor = min({CURSOR}, ?), follows = 0 "
                "WHERE id = ?",
                (position, sub.id),
            )
    return chosen


def _active(conn: Connection, subscription: str) -> None:
    sub = get(conn, subscription)
    if sub.status != "active":
        raise RefusedCommand(
            f"webhook {sub.id} is disabled ({sub.status_reason or 'by hand'}): "
            f"run `liveblog webhook enable {sub.id}` first"
        )
