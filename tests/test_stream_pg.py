"""The live stream on PostgreSQL, two `serve` nodes on one database: a reader on the
standby node (which does not project: the leader does) gets the messages too, and a
reader that moves from one node to the other with its Last-Event-ID misses nothing."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from servers import LIVEBLOG, Service, Workspace, wait_until
from sse import SseStream

START_SECONDS = 180.0  # a cold start of serve on PostgreSQL on a loaded 2-core machine


@dataclass
class PgWorkspace(Workspace):
    url: str = ""
    secret_key: str = ""

    def env(self, **values: str) -> dict[str, str]:
        env = super().env(**values)
        env.update(LIVEBLOG_DB=self.url, LIVEBLOG_SECRET_KEY=self.secret_key)
        return env


class Node(Service):
    def __init__(self, workspace: PgWorkspace) -> None:
        super().__init__(workspace, "serve")
        self.pg = workspace

    def argv(self) -> list[str]:
        feeds = ["--feeds", str(self.pg.feeds)]
        return [*LIVEBLOG, "--db", self.pg.url, *feeds, "serve", "--port", str(self.port)]

    def start(self) -> Node:
        self.spawn()
        wait_until(self._ready, START_SECONDS, what=lambda: f"a node; {self.stderr!r}")

        def built() -> bool:
            response = httpx.get(f"{self.url}/", headers={"accept": "application/json"})
            return response.status_code == 200

        wait_until(built, START_SECONDS, what="the timeline to be built")
        return self


@pytest.fixture
def nodes(tmp_path: Path, pg_url: str) -> Iterator[tuple[PgWorkspace, list[Node]]]:
    key = base64.b64encode(os.urandom(32)).decode()
    ws = PgWorkspace(tmp_path / "cli", url=pg_url, secret_key=key)
    ws.ok("conference", "open", "demo", "--title", "Demo")
    ws.ok("day", "open", "1")
    made = [Node(PgWorkspace(tmp_path / f"n{i}", url=pg_url, secret_key=key)) for i in (1, 2)]
    try:
        for node in made:
            node.start()
        yield ws, made
    finally:
        for node in made:
            if node.running:
                node.stop()


def test_both_nodes_stream_and_a_reader_can_move_between_them(
    nodes: tuple[PgWorkspace, list[Node]],
) -> None:
    ws, (one, two) = nodes
    head = int(ws.exported()[-1]["position"])
    path = f"/api/conferences/demo/stream?since={head}"
    with SseStream(one.port, path) as first, SseStream(two.port, path) as second:
        assert first.wait_head() == 200 and second.wait_head() == 200
        ws.ok("note", "seen by both")
        note = ws.exported()[-1]
        for stream in (first, second):  # one of them leads, the other is a standby
            message = stream.next(60)
            assert message.position == note["position"]
            assert message.json["entries"][0]["id"] == note["id"]
    ws.ok("note", "missed")
    missed = int(ws.exported()[-1]["position"])
    # The reader comes back on the other node: the id is the log's, the same on both.
    headers = {"Last-Event-ID": str(note["position"])}
    with SseStream(two.port, "/api/conferences/demo/stream", headers) as again:
        assert again.wait_head() == 200
        assert again.next(60).position == missed
