"""Moving a real events.db to another store with real processes, as the README says:
`liveblog export | liveblog --db TARGET import -`, then `config export` / `config
import`; then `liveblog serve` on the target. On a SQLite file and on PostgreSQL
(`pg_url`): every event kept (ids, times, authors, positions in order), the reporters'
tokens still authenticate, and the webhook secrets still verify (standardwebhooks)
with the secret the subscriber was given before the move.
"""

from __future__ import annotations

import json
import stat
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
from forkcli import ForkedProcess, run_liveblog
from receivers import Receiver, wait_for
from servers import CLI_SECONDS, LIVEBLOG, Api, Proc, Service, Workspace, draft
from standardwebhooks import Webhook

from liveblog.webhooks.secretkey import new_key

KEPT = ("id", "type", "conference", "occurred_at", "author", "position", "version", "data")


class Target:
    """The store moved to: a SQLite file (its key file beside it) or a PostgreSQL
    database (its key in LIVEBLOG_SECRET_KEY, shared by every node)."""

    def __init__(self, ws: Workspace, db: str, env: dict[str, str]) -> None:
        self.ws, self.db, self.extra = ws, db, env

    def cli(self, *args: str, input: str | None = None) -> Proc:
        done = run_liveblog(
            ["--db", self.db, *args],
            input=input,
            env=self.ws.env(LIVEBLOG_AUTHOR="ann", **self.extra),
            cwd=self.ws.root,
            timeout=CLI_SECONDS,
        )
        return Proc(done.returncode, done.stdout, done.stderr)

    def ok(self, *args: str, input: str | None = None) -> list[str]:
        proc = self.cli(*args, input=input)
        assert proc.returncode == 0, (args, proc.stdout, proc.stderr)
        assert "Traceback" not in proc.stderr
        return proc.out


class TargetService(Service):
    """`liveblog serve` on the target's --db, with its environment."""

    def __init__(self, target: Target) -> None:
        super().__init__(target.ws)
        self.target = target

    def argv(self) -> list[str]:
        argv = super().argv()
        argv[argv.index("--db") + 1] = self.target.db
        return argv

    def spawn(self) -> subprocess.Popen[bytes] | ForkedProcess:
        # Service.spawn takes the workspace's env; the target's key goes in through it.
        original = self.workspace.env

        def env(**values: str) -> dict[str, str]:
            return original(**{**self.target.extra, **values})

        self.workspace.env = env  # type: ignore[method-assign]
        try:
            return super().spawn()
        finally:
            self.workspace.env = original  # type: ignore[method-assign]


@pytest.fixture(params=["sqlite", "postgresql"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Target:
    ws = Workspace(tmp_path / "target")
    if request.param == "sqlite":
        return Target(ws, str(ws.db), {})
    url: str = request.getfixturevalue("pg_url")
    return Target(ws, url, {"LIVEBLOG_SECRET_KEY": new_key()})


@pytest.fixture
def source(tmp_path: Path) -> Workspace:
    return Workspace(tmp_path / "source")


def kept(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: e[k] for k in KEPT} for e in events]


def test_a_moved_store_keeps_every_event_token_and_webhook(
    source: Workspace, target: Target
) -> None:
    source.ok("conference", "open", "socitm-2011", "--title", "SOCITM 2011")
    source.ok("day", "open", "1")
    source.ok("session", "start", "Opening plenary", "--room", "Main hall")
    for i in range(3):
        source.ok("note", f"note {i}", author=f"reporter{i}")
    token = source.token("ann", role="reporter")
    with Receiver() as receiver:
        added: dict[str, Any] = json.loads(
            source.ok("webhook", "add", receiver.url, "--allow-private", "--json")[0]
        )
        secret = added["secret"]

        # The events: `liveblog export | liveblog --db TARGET import -`, a real pipe.
        exporter = subprocess.Popen(
            [*LIVEBLOG, "export"], stdout=subprocess.PIPE, env=source.env(), cwd=source.root
        )
        assert exporter.stdout is not None
        importer = subprocess.run(
            [*LIVEBLOG, "--db", target.db, "import", "-"],
            stdin=exporter.stdout,
            capture_output=True,
            text=True,
            env=target.ws.env(**target.extra),
            cwd=target.ws.root,
            timeout=CLI_SECONDS,
        )
        exporter.stdout.close()
        assert exporter.wait(timeout=CLI_SECONDS) == 0
        assert importer.returncode == 0, importer.stderr
        before = source.exported()
        assert importer.stdout == f"imported {len(before)} events (0 already in the log)\n"
        after = [json.loads(line) for line in target.ok("export")]
        assert kept(after) == kept(before)
        assert [e["position"] for e in after] == list(range(1, len(before) + 1))

        # Tokens and webhooks: a private file in between.
        exported = source.root / "config.json"
        source.ok("config", "export", str(exported))
        assert stat.S_IMODE(exported.stat().st_mode) == 0o600
        assert target.ok("config", "import", str(exported)) == [
            "imported 1 token (0 already there), 1 webhook (0 already there)"
        ]
        assert target.ok("config", "import", str(exported)) == [
            "imported 0 tokens (1 already there), 0 webhooks (1 already there)"
        ]
        listed = target.ok("webhook", "list")
        assert len(listed) == 1 and added["id"] in listed[0]

        with TargetService(target) as service:
            api = Api(service.url, token)
            try:
                # The reporter's token, made on the source, authenticates on the target.
                assert [e["id"] for e in api.events()["events"]] == [e["id"] for e in before]
                answer = api.post(draft(uuid.uuid4().hex, "note.posted", text="after the move"))
                assert answer.status_code == 201, answer.text
                event_id = answer.json()["events"][-1]["id"]
            finally:
                api.close()
            # Signed with the secret the subscriber already holds.
            got = wait_for(
                lambda: [r for r in receiver.requests if r.message_id == f"msg_{event_id}"],
                what="the note's webhook from the target",
            )
            payload = Webhook(secret).verify(got[0].body, got[0].headers)
            assert payload["data"]["id"] == event_id
            assert payload["data"]["data"]["text"] == "after the move"
            service.stop_cleanly()
