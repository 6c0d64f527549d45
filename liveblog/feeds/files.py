"""Writing feed files: atomically, only when their bytes change, and never leaving litter.

A file is written to a temporary `.<name>.<8 random chars>` beside it and renamed over
it. The writer holds an exclusive flock on its temporary file from creation to rename;
a process killed mid-write loses its lock with it, which is how the next publish tells
a stale temporary file (unlocked, and older than a grace period) from one a concurrent
publish is writing (locked) and removes only the former.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import tempfile
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from types import TracebackType

from ..errors import FeedsDirError as FeedsDirError  # defined in errors.py, imported from here too

# tempfile.mkstemp's names: the prefix, then 8 characters from this alphabet.
TEMPORARY = re.compile(r"\.(?P<name>.+\.(?:atom|rss|json|html))\.[a-z0-9_]{8}")
# Between mkstemp creating a file and its writer locking it there is no lock to see;
# a file that young is left alone (the window is two system calls long).
STALE_SECONDS = 60.0


def check_feeds_dir(feeds_dir: Path) -> None:
    """Refuse, before anything is written, a feeds path that is not a directory."""
    for path in (feeds_dir, *feeds_dir.parents):
        if path.exists() and not path.is_dir():
            where = "" if path == feeds_dir else f": {path}"
            raise FeedsDirError(
                f"feeds directory {feeds_dir}{where} is a file, not a directory "
                "(move it, or choose another directory with --feeds)"
            )
        if path.exists():
            return


def write_if_changed(path: Path, data: bytes) -> bool:
    """Write `data` to `path` via a temporary file and rename; False if unchanged.

    A reader (a web server, a feed reader polling the file) sees the old file or the
    new one, never half of one; an unchanged file keeps its mtime, so conditional GETs
    keep answering 304.
    """
    try:
        if path.read_bytes() == data:
            return False
    except FileNotFoundError:
        pass
    except NotADirectoryError:
        _in_the_way(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        _in_the_way(path)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # "being written": see sweep_stale_temporaries
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
            os.chmod(temporary, 0o644)
            os.replace(temporary, path)  # before closing: the lock lasts until the rename
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    return True


WRITERS = 4
"""Threads writing files for a `ConcurrentWrites`: an fsync mostly waits on the disk, and
several in flight share its journal commits (measured: 4 threads wrote 40 KB files twice
as fast as one; 16, no faster)."""
PENDING = 32
"""Files rendered but not yet written, at most (so memory stays bounded)."""


class ConcurrentWrites:
    """`write_if_changed` for many files, on WRITERS threads, while the caller renders.

    Every file is written exactly as `write_if_changed` writes it (a temporary file,
    fsync, rename): only the waiting overlaps. `done(path, changed)` is called for each
    file once it is on disk, in the order the files were given, from the caller's
    thread; the first error, in that order, is raised from `write` or `close`. Leaving
    the `with` block waits for every write, so what follows it sees them all on disk.
    """

    def __init__(
        self,
        done: Callable[[Path, bool], None],
        workers: int = WRITERS,
        writer: Callable[[Path, bytes], bool] | None = None,
    ) -> None:
        """`workers=0`: no threads, each file written by `write` itself (for a few).
        `writer` writes one (thread-safe; returns whether its bytes changed), by default
        `write_if_changed`."""
        self._done = done
        self._writer = writer
        self._pool = (
            ThreadPoolExecutor(workers, thread_name_prefix="feeds-write") if workers else None
        )
        self._pending: deque[tuple[Future[bool], Path]] = deque()

    def write(self, path: Path, data: bytes) -> None:
        if self._pool is None:
            self._done(path, self._write_one(path, data))
            return
        self._pending.append((self._pool.submit(self._write_one, path, data), path))
        while len(self._pending) > PENDING:
            self._settle()

    def _write_one(self, path: Path, data: bytes) -> bool:
        # The module's function looked up when called (tests replace it).
        return (self._writer or write_if_changed)(path, data)

    def written_elsewhere(self, path: Path, changed: bool) -> None:
        """A file another process wrote: reported in its place in the order."""
        if self._pool is None:
            self._done(path, changed)
            return
        future: Future[bool] = Future()
        future.set_result(changed)
        self._pending.append((future, path))

    def flush(self) -> None:
        """Wait for every file given so far (each reported)."""
        while self._pending:
            self._settle()

    def _settle(self) -> None:
        future, path = self._pending.popleft()
        self._done(path, future.result())

    def close(self) -> None:
        try:
            self.flush()
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True)

    def __enter__(self) -> ConcurrentWrites:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if kind is None:
            self.close()
        elif self._pool is not None:  # already failing: wait for the writes in flight
            self._pool.shutdown(wait=True)


def _in_the_way(path: Path) -> None:
    """Name the file that stands where a folder of feeds/ should be."""
    for parent in path.parents:
        if parent.exists() and not parent.is_dir():
            raise FeedsDirError(
                f"cannot write {path}: {parent} is a file, not a directory (move it away)"
            )
    raise FeedsDirError(f"cannot write {path}: a file is in the way")


def sweep_stale_temporaries(folder: Path, now: float | None = None) -> list[Path]:
    """Remove what killed writers left in `folder`: our temporary names only, unlocked
    and older than STALE_SECONDS. Returns what was removed."""
    now = time.time() if now is None else now
    removed: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return removed
    for entry in entries:
        if not TEMPORARY.fullmatch(entry.name) or not entry.is_file(follow_symlinks=False):
            continue
        try:
            fd = os.open(entry.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            continue  # renamed into place by its writer meanwhile, or not ours to open
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                continue  # a live writer holds it (or locks do not work here: keep it)
            if now - os.fstat(fd).st_mtime < STALE_SECONDS:
                continue
            with contextlib.suppress(FileNotFoundError):
                os.unlink(entry.path)
                removed.append(Path(entry.path))
        finally:
            os.close(fd)
    return removed
