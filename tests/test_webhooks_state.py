"""What the deliverer keeps so that its work follows what changed (schema m005).

A subscription that keeps up follows the deliverer's progress instead of having its
cursor written on every change; the queue heads and the counts by status are kept by
webhook_deliveries' triggers; summaries are looked for only in the days changed since
the progress. None of it may change what a subscriber receives: the same messages, in
log order, at least once; nor what `status` says.
"""

from __future__ import annotations

import json
import random
import sqlite3 as stdlib_sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from receivers import BackgroundDeliverer, Receiver, deliveries, query, settled, wait_for
from test_hardening_store import public_copy
from test_hardening_store import reader as reader  # a fixture
from test_hardening_store import run as run_readonly

from liveblog.store.sqlite.driver import write_transaction
from liveblog.store.sqlite.log import EventLog
from liveblog.store.sqlite.schema import LATEST, QUEUE_DDL, _split
from liveblog.store.sqlite.webhooks import SqliteWebhookStore
from liveblog.webhooks import DeliveryOptions, RetryPolicy, parse_schedule
from liveblog.webhooks import queue as webhook_queue
from liveblog.webhooks import subscriptions as webhook_subscriptions

Invoke = Callable[..., Result]
FAST = DeliveryOptions(retry=RetryPolicy(parse_schedule("50ms,50ms,50ms,50ms")), timeout=5.0)

# The due query of the release before m005: the heads derived from the deliveries.
OLD_DUE_SQL = (
    "SELECT d.subscription FROM webhook_deliveries AS d "
    "JOIN (SELECT subscription, min(id) AS id FROM webhook_deliveries "
    "      WHERE status = 'pending' GROUP BY subscription) AS h ON h.id = d.id "
    "JOIN webhook_subscriptions AS s ON s.id = d.subscription AND s.status = 'active' "
    "WHERE d.next_attempt_at <= ?"
)


def ok(result: Result) -> list[str]:
    assert result.exit_code == 0, result.output
    return result.stdout.split("\n")[:-1] if result.stdout else []


def subscribe(invoke: Invoke, url: str, *args: str) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(
        ok(invoke("webhook", "add", url, "--allow-private", "--json", *args))[0]
    )
    return found


def positions(invoke: Invoke, *args: str) -> list[int]:
    return [int(line.split()[0][1:]) for line in ok(invoke(*args))]


def listed(invoke: Invoke) -> dict[str, dict[str, Any]]:
    return {s["id"]: s for s in map(json.loads, ok(invoke("webhook", "list", "--json")))}


def status(invoke: Invoke) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(ok(invoke("status", "--json"))[0])["webhooks"]
    return found


def recounted(conn: Any) -> dict[str, int]:
    counts = dict(
        conn.execute("SELECT status, count(*) FROM webhook_deliveries GROUP BY status").fetchall()
    )
    return {s: int(counts.get(s, 0)) for s in ("pending", "delivered", "dead", "cancelled")}


def assert_kept_state_is_derived(conn: Any, now: float) -> None:
    """The heads, the counts and the due query equal what the deliveries say."""
    kept_counts = {k: v for k, v in webhook_queue.backlog(SqliteWebhookStore(conn)).items()}
    assert kept_counts == recounted(conn)
    heads = conn.execute(
        "SELECT subscription, delivery, due_at, active FROM webhook_queue_heads "
        "ORDER BY subscription"
    ).fetchall()
    derived = conn.execute(
        "SELECT d.subscription, d.id, d.next_attempt_at, s.status = 'active' "
        "FROM webhook_deliveries AS d JOIN webhook_subscriptions AS s ON s.id = d.subscription "
        "WHERE d.id IN (SELECT min(id) FROM webhook_deliveries WHERE status = 'pending' "
        "GROUP BY subscription) ORDER BY d.subscription"
    ).fetchall()
    assert heads == derived
    for moment in (0.0, now, now + 3600):
        due = sorted(webhook_queue.due_subscriptions(SqliteWebhookStore(conn), moment))
        assert due == sorted(r[0] for r in conn.execute(OLD_DUE_SQL, (moment,)))


# -- the heads and counts the triggers keep -----------------------------------------


