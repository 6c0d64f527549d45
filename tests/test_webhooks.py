"""Webhooks end to end, in-process: real events.db files, real HTTP receivers on
127.0.0.1, the real `Deliverer` looping in a thread of its own.

What a downstream blog relies on: every POST is signed per Standard Webhooks (checked
with the `standardwebhooks` package and the spec's known-answer vector), messages come
in log order with no gaps however often the receiver fails, at least once under one
`webhook-id`, and nothing reaches an address the SSRF rules refuse. Faults a real
server cannot produce (a DNS answer that changes) are injected through the resolver.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from receivers import (
    BackgroundDeliverer,
    Received,
    Receiver,
    Reply,
    deliveries,
    query,
    self_signed,
    settled,
    wait_for,
)
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from liveblog.errors import InvalidWebhook, RefusedAddress
from liveblog.store.sqlite import webhook_queue as sqlite_webhook_queue
from liveblog.store.sqlite.log import EventLog
from liveblog.store.sqlite.webhooks import SqliteWebhookStore
from liveblog.webhooks import (
    DeliveryOptions,
    RetryPolicy,
    new_secret,
    parse_schedule,
    parse_url,
    pin_address,
    refusal,
    sign,
)
from liveblog.webhooks import queue as webhook_queue
from liveblog.webhooks import subscriptions as webhook_subscriptions
from liveblog.webhooks.policy import parse_retry_after
from liveblog.webhooks.signing import secret_key

Invoke = Callable[..., Result]

FAST = DeliveryOptions(retry=RetryPolicy(parse_schedule("50ms,50ms,50ms,50ms")), timeout=5.0)
# Many quick retries: nothing is dead-lettered while a receiver misbehaves for a while.
PATIENT = DeliveryOptions(retry=RetryPolicy(parse_schedule(",".join(["50ms"] * 200))), timeout=5.0)
# The first retry is an hour away: whatever arrives in a test arrived at the first attempt.
NO_RETRY = DeliveryOptions(retry=RetryPolicy(parse_schedule("1h")), timeout=10.0)

APPENDED = re.compile(r"^#(\d+) ([a-z]+\.[a-z]+) ")


# -- helpers -------------------------------------------------------------------------


def lines(text: str) -> list[str]:
    return text.split("\n")[:-1] if text else []


def ok(result: Result) -> list[str]:
    assert result.exit_code == 0, result.output
    return lines(result.stdout)


def subscribe(invoke: Invoke, url: str, *args: str, allow_private: bool = True) -> dict[str, Any]:
    """`webhook add URL … --json`: the new subscription, secret included."""
    flags = ["--allow-private"] if allow_private else []
    out = ok(invoke("webhook", "add", url, *flags, "--json", *args))
    assert len(out) == 1, out
    found: dict[str, Any] = json.loads(out[0])
    return found


def report(invoke: Invoke, *args: str) -> list[int]:
    """Run a reporting command; the positions of the events it appended."""
    return [int(APPENDED.match(line)[1]) for line in ok(invoke(*args))]  # type: ignore[index]


def notes(invoke: Invoke, *texts: str) -> list[int]:
    return [p for text in texts for p in report(invoke, "note", text)]


def export(invoke: Invoke, since: int = 0) -> list[dict[str, Any]]:
    return [json.loads(line) for line in ok(invoke("export", "--since", str(since)))]


def head(db_path: Path) -> int:
    return int(query(db_path, "SELECT ifnull(max(position), 0) FROM events")[0][0])


def positions_of(requests: list[Received]) -> list[int]:
    """The log position each message belongs to (a summary: the event that caused it)."""
    return [r.json["data"]["position"] for r in requests]


def verify(secret: str, request: Received) -> Any:
    """Check a received POST as a receiver would, with the standardwebhooks package."""
    return Webhook(secret).verify(request.body, request.headers)


def first_attempts(db_path: Path, subscription: str | None = None) -> int:
    """Attempts made at the oldest delivery (0 while none is queued)."""
    rows = deliveries(db_path, subscription)
    return int(rows[0]["attempts"]) if rows else 0


def settled_for(db_path: Path, subscription: str, count: int) -> bool:
    """`count` deliveries of `subscription` queued, and every one delivered."""
    rows = deliveries(db_path, subscription)
    return len(rows) == count and all(r["status"] == "delivered" for r in rows)


def delivered_everything(db_path: Path, receiver: Receiver, count: int) -> Callable[[], bool]:
    def check() -> bool:
        return len(receiver.unique_accepted()) >= count and settled(db_path)

    return check


def diagnosis(db_path: Path, *receivers: Receiver) -> Callable[[], str]:
    """What a timed-out wait saw: the delivery rows and what each receiver got."""

    def describe() -> str:
        rows = "\n".join(str(row) for row in deliveries(db_path))
        got = "\n".join(
            f"receiver {i}: "
            + ", ".join(
                f"{r.json.get('type')}@{r.json['data'].get('position')}={r.status}"
                for r in receiver.requests
            )
            for i, receiver in enumerate(receivers)
        )
        return f"delivery; deliveries:\n{rows}\n{got}"

    return describe


# -- signatures ----------------------------------------------------------------------

SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TIMESTAMP = 1614265330
SPEC_PAYLOAD = b'{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_sign_matches_the_standard_webhooks_known_answer() -> None:
    key = secret_key(SPEC_SECRET)
    assert sign(key, SPEC_ID, SPEC_TIMESTAMP, SPEC_PAYLOAD) == SPEC_SIGNATURE
    # The reference library agrees on the same vector (so the two checks check each other).
    when = dt.datetime.fromtimestamp(SPEC_TIMESTAMP, dt.UTC)
    assert Webhook(SPEC_SECRET).sign(SPEC_ID, when, SPEC_PAYLOAD.decode()) == SPEC_SIGNATURE
    assert sign(key, SPEC_ID, SPEC_TIMESTAMP + 1, SPEC_PAYLOAD) != SPEC_SIGNATURE
    assert sign(key, SPEC_ID, SPEC_TIMESTAMP, SPEC_PAYLOAD + b" ") != SPEC_SIGNATURE


def test_new_secrets_are_whsec_and_usable_by_receivers() -> None:
    secrets = {new_secret() for _ in range(20)}
    assert len(secrets) == 20
    for secret in secrets:
        assert re.fullmatch(r"whsec_[A-Za-z0-9+/]{43}=", secret)
        assert len(secret_key(secret)) == 32
        signature = sign(secret_key(secret), "msg_1", SPEC_TIMESTAMP, b"{}")
        when = dt.datetime.fromtimestamp(SPEC_TIMESTAMP, dt.UTC)
        assert Webhook(secret).sign("msg_1", when, "{}") == signature


@pytest.mark.parametrize(
    "secret",
    ["", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_", "whsec_not base64!", "whsec_c2hvcnQ="],
)
def test_malformed_secrets_are_refused_without_being_echoed(secret: str) -> None:
    with pytest.raises(InvalidWebhook) as refused:
        secret_key(secret)
    if len(secret) > len("whsec_"):
        assert secret not in str(refused.value)


def test_every_post_verifies_with_standardwebhooks(
    invoke: Invoke, db_path: Path, day_open: None
) -> None:
    with Receiver() as receiver:
        sub = subscribe(invoke, receiver.url)
        appended = notes(invoke, "plain", "Ünïcödé — “quoted” 😀", 'a "json" \\ body')
        appended += report(invoke, "photo", "https://img.example.org/a.jpg", "--caption", "Hall")
        with BackgroundDeliverer(db_path, FAST):
            wait_for(delivered_everything(db_path, receiver, len(appended)), what="4 messages")
    assert positions_of(receiver.accepted) == appended
    for request in receiver.accepted:
        assert request.method == "POST"
        assert request.path == "/hook"
        assert request.headers["content-type"] == "application/json"
        assert request.headers["webhook-id"] == "msg_" + request.json["data"]["id"]
        assert verify(sub["secret"], request) == request.json
        # The checks have teeth: another secret, or one byte changed, fails.
        with pytest.raises(WebhookVerificationError):
            verify(new_secret(), request)
        with pytest.raises(WebhookVerificationError):
            Webhook(sub["secret"]).verify(request.body + b" ", request.headers)
    assert receiver.accepted[1].json["data"]["data"]["text"] == "Ünïcödé — “quoted” 😀"


def test_a_retry_has_the_same_webhook_id_and_a_fresh_timestamp(
    invoke: Invoke, db_path: Path, day_open: None
) -> None:
    # No jitter and a retry 1.2 s later: the two attempts fall in different seconds.
    options = DeliveryOptions(retry=RetryPolicy((1.2,), jitter=0.0), timeout=5.0)
    with Receiver() as receiver:
        receiver.script(500)
        sub = subscribe(invoke, receiver.url)
        [position] = notes(invoke, "retried")
        with BackgroundDeliverer(db_path, options):
            wait_for(lambda: receiver.accepted, what="the retry to be accepted")
    first, second = receiver.requests
    assert (first.status, second.status) == (500, 200)
    assert first.message_id == second.message_id
    assert first.body == second.body
    assert int(second.headers["webhook-timestamp"]) > int(first.headers["webhook-timestamp"])
    assert first.headers["webhook-signature"] != second.headers["webhook-signature"]
    for request in (first, second):
        # The timestamp is the attempt's own (the spec's replay window depends on it).
        assert abs(int(request.headers["webhook-timestamp"]) - request.wall) < 2
        assert verify(sub["secret"], request)["data"]["position"] == position
    [row] = deliveries(db_path)
    assert (row["status"], row["attempts"], row["last_status"]) == ("delivered", 2, 200)


def test_a_receiver_that_fails_then_recovers_gets_everything_in_log_order(
    invoke: Invoke, db_path: Path, day_open: None
) -> None:
    tries: dict[str, int] = {}

    def flaky(request: Received) -> int:
        # Every other message fails twice with a 500 before it is accepted.
        tries[request.message_id] = tries.get(request.message_id, 0) + 1
        failing = request.json["data"]["position"] % 2 == 0
        return 500 if failing and tries[request.message_id] <= 2 else 200

    with Receiver(rule=flaky) as receiver:
        receiver.script(500, 500, 500)  # and the very first message, three times
        subscribe(invoke, receiver.url)
        appended = notes(invoke, *(f"note {i}" for i in range(12)))
        with BackgroundDeliverer(db_path, FAST):
            wait_for(
                delivered_everything(db_path, receiver, len(appended)),
                what=diagnosis(db_path, receiver),
            )
    # Everything, once each, in log order: no gap, no duplicate (a 500 is not a receipt).
    assert positions_of(receiver.accepted) == appended
    assert sum(1 for r in receiver.requests if r.status == 500) == 3 + 2 * 6
    # Never a message ahead of an earlier one that had not been accepted yet.
    tried = positions_of(receiver.requests)
    assert tried == sorted(tried)
    assert {d["status"] for d in deliveries(db_path)} == {"delivered"}


def test_a_queue_window_smaller_than_the_backlog_leaves_no_gap(
    invoke: Invoke, db_path: Path, day_open: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(webhook_queue, "WINDOW", 3)
    with Receiver() as receiver:
        subscribe(invoke, receiver.url)
        report(invoke, "session", "start", "Plenary", "--at", "2011-06-09T09:30")
        notes(invoke, *(f"note {i}" for i in range(8)))
        report(invoke, "day", "close", "--at", "2011-06-09T17:30")
        expected = [e["position"] for e in export(invoke, since=2)]
        with BackgroundDeliverer(db_path, FAST):
            # Only 3 fit in the queue at a time: the rest arrive through refills.
            wait_for(delivered_everything(db_path, receiver, len(expected) + 1))
    got = receiver.accepted_json()
    assert [m["type"] for m in got][-3:] == ["session.ended", "day.closed", "summary.published"]
    assert positions_of(receiver.accepted) == [*expected, expected[-1]]


# -- what is POSTed ------------------------------------------------------------------


def test_a_payload_is_type_timestamp_and_the_export_line(
    invoke: Invoke, db_path: Path, day_open: None
) -> None:
    with Receiver() as receiver:
        subscribe(invoke, receiver.url)
        report(invoke, "session", "start", "Plenary", "--room", "Hall 1", "--host", "Jos Creese")
        report(invoke, "talk", "start", "Data", "--speaker", "Jane Doe", "--org", "Example")
        [quote] = report(invoke, "quote", "Open data first")
        report(invoke, "correct", "--last", "Open data, first")
        report(invoke, "retract", "--last", "--reason", "Misheard")
        with BackgroundDeliverer(db_path, FAST):
            wait_for(delivered_everything(db_path, receiver, 5))
    exported = export(invoke, since=2)
    assert len(exported) == 5 and quote in [e["position"] for e in exported]
    bodies = receiver.accepted_json()
    assert [set(b) for b in bodies] == [{"type", "timestamp", "data"}] * 5
    assert [b["data"] for b in bodies] == exported
    for body, event in zip(bodies, exported, strict=True):
        assert body["type"] == event["type"]
        assert body["timestamp"] == event["recorded_at"]
        assert dt.datetime.fromisoformat(body["timestamp"]).tzinfo is not None


def test_summary_published_at_day_close_and_updated_after_a_correction(
    invoke: Invoke, db_path: Path, day_open: None
) -> None:
    with Receiver() as receiver:
        sub = subscribe(invoke, receiver.url)
        report(invoke, "session", "start", "Opening plenary", "--at", "2011-06-09T09:30")
        report(invoke, "talk", "start", "Shared", "--speaker", "Andy Burns", "--at", "09:35")
        [quote] = report(invoke, "quote", "We must share services", "--at", "2011-06-09T09:40")
        closing = report(invoke, "day", "close", "--at", "2011-06-09T17:30")
        quote_id = export(invoke)[quote - 1]["id"]
        with BackgroundDeliverer(db_path, FAST):
            wait_for(delivered_everything(db_path, receiver, 7), what=diagnosis(db_path, receiver))
            published_markdown = ok(invoke("summary", "2", "--format", "markdown"))
            [corrected] = report(invoke, "correct", quote_id, "We must share all services")
            wait_for(delivered_everything(db_path, receiver, 9), what="the updated summary")
            # A later day's events leave day 2's summary as it is: no new version.
            report(invoke, "day", "open", "3", "--at", "2011-06-10T09:00")
            [last] = notes(invoke, "Day three begins")
            wait_for(lambda: last in positions_of(receiver.accepted) and settled(db_path))
    messages = receiver.accepted_json()
    types = [m["type"] for m in messages]
    assert types.count("summary.published") == 1 and types.count("summary.updated") == 1
    published = types.index("summary.published")
    updated = types.index("summary.updated")
    # Each right after the event that caused it.
    assert messages[published - 1]["data"]["position"] == closing[-1]
    assert messages[published - 1]["type"] == "day.closed"
    assert messages[updated - 1]["data"]["position"] == corrected
    assert types[updated + 1 :] == ["day.opened", "note.posted"]
    for message, version, position in ((messages[published], 1, closing[-1]),
                                       (messages[updated], 2, corrected)):  # fmt: skip
        data = message["data"]
        assert data["conference"] == "socitm-2011"
        assert data["day"] == 2
        assert data["version"] == version
        assert data["position"] == position
        assert data["title"] == "SOCITM 2011 – Day 2 Reflections"
        assert data["markdown"].startswith("# SOCITM 2011 – Day 2 Reflections")
        assert "<h2>Opening plenary</h2>" in data["html"]
    first, second = messages[published]["data"], messages[updated]["data"]
    assert first["markdown"].rstrip("\n") == "\n".join(published_markdown)
    assert "We must share services" in first["markdown"] + first["html"]
    assert "We must share all services" not in first["markdown"] + first["html"]
    assert "We must share all services" in second["markdown"]
    assert "We must share all services" in second["html"]
    assert "We must share services" not in second["markdown"] + second["html"]
    # Signed and identified like any message, one id per version.
    summaries = [r for r in receiver.accepted if r.json["type"].startswith("summary.")]
    assert len({r.message_id for r in summaries}) == 2
    for request in summaries:
        assert verify(sub["secret"], request)


def test_each_change_of_a_day_gets_its_summary_even_when_sent_later(
    invoke: Invoke, db_path: Path, day_open: None
) -> None:
    # The day closes, then a correction follows, while no deliverer runs (or within
    # one tick of it: a batch import, a reporter's offline queue flushed at once). The
    # messages are those of the log all the same: each summary right after its event,
    # as the day stood then.
    with Receiver() as receiver:
        subscribe(invoke, receiver.url)
        report(invoke, "session", "start", "Opening plenary", "--at", "2011-06-09T09:30")
        [quote] = report(invoke, "quote", "Share services", "--speaker", "Andy Burns")
        closing = report(invoke, "day", "close", "--at", "2011-06-09T17:30")
        quote_id = export(invoke)[quote - 1]["id"]
        [corrected] = report(invoke, "correct", quote_id, "Share all services")
        [retracted] = report(invoke, "retract", quote_id, "--reason", "Misheard")
        with BackgroundDeliverer(db_path, FAST):
            wait_for(delivered_everything(db_path, receiver, 9), what=diagnosis(db_path, receiver))
    messages = receiver.accepted_json()
    assert [(m["type"], m["data"]["position"]) for m in messages] == [
        ("session.started", 3),
        ("quote.captured", quote),
        ("session.ended", closing[0]),
        ("day.closed", closing[1]),
        ("summary.published", closing[1]),
        ("entry.corrected", corrected),
        ("summary.updated", corrected),
        ("entry.retracted", retracted),
        ("summary.updated", retracted),
    ]
    published, updated, withdrawn = (m["data"] for m in messages if "markdown" in m["data"])
    assert "Share services" in published["markdown"]
    assert "Share all services" in updated["markdown"]
    assert "Share" not in withdrawn["markdown"]
    assert [published["version"], updated["version"], withdrawn["version"]] == [1, 2, 3]


def test_event_type_and_conference_filters(invoke: Invoke, db_path: Path, day_open: None) -> None:
    with (
        Receiver() as quotes,
        Receiver() as summaries,
        Receiver() as other,
        Receiver() as some,
    ):
        subscribe(invoke, quotes.url, "--event", "quote.*")
        subscribe(invoke, summaries.url, "--event", "summary.*")
        subscribe(invoke, other.url, "--conference", "other-2011")
        subscribe(
            invoke,
            some.url,
            "--conference",
            "socitm-2011",
            "--event",
            "note.posted",
            "--event",
            "summary.published",
        )
        report(invoke, "session", "start", "Plenary", "--at", "2011-06-09T09:30")
        report(invoke, "talk", "start", "Data", "--speaker", "Jane Doe", "--at", "09:35")
        report(invoke, "quote", "Open data first", "--at", "2011-06-09T09:40")
        notes(invoke, "A full hall")
        args = ("--title", "Other", "--at", "2011-06-09T08:00")
        report(invoke, "conference", "open", "other-2011", *args)
        report(invoke, "day", "open", "1", "--conference", "other-2011", "--at", "08:05")
        report(invoke, "note", "Elsewhere", "--conference", "other-2011", "--at", "09:00")
        report(invoke, "quote", "Elsewhere said", "--conference", "other-2011", "--speaker", "X")
        report(invoke, "day", "close", "--conference", "socitm-2011", "--at", "2011-06-09T17:30")
        report(invoke, "day", "close", "--conference", "other-2011", "--at", "2011-06-09T17:00")
        events = export(invoke, since=2)
        with BackgroundDeliverer(db_path, FAST):
            wait_for(lambda: settled(db_path) and len(summaries.accepted) == 2)

    def types(receiver: Receiver) -> list[tuple[str, str]]:
        return [(m["type"], m["data"]["conference"]) for m in receiver.accepted_json()]

    assert types(quotes) == [
        ("quote.captured", "socitm-2011"),
        ("quote.captured", "other-2011"),
    ]
    assert types(summaries) == [
        ("summary.published", "socitm-2011"),
        ("summary.published", "other-2011"),
    ]
    expected_other = [(e["type"], "other-2011") for e in events if e["conference"] == "other-2011"]
    assert types(other) == [*expected_other, ("summary.published", "other-2011")]
    assert types(some) == [("note.posted", "socitm-2011"), ("summary.published", "socitm-2011")]


def test_a_new_subscription_starts_at_the_log_head_unless_since(
    invoke: Invoke, db_path: Path, day_open: None
) -> None:
    earlier = notes(invoke, "before 1", "before 2", "before 3")
    with Receiver() as from_head, Receiver() as from_since, Receiver() as from_zero:
        assert subscribe(invoke, from_head.url)["cursor"] == earlier[-1]
        assert subscribe(invoke, from_since.url, "--since", str(earlier[0]))["cursor"] == 3
        assert subscribe(invoke, from_zero.url, "--since", "0")["cursor"] == 0
        later = notes(invoke, "after")
        with BackgroundDeliverer(db_path, FAST):
            wait_for(lambda: settled(db_path) and len(from_zero.accepted) == later[-1])
    assert positions_of(from_head.accepted) == later
    assert positions_of(from_since.accepted) == [*earlier[1:], *later]
    assert positions_of(from_zero.accepted) == list(range(1, later[-1] + 1))


# -- receivers that misbehave --------------------------------------------------------


def test_a_slow_receiver_does_not_hold_up_a_fast_one(
    invoke: Invoke, db_path: Path, day_open: None
) -> None:
    options = DeliveryOptions(retry=PATIENT.retry, timeout=2.0)
    with Receiver(default=Reply(delay=3.0)) as slow, Receiver() as fast:
        slow_sub = subscribe(invoke, slow.url)
        fast_sub = subscribe(invoke, fast.url)
        appended = notes(invoke, *(f"note {i}" for i in range(10)))
        with BackgroundDeliverer(db_path, options):
            wait_for(lambda: settled_for(db_path, fast_sub["id"], len(appended)))
            # Everything reached the fast receiver while the slow one still held its
            # first request: its first attempt had not even been recorded yet.
            assert all(r.status is None for r in slow.requests)
            assert [d["attempts"] for d in deliveries(db_path, slow_sub["id"])][:1] in ([], [0])
            fast_done = {d["status"] for d in deliveries(db_path, fast_sub["id"])}
            # The deadline ends the slow attempt; the slow receiver then recovers.
            wait_for(lambda: first_attempts(db_path, slow_sub["id"]) >= 1)
            first = deliveries(db_path, slow_sub["id"])[0]
            slow.default = Reply()
            wait_for(lambda: settled(db_path), what="the slow receiver to catch up")
    assert first["last_error"] == "no answer within 2 s"
    assert first["last_status"] is None
    assert positions_of(fast.accepted) == appended
    assert positions_of(slow.unique_accepted()) == appended
    assert fast_done <= {"delivered"}


def test_a_redirect_is_not_followed(invoke: Invoke, db_path: Path, day_open: None) -> None:
    with Receiver() as elsewhere, Receiver() as receiver:
        receiver.default = Reply(status=302, headers={"Location": elsewhere.url})
        subscribe(invoke, receiver.url)
        [position] = notes(invoke, "moved?")
        with BackgroundDeliverer(db_path, PATIENT):
            wait_for(lambda: len(receiver.requests) >= 2, what="a retried redirect")
            [row] = deliveries(db_path)
            receiver.default = Reply()
            wait_for(lambda: settled(db_path))
    assert row["status"] == "pending"
    assert row["last_status"] == 302
    assert "(redirects are not followed)" in row["last_error"]
    assert elsewhere.requests == []
    assert {r.message_id for r in receiver.requests} == {receiver.requests[0].message_id}
    assert positions_of(receiver.accepted) == [position]


def test_a_cookie_one_receiver_sets_never_reaches_another(
    invoke: Invoke, db_path: Path, day_open: None
) -> None:
    # Both on 127.0.0.1: a shared cookie jar would replay alice's cookie to bob.
    with Receiver() as alice, Receiver() as bob:
        alice.default = Reply(headers={"Set-Cookie": "session=alice-secret; Path=/"})
        subscribe(invoke, alice.url)
        subscribe(invoke, bob.url)
        appended = notes(invoke, "one", "two", "three")
        with BackgroundDeliverer(db_path, PATIENT):
            wait_for(lambda: settled(db_path))
    assert positions_of(alice.accepted) == appended == positions_of(bob.accepted)
    assert all("cookie" not in r.headers for r in alice.requests + bob.requests)


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_is_honoured(
    status: int, invoke: Invoke, db_path: Path, day_open: None
) -> None:
    with Receiver() as receiver:
        receiver.script(Reply(status=status, headers={"Retry-After": "120"}))
        subscribe(invoke, receiver.url)
        notes(invoke, "later, please")
        with BackgroundDeliverer(db_path, FAST):
            wait_for(lambda: first_attempts(db_path) == 1)
        [row] = deliveries(db_path)
        shown = json.loads(ok(invoke("webhook", "deliveries", "--json"))[0])
    tried = dt.datetime.fromisoformat(row["last_attempt_at"]).timestamp()
    # The schedule says 50 ms; the receiver asked for two minutes and gets them.
    assert 118 <= row["next_attempt_at"] - tried <= 121
    assert row["status"] == "pending" and row["last_status"] == status
    assert shown["next_attempt_at"] == dt.datetime.fromtimestamp(
        int(row["next_attempt_at"]), dt.UTC
    ).isoformat(timespec="seconds")
    assert len(receiver.requests) == 1


def test_retry_after_on_a_500_is_ignored(invoke: Invoke, db_path: Path, day_open: None) -> None:
    options = DeliveryOptions(retry=RetryPolicy(parse_schedule("1h")), timeout=5.0)
    with Receiver() as receiver:
        receiver.script(Reply(status=500, headers={"Retry-After": "5"}))
        subscribe(invoke, receiver.url)
        notes(invoke, "boom")
        with BackgroundDeliverer(db_path, options):
            wait_for(lambda: first_attempts(db_path) == 1)
        [row] = deliveries(db_path)
    tried = dt.datetime.fromisoformat(row["last_attempt_at"]).timestamp()
    assert row["next_attempt_at"] - tried > 2000  # the schedule's hour, give or take jitter


def test_retry_after_forms() -> None:
    now = 1_700_000_000.0
    assert parse_retry_after("120", now) == 120.0
    assert parse_retry_after(" 7 ", now) == 7.0
    when = dt.datetime.fromtimestamp(now + 90, dt.UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert parse_retry_after(when, now) == pytest.approx(90.0)
    past = dt.datetime.fromtimestamp(now - 90, dt.UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert parse_retry_after(past, now) == 0.0
    assert parse_retry_after("999999999", now) == 86_400.0
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after(None, now) is None


def test_retries_exhausted_dead_letter_the_message_and_the_next_one_goes(
    invoke: Invoke, db_path: Path, day_open: None
) -> None:
    options = DeliveryOptions(retry=RetryPolicy(parse_schedule("50ms,50ms")), timeout=5.0)
    with Receiver() as receiver:
        receiver.script(500, 500, Reply(status=404, body=b"no such hook"))
        subscribe(invoke, receiver.url)
        appended = notes(invoke, "doomed", "fine", "also fine")
        with BackgroundDeliverer(db_path, options):
            wait_for(lambda: settled(db_path))
    rows = deliveries(db_path)
    assert [r["status"] for r in rows] == ["dead", "delivered", "delivered"]
    assert rows[0]["attempts"] == 3
    assert rows[0]["last_status"] == 404
    assert rows[0]["last_error"] == "HTTP 404: no such hook"
    assert [r.status for r in receiver.requests] == [500, 500, 404, 200, 200]
    assert positions_of(receiver.accepted) == appended[1:]


def test_response_bodies_are_read_only_up_to_a_cap(
    invoke: Invoke, db_path: Path, day_open: None
) -> None:
    with Receiver(default=Reply(endless=True)) as receiver:
        receiver.script(Reply(status=500, endless=True))
        subscribe(invoke, receiver.url)
        appended = notes(invoke, "one", "two")
        # The deadline is far off: an attempt reading the whole body would never end.
        options = DeliveryOptions(retry=RetryPolicy(parse_schedule("50ms")), timeout=30.0)
        with BackgroundDeliverer(db_path, options):
            wait_for(lambda: settled(db_path), what="attempts that stop reading")
            wait_for(lambda: all(r.hung_up for r in receiver.requests), what="hang-ups")
    rows = deliveries(db_path)
    assert [(r["status"], r["attempts"]) for r in rows] == [("delivered", 2), ("delivered", 1)]
    assert positions_of(receiver.accepted) == appended
    failed = receiver.requests[0]
    assert failed.status == 500 and failed.streamed > 4096


def test_the_error_of_an_endless_500_quotes_a_bounded_excerpt(
    invoke: Invoke, db_path: Path, day_open: None
) -> None:
    with Receiver(default=Reply(status=500, endless=True)) as receiver:
        subscribe(invoke, receiver.url)
        notes(invoke, "one")
        with BackgroundDeliverer(db_path, NO_RETRY):
            wait_for(lambda: first_attempts(db_path) == 1)
    [row] = deliveries(db_path)
    assert row["last_status"] == 500
    assert row["last_error"].startswith("HTTP 500: xxxx")
    assert len(row["last_error"]) <= 220


def test_a_stale_keep_alive_connection_is_retried_at_once(
    invoke: Invoke, db_path: Path, day_open: None
) -> None:
    # The receiver drops every connection's second request unanswered, as one whose
    # idle timeout fires just as a request arrives; the first retry is an hour away,
    # so only the immediate retry on a fresh connection can deliver.
    with Receiver(close_kept_alive=True) as receiver:
        subscribe(invoke, receiver.url)
        appended = notes(invoke, *(f"note {i}" for i in range(5)))
        with BackgroundDeliverer(db_path, NO_RETRY):
            wait_for(delivered_everything(db_path, receiver, len(appended)))
    assert positions_of(receiver.accepted) == appended
    assert [d["attempts"] for d in deliveries(db_path)] == [1] * len(appended)
    dropped = [r for r in receiver.requests if r.dropped]
    assert dropped, "the receiver never dropped a kept-alive connection"
    assert {r.message_id for r in dropped} <= {r.message_id for r in receiver.accepted}


def test_a_connection_closed_without_an_answer_is_a_failed_attempt(
    invoke: Invoke, db_path: Path, day_open: None
) -> None:
    with Receiver() as receiver:
        receiver.script(Reply(close=True), Reply(close=True))
        subscribe(invoke, receiver.url)
        [position] = notes(invoke, "hung up on")
        with BackgroundDeliverer(db_path, FAST):
            wait_for(lambda: settled(db_path))
    [row] = deliveries(db_path)
    # Dropped on the first attempt and on its immediate retry; accepted at the next.
    assert (row["status"], row["attempts"]) == ("delivered", 2)
    assert [r.dropped for r in receiver.requests] == [True, True, False]
    assert len({r.message_id for r in receiver.requests}) == 1
    assert positions_of(receiver.accepted) == [position]


def test_an_unreachable_receiver_records_the_error(
    invoke: Invoke, db_path: Path, day_open: None
) -> None:
    receiver = Receiver().start()
    receiver.stop()  # nothing listens on its port now
    subscribe(invoke, receiver.url)
    notes(invoke, "into the void")
    with BackgroundDeliverer(db_path, NO_RETRY):
        wait_for(lambda: first_attempts(db_path) == 1)
    [row] = deliveries(db_path)
    assert row["status"] == "pending" and row["last_status"] is None
    assert row["last_error"].startswith("ConnectError")


# -- SSRF ----------------------------------------------------------------------------

REFUSED = [
    "127.0.0.1",
    "127.8.9.10",
    "10.0.0.1",
    "172.16.5.4",
    "192.168.1.1",
    "169.254.1.1",
    "169.254.169.254",
    "169.254.170.2",
    "100.100.100.200",
    "100.64.0.1",
    "0.0.0.0",
    "::1",
    "::",
    "fe80::1",
    "fc00::1",
    "fd00:ec2::254",
    "::ffff:127.0.0.1",
    "::ffff:10.0.0.1",
    "::ffff:169.254.169.254",
    "2002:7f00:1::",  # 6to4 around 127.0.0.1
    "64:ff9b::7f00:1",  # NAT64 around 127.0.0.1
    "64:ff9b::a00:1",  # … around 10.0.0.1
    "224.0.0.1",  # multicast: no receiver is there
    "239.255.255.250",
    "ff02::1",
    "ff0e::1",
    "fec0::1",  # IPv6 site-local (deprecated, still private where used)
]


@pytest.mark.parametrize("address", REFUSED)
def test_non_public_addresses_are_refused(address: str) -> None:
    reason = refusal(ipaddress.ip_address(address), allow_private=False)
    assert reason is not None and "address" in reason


@pytest.mark.parametrize(
    "address",
    ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946", "64:ff9b::5db8:d822", "1.1.1.1"],
)
def test_public_addresses_pass(address: str) -> None:
    assert refusal(ipaddress.ip_address(address), allow_private=False) is None


@pytest.mark.parametrize(
    "address",
    [
        "169.254.169.254",
        "169.254.170.2",
        "100.100.100.200",
        "fd00:ec2::254",
        "::ffff:169.254.169.254",
        "64:ff9b::a9fe:a9fe",
    ],
)
def test_metadata_addresses_are_refused_even_when_private_ones_are_allowed(address: str) -> None:
    reason = refusal(ipaddress.ip_address(address), allow_private=True)
    assert reason is not None and "metadata" in reason


@pytest.mark.parametrize("address", ["127.0.0.1", "10.1.2.3", "::1", "::ffff:192.168.0.1"])
def test_allow_private_permits_private_addresses(address: str) -> None:
    assert refusal(ipaddress.ip_address(address), allow_private=True) is None


def fixed(*answers: str) -> Callable[[str, int], Any]:
    async def resolve(host: str, port: int) -> list[str]:
        return list(answers)

    return resolve


def test_one_private_answer_among_public_ones_is_refused() -> None:
    target = parse_url("http://mixed.example:8080/hook")
    public = asyncio.run(pin_address(target, False, fixed("93.184.216.34")))
    assert public == "93.184.216.34"
    with pytest.raises(RefusedAddress, match=r"10\.0\.0\.7 is a private address"):
        asyncio.run(pin_address(target, False, fixed("93.184.216.34", "10.0.0.7")))
    with pytest.raises(RefusedAddress, match="no addresses"):
        asyncio.run(pin_address(target, False, fixed()))


class Rebinding:
    """A DNS that answers a public address first, then 127.0.0.1 (a rebinding attack)."""

    def __init__(self) -> None:
        self.lookups: list[tuple[str, int]] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.lookups.append((host, port))
        return ["93.184.216.34"] if len(self.lookups) == 1 else ["127.0.0.1"]


def add_checked(db_path: Path, url: str, resolver: Rebinding, allow_private: bool) -> str:
    """What `webhook add` does, with the injected DNS: check the address, then store."""
    assert asyncio.run(pin_address(parse_url(url), allow_private, resolver)) == "93.184.216.34"
    log = EventLog(db_path)  # the tables exist: the log was opened by the CLI already
    try:
        sub = webhook_subscriptions.add(
            SqliteWebhookStore(log.conn), url, allow_private=allow_private
        )
    finally:
        log.close()
    return sub.id


def test_dns_rebinding_between_add_and_send_reaches_nothing(
    invoke: Invoke, db_path: Path, day_open: None
) -> None:
    resolver = Rebinding()
    with Receiver() as receiver:
        url = f"http://rebind.test:{receiver.port}/hook"
        add_checked(db_path, url, resolver, allow_private=False)
        notes(invoke, "secret internal data")
        with BackgroundDeliverer(db_path, FAST, resolver=resolver):
            wait_for(lambda: first_attempts(db_path) >= 2, what="refused attempts")
        assert receiver.requests == []
    row = deliveries(db_path)[0]
    assert row["last_status"] is None
    assert row["last_error"] == (
        "webhook host rebind.test refused: 127.0.0.1 is a loopback address "
        "(--allow-private permits it)"
    )
    # Looked up again at every attempt, never trusted from the check at add time.
    assert len(resolver.lookups) >= 3
    assert set(resolver.lookups) == {("rebind.test", receiver.port)}


def test_an_attempt_connects_to_the_address_it_checked_and_keeps_the_host(
    invoke: Invoke, db_path: Path, day_open: None
) -> None:
    # Same DNS, private addresses allowed: the name exists only in this resolver, so a
    # POST arriving at all proves the connection went to the checked address.
    resolver = Rebinding()
    with Receiver() as receiver:
        url = f"http://rebind.test:{receiver.port}/hook"
        add_checked(db_path, url, resolver, allow_private=True)
        [position] = notes(invoke, "pinned")
        with BackgroundDeliverer(db_path, FAST, resolver=resolver):
            wait_for(lambda: receiver.accepted)
    [request] = receiver.accepted
    assert request.headers["host"] == f"rebind.test:{receiver.port}"
    assert request.path == "/hook"
    assert positions_of([request]) == [position]


def test_a_host_with_a_dead_address_is_reached_through_its_next_one(
    invoke: Invoke, db_path: Path, day_open: None
) -> None:
    # Two answers, both checked: nothing listens on the first (127.0.0.2 on the same
    # port), the receiver on the second; every attempt still goes to a checked address.
    with Receiver() as receiver:
        url = f"http://two.test:{receiver.port}/hook"
        resolver = fixed("127.0.0.2", "127.0.0.1")
        log = EventLog(db_path)
        try:
            sub = webhook_subscriptions.add(
                SqliteWebhookStore(log.conn), url, allow_private=True
            ).id
        finally:
            log.close()
        [position] = notes(invoke, "second address")
        with BackgroundDeliverer(db_path, FAST, resolver=resolver):
            wait_for(lambda: settled(db_path))
    assert positions_of(receiver.accepted) == [position]
    [row] = deliveries(db_path, sub)
    assert (row["status"], row["attempts"]) == ("delivered", 1)


def test_an_ipv6_receiver_is_reached_through_its_literal(
    invoke: Invoke, db_path: Path, day_open: None
) -> None:
    with Receiver("::1") as receiver:
        subscribe(invoke, receiver.url)
        [position] = notes(invoke, "over IPv6")
        with BackgroundDeliverer(db_path, FAST):
            wait_for(lambda: settled(db_path))
    assert positions_of(receiver.accepted) == [position]
    assert receiver.accepted[0].headers["host"] == f"[::1]:{receiver.port}"


# -- cancellation and redelivery through the library ---------------------------------


def test_redeliver_since_resends_in_order_under_the_same_ids(
    invoke: Invoke, db_path: Path, day_open: None
) -> None:
    with Receiver() as receiver:
        subscribe(invoke, receiver.url)
        appended = notes(invoke, *(f"note {i}" for i in range(6)))
        with BackgroundDeliverer(db_path, FAST):
            wait_for(delivered_everything(db_path, receiver, 6))
            first_round = [(r.message_id, r.json["data"]["position"]) for r in receiver.accepted]
            ok(invoke("webhook", "redeliver", "--since", str(appended[2])))
            wait_for(lambda: len(receiver.accepted) == 6 + 3 and settled(db_path))
    again = [(r.message_id, r.json["data"]["position"]) for r in receiver.accepted[6:]]
    assert again == first_round[3:]
    cancelled = [d for d in deliveries(db_path) if d["status"] == "cancelled"]
    assert cancelled == []  # nothing was pending: nothing to cancel


def test_https_is_verified_for_each_host_name_even_on_a_shared_address(
    invoke: Invoke, db_path: Path, day_open: None, tmp_path: Path
) -> None:
    # a.test and b.test resolve to the same address, whose certificate names only
    # a.test. A connection verified for a.test must never carry b.test's messages,
    # however long it waits in the pool.
    made = self_signed(tmp_path, "a.test")
    if made is None:
        pytest.skip("needs the openssl command")
    server_tls, client_tls = made

    async def resolve(host: str, port: int) -> list[str]:
        return ["127.0.0.1"]

    with Receiver(tls=server_tls) as receiver:
        log = EventLog(db_path)
        try:
            a, b = (
                webhook_subscriptions.add(
                    SqliteWebhookStore(log.conn),
                    f"https://{name}:{receiver.port}/hook",
                    allow_private=True,
                ).id
                for name in ("a.test", "b.test")
            )
        finally:
            log.close()
        appended = notes(invoke, "one", "two", "three")
        with BackgroundDeliverer(db_path, PATIENT, resolver=resolve, tls_context=client_tls):
            # b.test keeps retrying while a.test's connection idles in the pool.
            wait_for(
                lambda: settled_for(db_path, a, 3) and first_attempts(db_path, b) >= 5,
                what=diagnosis(db_path, receiver),
            )
    assert {r.headers["host"] for r in receiver.requests} == {f"a.test:{receiver.port}"}
    assert positions_of(receiver.accepted) == appended
    refused = deliveries(db_path, b)
    assert [d["status"] for d in refused] == ["pending"] * 3
    assert "certificate is not valid for 'b.test'" in refused[0]["last_error"]


# -- the retry policy, the SSRF rules and the queue's reads, directly --------------------


def test_retry_after_is_a_minimum_never_a_shortcut_through_the_schedule() -> None:
    policy = RetryPolicy(parse_schedule("5m,2h"), jitter=0.2)
    # A short Retry-After does not replace the backoff (it would burn every attempt
    # in seconds); a long one is waited out.
    first = policy.delay(1, retry_after=1.0)
    assert first is not None and first >= 240
    assert policy.delay(1, retry_after=3 * 3600.0) == 3 * 3600.0
    assert policy.delay(3, retry_after=1.0) is None  # exhausted: dead-lettered


def test_the_due_query_reads_only_the_heads_that_are_due(
    invoke: Invoke, db_path: Path, day_open: None
) -> None:
    from pysqlite3 import dbapi2 as sqlite3

    conn = sqlite3.connect(str(db_path))
    try:
        # The query `liveblog run` makes every tick, as the planner will run it.
        plan = " ".join(
            str(row[-1])
            for row in conn.execute(f"EXPLAIN QUERY PLAN {sqlite_webhook_queue.DUE_SQL}", (0.0,))
        )
    finally:
        conn.close()
    # Only the heads that are due, by their index: never the deliveries (their history
    # grows for ever) nor every subscription.
    assert plan == "SEARCH webhook_queue_heads USING INDEX webhook_queue_heads_due (due_at<?)", plan
