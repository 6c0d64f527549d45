"""Leadership on SQLite: an advisory `flock` on `<events.db>.lock` (the scheduler's lock).

`flock` is released by the kernel when the holder exits, even on SIGKILL, so a crash
never leaves a stale lock; the file's text says who holds it, for the refusal message.
One file is one machine: there are no standbys on SQLite, a second scheduler on the
same events.db is refused (`standby` is False).
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

from ...errors import RefusedCommand
from ..files import private_opener


class SqliteLeadership:
    """The lock `name` of one events.db; `holder` is the command that takes it ("run",
    "serve"), written into the file with our pid for the others' refusal message."""

    standby = False
    """A second process is refused, not kept waiting (one scheduler per events.db)."""

    def __init__(self, db_path: str | Path, name: str, holder: str) -> None:
        # The scheduler's file keeps its name of old (`events.db.lock`): deployments
        # and their permission checks know it.
        suffix = ".lock" if name == "scheduler" else f".{name}.lock"
        self.path = Path(str(db_path) + suffix)
        self._name = name
        self.command = holder
        self._file: IO[str] | None = None
        self._seen: str | None = None  # the holder's text, as read when we were refused

    @property
    def name(self) -> str:
        return self._name

    def try_acquire(self) -> bool:
        if self._file is not None:
            return True
        try:
            # Held until release; created 0600 like events.db itself.
            handle = open(self.path, "a+", encoding="utf-8", opener=private_opener)  # noqa: SIM115
        except OSError as exc:
            raise self._cannot(exc) from None
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            self._seen = handle.read().strip()
            handle.close()
            return False
        text = json.dumps(
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
            handle.write(text)
            handle.flush()
        except OSError as exc:  # a full disk, a quota: the environment, said plainly
            with contextlib.suppress(OSError):  # closing flushes the same bytes again
                handle.close()
            raise self._cannot(exc) from None
        self._file = handle
        return True

    def acquire(self) -> None:
        """`try_acquire`, or the one-line refusal naming the process that holds it."""
        if not self.try_acquire():
            raise self.refusal()

    def refusal(self) -> RefusedCommand:
        """What a second scheduler is told (today's words), naming the holder as read
        when we were refused."""
        return RefusedCommand(
            f"another scheduler already runs on {self.path.name[:-5]}: "
            f"{_who(self._seen or '')}; stop it first (one scheduler per events.db)"
        )

    def held(self) -> bool:
        # A flock lives as long as our open file: nothing else can take it from us.
        return self._file is not None

    def holder(self) -> str | None:
        if self._file is not None:
            return _who(self._file_text())
        try:
            text = self.path.read_text(encoding="utf-8").strip()
        except OSError:
            text = self._seen or ""
        return _who(text) if text else None

    def _file_text(self) -> str:
        assert self._file is not None
        self._file.seek(0)
        return self._file.read().strip()

    def _cannot(self, exc: OSError) -> RefusedCommand:
        return RefusedCommand(f"cannot write the scheduler lock {self.path}: {exc.strerror}")

    def release(self) -> None:
        if self._file is not None:
            self._file.close()  # closing drops the flock
            self._file = None

    def __enter__(self) -> SqliteLeadership:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _who(holder: str) -> str:
    try:
        info = json.loads(holder)
        return f"`liveblog {info['command']}` (pid {info['pid']}, since {info['since']})"
    except (ValueError, KeyError, TypeError):
        return "another liveblog process"


__all__ = ["SqliteLeadership"]
