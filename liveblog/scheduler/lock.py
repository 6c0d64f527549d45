"""One scheduler per events.db: an advisory lock on `<events.db>.lock`.

`flock` is released by the kernel when the holder exits, even on SIGKILL, so a crash
never leaves a stale lock; the file's text says who holds it, for the refusal message.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import sys
from pathlib import Path
from typing import IO

from ..errors import RefusedCommand
from ..store.files import private_opener


class SchedulerLock:
    def __init__(self, db_path: str | Path, command: str) -> None:
        self.path = Path(str(db_path) + ".lock")
        self.command = command
        self._file: IO[str] | None = None

    def acquire(self) -> None:
        try:
            # Held until release; created 0600 like events.db itself.
            handle = open(self.path, "a+", encoding="utf-8", opener=private_opener)  # noqa: SIM115
        except OSError as exc:
            raise self._cannot(exc) from None
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip()
            handle.close()
            raise RefusedCommand(
                f"another scheduler already runs on {self.path.name[:-5]}: {_who(holder)}; "
                "stop it first (one scheduler per events.db)"
            ) from None
        holder = json.dumps(
            {
                "pid": os.getpid(),
                "command": self.command,
                "since": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "argv": sys.argv[1:],
            }
        )
        try:
            handle.seek(0)
            handle.truncate()
            handle.write(holder)
            handle.flush()
        except OSError as exc:  # a full disk, a quota: the environment, said plainly
            with contextlib.suppress(OSError):  # closing flushes the same bytes again
                handle.close()
            raise self._cannot(exc) from None
        self._file = handle

    def _cannot(self, exc: OSError) -> RefusedCommand:
        return RefusedCommand(f"cannot write the scheduler lock {self.path}: {exc.strerror}")

    def release(self) -> None:
        if self._file is not None:
            self._file.close()  # closing drops the flock
            self._file = None

    def __enter__(self) -> SchedulerLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _who(holder: str) -> str:
    try:
        info = json.loads(holder)
        return f"`liveblog {info['command']}` (pid {info['pid']}, since {info['since']})"
    except (ValueError, KeyError, TypeError):
        return "another liveblog process"
