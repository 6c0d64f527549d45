"""Files liveblog creates hold the coverage, webhook state or queued drafts: private.

Each file is created 0600 (a directory 0700) by passing the mode to `open(2)` itself,
never by changing the process umask, which would also change what `serve`'s other
threads create. A file or directory that already exists keeps its mode: it may have
been shared on purpose (a group that browses the log with Datasette), and tightening
it behind the user's back would break that silently.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700


def private_opener(path: str, flags: int) -> int:
    """An `opener` for `open()`: a file it creates is 0600."""
    return os.open(path, flags, PRIVATE_FILE)


def create_private(path: str | Path) -> bool:
    """Create `path` empty and 0600 unless it exists; True if this call created it."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    except FileExistsError:
        return False
    os.close(fd)
    return True


def private_dir(path: Path) -> None:
    """Make `path` (0700 when this call creates it; its parents as usual)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        path.mkdir(mode=PRIVATE_DIR)
    except FileExistsError:
        if not path.is_dir():
            raise


def fsync_path(path: str | Path) -> None:
    """Flush a file (or a directory's entries) to the disk, by name."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_directory(path: str | Path) -> None:
    """A new or renamed name in `path` survives a power cut too."""
    with contextlib.suppress(OSError):  # some file systems cannot sync a directory
        fsync_path(path)
