"""Webhooks as their users drive them: `liveblog webhook …`, `liveblog run`, `liveblog
status` and `liveblog rebuild`, against real events.db files and real HTTP receivers.

The deliverer restarts (SIGTERM, SIGKILL) use real `liveblog run --no-feeds` processes
(forked by a launcher that imported liveblog, tests/forkcli.py);
the rest run the CLI in-process, with the deliverer in a thread where one is needed.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, Protocol

import click
import pytest
from click.testing import Result
from forkcli import ForkedProcess, needs_fresh, spawn_liveblog
from pysqlite3 import dbapi2 as sqlite3
from receivers import (
    DEADLINE_SECONDS,
    BackgroundDeliverer,
    Received,
    Receiver,
    Reply,
    deliveries,
    query,
    settled,
    wait_for,
)
from standardwebhooks import Webhook

from liveblog.cli.main import cli
from liveblog.webhooks import DeliveryOptions, RetryPolicy, parse_schedule

LIVEBLOG = [sys.executable, "-m", "liveblog"]
Invoke = Callable[..., Result]
FAST = DeliveryOptions(retry=RetryPolicy(parse_schedule("50ms,50ms,50ms,50ms")), timeout=5.0)
# Retries for ~20 s: nothing is dead-lettered while a receiver is down in a test.
PATIENT_SCHEDULE = ",".join(["100ms"] * 200)
WEBHOOK_TABLES = (
    "webhook_subscriptions",
    "webhook_deliveries",
    "webhook_summaries",
    "webhook_summary_checks",
)
APPENDED = re.compile(r"^#(\d+) ([a-z]+\.[a-z]+) ")


class Proc(Protocol):
    returncode: int
    stdout: str
    stderr: str


RunCli = Callable[..., Proc]


# -- helpers -------------------------------------------------------------------------


def lines(text: str) -> list[str]:
    return text.split("\n")[:-1] if text else []


def ok(result: Result | Proc) -> list[str]:
    code = result.exit_code if isinstance(result, Result) else result.returncode
    assert code == 0, (result.stdout, result.stderr)
    return lines(result.stdout)


def refused(result: Result | Proc) -> str:
    """Exit 1, one `Error:` line on stderr, nothing on stdout, no traceback."""
    code = result.exit_code if isinstance(result, Result) else result.returncode
    assert code == 1, (result.stdout, result.stderr)
    assert result.stdout == ""
    err = lines(result.stderr)
    assert len(err) == 1, result.stderr
    assert err[0].startswith("Error: ")
    assert "Traceback" not in result.stderr
    return err[0]


def subscribe(invoke: Invoke, url: str, *args: str) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(
        ok(invoke("webhook", "add", url, "--allow-private", "--json", *args))[0]
    )
    return found


def listed(invoke: Invoke) -> list[dict[str, Any]]:
    return [json.loads(line) for line in ok(invoke("webhook", "list", "--json"))]


def status_of(invoke: Invoke, subscription: str) -> dict[str, Any]:
    [found] = [s for s in listed(invoke) if s["id"] == subscription]
    return found


def positions(out: list[str]) -> list[int]:
    """The positions named by a reporting command's output lines."""
    found = [APPENDED.match(line) for line in out]
    assert all(found), out
    return [int(m[1]) for m in found if m]


def notes(run: Callable[..., Any], *texts: str) -> list[int]:
    return [p for text in texts for p in positions(ok(run("note", text)))]


def webhook_rows(db_path: Path) -> dict[str, list[tuple[Any, ...]]]:
    return {t: query(db_path, f"SELECT * FROM {t} ORDER BY 1") for t in WEBHOOK_TABLES}


def message_positions(requests: list[Received]) -> list[int]:
    return [r.json["data"]["position"] for r in requests]


def env_for(db_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIVEBLOG_")}
    env.update(LIVEBLOG_DB=str(db_path), LIVEBLOG_AUTHOR="ann")
    return env


class RunProcess:
    """`liveblog run --no-feeds …` as a real process, its output kept in a file."""

    def __init__(self, db_path: Path, tmp_path: Path, *args: str) -> None:
        self.db_path = db_path
        self.args = ["run", "--no-feeds", *args]
        self.cwd = tmp_path
        self.out_path = tmp_path / f"run-{os.urandom(4).hex()}.log"
        self.proc: subprocess.Popen[bytes] | ForkedProcess | None = None
        self._out: IO[bytes] | None = None

    def __enter__(self) -> RunProcess:
        self._out = open(self.out_path, "wb")
        env = env_for(self.db_path)
        if needs_fresh(env):
            self.proc = subprocess.Popen(
                [*LIVEBLOG, *self.args],
                env=env,
                cwd=self.cwd,
                stdout=self._out,
                stderr=subprocess.STDOUT,
            )
        else:  # forked by a launcher that imported liveblog (forkcli.py)
            self.proc = spawn_liveblog(
                self.args, env=env, cwd=self.cwd, stdout=self.out_path, stderr=self.out_path
            )
        return self

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=DEADLINE_SECONDS)

    @property
    def output(self) -> str:
        return self.out_path.read_text(errors="replace")

    def __exit__(self, *exc: object) -> None:
        assert self.proc is not None and self._out is not None
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=DEADLINE_SECONDS)
        self._out.close()


