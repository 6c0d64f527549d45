"""Running a real `liveblog` subprocess whose stderr is a terminal (a pseudo-terminal)."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path


def run_on_a_terminal(
    args: list[str], env: dict[str, str], cwd: Path
) -> tuple[subprocess.CompletedProcess[str], str]:
    """`python -m liveblog ARGS` with stdout piped and stderr on a pty; returns the
    finished process and everything written to the terminal."""
    master, slave = pty.openpty()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "liveblog", *args],
            stdout=subprocess.PIPE,
            stderr=slave,
            env=env,
            cwd=cwd,
            timeout=60,
            text=True,
        )
        os.close(slave)
        slave = -1
        chunks = []
        while True:
            try:
                data = os.read(master, 4096)
            except OSError:  # EIO: the terminal's other end is closed and drained
                break
            if not data:
                break
            chunks.append(data)
    finally:
        if slave != -1:
            os.close(slave)
        os.close(master)
    return done, b"".join(chunks).decode()
