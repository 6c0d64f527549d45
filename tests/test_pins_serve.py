"""Pins and key moments over a real `liveblog serve`: the remote CLI (LIVEBLOG_SERVER)
and the API's drafts, both derived from the registry's COMMAND; webhooks filtered to the
new types carry their target and label; `serve --max-streams/--stream-heartbeat`.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from receivers import Receiver
from servers import Api, Proc, Service, Workspace, assert_refused, draft, wait_until
from sse import SseStream

CONF = "pins-conf"
EVENT_LINE = re.compile(r"^#(\d+) (\S+) ([0-9a-f]{8})\b")
DELIVERY_SECONDS = 30.0  # generous: the machine is loaded


@dataclass
class Server:
    ws: Workspace
    service: Service
    ann: str  # a reporter's token
    bob: str  # another reporter's
    editor: str
    receiver: Receiver

    def remote(self, root: Path, token: str) -> Laptop:
        return Laptop(Workspace(root), self.service.url, token)

    def events(self) -> list[dict[str, Any]]:
        api = Api(self.service.url, self.editor)
        try:
            found: list[dict[str, Any]] = api.events(limit=10_000)["events"]
            return found
        finally:
            api.close()


@dataclass
class Laptop:
    ws: Workspace
    server: str
    token: str

    def cli(self, *args: str) -> Proc:
        return self.ws.cli(*args, server=self.server, token=self.token, author="whoever")

    def ok(self, *args: str) -> list[str]:
        proc = self.cli(*args)
        assert proc.returncode == 0, (args, proc.stdout, proc.stderr)
        assert proc.stderr == "", proc.stderr
        return proc.out

    def appended(self, *args: str, type_: str) -> str:
        """A command that appends one event of `type_`; its 8-character id prefix."""
        out = self.ok(*args)
        assert len(out) == 1, out
        match = EVENT_LINE.match(out[0])
        assert match and match.group(2) == type_, out
        return match.group(3)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    ws = Workspace(tmp_path_factory.mktemp("pins-server"))
    ann, bob = ws.token("ann", "reporter"), ws.token("bob", "reporter")
    editor = ws.token("ed", "editor")
    with Receiver() as receiver:
        ws.ok(
            "webhook",
            "add",
            receiver.url,
            "--allow-private",
            "--event",
            "entry.pinned",
            "--event",
            "entry.highlighted",
        )
        with Service(ws) as service:
            setup = Laptop(Workspace(tmp_path_factory.mktemp("setup")), service.url, editor)
            setup.ok("conference", "open", CONF, "--title", "Pins")
            setup.ok("day", "open", "1")
            yield Server(ws, service, ann, bob, editor, receiver)
            service.stop_cleanly()


def full_id(server: Server, prefix: str) -> str:
    return full_id_of(server.service, server.editor, prefix)


def test_the_remote_cli_pins_highlights_and_refuses_as_the_local_one(
    server: Server, tmp_path: Path
) -> None:
    ann = server.remote(tmp_path / "ann", server.ann)
    note = full_id(server, ann.appended("note", f"Remote {uuid.uuid4().hex}", type_="note.posted"))
    pin = ann.appended("pin", "--last", type_="entry.pinned")
    label = f"Key {uuid.uuid4().hex[:8]}"
    highlight = ann.appended("highlight", note[:10], "--label", label, type_="entry.highlighted")

    # The server refuses what the log says is pointless: one line, nothing queued.
    before = len(server.events())
    assert "is already pinned" in assert_refused(ann.cli("pin", note))
    assert "already a key moment" in assert_refused(ann.cli("highlight", note, "--label", label))
    assert "at most 80" in assert_refused(ann.cli("highlight", note, "--label", "x" * 81))
    assert len(server.events()) == before
    assert ann.ws.outbox() == []

    ann.appended("unpin", type_="entry.unpinned")
    # (the remote CLI names the server that refused)
    refused = assert_refused(ann.cli("unpin"))
    assert refused == f"Error: {server.service.url}: nothing is pinned in {CONF}"
    ann.appended("unhighlight", note, type_="entry.unhighlighted")
    assert "is not a key moment" in assert_refused(ann.cli("unhighlight", note))

    events = {e["id"][:8]: e for e in server.events()}
    assert events[pin]["data"] == {"target": note} and events[pin]["author"] == "ann"
    assert events[highlight]["data"] == {"target": note, "label": label}
    assert not ann.ws.db.exists()  # remote mode writes nothing locally

    # The webhook subscribed to entry.pinned and entry.highlighted only.
    def delivered() -> list[dict[str, Any]]:
        ids = {events[pin]["id"], events[highlight]["id"]}
        return [r.json for r in server.receiver.accepted if r.json["data"]["id"] in ids]

    found = wait_until(
        lambda: len(delivered()) == 2 and delivered(), DELIVERY_SECONDS, what="hooks"
    )
    assert sorted((m["type"], json.dumps(m["data"]["data"])) for m in found) == sorted(
        [
            ("entry.pinned", json.dumps({"target": note})),
            ("entry.highlighted", json.dumps({"target": note, "label": label})),
        ]
    )
    kinds = {r.json["type"] for r in server.receiver.accepted}
    assert kinds <= {"entry.pinned", "entry.highlighted"}, kinds


def test_a_reporters_token_marks_only_its_own_entries(server: Server, tmp_path: Path) -> None:
    bob = server.remote(tmp_path / "bob", server.bob)
    ann = server.remote(tmp_path / "ann", server.ann)
    bobs = full_id(server, bob.appended("note", "Bob's note", type_="note.posted"))
    before = len(server.events())
    message = assert_refused(ann.cli("pin", bobs))
    assert "bob's entry" in message and "reporter" in message
    assert len(server.events()) == before
    editor = server.remote(tmp_path / "ed", server.editor)
    editor.appended("pin", bobs, type_="entry.pinned")
    editor.appended("unpin", type_="entry.unpinned")


def test_the_apis_drafts_take_the_new_types(server: Server) -> None:
    api = Api(server.service.url, server.ann)
    try:
        posted = api.post(draft(uuid.uuid4().hex, "note.posted", CONF, text="Via the API"))
        assert posted.status_code == 201, posted.text
        note = posted.json()["events"][0]["id"]
        hl = uuid.uuid4().hex
        body = draft(hl, "entry.highlighted", CONF, target=note[:12], label="API")
        answer = api.post(body)
        assert answer.status_code == 201, answer.text
        assert answer.json()["events"][0]["data"] == {"target": note, "label": "API"}
        again = api.post(body)  # a retried draft: the stored event, nothing appended
        assert again.status_code == 200 and again.json()["events"][0]["id"] == hl
        pinned = api.post(draft(uuid.uuid4().hex, "entry.pinned", CONF, last=True))
        assert pinned.status_code == 201, pinned.text
        assert pinned.json()["events"][0]["data"] == {"target": note}
        unpinned = api.post(draft(uuid.uuid4().hex, "entry.unpinned", CONF))
        assert unpinned.status_code == 201, unpinned.text
        assert unpinned.json()["events"][0]["data"] == {"target": note}
        # Refusals: 409 for what the log's state refuses, 422 for bad input.
        head = api.head()
        nothing = api.post(draft(uuid.uuid4().hex, "entry.unpinned", CONF))
        assert nothing.status_code == 409 and "nothing is pinned" in nothing.json()["error"]
        unknown = api.post(draft(uuid.uuid4().hex, "entry.pinned", CONF, target="zzzz"))
        assert unknown.status_code == 404, unknown.text
        typed = api.post(draft(uuid.uuid4().hex, "entry.highlighted", CONF, target=note, label=3))
        assert typed.status_code == 422, typed.text
        extra = api.post(draft(uuid.uuid4().hex, "entry.unpinned", CONF, target=note))
        assert extra.status_code == 422 and "no field 'target'" in extra.json()["error"]
        assert api.head() == head
    finally:
        api.close()


def test_serve_takes_the_stream_settings_as_flags(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    ws.ok("conference", "open", "demo", "--title", "Demo")
    flags = ("--max-streams", "1", "--stream-heartbeat", "0.2")
    with Service(ws, args=flags) as service:
        path = f"/api/conferences/demo/stream?since={ws.exported()[-1]['position']}"

        def stream_open() -> bool:  # the timeline is built by the first catch-up
            with SseStream(service.port, path) as probe:
                return probe.wait_head() == 200

        wait_until(stream_open, 30, what="a stream to open")
        with SseStream(service.port, path) as one:
            assert one.wait_head() == 200
            assert one.comments.get(timeout=20) == "ping"  # the heartbeat flag
            with SseStream(service.port, path) as two:
                assert two.wait_head() == 503  # over --max-streams 1


def test_bad_stream_flags_are_refused_in_one_line(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    for args in (("--max-streams", "0"), ("--stream-heartbeat", "x")):
        proc = ws.cli("serve", "--port", "0", *args)
        assert proc.returncode == 2, proc.stderr
        errors = [line for line in proc.err if line.startswith("Error:")]
        assert len(errors) == 1 and args[0] in errors[0], proc.stderr
        assert "Traceback" not in proc.stderr


QUEUED = re.compile(r"^queued (\S+) ([0-9a-f]{8}) \(.*\); (\d+) waiting: ")


def test_marks_typed_while_the_server_is_down_are_queued_and_applied_in_order(
    tmp_path: Path,
) -> None:
    """`--last` and unpin's pinned entry are the server's, when the draft arrives."""
    ws = Workspace(tmp_path / "server")
    token = ws.token("ann", "editor")
    service = Service(ws)
    laptop = Laptop(Workspace(tmp_path / "laptop"), service.url, token)
    with service:
        laptop.ok("conference", "open", "off", "--title", "Offline")
        laptop.ok("day", "open", "1")
        note = full_id_of(service, token, laptop.appended("note", "n1", type_="note.posted"))
        service.kill()
        for waiting, args in enumerate(
            (("pin", "--last"), ("highlight", "--last", "--label", "Queued"), ("unpin",)), 1
        ):
            proc = laptop.cli(*args)
            assert proc.returncode == 0 and proc.stderr == "", proc.stderr
            match = QUEUED.match(proc.out[0])
            assert match and int(match.group(3)) == waiting, proc.out
        service.start()
        sent = laptop.cli("sync")
        assert sent.returncode == 0, sent.stderr
        assert laptop.ws.outbox() == []
        api = Api(service.url, token)
        try:
            events = api.events(limit=10_000)["events"]
        finally:
            api.close()
        marks = [(e["type"], e["data"]) for e in events if e["type"].startswith("entry.")]
        assert marks == [
            ("entry.pinned", {"target": note}),
            ("entry.highlighted", {"target": note, "label": "Queued"}),
            ("entry.unpinned", {"target": note}),
        ]
        service.stop_cleanly()


def full_id_of(service: Service, token: str, prefix: str) -> str:
    api = Api(service.url, token)
    try:
        return next(
            e["id"] for e in api.events(limit=10_000)["events"] if e["id"].startswith(prefix)
        )
    finally:
        api.close()