def open_day(run: Callable[..., Any]) -> None:
    ok(
        run(
            "conference",
            "open",
            "socitm-2011",
            "--title",
            "SOCITM 2011",
            "--at",
            "2011-06-09T08:30",
        )
    )
    ok(run("day", "open", "2", "--at", "2011-06-09T09:00"))


# -- webhook add: the SSRF rules -----------------------------------------------------

REFUSED_URLS = [
    "http://127.0.0.1/hook",
    "http://127.0.0.1:8080/hook",
    "http://127.200.1.1/",
    "http://10.0.0.1/",
    "http://172.16.0.1/",
    "http://192.168.0.10:3000/in",
    "http://169.254.10.10/",
    "http://169.254.169.254/latest/meta-data/",
    "http://100.100.100.200/",
    "http://100.64.0.1/",
    "http://0.0.0.0/",
    "http://[::1]/",
    "http://[::1]:8000/hook",
    "http://[::]/",
    "http://[fe80::1]/",
    "http://[fd12:3456::1]/",
    "http://[fd00:ec2::254]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:7f00:1]/",
    "http://[::ffff:169.254.169.254]/",
    "http://[2002:7f00:1::]/",
    "http://[64:ff9b::7f00:1]/",
    "http://[::7f00:1]/",  # IPv4-compatible 127.0.0.1
    "http://[::ffff:0:7f00:1]/",  # IPv4-translated 127.0.0.1
    "http://[100::1]/",  # discard-only, outside global unicast
    "http://224.0.0.1/",
    "http://[ff02::1]/",
    "http://2130706433/",  # 127.0.0.1 as one decimal number
    "http://0x7f000001/",  # … in hex
    "http://0177.0.0.1/",  # … with an octal first part
    "http://127.1/",
    "http://0/",
    "http://localhost/",
    "http://localhost:8080/hook",
    "https://LOCALHOST/",
]


@pytest.mark.parametrize("url", REFUSED_URLS)
def test_webhook_add_refuses_non_public_addresses(
    url: str, invoke: Invoke, db_path: Path, day_open: None
) -> None:
    before = webhook_rows(db_path)
    message = refused(invoke("webhook", "add", url))
    assert "refused" in message
    assert webhook_rows(db_path) == before
    assert listed(invoke) == []


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://localhost:9/hook", "host localhost refused: 127.0.0.1 is a loopback address"),
        ("http://2130706433/", "127.0.0.1 is a loopback address"),
        ("http://[::ffff:127.0.0.1]/", "127.0.0.1 is a loopback address (as ::ffff:7f00:1)"),
        ("http://10.1.2.3/", "10.1.2.3 is a private address"),
        ("http://[fe80::1]/", "fe80::1 is a link-local address"),
    ],
)
def test_a_refusal_says_why_and_how_to_allow_it(
    url: str, shown: str, invoke: Invoke, day_open: None
) -> None:
    message = refused(invoke("webhook", "add", url))
    assert shown in message
    assert message.endswith("(--allow-private permits it)")


def test_a_refusal_in_a_real_process(run_cli: RunCli, db_path: Path) -> None:
    message = refused(run_cli("webhook", "add", "http://localhost:8080/hook"))
    assert message == (
        "Error: webhook host localhost refused: 127.0.0.1 is a loopback address "
        "(--allow-private permits it)"
    )
    assert ok(run_cli("webhook", "list", "--json")) == []


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/hook",
        "http://localhost:9/hook",
        "http://[::1]:9/hook",
        "http://10.1.2.3/hook",
        "http://[::ffff:192.168.1.1]/hook",
        "http://2130706433:9/",
    ],
)
def test_allow_private_permits_loopback_and_private_addresses(
    url: str, invoke: Invoke, day_open: None
) -> None:
    sub = subscribe(invoke, url)
    assert sub["url"] == url and sub["allow_private"] is True
    assert [s["id"] for s in listed(invoke)] == [sub["id"]]


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://169.254.170.2/v2/credentials",
        "http://100.100.100.200/",
        "http://[fd00:ec2::254]/",
        "http://[::ffff:169.254.169.254]/",
        "http://2852039166/",  # 169.254.169.254 as one number
    ],
)
def test_metadata_addresses_stay_refused_with_allow_private(
    url: str, invoke: Invoke, db_path: Path, day_open: None
) -> None:
    before = webhook_rows(db_path)
    message = refused(invoke("webhook", "add", url, "--allow-private"))
    assert "cloud metadata address" in message
    assert "--allow-private" not in message
    assert webhook_rows(db_path) == before