def test_the_kept_heads_and_counts_equal_the_deliveries_through_any_history(
    invoke: Invoke, db_path: Path, day_open: None
) -> None:
    """Queueing, success, retries, dead letters, 410s, redelivery of one and since a
    position, disable / enable and removal, in a seeded random order: after every step
    the heads, the counts and the due subscriptions are what the deliveries say."""
    urls = [f"http://127.0.0.1:9/hook{i}" for i in range(4)]
    for url in urls:
        subscribe(invoke, url, "--since", "0")
    for i in range(12):
        ok(invoke("note", f"note {i}"))
    rng = random.Random(11)
    now = 1_000_000.0
    with EventLog(db_path) as log:
        conn = log.conn
        hooks = SqliteWebhookStore(conn)
        head = log.head()
        with write_transaction(conn):
            webhook_queue.fill_all(hooks, head, now)
        assert_kept_state_is_derived(conn, now)
        for _ in range(300):
            now += 1
            alive = [s for s in webhook_subscriptions.all_subscriptions(hooks)]
            if not alive:
                break
            sub = rng.choice(alive)
            action = rng.random()
            first = webhook_queue.head(hooks, sub.id)
            if action < 0.35 and first is not None:
                webhook_queue.record_success(hooks, first, 200)
            elif action < 0.55 and first is not None:
                retry = None if rng.random() < 0.3 else now + rng.choice([-5, 5, 60])
                webhook_queue.record_failure(hooks, first, status=500, error="no", retry_at=retry)
            elif action < 0.6 and first is not None and sub.status == "active":
                webhook_queue.record_gone(hooks, first, 410, "gone")
            elif action < 0.7:
                finished = [
                    d
                    for d in webhook_queue.listing(hooks, sub.id, limit=500)
                    if d.status != "pending"
                ]
                if finished and sub.status == "active":
                    webhook_queue.redeliver_one(hooks, rng.choice(finished).id, now)
            elif action < 0.75 and sub.status == "active":
                webhook_queue.redeliver_since(hooks, rng.randrange(head), sub.id)
            elif action < 0.85:
                state = "disabled" if sub.status == "active" else "active"
                webhook_subscriptions.set_status(hooks, sub.id, state, "by the test")
            elif action < 0.87 and len(alive) > 1:
                webhook_subscriptions.remove(hooks, sub.id)
            else:
                with write_transaction(conn):
                    webhook_queue.fill_all(hooks, head, now)
            assert_kept_state_is_derived(conn, now)


def test_status_counts_stay_right_across_deliveries_retries_dead_letters_and_redeliveries(
    invoke: Invoke, db_path: Path, day_open: None
) -> None:
    with Receiver() as receiver:
        receiver.script(500, 500, 500, 500, 500)  # the first message is dead-lettered
        subscribe(invoke, receiver.url)
        for i in range(4):
            ok(invoke("note", f"note {i}"))
        with BackgroundDeliverer(db_path, FAST):
            wait_for(lambda: settled(db_path), what="every message delivered or dead")
        counts = status(invoke)
        assert (counts["delivered"], counts["dead"], counts["pending"]) == (3, 1, 0)
        dead = next(d for d in deliveries(db_path) if d["status"] == "dead")
        ok(invoke("webhook", "redeliver", str(dead["id"])))
        assert status(invoke)["pending"] == 1
        ok(invoke("webhook", "redeliver", "--since", "0"))
        with BackgroundDeliverer(db_path, FAST):
            wait_for(lambda: settled(db_path), what="the redeliveries")
    counts = status(invoke)
    with EventLog(db_path) as log:
        kept = {k: counts[k] for k in ("pending", "delivered", "dead", "cancelled")}
        assert kept == recounted(log.conn)
        head = log.head()
    # The redelivered dead letter was cancelled by `--since 0`, which queued the whole
    # log again: every event delivered once more.
    assert (counts["dead"], counts["cancelled"], counts["pending"]) == (1, 1, 0)
    assert (counts["delivered"], counts["unqueued"]) == (3 + head, 0)


# -- followers -------------------------------------------------------------------------


def open_conference(invoke: Invoke, slug: str) -> None:
    ok(invoke("conference", "open", slug, "--title", slug.title(), "--at", "2011-06-09T08:00"))
    ok(invoke("day", "open", "1", "--conference", slug, "--at", "08:05"))


