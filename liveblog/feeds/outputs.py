"""Where a publish puts what it renders: feeds/ files, the database's documents, or both.

Every document goes to each output with the same bytes, and to each only when its bytes
changed there. Files are written as they are rendered (`files.write_if_changed`). Feed
documents are staged in a spooled temporary file (memory bounded however much a first
publish renders) and put into the database by `commit`, in the caller's unit of work
with the publish-state record: the database holds a conference's documents and its
`.state.json` as of one publish, or of the one before, never a mix.

A document's path in the database is its path under the feeds directory
(`<conference>/<name>`): with no directory configured, the directory's name is only the
root those paths are taken from (and what `publish` prints).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from ..store.documents import Document, FeedDocuments, content_etag
from .files import write_if_changed

SPOOL_MEMORY = 16 * 1024 * 1024
"""Staged documents kept in memory before the spool moves to a temporary file."""
COMMIT_BATCH_BYTES = 8 * 1024 * 1024
"""Staged bodies read back and put into the database at once."""


class Outputs:
    """The outputs of one publish (see the module). Thread-safe `write`."""

    def __init__(self, root: Path, *, files: bool, documents: FeedDocuments | None) -> None:
        if not files and documents is None:
            raise ValueError("a publish needs a feeds directory or feed documents")
        self.root = root
        self.files = files
        self.documents = documents
        self._lock = threading.Lock()
        self._known: dict[str, str] = {}  # document path: ETag, of the conference begun
        self._spool: IO[bytes] | None = None  # made on the first document staged
        self._staged: list[tuple[str, int, int, str]] = []  # path, offset, length, ETag
        self._committed = 0  # of them put into the database already
        self._end = 0

    def close(self) -> None:
        if self._spool is not None:
            self._spool.close()
            self._spool = None

    def __enter__(self) -> Outputs:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def relative(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    # -- per conference ------------------------------------------------------------------

    def begin(self, slug: str) -> None:
        """Learn the ETags of the conference's documents (one range read), for `write`
        and `exists` to compare against without reading any body."""
        if self.documents is None:
            return
        known = {v.path: v.etag for v in self.documents.list(f"{slug}/")}
        for path, _, _, etag in self._staged:  # staged earlier in this publish
            if path.startswith(f"{slug}/"):
                known[path] = etag
        with self._lock:
            self._known = known

    def in_files(self, path: Path) -> bool:
        return path.exists()

    def in_documents(self, path: Path) -> bool:
        return self.relative(path) in self._known

    def exists(self, path: Path) -> bool:
        """The document is in every output (else it is to be written again)."""
        return (not self.files or self.in_files(path)) and (
            self.documents is None or self.in_documents(path)
        )

    def read_file(self, path: Path) -> bytes | None:
        try:
            return path.read_bytes()
        except OSError:
            return None

    def read_document(self, path: Path) -> bytes | None:
        if self.documents is None:
            return None
        relative = self.relative(path)
        with self._lock:
            for staged, offset, length, _ in reversed(self._staged):
                if staged == relative:
                    return self._read_staged(offset, length)
        found = self.documents.get(relative)
        return None if found is None else found.body

    def write(self, path: Path, data: bytes) -> bool:
        """Put `data` at `path` in every output; True if it changed in any of them."""
        changed = write_if_changed(path, data) if self.files else False
        if self.documents is not None:
            changed = self._stage(self.relative(path), data) or changed
        return changed

    # -- into the database -----------------------------------------------------------------

    def _stage(self, relative: str, data: bytes) -> bool:
        etag = content_etag(data)
        with self._lock:
            if self._known.get(relative) == etag:
                return False
            if self._spool is None:
                self._spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY)  # noqa: SIM115 (closed by close())
            self._spool.seek(self._end)
            self._spool.write(data)
            self._staged.append((relative, self._end, len(data), etag))
            self._end += len(data)
            self._known[relative] = etag
            return True

    def _read_staged(self, offset: int, length: int) -> bytes:
        assert self._spool is not None  # something was staged
        self._spool.seek(offset)
        return self._spool.read(length)

    @property
    def staged(self) -> int:
        """Documents waiting for `commit`."""
        return len(self._staged) - self._committed

    def staged_under(self, slug: str) -> Iterator[tuple[str, bytes]]:
        """The documents of conference `slug` this publish staged (committed or not),
        as (path, bytes) in the order staged: what changed in the database, for a
        directory that was as the documents were before to write too."""
        for path, offset, length, _ in list(self._staged):
            if path.startswith(f"{slug}/"):
                yield path, self._read_staged(offset, length)

    def _batches(self) -> Iterator[list[Document]]:
        # One time for the whole publish: its documents changed together.
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        batch: list[Document] = []
        size = 0
        for path, offset, length, _ in self._staged[self._committed :]:
            batch.append(Document.of(path, self._read_staged(offset, length), modified=now))
            size += length
            if size >= COMMIT_BATCH_BYTES:
                yield batch
                batch, size = [], 0
        if batch:
            yield batch

    def commit(self) -> list[str]:
        """Put every staged document into the database (call inside its unit of work);
        returns the paths whose bytes changed there. Their bytes stay readable
        (`staged_under`) until `close`."""
        changed: list[str] = []
        if self.documents is None:
            return changed
        for batch in self._batches():
            changed += self.documents.put(batch)
        self._committed = len(self._staged)
        return changed

    def unit_of_work(self) -> contextlib.AbstractContextManager[object]:
        """The database's transaction (documents and publish state), if any."""
        return self.documents.writing() if self.documents is not None else _nothing()


@contextlib.contextmanager
def _nothing() -> Iterator[None]:
    yield