# -- webhook add: other input --------------------------------------------------------

BAD_ADD = [
    ("ftp://example.org/hook",),
    ("example.org/hook",),
    ("http://",),
    ("http:///hook",),
    ("http://user:pw@127.0.0.1/hook", "--allow-private"),
    ("http://127.0.0.1/hook#part", "--allow-private"),
    ("http://127.0.0.1/a hook", "--allow-private"),
    ("http://127.0.0.1:99999/hook", "--allow-private"),
    ("http://127.0.0.1/" + "a" * 2001, "--allow-private"),
    ("http://127.0.0.1/hook", "--allow-private", "--event", "quote.capture"),
    ("http://127.0.0.1/hook", "--allow-private", "--event", "nothing.*"),
    ("http://127.0.0.1/hook", "--allow-private", "--event", ""),
    ("http://127.0.0.1/hook", "--allow-private", "--event", "quote.*", "--event", "bogus"),
    ("http://127.0.0.1/hook", "--allow-private", "--conference", "Not A Slug"),
    ("http://127.0.0.1/hook", "--allow-private", "--secret", "hunter2hunter2"),
    ("http://127.0.0.1/hook", "--allow-private", "--secret", "whsec_c2hvcnQgc2VjcmV0"),
    ("http://127.0.0.1/hook", "--allow-private", "--secret", "whsec_!!not*base64!!"),
]


@pytest.mark.parametrize("args", BAD_ADD, ids=[" ".join(a)[:60] for a in BAD_ADD])
def test_webhook_add_refuses_bad_input(
    args: tuple[str, ...], invoke: Invoke, db_path: Path, day_open: None
) -> None:
    before = webhook_rows(db_path)
    message = refused(invoke("webhook", "add", *args))
    assert webhook_rows(db_path) == before
    if "--secret" in args:
        secret = args[args.index("--secret") + 1]
        assert secret not in message  # a secret is never echoed, even a wrong one


def test_webhook_commands_refuse_unknown_ids_and_change_nothing(
    invoke: Invoke, db_path: Path, day_open: None
) -> None:
    sub = subscribe(invoke, "http://127.0.0.1:9/hook")
    before = webhook_rows(db_path)
    for args in [
        ("remove", "wh_nope"),
        ("enable", "wh_nope"),
        ("disable", "wh_nope"),
        ("deliveries", "wh_nope"),
        ("redeliver", "999"),
        ("redeliver", "--since", "0", "--subscription", "wh_nope"),
        ("remove", ""),
        ("enable", sub["id"]),  # already active
    ]:
        message = refused(invoke("webhook", *args))
        assert message, args
        assert webhook_rows(db_path) == before, args
    for args in [
        ("redeliver",),
        ("redeliver", "1", "--since", "0"),
        ("redeliver", "1", "--subscription", sub["id"]),
        ("redeliver", "--since", "-1"),
        ("add",),
        ("deliveries", "--status", "lost"),
    ]:
        result = invoke("webhook", *args)
        assert result.exit_code == 2, (args, result.output)
        assert webhook_rows(db_path) == before, args


def test_an_id_prefix_names_a_subscription(invoke: Invoke, day_open: None) -> None:
    sub = subscribe(invoke, "http://127.0.0.1:9/hook")
    out = ok(invoke("webhook", "disable", sub["id"][:6]))
    assert out == [f"disabled webhook {sub['id']}"]
    assert listed(invoke)[0]["status"] == "disabled"
    assert listed(invoke)[0]["status_reason"] == "disabled by hand"
    ok(invoke("webhook", "enable", sub["id"][:6]))
    assert ok(invoke("webhook", "remove", sub["id"])) == [
        f"removed webhook {sub['id']} (http://127.0.0.1:9/hook)"
    ]
    assert listed(invoke) == []


# -- the secret ----------------------------------------------------------------------


