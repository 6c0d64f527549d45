"""Two `liveblog run` nodes on one PostgreSQL database: one leads, one stands by.

The leader (leadership "scheduler") catches up, queues webhooks and publishes; the
standby publishes nothing until the leader is SIGKILLed, then takes the lead (its
session's advisory lock freed by the server) and publishes what came after.
"""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from forkcli import run_liveblog
from postgres import Cluster
from receivers import wait_for
from servers import LIVEBLOG, clean_env

PATIENCE = 120.0
"""How long a node may take to start or take over on a loaded machine (a bound on
failure, never a measured time)."""


class Node:
    """A `liveblog run` process with feeds of its own; its stderr in a file."""

    def __init__(self, url: str, root: Path, name: str) -> None:
        self.feeds = root / f"feeds-{name}"
        self.stderr_path = root / f"{name}.stderr"
        self._stderr = self.stderr_path.open("w")
        self.proc = subprocess.Popen(
            [*LIVEBLOG, "--db", url, "--feeds", str(self.feeds), "run"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
            env=clean_env(LIVEBLOG_AUTHOR="node"),
        )

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def said(self, start: str) -> bool:
        return any(line.startswith(start) for line in self.stderr.splitlines())

    def feed(self) -> str:
        try:
            return (self.feeds / "demo" / "live.atom").read_text()
        except OSError:
            return ""

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        code = self.proc.wait(timeout=60)
        self._stderr.close()
        return code


@pytest.fixture
def nodes(pg_url: str, tmp_path: Path) -> Iterator[list[Node]]:
    started: list[Node] = []
    yield started
    for node in started:
        if node.proc.poll() is None:
            node.proc.kill()
            node.proc.wait()


def cli(url: str, *args: str) -> None:
    done = run_liveblog(["--db", url, *args], env=clean_env(LIVEBLOG_AUTHOR="ann"), cwd=Path.cwd())
    assert done.returncode == 0, (args, done.stdout, done.stderr)


def test_the_standby_takes_over_when_the_leader_is_killed(
    pg_url: str, tmp_path: Path, nodes: list[Node]
) -> None:
    cli(pg_url, "conference", "open", "demo", "--title", "Demo")
    cli(pg_url, "day", "open", "1")
    cli(pg_url, "note", "before any node")

    first = Node(pg_url, tmp_path, "first")
    nodes.append(first)
    wait_for(
        lambda: first.said("leader:"),
        what=lambda: f"the first node to lead: {first.stderr}",
        timeout=PATIENCE,
    )
    second = Node(pg_url, tmp_path, "second")
    nodes.append(second)
    wait_for(
        lambda: second.said("standby:"),
        what=lambda: f"a standby: {second.stderr}",
        timeout=PATIENCE,
    )
    assert f"pid {first.proc.pid}" in second.stderr  # it names the leader
    # The start line names the database, without a password (there is none here).
    assert second.stderr.startswith(f"liveblog run on {pg_url}: ")

    wait_for(
        lambda: "before any node" in first.feed(), what="the leader to publish", timeout=PATIENCE
    )
    cli(pg_url, "note", "while the first leads")
    wait_for(
        lambda: "while the first leads" in first.feed(),
        what="the leader to publish again",
        timeout=PATIENCE,
    )
    assert not second.feeds.exists()  # a standby publishes nothing

    first.stop(signal.SIGKILL)
    wait_for(
        lambda: second.said("leader:"),
        what=lambda: f"the standby to take the lead: {second.stderr}",
        timeout=PATIENCE,
    )
    cli(pg_url, "note", "after the takeover")
    wait_for(
        lambda: "after the takeover" in second.feed(),
        what="the new leader to publish",
        timeout=PATIENCE,
    )
    assert "while the first leads" in second.feed()  # everything, not only what is new
    assert second.stop() == 0
    assert "Traceback" not in second.stderr


def test_a_password_in_the_url_is_never_printed(
    pg_url: str, pg_cluster: Cluster, tmp_path: Path, nodes: list[Node]
) -> None:
    secret = "s3cr3t-pw"
    dbname = pg_url.rsplit("/", 1)[1]
    role = f"node_{dbname}"
    pg_cluster.sql(f"CREATE ROLE {role} LOGIN SUPERUSER PASSWORD '{secret}'")
    url = pg_cluster.url(dbname, user=role, password=secret)
    node = Node(url, tmp_path, "pw")
    nodes.append(node)
    wait_for(
        lambda: node.said("leader:"),
        what=lambda: f"the node to lead: {node.stderr}",
        timeout=PATIENCE,
    )
    assert node.stop() == 0
    assert f"liveblog run on postgresql://{role}:***@" in node.stderr
    assert secret not in node.stderr
