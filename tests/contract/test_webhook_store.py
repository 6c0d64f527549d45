"""The webhook store's contract (liveblog.store.webhooks), written once against the
protocol: a second backend is one more subclass of WebhookStoreContract giving its
`backend` fixture. SQLite-only behaviour (triggers, pragmas, query plans) is tested in
tests/test_webhooks*.py."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import pytest

from liveblog.domain.events import EventData
from liveblog.store.eventstore import EventStore
from liveblog.store.webhooks import WebhookStore
from liveblog.webhooks.model import DELIVERY_STATUSES, Message, NewSubscription


class Reporter(Protocol):
    """What the contract posts events with (the reporting facade of the same store)."""

    def open_conference(self, slug: str, *, title: str) -> object: ...
    def open_day(self, number: int) -> object: ...
    def note(self, text: str) -> object: ...
    def close_day(self) -> object: ...


@dataclass
class Backend:
    hooks: WebhookStore
    reporter: Reporter
    catch_up: Callable[[], object]  # brings the timeline (days) up to the log's head


def new(
    id_: str,
    *,
    conference: str | None = None,
    cursor: int = 0,
    created_at: str = "2026-01-01T00:00:00+00:00",
    events: tuple[str, ...] = (),
    sealed: str = "sealed-secret",
) -> NewSubscription:
    return NewSubscription(
        id=id_,
        url=f"https://receiver.example/{id_}",
        events=events,
        conference=conference,
        sealed_secret=sealed,
        allow_private=False,
        cursor=cursor,
        created_at=created_at,
    )


def messages(*positions: int) -> list[Message]:
    return [Message(p, f"msg_{p}", "note.posted") for p in positions]


class WebhookStoreContract:
    @pytest.fixture
    def backend(self, tmp_path: Path) -> Iterator[Backend]:
        raise NotImplementedError("a backend's subclass gives its store")

    # -- subscriptions ---------------------------------------------------------------

    def test_subscriptions_are_listed_by_creation_then_id(self, backend: Backend) -> None:
        hooks = backend.hooks
        hooks.insert_subscription(new("wh_b", created_at="2026-01-01T00:00:01+00:00"))
        hooks.insert_subscription(new("wh_c", created_at="2026-01-01T00:00:00+00:00"))
        hooks.insert_subscription(new("wh_a", created_at="2026-01-01T00:00:01+00:00"))
        assert [s.id for s in hooks.subscriptions()] == ["wh_c", "wh_a", "wh_b"]
        stored = hooks.subscription("wh_a")
        assert stored is not None
        assert (stored.status, stored.status_reason, stored.cursor) == ("active", None, 0)
        assert stored.url == "https://receiver.example/wh_a" and stored.events == ()
        assert hooks.subscription("wh_") is None

    def test_ids_are_found_by_prefix_in_id_order(self, backend: Backend) -> None:
        for id_ in ("wh_aa2", "wh_aa1", "wh_ab", "wh_b"):
            backend.hooks.insert_subscription(new(id_))
        assert [s.id for s in backend.hooks.subscriptions_starting("wh_a", 5)] == [
            "wh_aa1",
            "wh_aa2",
            "wh_ab",
        ]
        assert [s.id for s in backend.hooks.subscriptions_starting("wh_a", 2)] == [
            "wh_aa1",
            "wh_aa2",
        ]
        assert backend.hooks.subscriptions_starting("wh_c", 5) == []

    def test_filters_and_conference_are_kept(self, backend: Backend) -> None:
        backend.hooks.insert_subscription(
            new("wh_f", conference="socitm-2011", events=("quote.*", "day.closed"))
        )
        stored = backend.hooks.subscription("wh_f")
        assert stored is not None
        assert stored.events == ("quote.*", "day.closed")
        assert stored.conference == "socitm-2011"

    def test_status_changes_and_totals(self, backend: Backend) -> None:
        hooks = backend.hooks
        assert not hooks.any_active()
        assert hooks.totals(10) == {"subscriptions": 0, "active": 0, "unqueued": 0}
        hooks.insert_subscription(new("wh_a", cursor=4))
        hooks.insert_subscription(new("wh_b", cursor=7))
        assert hooks.any_active()
        assert hooks.totals(10) == {"subscriptions": 2, "active": 2, "unqueued": 9}
        hooks.set_status("wh_a", "disabled", "by the test")
        off = hooks.subscription("wh_a")
        assert off is not None and (off.status, off.status_reason) == ("disabled", "by the test")
        assert [s.id for s in hooks.subscriptions(active_only=True)] == ["wh_b"]
        assert hooks.totals(10) == {"subscriptions": 2, "active": 1, "unqueued": 3}
        hooks.set_status("wh_a", "active", None)
        assert len(hooks.subscriptions(active_only=True)) == 2

    def test_secrets_come_back_as_stored_and_reseal_replaces_them(self, backend: Backend) -> None:
        hooks = backend.hooks
        hooks.insert_subscription(new("wh_b", sealed="lbs1.key.ciphertext=="))
        hooks.insert_subscription(new("wh_a", sealed="whsec_clear"))
        assert hooks.sealed_secrets() == [
            ("wh_a", "whsec_clear"),
            ("wh_b", "lbs1.key.ciphertext=="),
        ]
        hooks.reseal([("wh_a", "lbs1.key.other==")])
        assert hooks.sealed_secrets() == [
            ("wh_a", "lbs1.key.other=="),
            ("wh_b", "lbs1.key.ciphertext=="),
        ]
        stored = hooks.subscription("wh_a")
        assert stored is not None and stored.sealed_secret == "lbs1.key.other=="

    def test_a_unit_of_work_rolls_back_every_write(self, backend: Backend) -> None:
        hooks = backend.hooks
        with pytest.raises(RuntimeError), hooks.writing():
            hooks.insert_subscription(new("wh_a"))
            with hooks.writing():  # re-entrant: joins the open one
                hooks.enqueue("wh_a", messages(1), 0.0, "now")
            raise RuntimeError("after the writes")
        assert hooks.subscriptions() == []
        assert hooks.counts()["pending"] == 0
        with hooks.writing():
            hooks.insert_subscription(new("wh_a"))
        assert [s.id for s in hooks.subscriptions()] == ["wh_a"]

    def test_removing_forgets_the_history(self, backend: Backend) -> None:
        hooks = backend.hooks
        hooks.insert_subscription(new("wh_a"))
        hooks.insert_subscription(new("wh_b"))
        hooks.enqueue("wh_a", messages(1, 2), 0.0, "now")
        hooks.enqueue("wh_b", messages(1), 0.0, "now")
        hooks.delete_subscription("wh_a")
        assert [s.id for s in hooks.subscriptions()] == ["wh_b"]
        assert [d.subscription for d in hooks.deliveries(None, None, 10)] == ["wh_b"]
        assert hooks.counts()["pending"] == 1
        assert hooks.due(1.0) == ["wh_b"]
        assert hooks.queue_state().heads_match

    def test_keeps_subscriptions(self, backend: Backend) -> None:
        assert backend.hooks.keeps_subscriptions()

    # -- the progress and followers ---------------------------------------------------

    def test_a_followers_cursor_moves_with_the_progress(self, backend: Backend) -> None:
        hooks = backend.hooks
        assert hooks.progress() == 0
        hooks.insert_subscription(new("wh_own", cursor=2))
        hooks.insert_subscription(new("wh_f", cursor=2))
        hooks.move_cursor("wh_f", 3, follows=True)
        hooks.advance_progress(9)
        hooks.advance_progress(5)  # never backwards
        assert hooks.progress() == 9
        follower, own = hooks.subscription("wh_f"), hooks.subscription("wh_own")
        assert follower is not None and (follower.cursor, follower.follows) == (9, True)
        assert own is not None and (own.cursor, own.follows) == (2, False)
        assert [s.id for s in hooks.own_cursors()] == ["wh_own"]
        assert [s.id for s in hooks.followers([])] == ["wh_f"]

    def test_a_disabled_follower_stops_following_where_it_stood(self, backend: Backend) -> None:
        hooks = backend.hooks
        hooks.insert_subscription(new("wh_f"))
        hooks.move_cursor("wh_f", 0, follows=True)
        hooks.advance_progress(6)
        hooks.set_status("wh_f", "disabled", "by hand")
        hooks.advance_progress(12)
        stopped = hooks.subscription("wh_f")
        assert stopped is not None and (stopped.cursor, stopped.follows) == (6, False)

    def test_followers_by_conference(self, backend: Backend) -> None:
        hooks = backend.hooks
        hooks.insert_subscription(new("wh_every"))
        hooks.insert_subscription(new("wh_one", conference="one"))
        hooks.insert_subscription(new("wh_two", conference="two"))
        for id_ in ("wh_every", "wh_one", "wh_two"):
            hooks.move_cursor(id_, 0, follows=True)
        assert sorted(s.id for s in hooks.followers(["one"])) == ["wh_every", "wh_one"]
        assert sorted(s.id for s in hooks.followers(["one", "two"])) == [
            "wh_every",
            "wh_one",
            "wh_two",
        ]
        assert hooks.own_cursors() == []

    def test_rewind_moves_a_cursor_back_never_forward(self, backend: Backend) -> None:
        hooks = backend.hooks
        hooks.insert_subscription(new("wh_a", cursor=8))
        hooks.rewind("wh_a", 3)
        hooks.rewind("wh_a", 5)
        rewound = hooks.subscription("wh_a")
        assert rewound is not None and (rewound.cursor, rewound.follows) == (3, False)

    # -- the queue -------------------------------------------------------------------

    def test_the_head_is_the_oldest_pending_and_ids_grow(self, backend: Backend) -> None:
        hooks = backend.hooks
        hooks.insert_subscription(new("wh_a"))
        hooks.enqueue("wh_a", messages(1, 2), 5.0, "then")
        hooks.enqueue("wh_a", messages(3), 5.0, "then")
        queued = hooks.deliveries("wh_a", None, 10)
        ids = [d.id for d in queued]
        assert ids == sorted(ids, reverse=True)  # newest first
        assert [d.position for d in queued] == [3, 2, 1]
        head = hooks.head("wh_a")
        assert head is not None and (head.position, head.status, head.attempts) == (1, "pending", 0)
        assert (head.message_id, head.type, head.summary, head.created_at) == (
            "msg_1",
            "note.posted",
            None,
            "then",
        )
        assert hooks.pending_count("wh_a") == 3
        assert hooks.due(4.9) == [] and hooks.due(5.0) == ["wh_a"]
        hooks.record_delivered(head.id, 200, "stamp")
        delivered = hooks.delivery(head.id)
        assert delivered is not None
        assert (delivered.status, delivered.attempts, delivered.last_status) == (
            "delivered",
            1,
            200,
        )
        assert delivered.finished_at == "stamp"
        second = hooks.head("wh_a")
        assert second is not None and second.position == 2
        assert hooks.counts() == {"pending": 2, "delivered": 1, "dead": 0, "cancelled": 0}

    def test_a_window_is_queued_in_the_order_given(self, backend: Backend) -> None:
        hooks = backend.hooks
        hooks.insert_subscription(new("wh_a"))
        # Not in position order (a summary goes right after its day's event), and more
        # than one batch of anything: ids must follow the messages as given.
        order = [(n * 37) % 301 + 1 for n in range(301)]
        window = [Message(p, f"msg_{p}", "note.posted") for p in order]
        hooks.enqueue("wh_a", window, 3.0, "then")
        queued = hooks.pending("wh_a", 500)
        assert [d.message_id for d in queued] == [m.message_id for m in window]
        assert [d.position for d in queued] == order
        ids = [d.id for d in queued]
        assert ids == sorted(ids) and len(set(ids)) == len(ids)
        assert hooks.pending("wh_a", 2) == queued[:2]
        head = hooks.head("wh_a")
        assert head is not None and head.id == ids[0]
        assert hooks.pending_count("wh_a") == 301 and hooks.counts()["pending"] == 301
        assert hooks.due(3.0) == ["wh_a"]

    def test_several_queues_are_filled_at_once(self, backend: Backend) -> None:
        hooks = backend.hooks
        for id_ in ("wh_a", "wh_b", "wh_c"):
            hooks.insert_subscription(new(id_))
        hooks.enqueue("wh_b", messages(1), 0.0, "then")
        with hooks.writing():
            hooks.enqueue_many(
                [("wh_b", messages(9, 2, 5)), ("wh_a", messages(4, 3)), ("wh_c", [])],
                7.0,
                "now",
            )
            hooks.move_cursors([("wh_a", 4, False), ("wh_c", 2, True)])
        assert [d.position for d in hooks.pending("wh_b", 10)] == [1, 9, 2, 5]
        assert [d.position for d in hooks.pending("wh_a", 10)] == [4, 3]
        assert {d.created_at for d in hooks.pending("wh_a", 10)} == {"now"}
        assert hooks.pending_counts(["wh_a", "wh_b", "wh_c", "wh_gone"]) == {"wh_a": 2, "wh_b": 4}
        assert hooks.pending_counts([]) == {}
        assert sorted(hooks.due(7.0)) == ["wh_a", "wh_b"]
        head = hooks.head("wh_a")
        assert head is not None and head.position == 4
        moved = {s.id: (s.cursor, s.follows) for s in hooks.subscriptions()}
        assert moved == {"wh_a": (4, False), "wh_b": (0, False), "wh_c": (2, True)}
        hooks.enqueue_many([], 7.0, "now")
        hooks.move_cursors([])
        assert hooks.counts()["pending"] == 6 and hooks.queue_state().heads_match

    def test_several_queues_are_read_and_recorded_at_once(self, backend: Backend) -> None:
        hooks = backend.hooks
        for id_ in ("wh_a", "wh_b", "wh_c"):
            hooks.insert_subscription(new(id_))
        hooks.enqueue("wh_a", messages(1, 2, 3), 0.0, "then")
        hooks.enqueue("wh_b", messages(1, 2), 0.0, "then")
        found = hooks.subscriptions_among(["wh_c", "wh_a", "wh_gone"])
        assert sorted(s.id for s in found) == ["wh_a", "wh_c"]
        assert hooks.subscriptions_among([]) == []
        pending = hooks.pending_many(["wh_a", "wh_b", "wh_c", "wh_gone"], 2)
        assert sorted(pending) == ["wh_a", "wh_b"]  # nothing pending: absent
        assert pending["wh_a"] == hooks.pending("wh_a", 2)
        assert [d.position for d in pending["wh_b"]] == [1, 2]
        assert hooks.pending_many([], 2) == {}
        a1, a2 = pending["wh_a"]
        b1 = pending["wh_b"][0]
        hooks.cancel_pending_after("wh_b", 1, "cancelled-at")  # b's second, while out
        b2 = hooks.deliveries("wh_b", "cancelled", 1)[0]
        with hooks.writing():
            hooks.lock_queues(["wh_b", "wh_a", "wh_b"])
            hooks.record_delivered_many(
                [(a1.id, 200, "s1"), (b1.id, 204, "s2"), (a2.id, 202, "s3"), (b2.id, 200, "s4")]
            )
        done = {d.id: d for d in hooks.deliveries(None, None, 10)}
        assert [
            (done[i].status, done[i].last_status, done[i].finished_at)
            for i in (a1.id, a2.id, b1.id)
        ] == [
            ("delivered", 200, "s1"),
            ("delivered", 202, "s3"),
            ("delivered", 204, "s2"),
        ]
        assert (done[b2.id].status, done[b2.id].finished_at) == ("cancelled", "cancelled-at")
        head = hooks.head("wh_a")
        assert head is not None and head.position == 3
        assert hooks.head("wh_b") is None
        assert hooks.due(1.0) == ["wh_a"]
        assert hooks.counts() == {"pending": 1, "delivered": 3, "dead": 0, "cancelled": 1}
        state = hooks.queue_state()  # the kept heads and counts, as the history says
        assert state.heads_match and state.counted == {"pending": 1, "delivered": 3, "cancelled": 1}

    def test_retries_move_the_due_time_and_the_last_attempt_dead_letters(
        self, backend: Backend
    ) -> None:
        hooks = backend.hooks
        hooks.insert_subscription(new("wh_a"))
        hooks.enqueue("wh_a", messages(1, 2), 0.0, "then")
        head = hooks.head("wh_a")
        assert head is not None
        hooks.record_retry(head.id, status=500, error="HTTP 500", retry_at=60.0, stamp="s1")
        assert hooks.due(59.0) == [] and hooks.due(60.0) == ["wh_a"]
        retried = hooks.head("wh_a")
        assert retried is not None and retried.id == head.id
        assert (retried.attempts, retried.last_error, retried.next_attempt_at) == (
            1,
            "HTTP 500",
            60.0,
        )
        hooks.record_dead(head.id, status=None, error="refused", stamp="s2")
        dead = hooks.delivery(head.id)
        assert dead is not None and (dead.status, dead.attempts) == ("dead", 2)
        assert hooks.deliveries(None, "dead", 10) == [dead]
        nxt = hooks.head("wh_a")
        assert nxt is not None and nxt.position == 2

    def test_gone_disables_the_subscription(self, backend: Backend) -> None:
        hooks = backend.hooks
        hooks.insert_subscription(new("wh_a"))
        hooks.enqueue("wh_a", messages(1), 0.0, "then")
        head = hooks.head("wh_a")
        assert head is not None
        hooks.record_gone(head.id, "wh_a", 410, "410 Gone", "stamp")
        gone = hooks.subscription("wh_a")
        assert gone is not None
        assert (gone.status, gone.status_reason) == ("disabled", "410 Gone at stamp")
        assert hooks.due(1.0) == []  # kept queued, but not due while disabled
        still = hooks.head("wh_a")
        assert still is not None and (still.status, still.attempts) == ("pending", 1)
        hooks.set_status("wh_a", "active", None)
        assert hooks.due(1.0) == ["wh_a"]

    def test_an_outcome_reaches_only_a_pending_delivery(self, backend: Backend) -> None:
        hooks = backend.hooks
        hooks.insert_subscription(new("wh_a"))
        hooks.enqueue("wh_a", messages(1, 2, 3), 0.0, "then")
        head = hooks.head("wh_a")
        assert head is not None
        hooks.cancel_pending_after("wh_a", 1, "cancelled-at")
        assert [d.status for d in hooks.deliveries("wh_a", None, 10)] == [
            "cancelled",
            "cancelled",
            "pending",
        ]
        cancelled = hooks.deliveries("wh_a", "cancelled", 1)[0]
        hooks.record_delivered(cancelled.id, 200, "late")
        after = hooks.delivery(cancelled.id)
        assert after is not None and (after.status, after.finished_at) == (
            "cancelled",
            "cancelled-at",
        )
        assert hooks.counts() == {"pending": 1, "delivered": 0, "dead": 0, "cancelled": 2}

    def test_requeue_puts_the_same_message_at_the_end(self, backend: Backend) -> None:
        hooks = backend.hooks
        hooks.insert_subscription(new("wh_a"))
        hooks.enqueue("wh_a", messages(1, 2), 0.0, "then")
        first = hooks.head("wh_a")
        assert first is not None
        hooks.record_delivered(first.id, 200, "s")
        again = hooks.requeue(first, 7.0, "again")
        assert again.id > first.id
        assert (again.message_id, again.position, again.status, again.attempts) == (
            "msg_1",
            1,
            "pending",
            0,
        )
        assert (again.next_attempt_at, again.created_at) == (7.0, "again")
        head = hooks.head("wh_a")
        assert head is not None and head.position == 2
        assert hooks.delivery(10_000) is None

    def test_kept_state_matches_the_history_and_refills(self, backend: Backend) -> None:
        hooks = backend.hooks
        hooks.insert_subscription(new("wh_a"))
        hooks.insert_subscription(new("wh_b"))
        hooks.enqueue("wh_a", messages(1, 2), 0.0, "then")
        hooks.enqueue("wh_b", messages(1), 3.0, "then")
        state = hooks.queue_state()
        assert state.deliveries and state.heads_match
        assert state.kept == {s: n for s, n in hooks.counts().items()}
        assert state.kept["pending"] == 3 and set(state.kept) == set(DELIVERY_STATUSES)
        assert state.counted == {"pending": 3}
        with hooks.writing():
            hooks.refill_queue_state()
        assert hooks.queue_state() == state
        assert sorted(hooks.due(3.0)) == ["wh_a", "wh_b"]

    # -- what the log and the timeline hold ------------------------------------------

    def test_messages_and_changes_come_from_the_log(self, backend: Backend) -> None:
        hooks, reporter = backend.hooks, backend.reporter
        reporter.open_conference("one-2026", title="One")  # 1
        reporter.open_day(1)  # 2
        reporter.note("First.")  # 3
        reporter.note("Second.")  # 4
        assert hooks.log_head() == 4
        notes = hooks.event_messages(0, 4, None, ["note.posted"], 10)
        assert [(m.position, m.type, m.summary) for m in notes] == [
            (3, "note.posted", None),
            (4, "note.posted", None),
        ]
        assert all(m.message_id.startswith("msg_") for m in notes)
        assert [m.position for m in hooks.event_messages(0, 4, None, ["note.posted"], 1)] == [3]
        assert [m.position for m in hooks.event_messages(3, 4, "one-2026", ["note.posted"], 9)] == [
            4
        ]
        assert hooks.event_messages(0, 4, "other", ["note.posted"], 9) == []
        assert hooks.event_messages(0, 4, None, [], 9) == []
        assert hooks.changed_types(1, 3) == {"one-2026": {"day.opened", "note.posted"}}
        assert hooks.changed_types(4, 4) == {}
        assert hooks.recorded_at(3) is not None and hooks.recorded_at(99) is None
        assert hooks.nothing_between("one-2026", 3, 4)
        assert not hooks.nothing_between("one-2026", 2, 4)

    def test_summary_versions(self, backend: Backend) -> None:
        hooks = backend.hooks
        assert hooks.last_version("one-2026", 1) is None
        body = {"type": "summary.published", "data": {"markdown": "# Day 1 — “quoted”"}}
        hooks.add_version("one-2026", 1, 1, 5, "digest-1", body)
        hooks.add_version("one-2026", 1, 2, 9, "digest-2", {"type": "summary.updated"})
        hooks.add_version("two-2026", 1, 1, 7, "digest-3", {"type": "summary.published"})
        assert hooks.last_version("one-2026", 1) == (2, "digest-2")
        versions = hooks.summary_versions(0, 9, None)
        seqs = [v.seq for v in versions]
        assert seqs == sorted(seqs) and len(set(seqs)) == 3
        assert [(v.conference, v.position, v.type) for v in versions] == [
            ("one-2026", 5, "summary.published"),
            ("one-2026", 9, "summary.updated"),
            ("two-2026", 7, "summary.published"),
        ]
        assert [v.position for v in hooks.summary_versions(5, 9, "one-2026")] == [9]
        assert hooks.version_body(versions[0].seq) == body
        assert hooks.version_body(max(seqs) + 1) is None
        assert hooks.changed_types(6, 9) == {
            "one-2026": {"summary.updated"},
            "two-2026": {"summary.published"},
        }

    def test_stale_days_are_the_closed_days_changed_since(self, backend: Backend) -> None:
        hooks, reporter = backend.hooks, backend.reporter
        reporter.open_conference("one-2026", title="One")  # 1
        reporter.open_day(1)  # 2
        reporter.note("First.")  # 3
        reporter.close_day()  # 4
        backend.catch_up()
        assert hooks.day_closed_at("one-2026", 1, 4) == 4
        assert hooks.day_closed_at("one-2026", 1, 3) is None
        stale = hooks.stale_days(0)
        assert [(d.conference, d.day, d.changed_position, d.checked) for d in stale] == [
            ("one-2026", 1, 4, None)
        ]
        assert hooks.stale_days(4) == []
        hooks.mark_checked("one-2026", 1, 4)
        assert hooks.stale_days(0) == []
        hooks.mark_checked("one-2026", 1, 3)
        assert [d.checked for d in hooks.stale_days(0)] == [3]


class TestSqliteWebhookStore(WebhookStoreContract):
    @pytest.fixture
    def backend(self, tmp_path: Path) -> Iterator[Backend]:
        from liveblog.service.facade import Liveblog
        from liveblog.store.sqlite.log import EventLog
        from liveblog.store.sqlite.schema import ensure_config_tables
        from liveblog.store.sqlite.webhooks import SqliteWebhookStore

        db = tmp_path / "events.db"
        service = Liveblog(db, "contract")
        log = EventLog(db)
        ensure_config_tables(log.conn)
        try:
            yield Backend(SqliteWebhookStore(log.conn), service, service.catch_up)
        finally:
            log.close()
            service.close()


class _StoreReporter:
    """Posts through an event store's `append` (the reporting facade on PostgreSQL is
    another helper's; the contract needs positions, types and days, nothing more)."""

    def __init__(self, events: EventStore) -> None:
        self.events = events
        self.conference = ""
        self.day = 0

    def _append(self, data: EventData) -> object:
        import datetime as dt
        import uuid

        from liveblog.domain.envelope import make_event

        event = make_event(
            id=str(uuid.uuid4()),
            conference=self.conference,
            occurred_at=dt.datetime(2026, 1, 1, 9, tzinfo=dt.UTC),
            author="dan",
            data=data,
        )
        return self.events.append([event])

    def open_conference(self, slug: str, *, title: str) -> object:
        from liveblog.domain.events import ConferenceOpened

        self.conference = slug
        return self._append(ConferenceOpened(title=title))

    def open_day(self, number: int) -> object:
        from liveblog.domain.events import DayOpened

        self.day = number
        return self._append(DayOpened(number=number, date="2026-01-01"))

    def note(self, text: str) -> object:
        from liveblog.domain.events import NotePosted

        return self._append(NotePosted(day=self.day, text=text))

    def close_day(self) -> object:
        from liveblog.domain.events import DayClosed

        return self._append(DayClosed(number=self.day))


