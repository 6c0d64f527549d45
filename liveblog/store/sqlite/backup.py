"""`liveblog backup`: a consistent copy of events.db while others keep writing.

`VACUUM INTO` copies one read snapshot: in WAL mode it blocks no writer, and the copy
holds every committed event up to a moment, none after, whatever was appended during
the copy. It goes to a private temporary file beside DEST, which is synced and then
linked (no `--force`: `link(2)` fails if DEST appeared meanwhile) or renamed over DEST,
so DEST is never a half-written file.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from ...errors import RefusedCommand
from ..files import create_private, fsync_directory, fsync_path
from .driver import open_raw
from .log import EventLog


@dataclass(frozen=True)
class BackupResult:
    path: Path
    head: int
    size: int


def backup(log: EventLog, dest: Path, *, force: bool = False) -> BackupResult:
    _check_destination(log, dest, force)
    temporary = dest.parent / f".{dest.name}.{secrets.token_hex(4)}.tmp"
    try:
        create_private(temporary)
    except OSError as exc:
        raise RefusedCommand(f"cannot write {temporary}: {exc.strerror}") from None
    try:
        try:
            log.conn.execute("VACUUM INTO ?", (str(temporary),))
            fsync_path(temporary)
        except OSError as exc:
            raise RefusedCommand(f"cannot write {dest}: {exc.strerror}") from None
        head = _head(temporary)
        if force:
            os.replace(temporary, dest)
        else:
            try:
                os.link(temporary, dest)
            except FileExistsError:
                raise RefusedCommand(
                    f"{dest} exists: refusing to overwrite it (--force replaces it)"
                ) from None
        fsync_directory(dest.parent)
        return BackupResult(dest, head, dest.stat().st_size)
    finally:
        temporary.unlink(missing_ok=True)


def _check_destination(log: EventLog, dest: Path, force: bool) -> None:
    if not dest.parent.is_dir():
        raise RefusedCommand(f"cannot write {dest}: no such directory {dest.parent}")
    if dest.is_dir():
        raise RefusedCommand(f"{dest} is a directory: name the backup file")
    if not dest.exists():
        return
    ours = [log.path, *(Path(f"{log.path}{tail}") for tail in ("-wal", "-shm", ".lock"))]
    for path in ours:
        with contextlib.suppress(OSError):
            if path.exists() and os.path.samefile(path, dest):
                raise RefusedCommand(f"{dest} is the log itself: back it up to another file")
    if not force:
        raise RefusedCommand(f"{dest} exists: refusing to overwrite it (--force replaces it)")


def _head(path: Path) -> int:
    """The last position in the copy (read with a plain connection: it is not in WAL)."""
    conn = open_raw(path)
    try:
        row = conn.execute("SELECT ifnull(max(position), 0) FROM events").fetchone()
        return int(row[0])
    finally:
        conn.close()
