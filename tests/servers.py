"""Test helpers for the running service: a workspace (events.db, feeds/, the remote CLI's
state directory), the CLI as a real subprocess in it, and `liveblog serve` / `liveblog run`
as real subprocesses on a free port, started once ready and stopped by a signal.

`wait_until` is the only way these tests wait for something: it polls with a deadline
and fails loudly, naming what it waited for.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
from forkcli import ForkedProcess, needs_fresh, run_liveblog, spawn_liveblog
from receivers import wait_for

T = TypeVar("T")

LIVEBLOG = [sys.executable, "-m", "liveblog"]
START_SECONDS = 30.0  # a generous bound for a cold start on a loaded 2-core machine
STOP_SECONDS = 30.0
CLI_SECONDS = 60.0


# One polling helper for every test: fail loudly after the deadline, naming `what`.
wait_until = wait_for


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_env(**values: str) -> dict[str, str]:
    """The test process's environment without any LIVEBLOG_* variable, plus `values`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIVEBLOG_")}
    env.update(values)
    return env


def lines_of(text: str) -> list[str]:
    return text.split("\n")[:-1] if text else []


@dataclass
class Proc:
    returncode: int
    stdout: str
    stderr: str

    @property
    def out(self) -> list[str]:
        return lines_of(self.stdout)

    @property
    def err(self) -> list[str]:
        return lines_of(self.stderr)


def assert_refused(proc: Proc) -> str:
    """Exit 1, one `Error:` line on stderr, no traceback; returns that line."""
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    assert len(proc.err) == 1, proc.stderr
    assert proc.err[0].startswith("Error: "), proc.stderr
    assert "Traceback" not in proc.stderr
    return proc.err[0]