def test_the_secret_is_printed_once_by_add_and_never_again(
    invoke: Invoke, db_path: Path, day_open: None
) -> None:
    with Receiver() as receiver:
        result = invoke("webhook", "add", receiver.url, "--allow-private")
        out = ok(result)
        assert len(out) == 2
        assert re.fullmatch(
            rf"added webhook wh_[0-9a-f]+ for {re.escape(receiver.url)} \(.*\)", out[0]
        )
        match = re.fullmatch(r"secret: (whsec_[A-Za-z0-9+/=]+)", out[1])
        assert match, out
        secret = match[1]
        assert "not shown again" in result.stderr
        notes(invoke, "signed")
        with BackgroundDeliverer(db_path, FAST):
            wait_for(lambda: settled(db_path) and receiver.accepted)
    # The printed secret is the one that signs.
    assert Webhook(secret).verify(receiver.accepted[0].body, receiver.accepted[0].headers)
    key_text = secret.removeprefix("whsec_")
    for args in [
        ("webhook", "list"),
        ("webhook", "list", "--json"),
        ("webhook", "deliveries"),
        ("webhook", "deliveries", "--json"),
        ("status",),
        ("status", "--json"),
    ]:
        shown = invoke(*args)
        assert shown.exit_code == 0, (args, shown.output)
        assert key_text not in shown.output, args
    # Another subscription gets a secret of its own.
    other = subscribe(invoke, receiver.url)
    assert other["secret"] != secret


def test_a_given_secret_is_used(invoke: Invoke, db_path: Path, day_open: None) -> None:
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    with Receiver() as receiver:
        out = ok(invoke("webhook", "add", receiver.url, "--allow-private", "--secret", secret))
        assert out[1] == f"secret: {secret}"
        notes(invoke, "signed with mine")
        with BackgroundDeliverer(db_path, FAST):
            wait_for(lambda: settled(db_path) and receiver.accepted)
    Webhook(secret).verify(receiver.accepted[0].body, receiver.accepted[0].headers)


# -- 410, dead letters, redelivery ---------------------------------------------------


def test_410_disables_the_subscription_until_it_is_enabled(
    invoke: Invoke, db_path: Path, day_open: None
) -> None:
    with Receiver() as gone, Receiver() as witness:
        gone.script(200, 410)
        sub = subscribe(invoke, gone.url)
        subscribe(invoke, witness.url)
        first = notes(invoke, "one", "two", "three")
        with BackgroundDeliverer(db_path, FAST):
            wait_for(lambda: status_of(invoke, sub["id"])["status"] == "disabled")
            later = notes(invoke, "four", "five")
            # The other subscription got the later events: they were queued and sent,
            # and none went to the disabled one.
            wait_for(lambda: message_positions(witness.accepted) == first + later)
            assert [r.status for r in gone.requests] == [200, 410]
            shown = status_of(invoke, sub["id"])
            [line] = [x for x in ok(invoke("webhook", "list")) if x.startswith(sub["id"])]
            stuck = deliveries(db_path, sub["id"])
            assert ok(invoke("webhook", "enable", sub["id"])) == [
                f"enabled webhook {sub['id']}: delivery resumes from its queue"
            ]
            wait_for(lambda: settled(db_path) and len(gone.accepted) == 5)
    assert shown["status"] == "disabled"
    assert shown["status_reason"].startswith("the receiver answered 410 Gone at ")
    assert line.startswith(f"{sub['id']}  disabled (the receiver answered 410 Gone at ")
    assert [(d["status"], d["last_status"]) for d in stuck] == [
        ("delivered", 200),
        ("pending", 410),
        ("pending", None),
    ]
    # Resumed from its queue: the message refused with 410 first, then the rest, in order.
    assert message_positions(gone.accepted) == first + later
    assert gone.requests[1].message_id == gone.requests[2].message_id
    assert status_of(invoke, sub["id"])["status"] == "active"