def test_a_change_in_one_conference_writes_nothing_for_another_conferences_subscriber(
    invoke: Invoke, db_path: Path, day_open: None
) -> None:
    open_conference(invoke, "other-2011")
    with Receiver() as here, Receiver() as there:
        mine = subscribe(invoke, here.url, "--conference", "socitm-2011")["id"]
        theirs = subscribe(invoke, there.url, "--conference", "other-2011")["id"]
        with BackgroundDeliverer(db_path, FAST):
            first = positions(invoke, "note", "here, first", "--conference", "socitm-2011")
            wait_for(lambda: len(here.accepted) == 1 and settled(db_path))
            row = query(db_path, "SELECT * FROM webhook_subscriptions WHERE id = ?", (theirs,))
            more = [
                p
                for i in range(3)
                for p in positions(invoke, "note", f"here {i}", "--conference", "socitm-2011")
            ]
            wait_for(lambda: len(here.accepted) == 4 and settled(db_path))
            # The other conference's subscriber: its row not even written, yet its
            # cursor is at the head with the others' (nothing of it left to queue).
            after = query(db_path, "SELECT * FROM webhook_subscriptions WHERE id = ?", (theirs,))
            assert after == row
            cursors = {k: v["cursor"] for k, v in listed(invoke).items()}
            assert cursors == {mine: more[-1], theirs: more[-1]}
            assert status(invoke)["unqueued"] == 0
            elsewhere = positions(invoke, "note", "there", "--conference", "other-2011")
            wait_for(lambda: len(there.accepted) == 1 and settled(db_path))
    assert [r.json["data"]["position"] for r in here.accepted] == [*first, *more]
    assert [r.json["data"]["position"] for r in there.accepted] == elsewhere


def test_a_type_filter_leaves_a_follower_alone_until_its_type_comes(
    invoke: Invoke, db_path: Path, day_open: None
) -> None:
    with Receiver() as quotes:
        sub = subscribe(invoke, quotes.url, "--event", "quote.*")["id"]
        with BackgroundDeliverer(db_path, FAST):
            positions(invoke, "note", "settle")
            wait_for(lambda: settled(db_path))
            before = query(db_path, "SELECT cursor FROM webhook_subscriptions WHERE id = ?", (sub,))
            for i in range(3):
                positions(invoke, "note", f"not a quote {i}")
            wait_for(
                lambda: (
                    listed(invoke)[sub]["cursor"]
                    == int(query(db_path, "SELECT max(position) FROM events")[0][0])
                )
            )
            assert (
                query(db_path, "SELECT cursor FROM webhook_subscriptions WHERE id = ?", (sub,))
                == before
            )
            quoted = positions(invoke, "quote", "at last", "--speaker", "Jo")
            wait_for(lambda: len(quotes.accepted) == 1 and settled(db_path))
    assert [r.json["data"]["position"] for r in quotes.accepted] == quoted


def test_a_follower_disabled_meanwhile_gets_what_it_missed_after_enable(
    invoke: Invoke, db_path: Path, day_open: None
) -> None:
    with Receiver() as paused, Receiver() as other:
        sub = subscribe(invoke, paused.url)["id"]
        subscribe(invoke, other.url)  # keeps the deliverer's progress moving
        with BackgroundDeliverer(db_path, FAST):
            before = positions(invoke, "note", "before")
            wait_for(lambda: len(paused.accepted) == 1 and settled(db_path))
            ok(invoke("webhook", "disable", sub))
            missed = [p for i in range(3) for p in positions(invoke, "note", f"missed {i}")]
            wait_for(lambda: len(other.accepted) == 4 and settled(db_path))
            assert listed(invoke)[sub]["cursor"] == before[-1]
            ok(invoke("webhook", "enable", sub))
            after = positions(invoke, "note", "after")
            wait_for(lambda: len(paused.accepted) == 5 and settled(db_path))
    assert [r.json["data"]["position"] for r in paused.accepted] == [*before, *missed, *after]


