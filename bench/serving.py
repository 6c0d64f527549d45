"""Long-running processes for the freshness and conditional-GET benchmarks.

`Serve` is a real `liveblog serve` subprocess (the installed console script) on a port
the system picks (`--port 0`); its address is read from the line it reports once
uvicorn is listening. Its output goes to a file (a pipe nobody drains would block it
once full: it reports every file it publishes). `cpu_seconds` reads the user + system
time a process has used so far from /proc, so a benchmark can say what each request
or event cost the server, not only what the client saw.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from .cli_latency import console_script

START_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0
_SERVING = re.compile(rb" at (http://\S+)\s*$", re.MULTILINE)


def clean_env() -> dict[str, str]:
    """This environment without LIVEBLOG_* settings (they would override the flags)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("LIVEBLOG_")}


def liveblog_command() -> list[str]:
    script = console_script()
    if script is None:
        raise RuntimeError(f"no `liveblog` console script next to {sys.executable}")
    return [str(script)]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process `pid` (all its threads) so far; NaN if unknown."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return float("nan")
    # After the command name: state is field 3, utime field 14, stime field 15.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stop(process: subprocess.Popen[bytes], sig: int = signal.SIGINT) -> int:
    """Ask a child to stop (it finishes what is in flight), kill it if it will not."""
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


def serving_address(output: Path, process: subprocess.Popen[bytes], timeout: float) -> str | None:
    """The base URL `liveblog serve` prints to `output` once it listens; None if the
    process exits, or `timeout` seconds pass, first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = _SERVING.search(output.read_bytes())
        if found:
            return found.group(1).decode()
        if process.poll() is not None:
            break
        time.sleep(0.02)
    return None


def output_tail(output: Path, lines: int = 5) -> str:
    """The last `lines` lines a server wrote, on one line (for an error message)."""
    try:
        text = output.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(text[-lines:])


def spawn_serve(
    db: str, feeds: Path, output: Path, cwd: Path, args: tuple[str, ...], env: dict[str, str]
) -> subprocess.Popen[bytes]:
    """`liveblog --db DB --feeds FEEDS serve --port 0 [ARGS]`, its output into `output`."""
    command = [
        *liveblog_command(),
        "--db",
        db,
        "--feeds",
        str(feeds),
        "--author",
        "bench",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        *args,
    ]
    with open(output, "wb") as sink:
        return subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, env=env, cwd=cwd)


class ServeProcess:
    """A `liveblog serve` process writing to `output`: its address once it listens, the
    tail of what it wrote, and stopping it (SQLite's `Serve`, PostgreSQL's `PgServe`)."""

    output: Path
    process: subprocess.Popen[bytes]
    START_TIMEOUT = START_TIMEOUT
    WHAT = "`liveblog serve`"

    def _wait_for_address(self) -> str:
        found = serving_address(self.output, self.process, self.START_TIMEOUT)
        if found:
            return found
        self.close()
        raise RuntimeError(f"{self.WHAT} did not start: {self.tail()}")

    def tail(self, lines: int = 5) -> str:
        return output_tail(self.output, lines)

    def close(self) -> int:
        return stop(self.process)


class Serve(ServeProcess):
    """`liveblog --db DB --feeds FEEDS serve --port 0 [ARGS]`, until `close`."""

    def __init__(self, db: Path, feeds: Path, output: Path, args: tuple[str, ...] = ()) -> None:
        self.output = output
        self.process = spawn_serve(str(db), feeds, output, db.parent, args, clean_env())
        self.base = self._wait_for_address()

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.process.pid)