def test_dead_letters_are_listed_and_redelivered_under_the_same_id(
    invoke: Invoke, db_path: Path, day_open: None
) -> None:
    options = DeliveryOptions(retry=RetryPolicy(parse_schedule("50ms,50ms")), timeout=5.0)
    with Receiver() as receiver:
        receiver.script(500, 500, 500)
        sub = subscribe(invoke, receiver.url)
        appended = notes(invoke, "doomed", "fine")
        with BackgroundDeliverer(db_path, options):
            wait_for(lambda: settled(db_path))
            dead = ok(invoke("webhook", "deliveries", "--status", "dead"))
            dead_json = [
                json.loads(x)
                for x in ok(invoke("webhook", "deliveries", "--status", "dead", "--json"))
            ]
            assert message_positions(receiver.accepted) == appended[1:]
            [row] = dead_json
            out = ok(invoke("webhook", "redeliver", str(row["id"])))
            wait_for(lambda: settled(db_path) and len(receiver.accepted) == 2)
    assert len(dead) == 1
    assert re.fullmatch(
        rf"{row['id']}  dead  {sub['id']}  note.posted @{appended[0]}  attempts 3  "
        r"last: HTTP 500: ok",
        dead[0],
    )
    assert row["status"] == "dead" and row["attempts"] == 3 and row["last_status"] == 500
    assert re.fullmatch(
        rf"queued delivery \d+: note.posted @{appended[0]} to {sub['id']} again "
        rf"\(was delivery {row['id']}\)",
        out[0],
    )
    again = receiver.accepted[-1]
    assert again.message_id == row["message_id"] == receiver.requests[0].message_id
    assert message_positions(receiver.accepted) == [appended[1], appended[0]]
    # The dead letter stays in the history; the redelivery is a delivery of its own.
    assert [d["status"] for d in deliveries(db_path)] == ["dead", "delivered", "delivered"]
    newest = ok(invoke("webhook", "deliveries", sub["id"][:7], "--limit", "1"))
    assert len(newest) == 1 and newest[0].startswith(f"{row['id'] + 2}  delivered  {sub['id']}")
    assert ok(invoke("webhook", "deliveries", "--status", "pending")) == []


def test_a_pending_delivery_is_not_redelivered(
    invoke: Invoke, db_path: Path, day_open: None
) -> None:
    with Receiver(default=500) as receiver:
        subscribe(invoke, receiver.url)
        notes(invoke, "failing")
        ok(invoke("run", "--once", "--no-feeds", "--retry-schedule", "1h"))
    [row] = deliveries(db_path)
    before = webhook_rows(db_path)
    message = refused(invoke("webhook", "redeliver", str(row["id"])))
    assert "still pending" in message
    assert webhook_rows(db_path) == before


def test_redeliver_since_resends_everything_after_the_position_in_order(
    invoke: Invoke, db_path: Path, day_open: None
) -> None:
    with Receiver() as receiver, Receiver() as other:
        sub = subscribe(invoke, receiver.url)
        other_sub = subscribe(invoke, other.url)
        appended = notes(invoke, *(f"note {i}" for i in range(6)))
        with BackgroundDeliverer(db_path, FAST):
            wait_for(lambda: settled(db_path) and len(other.accepted) == 6)
            first_round = [(r.message_id, r.json["data"]["position"]) for r in receiver.accepted]
            since = appended[2]
            out = ok(
                invoke("webhook", "redeliver", "--since", str(since), "--subscription", sub["id"])
            )
            wait_for(lambda: settled(db_path) and len(receiver.accepted) == 9)
            everyone = ok(invoke("webhook", "redeliver", "--since", str(appended[4])))
            wait_for(lambda: settled(db_path) and len(other.accepted) == 7)
    assert out == [f"webhook {sub['id']}: everything after position {since} will be sent again"]
    again = [(r.message_id, r.json["data"]["position"]) for r in receiver.accepted[6:9]]
    assert again == first_round[3:]
    assert len(everyone) == 2 and other_sub["id"] in everyone[1] + everyone[0]
    assert message_positions(other.accepted) == [*appended, appended[5]]
    assert message_positions(receiver.accepted)[9:] == [appended[5]]


def test_redeliver_since_while_messages_are_pending_keeps_the_log_order(
    invoke: Invoke, db_path: Path, day_open: None
) -> None:
    receiver = Receiver()
    receiver.start()
    receiver.stop()  # down: everything stays pending
    sub = subscribe(invoke, receiver.url)
    appended = notes(invoke, *(f"note {i}" for i in range(5)))
    patient = DeliveryOptions(retry=RetryPolicy(parse_schedule(PATIENT_SCHEDULE)), timeout=5.0)
    with BackgroundDeliverer(db_path, patient):
        wait_for(lambda: len(deliveries(db_path)) == 5 and deliveries(db_path)[0]["attempts"])
        ok(invoke("webhook", "redeliver", "--since", str(appended[2]), "--subscription", sub["id"]))
        cancelled = ok(invoke("webhook", "deliveries", "--status", "cancelled", "--json"))
        receiver.start()
        try:
            wait_for(lambda: settled(db_path) and len(receiver.unique_accepted()) == 5)
        finally:
            receiver.stop()
    assert [json.loads(c)["position"] for c in cancelled] == appended[3:][::-1]
    assert message_positions(receiver.unique_accepted()) == appended
    assert message_positions(receiver.accepted) == appended


