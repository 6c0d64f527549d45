"""The remote CLI against a real `liveblog serve`: LIVEBLOG_SERVER / LIVEBLOG_TOKEN switch
reporting commands to the HTTP API; what cannot reach the server is queued under
LIVEBLOG_STATE_DIR and sent, in order and once in effect, by the next command or
`liveblog sync`.

Each test's reporter is a "laptop": a workspace of its own whose events.db must never
be created (remote mode writes nothing locally) and whose state directory holds the
outbox.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from receivers import Receiver
from servers import Api, Proc, Service, Workspace, assert_refused, draft, wait_until
from standardwebhooks import Webhook

CONF = "remote-conf"
FEED_SECONDS = 2.0  # the product's promise: a post is in the feeds and at the webhooks in 2 s
EVENT_LINE = re.compile(r"^#(\d+) (\S+) ([0-9a-f]{8})\b")
QUEUED_LINE = re.compile(r"^queued (\S+) ([0-9a-f]{8}) \((.*)\); (\d+) waiting: ")


@dataclass
class Remote:
    """A server workspace, its `serve`, and a webhook receiver subscribed to it."""

    ws: Workspace
    service: Service
    token: str  # reporter "ann"
    receiver: Receiver
    secret: str

    def laptop(self, root: Path) -> Laptop:
        return Laptop(Workspace(root), self.service.url, self.token)

    def log(self) -> list[dict[str, Any]]:
        api = Api(self.service.url, self.token)
        try:
            events: list[dict[str, Any]] = api.events(limit=10_000)["events"]
            return events
        finally:
            api.close()


@dataclass
class Laptop:
    """A reporter's machine: the CLI in remote mode."""

    ws: Workspace
    server: str
    token: str | None

    def cli(self, *args: str, **kwargs: Any) -> Proc:
        kwargs.setdefault("server", self.server)
        kwargs.setdefault("token", self.token)
        kwargs.setdefault("author", "not-ann")  # the token decides the author, not this
        return self.ws.cli(*args, **kwargs)

    def ok(self, *args: str) -> list[str]:
        proc = self.cli(*args)
        assert proc.returncode == 0, (args, proc.stdout, proc.stderr)
        assert proc.stderr == "", proc.stderr
        return proc.out

    def outbox(self) -> list[dict[str, Any]]:
        return self.ws.outbox()

    def rejected(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for path in sorted(self.ws.state_dir.glob("rejected-*.jsonl")):
            found.extend(json.loads(x) for x in path.read_text().splitlines() if x.strip())
        return found

    def wrote_nothing_locally(self) -> bool:
        return not self.ws.db.exists()


def event_line(line: str, type_: str) -> str:
    """The 8-character id prefix of a `#N TYPE ID…` line, checking its type."""
    match = EVENT_LINE.match(line)
    assert match, line
    assert match.group(2) == type_, line
    return match.group(3)


@pytest.fixture(scope="module")
def remote(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Remote]:
    ws = Workspace(tmp_path_factory.mktemp("remote-server"))
    token = ws.token("ann")
    with Receiver() as receiver:
        added = ws.ok("webhook", "add", receiver.url, "--allow-private", "--json")
        secret = json.loads(added[0])["secret"]
        service = Service(ws)
        with service:
            laptop = Laptop(Workspace(tmp_path_factory.mktemp("setup-laptop")), service.url, token)
            laptop.ok("conference", "open", CONF, "--title", "Remote Conf")
            laptop.ok("day", "open", "1")
            yield Remote(ws, service, token, receiver, secret)
            service.stop()  # its exit status: test_service.test_serve_exits_0_on_a_signal


# -- posting -------------------------------------------------------------------------------


def test_a_remote_post_is_in_the_feed_and_at_the_webhook_within_2_s(
    remote: Remote, tmp_path: Path
) -> None:
    laptop = remote.laptop(tmp_path)
    text = f"The room is full {uuid.uuid4().hex}"
    proc = laptop.cli("note", text)
    posted = time.monotonic()
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert len(proc.out) == 1
    prefix = event_line(proc.out[0], "note.posted")
    assert proc.out[0].endswith(text)

    deadline = posted + FEED_SECONDS

    def served() -> bool:
        response = httpx.get(f"{remote.service.feeds_url}/{CONF}/live.json", timeout=5)
        return response.status_code == 200 and text in response.text

    wait_until(served, max(deadline - time.monotonic(), 0), what="the note in live.json")

    def delivered() -> list[Any]:
        return [
            r
            for r in remote.receiver.accepted
            if r.json["type"] == "note.posted" and r.json["data"]["data"]["text"] == text
        ]

    found = wait_until(
        delivered, max(deadline - time.monotonic(), 0), what="the note at the webhook"
    )
    request = found[0]
    Webhook(remote.secret).verify(request.body, request.headers)  # signed, per the spec
    event = request.json["data"]
    assert event["id"].startswith(prefix)
    assert event["author"] == "ann"  # the token's reporter, not LIVEBLOG_AUTHOR
    assert event["conference"] == CONF

    stored = [e for e in remote.log() if e["id"] == event["id"]]
    assert stored == [event]
    assert laptop.outbox() == []
    assert laptop.wrote_nothing_locally()


def test_the_remote_cli_reports_with_the_servers_context(remote: Remote, tmp_path: Path) -> None:
    """The server derives the context: the session and talk are the token's reporter's."""
    laptop = remote.laptop(tmp_path)
    started = laptop.ok("session", "start", "Remote session", "--room", "Hall 2")
    event_line(started[-1], "session.started")
    laptop.ok("talk", "start", "Remote talk", "--speaker", "Grace Hopper", "--org", "Navy")
    quoted = laptop.ok("quote", "It is easier to ask forgiveness")
    prefix = event_line(quoted[0], "quote.captured")
    corrected = laptop.ok("correct", "--last", "It's easier to ask forgiveness")
    event_line(corrected[0], "entry.corrected")
    ended = laptop.ok("session", "end")
    assert [EVENT_LINE.match(x).group(2) for x in ended] == [  # type: ignore[union-attr]
        "talk.ended",
        "session.ended",
    ]

    log = remote.log()
    quote = next(e for e in log if e["id"].startswith(prefix))
    assert quote["data"]["speaker"] == "Grace Hopper"
    assert quote["author"] == "ann"
    correction = next(e for e in log if e["type"] == "entry.corrected")
    assert correction["data"]["target"] == quote["id"]
    assert laptop.outbox() == []
    assert laptop.wrote_nothing_locally()


# -- refusals --------------------------------------------------------------------------------


def test_remote_mode_without_a_token_is_refused(remote: Remote, tmp_path: Path) -> None:
    laptop = remote.laptop(tmp_path)
    laptop.token = None
    before = len(remote.log())
    for args in (["note", "no token"], ["sync"]):
        message = assert_refused(laptop.cli(*args))
        assert "LIVEBLOG_TOKEN" in message
        assert "token create" in message
    assert len(remote.log()) == before
    assert laptop.outbox() == []
    assert laptop.wrote_nothing_locally()


def test_a_wrong_token_is_refused_and_not_queued(remote: Remote, tmp_path: Path) -> None:
    laptop = remote.laptop(tmp_path)
    before = len(remote.log())
    for token in ("lbt_" + "x" * 43, "not-even-a-token"):
        laptop.token = token
        message = assert_refused(laptop.cli("note", "with a wrong token"))
        assert "refused the token" in message
        assert "LIVEBLOG_TOKEN" in message
    assert len(remote.log()) == before
    assert laptop.outbox() == []  # retrying will not help: nothing is queued
    assert laptop.wrote_nothing_locally()


def test_a_command_the_server_refuses_is_one_line_and_not_queued(
    remote: Remote, tmp_path: Path
) -> None:
    laptop = remote.laptop(tmp_path)
    before = len(remote.log())
    message = assert_refused(laptop.cli("quote", "Nobody is talking"))
    assert "whose words" in message
    assert remote.service.url in message
    message = assert_refused(laptop.cli("note", "elsewhere", "--conference", "no-such-conf"))
    assert "no-such-conf" in message
    assert len(remote.log()) == before
    assert laptop.outbox() == []


def test_sync_without_liveblog_server_is_refused(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    message = assert_refused(ws.cli("sync"))
    assert "LIVEBLOG_SERVER is not set" in message
    assert not ws.db.exists()


def test_a_server_url_without_a_scheme_is_refused(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    message = assert_refused(ws.cli("note", "x", server="127.0.0.1:8000", token="lbt_x"))
    assert "http://" in message
    assert ws.outbox() == []
    assert not ws.db.exists()


def test_sync_with_nothing_queued(remote: Remote, tmp_path: Path) -> None:
    proc = remote.laptop(tmp_path).cli("sync")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    assert proc.err == ["nothing queued"]


# -- offline: the outbox ----------------------------------------------------------------------


def queued(laptop: Laptop, *args: str, waiting: int) -> str:
    """A command run while the server is down: exit 0, one line saying it was queued."""
    proc = laptop.cli(*args)
    assert proc.returncode == 0, (args, proc.stderr)
    assert proc.stderr == ""
    assert len(proc.out) == 1, proc.stdout
    match = QUEUED_LINE.match(proc.out[0])
    assert match, proc.out[0]
    assert int(match.group(4)) == waiting, proc.out[0]
    assert "liveblog sync" in proc.out[0]
    return match.group(2)


def texts(events: list[dict[str, Any]]) -> list[str]:
    return [e["data"]["text"] for e in events if e["type"] in ("note.posted", "quote.captured")]


@pytest.mark.slow
def test_the_queue_drains_in_order_after_the_server_is_killed_and_restarted(
    tmp_path: Path,
) -> None:
    ws = Workspace(tmp_path / "server")
    token = ws.token("ann")
    service = Service(ws)
    laptop = Laptop(Workspace(tmp_path / "laptop"), service.url, token)
    with service:
        api = Api(service.url, token)
        opened = api.post(
            [
                draft("open", "conference.opened", "c1", title="Offline"),
                draft("day", "day.opened", "c1", number=1),
                draft("session", "session.started", "c1", title="Morning"),
                draft("talk", "talk.started", "c1", title="Resilience", speaker="Ada Lovelace"),
            ]
        )
        assert opened.status_code == 201, opened.text
        api.close()
        laptop.ok("note", "n0")

        # Killed mid-coverage: every command still succeeds, saying it was queued.
        service.kill()
        ids = [
            queued(laptop, "note", "n1", waiting=1),
            queued(laptop, "quote", "q1", waiting=2),
            queued(laptop, "note", "n2", waiting=3),
        ]
        outbox = laptop.outbox()
        assert [d["id"][:8] for d in outbox] == ids
        assert [d["data"]["text"] for d in outbox] == ["n1", "q1", "n2"]
        assert len({d["id"] for d in outbox}) == 3
        typed_before = dt.datetime.now(dt.UTC)

        # Back: the next command sends the queue first, in order, then itself.
        service.start()
        out = laptop.ok("note", "n3")
        assert len(out) == 4, out
        sent_types = ["note.posted", "quote.captured", "note.posted", "note.posted"]
        printed = [event_line(x, t) for x, t in zip(out, sent_types, strict=True)]
        assert printed[:3] == ids
        assert laptop.outbox() == []

        log = json_log(service, token)
        assert texts(log) == ["n0", "n1", "q1", "n2", "n3"]
        quote = next(e for e in log if e["type"] == "quote.captured")
        assert quote["data"]["speaker"] == "Ada Lovelace"  # the context when it is applied
        assert {e["author"] for e in log} == {"ann"}
        for event in log:
            if event["id"][:8] in ids:  # a queued draft keeps the moment it was typed
                occurred = dt.datetime.fromisoformat(event["occurred_at"])
                assert occurred <= typed_before
                assert occurred <= dt.datetime.fromisoformat(event["recorded_at"])

        # Down again: now `liveblog sync` sends them, and one that is wrong for good
        # (a quote after the talk ended) is set aside with a warning.
        service.kill()
        queued(laptop, "note", "n4", waiting=1)
        queued(laptop, "talk", "end", waiting=2)
        queued(laptop, "quote", "orphan words", waiting=3)
        queued(laptop, "note", "n5", waiting=4)

        still_down = laptop.cli("sync")
        message = assert_refused(still_down)
        assert "4 still queued" in message
        assert "cannot be reached" in message
        assert len(laptop.outbox()) == 4

        service.start()
        # The first queued draft reached the server but its answer was lost on the way
        # back: the server has it, the outbox still holds it.
        first = laptop.outbox()[0]
        api = Api(service.url, token)
        answered = api.post(first)
        assert answered.status_code == 201, answered.text
        assert api.post(first).json()["created"] is False
        api.close()

        synced = laptop.cli("sync")
        assert synced.returncode == 0, synced.stderr
        assert [EVENT_LINE.match(x).group(2) for x in synced.out] == [  # type: ignore[union-attr]
            "note.posted",
            "talk.ended",
            "note.posted",
        ]
        warnings = [x for x in synced.err if x.startswith("Warning: ")]
        assert len(warnings) == 1, synced.stderr
        assert "quote.captured" in warnings[0]
        assert "was refused" in warnings[0]
        assert "whose words" in warnings[0]
        assert "rejected-" in warnings[0]
        assert synced.err[-1] == "sent 3 queued drafts"
        assert "Traceback" not in synced.stderr

        assert laptop.outbox() == []
        rejected = laptop.rejected()
        assert [r["draft"]["data"]["text"] for r in rejected] == ["orphan words"]
        assert "whose words" in rejected[0]["error"]

        log = json_log(service, token)
        assert texts(log) == ["n0", "n1", "q1", "n2", "n3", "n4", "n5"]
        ids_in_log = [e["id"] for e in log]
        assert len(ids_in_log) == len(set(ids_in_log))
        assert [e["type"] for e in log][-3:] == ["note.posted", "talk.ended", "note.posted"]

        again = laptop.cli("sync")
        assert again.returncode == 0, again.stderr
        assert again.err == ["nothing queued"]
        assert laptop.wrote_nothing_locally()
        service.stop()


def json_log(service: Service, token: str) -> list[dict[str, Any]]:
    """The server's whole log, through its API."""
    api = Api(service.url, token)
    try:
        events: list[dict[str, Any]] = api.events(limit=10_000)["events"]
        return events
    finally:
        api.close()


# -- answers that are not the API's ------------------------------------------------------


@pytest.mark.parametrize(
    "reply",
    [
        {"status": 302, "headers": {"Location": "https://portal.example/login"}},
        {"status": 429, "headers": {"Retry-After": "5"}},
        {"status": 408},
        {"status": 200, "headers": {"Content-Type": "text/html"}, "body": b"<h1>Wifi</h1>"},
        {"status": 404, "headers": {"Content-Type": "text/html"}, "body": b"no such page"},
    ],
    ids=["captive-portal-302", "429", "408", "html-200", "proxy-404"],
)
def test_an_answer_that_is_not_the_apis_queues_the_draft(
    tmp_path: Path, reply: dict[str, Any]
) -> None:
    """A captive portal, a proxy or a busy server says nothing about the draft: it is
    kept (never lost, never set aside as refused) for the real server later."""
    from receivers import Reply

    with Receiver(default=Reply(**reply)) as portal:
        laptop = Laptop(Workspace(tmp_path / "laptop"), portal.url.rstrip("/"), "lbt_x")
        proc = laptop.cli("note", "typed behind a portal")
        assert proc.returncode == 0, (proc.stdout, proc.stderr)
        assert QUEUED_LINE.match(proc.out[0]), proc.out
        assert portal.requests, "the CLI did try the server"
    assert [d["data"]["text"] for d in laptop.outbox()] == ["typed behind a portal"]
    assert laptop.rejected() == []


def test_a_line_cut_short_in_the_outbox_is_skipped(tmp_path: Path) -> None:
    """A crash while queuing leaves a partial last line: that draft was never reported
    queued; the ones before it still are, and later commands are not blocked."""
    from liveblog.cli.remote import Outbox

    outbox = Outbox("http://127.0.0.1:9", tmp_path)
    outbox.add({"id": "a1", "type": "note.posted", "data": {"text": "kept"}})
    with open(outbox.path, "a", encoding="utf-8") as handle:
        handle.write('{"id": "a2", "type": "note.po')
    assert [d["id"] for d in outbox.pending()] == ["a1"]
    outbox.add({"id": "a3", "type": "note.posted", "data": {"text": "after"}})
    assert [d["id"] for d in outbox.pending()] == ["a1", "a3"]


def test_a_flush_sends_the_whole_queue_over_one_connection(tmp_path: Path) -> None:
    """On poor wifi every new connection (and TLS handshake) is one more chance to fail."""
    from receivers import Reply

    from liveblog.cli.remote import Outbox

    event = {
        "id": "e1",
        "type": "note.posted",
        "conference": CONF,
        "occurred_at": "2026-11-22T10:00:00+00:00",
        "recorded_at": "2026-11-22T10:00:01+00:00",
        "author": "ann",
        "position": 7,
        "version": 7,
        "schema_version": 1,
        "data": {"day": 1, "session": None, "talk": None, "text": "sent"},
    }
    answer = json.dumps({"created": True, "events": [event]}).encode()
    with Receiver(
        default=Reply(status=201, headers={"Content-Type": "application/json"}, body=answer)
    ) as server:
        laptop = Laptop(Workspace(tmp_path / "laptop"), server.url.rstrip("/"), "lbt_x")
        outbox = Outbox(laptop.server, laptop.ws.state_dir)
        for n in range(3):
            outbox.add({"id": f"d{n}", "type": "note.posted", "data": {"text": f"n{n}"}})
        proc = laptop.cli("sync")
        assert proc.returncode == 0, (proc.stdout, proc.stderr)
        assert [json.loads(r.body)["id"] for r in server.requests] == ["d0", "d1", "d2"]
        assert {r.connection for r in server.requests} == {server.requests[0].connection}
    assert laptop.outbox() == []
