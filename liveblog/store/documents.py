"""Feed documents kept in the database: what every `serve` node answers `/feeds/…` with.

On a backend that has them (`Stores.documents`; PostgreSQL), the publisher writes every
document it renders here as well as, or instead of, into a feeds directory, and every
node serves `/feeds/…` from here: the same bytes and the same ETag whichever node answers
and whether or not the nodes share a disk. SQLite has none (`documents` is None there):
its feeds live in `feeds/` only.

Contract every implementation keeps:

- **Paths** are the document's place under feeds/: `<conference>/<name>`, `/`-separated,
  at least one folder deep (`slug/live.atom`, `slug/archive/3.atom`). A name starting
  with `.` is the publisher's own (`slug/.state.json`): kept, listed by `list`, never
  served.
- **ETags** are derived from the bytes alone (`content_etag`): identical bodies have
  identical ETags on every node, and the same ETag as the file server gives the same
  bytes read from disk.
- **Writes** (`put`, `delete`) join the caller's unit of work (`writing()`, the event
  store's transaction on the same connection) when one is open, else commit on their
  own: a publish's documents and its publish-state record commit together. `put`
  changes a document only when its bytes (or content type) differ: an unchanged
  document keeps its `modified` time, so conditional GETs keep answering 304.
- **Reads**: `version` is cheap (no body read) for conditional GETs; `get` returns the
  body, `get_many` the bodies of many paths at once; `list` gives the versions under a
  prefix in path order; `folders` the conferences, for the /feeds/ listing. A reader
  never creates anything.
- `exclusive(seconds)`: one publish at a time into the documents (any process, any
  node); held by a session that dies with its node.
"""

from __future__ import annotations

import builtins
import datetime as dt
import hashlib
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol

CONTENT_TYPES = {
    ".atom": "application/atom+xml; charset=utf-8",
    ".rss": "application/rss+xml; charset=utf-8",
    ".json": "application/feed+json; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".xml": "application/xml; charset=utf-8",
    # The live page's script and stylesheet (served with nosniff: the type must be right).
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}
DEFAULT_CONTENT_TYPE = "application/octet-stream"


def content_type_for(path: str) -> str:
    """The media type a document at `path` is served with (by its suffix)."""
    name = path.rsplit("/", 1)[-1]
    dot = name.rfind(".")
    return CONTENT_TYPES.get(name[dot:] if dot > 0 else "", DEFAULT_CONTENT_TYPE)


def content_etag(body: bytes) -> str:
    """The ETag of these bytes, unquoted (HTTP quotes it): the file server's digest too."""
    return hashlib.sha256(body).hexdigest()[:32]


def check_path(path: str) -> str:
    """`path` if it is a document path (see the contract), else ValueError."""
    parts = path.split("/")
    if len(parts) < 2 or any(not p or p in (".", "..") or "\x00" in p for p in parts):
        raise ValueError(f"not a feed document path: {path!r}")
    return path


@dataclass(frozen=True)
class DocumentVersion:
    """What a conditional GET needs of a document, without its body."""

    path: str
    etag: str
    modified: dt.datetime  # when its bytes last changed (UTC)
    size: int
    content_type: str


@dataclass(frozen=True)
class Document:
    path: str
    body: bytes
    content_type: str
    etag: str
    modified: dt.datetime

    @classmethod
    def of(
        cls,
        path: str,
        body: bytes,
        *,
        content_type: str | None = None,
        modified: dt.datetime | None = None,
    ) -> Document:
        """A document of these bytes: its ETag from them, its type from the path."""
        return cls(
            path=check_path(path),
            body=body,
            content_type=content_type or content_type_for(path),
            etag=content_etag(body),
            modified=modified or dt.datetime.now(dt.UTC).replace(microsecond=0),
        )

    @property
    def version(self) -> DocumentVersion:
        return DocumentVersion(
            self.path, self.etag, self.modified, len(self.body), self.content_type
        )


class FeedDocuments(Protocol):
    """Feed documents by path (see the module's contract)."""

    def writing(self) -> AbstractContextManager[object]:
        """The unit of work the writes join (the event store's, on its connection)."""

    def exclusive(self, seconds: float) -> AbstractContextManager[None]:
        """Hold the publishing lock of the documents, waiting up to `seconds` for another
        publish to finish (then FeedsDirError, one line). Not inside a transaction."""

    def put(self, changes: Sequence[Document]) -> list[str]:
        """Store these documents (replacing any at their paths whose bytes or type
        differ); returns the paths that changed, in the order given."""

    def delete(self, paths: Iterable[str]) -> int:
        """Remove the documents at these paths; returns how many there were."""

    def get(self, path: str) -> Document | None:
        """The document at `path` with its body, or None."""

    def get_many(self, paths: Sequence[str]) -> builtins.list[Document]:
        """The documents at these paths with their bodies, in the order given (those
        missing left out): one read for many (a directory copying the documents)."""

    def version(self, path: str) -> DocumentVersion | None:
        """The document's ETag, time, size and type, without reading its body."""

    def list(self, prefix: str = "") -> list[DocumentVersion]:
        """Every document whose path starts with `prefix`, in path order."""

    def folders(self) -> builtins.list[str]:
        """The first path segments (the conferences) that hold documents, sorted; the
        cost follows how many there are, not how many documents they hold."""


__all__ = [
    "CONTENT_TYPES",
    "Document",
    "DocumentVersion",
    "FeedDocuments",
    "check_path",
    "content_etag",
    "content_type_for",
]