def test_removing_a_subscription_while_it_is_delivered_leaves_the_others_going(
    invoke: Invoke, db_path: Path, day_open: None
) -> None:
    with Receiver(default=Reply(delay=0.3)) as doomed, Receiver() as other:
        doomed_sub = subscribe(invoke, doomed.url)
        subscribe(invoke, other.url)
        first = notes(invoke, "one", "two", "three")
        with BackgroundDeliverer(db_path, FAST):
            wait_for(lambda: doomed.requests)
            out = ok(invoke("webhook", "remove", doomed_sub["id"]))
            wait_for(lambda: doomed.requests[0].answered_at)
            # Once its attempt is answered, the others still go (and its sender ended
            # cleanly: the harness fails on a sender that died of an exception).
            later = notes(invoke, "four")
            wait_for(lambda: message_positions(other.accepted) == first + later)
            wait_for(lambda: settled(db_path))
        # The attempt in flight finished; none followed it.
        assert len(doomed.requests) == 1
    assert out == [f"removed webhook {doomed_sub['id']} ({doomed.url})"]
    assert deliveries(db_path, doomed_sub["id"]) == []
    assert [s["url"] for s in listed(invoke)] == [other.url]


def test_delivery_ids_are_never_reused_after_a_remove(
    invoke: Invoke, db_path: Path, day_open: None
) -> None:
    with Receiver() as receiver:
        gone = subscribe(invoke, receiver.url)
        notes(invoke, "one", "two")
        assert invoke("run", "--once", "--no-feeds").exit_code == 0
        removed_ids = [row["id"] for row in deliveries(db_path, gone["id"])]
        ok(invoke("webhook", "remove", gone["id"]))
        kept = subscribe(invoke, receiver.url)
        notes(invoke, "three")
        assert invoke("run", "--once", "--no-feeds").exit_code == 0
        new_ids = [row["id"] for row in deliveries(db_path, kept["id"])]
    assert removed_ids and new_ids
    assert min(new_ids) > max(removed_ids)
    # So `redeliver` of a noted id never names someone else's delivery.
    assert refused(invoke("webhook", "redeliver", str(removed_ids[0]))).startswith(
        f"Error: no delivery {removed_ids[0]}"
    )


def test_summary_message_ids_name_the_position_of_their_change(
    invoke: Invoke, db_path: Path, day_open: None
) -> None:
    with Receiver() as receiver:
        subscribe(invoke, receiver.url, "--event", "summary.*")
        notes(invoke, "one")
        closed = positions(ok(invoke("day", "close")))[-1]
        assert invoke("run", "--once", "--no-feeds").exit_code == 0
    (message,) = receiver.accepted
    assert message.headers["webhook-id"] == f"msg_summary_socitm-2011_2_{closed}"
    assert json.loads(message.body)["data"]["position"] == closed


def test_reading_webhook_state_does_not_load_the_http_client(db_path: Path, day_open: None) -> None:
    code = (
        "import sys\n"
        "from liveblog.cli.main import cli\n"
        "for args in (['webhook', 'list'], ['webhook', 'deliveries'], ['status']):\n"
        "    try:\n"
        "        cli(['--db', sys.argv[1], *args], standalone_mode=False)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "print('httpx' in sys.modules)\n"
    )
    found = subprocess.run(
        [sys.executable, "-c", code, str(db_path)], capture_output=True, text=True, check=True
    )
    assert found.stdout.strip().splitlines()[-1] == "False"


# -- status, help, rebuild -----------------------------------------------------------


def test_status_shows_the_webhook_backlog(invoke: Invoke, db_path: Path, day_open: None) -> None:
    # No subscription, no webhook line.
    assert not [x for x in ok(invoke("status")) if x.startswith("webhooks")]
    with Receiver() as receiver:
        subscribe(invoke, receiver.url)
        notes(invoke, "one", "two", "three")
        line = [x for x in ok(invoke("status")) if x.startswith("webhooks:")]
        report = json.loads(ok(invoke("status", "--json"))[0])["webhooks"]
        assert line == [
            "webhooks: 1 of 1 active, 0 pending, 0 dead-lettered, 0 delivered, "
            "up to 3 events not queued yet"
        ]
        assert report["unqueued"] == 3 and report["pending"] == 0
        receiver.script(500)
        once = invoke("run", "--once", "--no-feeds", "--retry-schedule", "1h")
        assert once.exit_code == 0, once.output
        assert "0 delivered, 1 to retry" in once.stderr
        after = json.loads(ok(invoke("status", "--json"))[0])["webhooks"]
        assert (after["pending"], after["delivered"], after["unqueued"]) == (3, 0, 0)
        ok(invoke("webhook", "disable", listed(invoke)[0]["id"]))
        line = [x for x in ok(invoke("status")) if x.startswith("webhooks:")]
        assert line[0].startswith("webhooks: 0 of 1 active, 3 pending")