def test_a_follower_whose_window_fills_leaves_no_gap(
    invoke: Invoke, db_path: Path, day_open: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(webhook_queue, "WINDOW", 3)
    with Receiver() as receiver:
        subscribe(invoke, receiver.url)
        with BackgroundDeliverer(db_path, FAST):
            first = positions(invoke, "note", "first")
            wait_for(lambda: len(receiver.accepted) == 1 and settled(db_path))
            receiver.script(503, 503, 503)  # it falls behind while a burst arrives
            text = "\n".join(json.dumps(e) for e in burst(invoke, 9))
            ok(invoke("import", "-", input=text))
            wait_for(lambda: len(receiver.accepted) == 10 and settled(db_path))
    got = [r.json["data"]["position"] for r in receiver.accepted]
    assert got == [*first, *range(first[-1] + 1, first[-1] + 10)]


def burst(invoke: Invoke, count: int) -> list[dict[str, Any]]:
    """`count` notes in socitm-2011's day 2, as an import file (one batch)."""
    import uuid

    return [
        {
            "id": uuid.uuid4().hex,
            "type": "note.posted",
            "conference": "socitm-2011",
            "occurred_at": "2011-06-09T10:00:00+01:00",
            "author": "ann",
            "schema_version": 1,
            "data": {"day": 2, "text": f"burst {i}"},
        }
        for i in range(count)
    ]


# -- summaries ---------------------------------------------------------------------------


def test_summaries_for_every_day_an_import_changed_and_for_an_old_day_corrected_later(
    invoke: Invoke, db_path: Path, tmp_path: Path, day_open: None
) -> None:
    source = tmp_path / "source.db"
    invoke_source = source_invoker(source)
    for slug in ("alpha-2011", "beta-2011", "gamma-2011"):
        open_conference(invoke_source, slug)
        ok(invoke_source("note", f"said at {slug}", "--conference", slug))
        ok(invoke_source("day", "close", "--conference", slug, "--at", "2011-06-09T17:00"))
    exported = ok(invoke_source("export"))
    with Receiver() as receiver:
        subscribe(invoke, receiver.url, "--event", "summary.*")
        with BackgroundDeliverer(db_path, FAST):
            positions(invoke, "note", "the deliverer moves on")
            ok(invoke("day", "close", "--at", "2011-06-09T17:30"))
            wait_for(lambda: len(receiver.accepted) == 1 and settled(db_path))
            ok(invoke("import", "-", input="\n".join(exported) + "\n"))
            wait_for(lambda: len(receiver.accepted) == 4 and settled(db_path))
            # Much later, day 2 of socitm-2011 (closed before the import) is corrected.
            target = json.loads(ok(invoke("export"))[2])["id"]
            ok(invoke("correct", target, "the deliverer moved on"))
            wait_for(lambda: len(receiver.accepted) == 5 and settled(db_path))
    got = [(m["type"], m["data"]["conference"]) for m in receiver.accepted_json()]
    assert got == [
        ("summary.published", "socitm-2011"),
        ("summary.published", "alpha-2011"),
        ("summary.published", "beta-2011"),
        ("summary.published", "gamma-2011"),
        ("summary.updated", "socitm-2011"),
    ]
    assert "the deliverer moved on" in receiver.accepted_json()[-1]["data"]["markdown"]


def source_invoker(source: Path) -> Invoke:
    from click.testing import CliRunner

    from liveblog.cli.main import cli

    runner = CliRunner()

    def run(*args: str, author: str = "bob", input: str | None = None) -> Result:
        return runner.invoke(
            cli,
            ["--db", str(source), "--author", author, *args],
            input=input,
            catch_exceptions=False,
        )

    return run


def test_several_changes_of_a_checked_day_each_get_their_summary(
    invoke: Invoke, db_path: Path, day_open: None
) -> None:
    """A day checked once, then changed twice with another event of its conference in
    between, all before the deliverer looks again: a version for each change."""
    with Receiver() as receiver:
        subscribe(invoke, receiver.url, "--event", "summary.*")
        [quote] = positions(invoke, "quote", "Share services", "--speaker", "Andy Burns")
        ok(invoke("day", "close", "--at", "2011-06-09T17:30"))
        with BackgroundDeliverer(db_path, FAST):
            wait_for(lambda: len(receiver.accepted) == 1 and settled(db_path))
        quote_id = json.loads(ok(invoke("export"))[quote - 1])["id"]
        ok(invoke("correct", quote_id, "Share all services"))
        ok(invoke("day", "open", "3", "--at", "2011-06-10T09:00"))
        ok(invoke("note", "day three"))
        ok(invoke("correct", quote_id, "Share every service"))
        with BackgroundDeliverer(db_path, FAST):
            wait_for(lambda: len(receiver.accepted) == 3 and settled(db_path))
    markdowns = [m["data"]["markdown"] for m in receiver.accepted_json()]
    assert [m["data"]["version"] for m in receiver.accepted_json()] == [1, 2, 3]
    assert "Share services" in markdowns[0]
    assert "Share all services" in markdowns[1]
    assert "Share every service" in markdowns[2]


# -- an upgrade from before m005 ----------------------------------------------------------


def downgrade_to_before_queue_state(db_path: Path) -> None:
    """events.db as the release before m005 left it."""
    conn = stdlib_sqlite3.connect(str(db_path), isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        for statement in _split(QUEUE_DDL):
            words = statement.split()
            conn.execute(f"DROP {words[1]} IF EXISTS {words[5]}")
        conn.execute("ALTER TABLE webhook_subscriptions DROP COLUMN follows")
        conn.execute("DELETE FROM _sqlite_migrations WHERE name = 'm005_webhook_queue_state'")
        conn.execute(f"PRAGMA user_version = {LATEST - 1}")
        conn.execute("COMMIT")
    finally:
        conn.close()


def test_an_older_log_is_read_as_it_is_and_upgraded_by_the_next_writer(
    invoke: Invoke, db_path: Path, day_open: None, reader: Callable[[Path], list[str]]
) -> None:
    with Receiver() as receiver:
        receiver.script(500)
        subscribe(invoke, receiver.url)
        appended = [p for i in range(3) for p in positions(invoke, "note", f"note {i}")]
        once = invoke("run", "--once", "--no-feeds", "--retry-schedule", "1h")
        assert once.exit_code == 0, once.output
        before = status(invoke)
        assert (before["pending"], before["delivered"], before["unqueued"]) == (3, 0, 0)
        downgrade_to_before_queue_state(db_path)

        # A reader that cannot write sees the same status, from the tables of before.
        copy = public_copy(db_path)
        done = run_readonly(copy, "status", "--json", prefix=reader(copy))
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["webhooks"] == before
        assert query(copy, "PRAGMA user_version")[0][0] == LATEST - 1

        # The next writer upgrades it: heads and counts filled from the deliveries.
        assert status(invoke) == before
        assert query(db_path, "PRAGMA user_version")[0][0] == LATEST
        with EventLog(db_path) as log:
            assert_kept_state_is_derived(log.conn, 0.0)
            log.conn.execute("UPDATE webhook_deliveries SET next_attempt_at = 0")  # due now
        with BackgroundDeliverer(db_path, FAST):
            wait_for(lambda: settled(db_path), what="the pending head, then the rest")
    assert [r.json["data"]["position"] for r in receiver.accepted] == appended
    assert status(invoke)["delivered"] == 3


def test_verify_checks_the_kept_state_and_rebuild_derives_it_again(
    invoke: Invoke, db_path: Path, day_open: None
) -> None:
    with Receiver() as receiver:
        subscribe(invoke, receiver.url)
        for i in range(3):
            ok(invoke("note", f"note {i}"))
        once = invoke("run", "--once", "--no-feeds")
        assert once.exit_code == 0, once.output
    assert "ok: webhook queues: heads and counts match the 3 deliveries" in ok(invoke("verify"))
    conn = stdlib_sqlite3.connect(str(db_path), isolation_level=None)
    try:  # another program writes where it should not
        conn.execute("UPDATE webhook_delivery_counts SET deliveries = 7 WHERE status = 'dead'")
        conn.execute("INSERT INTO webhook_queue_heads VALUES ('wh_gone', 1, 0, 1)")
    finally:
        conn.close()
    found = invoke("verify")
    assert found.exit_code == 1
    [problem] = [line for line in found.stdout.splitlines() if line.startswith("problem:")]
    assert problem == (
        "problem: webhook queues: dead 7 kept, 0 counted, queue heads differ; "
        "run `liveblog rebuild` (it derives them again)"
    )
    ok(invoke("rebuild"))
    assert all(line.startswith("ok: ") for line in ok(invoke("verify")))
    assert status(invoke)["dead"] == 0