# The timeline's days as its projection keeps them (timeline_days), until the
# PostgreSQL timeline projection is merged: each day's last change, and its closing.
_PG_DAYS_DDL = """
CREATE TABLE IF NOT EXISTS timeline_days (
    conference text COLLATE "C" NOT NULL, number integer NOT NULL, closed_at text,
    changed_position bigint NOT NULL, PRIMARY KEY (conference, number)
)
"""
_PG_DAYS_CATCH_UP = """
INSERT INTO timeline_days (conference, number, closed_at, changed_position)
SELECT conference, (data::jsonb ->> 'number')::int,
    max(recorded_at) FILTER (WHERE type = 'day.closed'), max(position) FROM events
WHERE type IN ('day.opened', 'day.closed') GROUP BY 1, 2
ON CONFLICT (conference, number) DO UPDATE SET closed_at = excluded.closed_at,
    changed_position = excluded.changed_position
"""


class TestPostgresWebhookStore(WebhookStoreContract):
    """On the event store's connection, as `Stores.webhooks` builds it; the tables made
    by the schema's migrations (m002: CONFIG_DDL)."""

    @pytest.fixture
    def backend(self, pg_url: str) -> Iterator[Backend]:
        from liveblog.store.factory import open_stores

        with open_stores(pg_url) as stores:
            conn = stores.events.conn  # type: ignore[attr-defined]
            conn.execute(_PG_DAYS_DDL)
            yield Backend(
                stores.webhooks,
                _StoreReporter(stores.events),
                lambda: conn.execute(_PG_DAYS_CATCH_UP),
            )