def test_run_once_delivers_what_is_due(invoke: Invoke, db_path: Path, day_open: None) -> None:
    with Receiver() as receiver:
        subscribe(invoke, receiver.url)
        appended = notes(invoke, "one", "two")
        once = invoke("run", "--once", "--no-feeds")
        assert once.exit_code == 0, once.output
        assert "webhooks: 2 delivered, 0 to retry, 0 dead-lettered" in once.stderr
    assert message_positions(receiver.accepted) == appended
    report = json.loads(ok(invoke("status", "--json"))[0])["webhooks"]
    assert (report["pending"], report["delivered"], report["unqueued"]) == (0, 2, 0)


def _webhook_commands() -> list[tuple[str, click.Command]]:
    group = cli.commands["webhook"]
    assert isinstance(group, click.Group)
    return sorted(group.commands.items())


@pytest.mark.parametrize("name", [name for name, _ in _webhook_commands()])
def test_every_webhook_command_has_help(name: str, invoke: Invoke) -> None:
    command = dict(_webhook_commands())[name]
    result = invoke("webhook", name, "--help")
    assert result.exit_code == 0
    assert "Usage: " in result.stdout and f" webhook {name} " in result.stdout
    assert (command.help or "").strip()
    for param in command.params:
        if isinstance(param, click.Option) and param.name != "help":
            assert (param.help or "").strip(), (name, param.name)
    listing = ok(invoke("webhook", "--help"))
    assert any(re.match(rf"^  {name}\s+\S", x) for x in listing), listing


def test_the_webhook_commands_are_all_there() -> None:
    names = {name for name, _ in _webhook_commands()}
    assert {"add", "list", "remove", "deliveries", "redeliver", "enable", "disable"} <= names


def test_run_has_help_for_its_webhook_options(invoke: Invoke) -> None:
    text = invoke("run", "--help").stdout
    for option in ("--retry-schedule", "--webhook-timeout", "--webhook-concurrency", "--once"):
        assert option in text


def test_bad_retry_schedule_is_refused(invoke: Invoke, day_open: None) -> None:
    message = refused(invoke("run", "--once", "--no-feeds", "--retry-schedule", "5s,soon"))
    assert "'soon'" in message


def test_rebuild_recreates_dropped_webhook_tables_empty(
    invoke: Invoke, db_path: Path, day_open: None
) -> None:
    with Receiver() as receiver:
        subscribe(invoke, receiver.url)
        ok(invoke("session", "start", "Plenary", "--at", "2011-06-09T09:30"))
        ok(invoke("day", "close", "--at", "2011-06-09T17:30"))
        ok(invoke("run", "--once", "--no-feeds"))
        assert len(receiver.accepted) == 4  # session started / ended, day closed, summary
    assert all(webhook_rows(db_path)[t] for t in WEBHOOK_TABLES)
    # `rebuild` alone leaves configuration and delivery history alone.
    ok(invoke("rebuild"))
    assert all(webhook_rows(db_path)[t] for t in WEBHOOK_TABLES)
    conn = sqlite3.connect(str(db_path))
    for table in WEBHOOK_TABLES:
        conn.execute(f"DROP TABLE {table}")
    conn.commit()
    conn.close()
    ok(invoke("rebuild"))
    assert webhook_rows(db_path) == {t: [] for t in WEBHOOK_TABLES}
    assert listed(invoke) == []
    assert ok(invoke("webhook", "deliveries")) == []
    assert json.loads(ok(invoke("status", "--json"))[0])["webhooks"]["subscriptions"] == 0


# -- real processes: the log is the outbox --------------------------------------------