@dataclass
class Workspace:
    """events.db, feeds/ and the remote CLI's state directory under one temporary root."""

    root: Path

    def __post_init__(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.feeds.mkdir(exist_ok=True)
        self.state_dir.mkdir(exist_ok=True)

    @property
    def db(self) -> Path:
        return self.root / "events.db"

    @property
    def feeds(self) -> Path:
        return self.root / "feeds"

    @property
    def state_dir(self) -> Path:
        return self.root / "state"

    def env(self, **values: str) -> dict[str, str]:
        return clean_env(
            LIVEBLOG_DB=str(self.db),
            LIVEBLOG_FEEDS=str(self.feeds),
            LIVEBLOG_STATE_DIR=str(self.state_dir),
            # Every test client is 127.0.0.1: tests of 401s would otherwise trip the
            # per-address limit on failed authentications (tested with its own limit).
            LIVEBLOG_AUTH_FAILURES="100000",
            **values,
        )

    def cli(
        self,
        *args: str,
        author: str = "ann",
        server: str | None = None,
        token: str | None = None,
        state_dir: Path | None = None,
        input: str | None = None,
        fresh: bool = False,
    ) -> Proc:
        """`python -m liveblog ARGS` in a process of its own (forked by a launcher that
        imported liveblog, tests/forkcli.py; `fresh`: a new interpreter); remote mode
        with `server`."""
        values = {"LIVEBLOG_AUTHOR": author}
        if server is not None:
            values["LIVEBLOG_SERVER"] = server
        if token is not None:
            values["LIVEBLOG_TOKEN"] = token
        env = self.env(**values)
        if state_dir is not None:
            env["LIVEBLOG_STATE_DIR"] = str(state_dir)
        done = run_liveblog(
            list(args), env=env, cwd=self.root, input=input, timeout=CLI_SECONDS, fresh=fresh
        )
        return Proc(done.returncode, done.stdout, done.stderr)

    def ok(self, *args: str, **kwargs: Any) -> list[str]:
        """A command that must succeed; its stdout lines."""
        proc = self.cli(*args, **kwargs)
        assert proc.returncode == 0, (args, proc.stdout, proc.stderr)
        assert "Traceback" not in proc.stderr
        return proc.out

    def token(self, name: str, role: str = "editor") -> str:
        """`liveblog token create NAME --role ROLE`: stdout is the token, alone on its line.
        An editor's by default: most tests open and close days with it (roles:
        test_hardening_roles)."""
        out = self.ok("token", "create", name, "--role", role)
        assert len(out) == 1, out
        assert out[0].startswith("lbt_"), out
        return out[0]

    def exported(self) -> list[dict[str, Any]]:
        """The whole log, read by `liveblog export` in a process of its own."""
        return [json.loads(line) for line in self.ok("export")]

    def outbox(self, state_dir: Path | None = None) -> list[dict[str, Any]]:
        """The drafts the remote CLI has queued under the state directory."""
        found: list[dict[str, Any]] = []
        for path in sorted((state_dir or self.state_dir).glob("outbox-*.jsonl")):
            found.extend(json.loads(x) for x in path.read_text().splitlines() if x.strip())
        return found


class Service:
    """`liveblog serve` (or `liveblog run`) over a workspace, in a real process.

    stdout and stderr go to files (a pipe nobody reads would fill up and block it).
    `start()` returns once it is ready: /healthz answers (serve), or the scheduler lock
    names its pid (run). `stop()` sends SIGTERM and returns the exit status; `kill()`
    sends SIGKILL. On leaving a `with` block a process still running is killed.
    """

    def __init__(
        self,
        workspace: Workspace,
        command: str = "serve",
        *,
        port: int | None = None,
        args: tuple[str, ...] = (),
        fresh: bool = False,
    ) -> None:
        self.workspace = workspace
        self.fresh = fresh  # a new interpreter (else forked by a launcher: forkcli.py)
        self.command = command
        self.port = port if port is not None else free_port()
        self.args = args
        self.proc: subprocess.Popen[bytes] | ForkedProcess | None = None
        self._starts = 0
        self._log_path = workspace.root / "service-0.err"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def feeds_url(self) -> str:
        return f"{self.url}/feeds"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def argv(self) -> list[str]:
        ws = self.workspace
        argv = [*LIVEBLOG, "--db", str(ws.db), "--feeds", str(ws.feeds), self.command]
        if self.command == "serve":
            argv += ["--port", str(self.port)]
        return [*argv, "--feeds-url", self.feeds_url, *self.args]

    def spawn(self) -> subprocess.Popen[bytes] | ForkedProcess:
        """Start the process without waiting for it to be ready."""
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self._starts += 1
        self._log_path = self.workspace.root / f"{self.command}-{self.port}-{self._starts}.err"
        argv = self.argv()
        env = self.workspace.env(LIVEBLOG_AUTHOR="editor")
        if not self.fresh and argv[: len(LIVEBLOG)] == LIVEBLOG and not needs_fresh(env):
            # Forked by a launcher that imported liveblog: the same process but for the
            # interpreter's start-up (seconds on a loaded machine, for every start).
            self.proc = spawn_liveblog(
                argv[len(LIVEBLOG) :],
                env=env,
                cwd=self.workspace.root,
                stdout=Path(os.devnull),
                stderr=self._log_path,
            )
            return self.proc
        with open(self._log_path, "wb") as err, open(os.devnull, "wb") as out:
            self.proc = subprocess.Popen(
                argv, stdout=out, stderr=err, env=env, cwd=self.workspace.root
            )
        return self.proc

    def start(self) -> Service:
        self.spawn()
        wait_until(
            self._ready,
            START_SECONDS,
            what=lambda: f"`liveblog {self.command}` to be ready; stderr: {self.stderr!r}",
        )
        return self

    def _ready(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(
                f"`liveblog {self.command}` exited {self.proc.returncode} before it was "
                f"ready; stderr: {self.stderr!r}"
            )
        if self.command == "run":
            return self.lock_holder() == self.proc.pid
        try:
            return httpx.get(f"{self.url}/healthz", timeout=1.0).status_code == 200
        except httpx.TransportError:
            return False

    def lock_holder(self) -> int | None:
        """The pid the scheduler lock file names (None if none yet)."""
        try:
            text = Path(f"{self.workspace.db}.lock").read_text()
            return int(json.loads(text)["pid"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    @property
    def stderr(self) -> str:
        try:
            return self._log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig: signal.Signals) -> int:
        """Send `sig` and wait for the process to exit; returns its exit status."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(
                f"`liveblog {self.command}` did not exit within {STOP_SECONDS:g} s of "
                f"{sig.name}; stderr: {self.stderr!r}"
            ) from None

    def stop(self) -> int:
        """SIGTERM, as a service manager stops it; returns the exit status."""
        return self.signal(signal.SIGTERM)

    def stop_cleanly(self) -> None:
        status = self.stop()
        assert status == 0, (status, self.stderr)
        assert "Traceback" not in self.stderr, self.stderr

    def kill(self) -> None:
        """SIGKILL: no clean-up of any kind, as a crash or an OOM kill."""
        status = self.signal(signal.SIGKILL)
        assert status == -signal.SIGKILL, status

    def __enter__(self) -> Service:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        if self.running:
            assert self.proc is not None
            self.proc.kill()
            self.proc.wait()


class Api:
    """An httpx client for the service's API with a reporter's bearer token."""

    def __init__(self, base: str, token: str | None) -> None:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        self.client = httpx.Client(base_url=base, headers=headers, timeout=30.0)

    def post(self, body: Any, **kwargs: Any) -> httpx.Response:
        return self.client.post("/api/events", json=body, **kwargs)

    def events(self, after: int = 0, **params: Any) -> dict[str, Any]:
        response = self.client.get("/api/events", params={"after": after, **params})
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    def head(self) -> int:
        response = self.client.get("/healthz")
        assert response.status_code == 200, response.text
        return int(response.json()["head"])

    def close(self) -> None:
        self.client.close()


def draft(draft_id: str, type_: str, conference: str | None = None, **data: Any) -> dict[str, Any]:
    """A draft as the remote CLI sends it (the server adds the reporter's context)."""
    body: dict[str, Any] = {"id": draft_id, "type": type_, "data": data}
    if conference is not None:
        body["conference"] = conference
    return body