@pytest.mark.slow
def test_the_log_is_the_outbox(run_cli: RunCli, db_path: Path, tmp_path: Path) -> None:
    with Receiver() as receiver:
        open_day(run_cli)
        sub = json.loads(
            ok(run_cli("webhook", "add", receiver.url, "--allow-private", "--json"))[0]
        )
        offline = notes(run_cli, "written while no deliverer runs", "and another")
        with RunProcess(db_path, tmp_path, "--retry-schedule", PATIENT_SCHEDULE) as runner:
            wait_for(lambda: len(receiver.accepted) == 2, what=lambda: runner.output)
            online = notes(run_cli, "written while it runs")
            wait_for(lambda: settled(db_path) and len(receiver.accepted) == 3)
            status = ok(run_cli("status"))
            assert runner.stop(signal.SIGTERM) == 0
        assert "Traceback" not in runner.output
    assert message_positions(receiver.accepted) == offline + online
    for request in receiver.accepted:
        Webhook(sub["secret"]).verify(request.body, request.headers)
    assert any(x.startswith("webhooks: 1 of 1 active, 0 pending, 0 dead-lettered, 3 delivered")
               for x in status)  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_a_receiver_down_across_a_deliverer_restart_loses_nothing(
    sig: signal.Signals, run_cli: RunCli, db_path: Path, tmp_path: Path
) -> None:
    receiver = Receiver().start()
    try:
        open_day(run_cli)
        sub = json.loads(
            ok(run_cli("webhook", "add", receiver.url, "--allow-private", "--json"))[0]
        )
        start = sub["cursor"]
        args = ("--retry-schedule", PATIENT_SCHEDULE)
        with RunProcess(db_path, tmp_path, *args) as first:
            before = notes(run_cli, "a1", "a2")
            wait_for(lambda: len(receiver.accepted) == 2, what=lambda: first.output)
            receiver.stop()
            during = notes(run_cli, "b1", "b2", "b3")
            # The deliverer is trying, and failing, to reach the receiver.
            wait_for(lambda: any(d["last_error"] for d in deliveries(db_path)))
            code = first.stop(sig)
        assert code == (0 if sig == signal.SIGTERM else -signal.SIGKILL)
        assert "Traceback" not in first.output
        after = notes(run_cli, "c1", "c2")  # appended while no deliverer runs
        receiver.start()  # back, on the same port
        with RunProcess(db_path, tmp_path, *args) as second:
            wanted = before + during + after
            wait_for(
                lambda: len(receiver.unique_accepted()) == len(wanted) and settled(db_path),
                what=lambda: second.output,
            )
            assert second.stop(signal.SIGTERM) == 0
    finally:
        receiver.stop()
    exported = [json.loads(x) for x in ok(run_cli("export", "--since", str(start)))]
    assert [e["position"] for e in exported] == wanted
    # At least once: any repeat is the same message under the same id, and the first
    # receipt of each message follows the log order exactly.
    unique = receiver.unique_accepted()
    assert [r.json["data"] for r in unique] == exported
    for request in receiver.accepted:
        Webhook(sub["secret"]).verify(request.body, request.headers)
        assert request.message_id == "msg_" + request.json["data"]["id"]


@pytest.mark.slow
def test_a_deliverer_killed_mid_attempt_sends_the_message_again_under_its_id(
    run_cli: RunCli, db_path: Path, tmp_path: Path
) -> None:
    with Receiver() as receiver:
        open_day(run_cli)
        sub = json.loads(
            ok(run_cli("webhook", "add", receiver.url, "--allow-private", "--json"))[0]
        )
        receiver.script(Reply(delay=2.0))  # the first message is answered slowly
        appended = notes(run_cli, "in flight", "queued behind it")
        with RunProcess(db_path, tmp_path, "--retry-schedule", PATIENT_SCHEDULE) as first:
            wait_for(lambda: receiver.requests, what=lambda: first.output)
            assert first.stop(signal.SIGKILL) == -signal.SIGKILL
        assert [d["attempts"] for d in deliveries(db_path, sub["id"])] == [0, 0]
        with RunProcess(db_path, tmp_path, "--retry-schedule", PATIENT_SCHEDULE) as second:
            wait_for(lambda: settled(db_path) and len(receiver.unique_accepted()) == 2)
            assert second.stop() == 0
    ids = [r.message_id for r in receiver.requests]
    assert ids[0] == ids[1]  # sent again, under the same webhook-id
    assert message_positions(receiver.unique_accepted()) == appended


@pytest.mark.slow
def test_sigterm_finishes_the_attempt_in_flight_and_starts_no_other(
    run_cli: RunCli, db_path: Path, tmp_path: Path
) -> None:
    with Receiver(default=Reply(delay=0.5)) as first, Receiver(default=Reply(delay=0.5)) as second:
        open_day(run_cli)
        ok(run_cli("webhook", "add", first.url, "--allow-private"))
        ok(run_cli("webhook", "add", second.url, "--allow-private"))
        notes(run_cli, *(f"note {i}" for i in range(4)))
        # One attempt on the wire at a time: one subscription waits for the other's,
        # and each has more queued behind its head.
        with RunProcess(db_path, tmp_path, "--webhook-concurrency", "1") as runner:
            wait_for(lambda: first.requests or second.requests, what=lambda: runner.output)
            assert runner.stop(signal.SIGTERM) == 0
        got = first.requests + second.requests
        rows = deliveries(db_path)
    # The attempt on the wire was answered and recorded; nothing else was tried.
    assert len(got) == 1 and got[0].status == 200
    assert (
        sorted((d["status"], d["attempts"]) for d in rows)
        == [("delivered", 1)] + [("pending", 0)] * 7
    )
