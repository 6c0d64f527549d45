"""Serving feeds/ over HTTP: content types, strong ETags, Last-Modified, 304s, gzip.

A plain ASGI app (no framework on the path): feed readers poll with conditional GETs,
and answering a 304 costs a few stat() calls and a header comparison.

Two rules keep one big file from stalling every other request:

- Work proportional to a file's size happens once per file *version* and off the event
  loop: a version (device, inode, size, mtime) is read, hashed and gzipped in a worker
  thread the first time it is asked for, by one request however many ask at once; its
  validators and bodies are then kept in a cache bounded by bytes. The publisher
  replaces files by rename, so a changed file is always a new inode or mtime.
- A body goes out in chunks: each `send` waits while the client's socket is full, so a
  slow reader costs one chunk of memory, and the loop serves others in between. A file
  too big to keep in memory (over `keep_limit`) is streamed from disk chunk by chunk,
  read in a worker thread, without gzip.

Only regular files whose real path (every symlink resolved) lies inside the feeds
directory are served; hidden names (`.state.json`, the publisher's temporary files)
never are. Every refusal is `{"error": "one line"}`.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import gzip
import hashlib
import html
import os
import stat
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from ..errors import StoreError
from ..store.documents import CONTENT_TYPES as DOCUMENT_TYPES
from ..store.documents import DocumentVersion, FeedDocuments
from ..store.factory import open_stores, scheme_of
from .guard import one_line, send_error

CONTENT_TYPES = {suffix: media.encode() for suffix, media in DOCUMENT_TYPES.items()}
CACHE_FILES = 512  # versions whose validators are kept
CACHE_BYTES = 64 * 1024 * 1024  # bodies (plain + gzipped) kept in memory, in all
KEEP_LIMIT = 16 * 1024 * 1024  # a bigger file is streamed from disk, never kept
# One `send` (and one read of a streamed file). With the connection layer's 32 KiB
# high-water mark, a client that stops reading holds at most ~64 KiB of our memory (the
# chunk the paused transport took, on top of its buffer): 2,048 of them, ~128 MiB.
CHUNK_BYTES = 32 * 1024
READ_BYTES = 1024 * 1024  # one read while hashing a version (in a worker thread)
GZIP_MIN_BYTES = 512
_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)

Scope = dict[str, Any]
Key = tuple[int, int, int, int]  # st_dev, st_ino, st_size, st_mtime_ns: one file version
T = TypeVar("T")
Opened = tuple[FeedDocuments, Callable[[], None]]  # feed documents, and how to close them
AnyKey = tuple[object, ...]  # a file's Key, or a feed document's (path, ETag)


def version_key(st: os.stat_result) -> Key:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


@dataclass(frozen=True)
class Version:
    """What serving one version of a file needs; `body` is None for a streamed file."""

    key: AnyKey
    etag: bytes
    last_modified: bytes
    mtime: int
    body: bytes | None
    gzipped: bytes | None
    length: int = 0  # of a streamed file (body None)

    @property
    def size(self) -> int:
        return self.length if self.body is None else len(self.body)

    @property
    def cost(self) -> int:
        return len(self.body or b"") + len(self.gzipped or b"")


def read_version(fd: int, keep_limit: int) -> Version:
    """Read, hash and gzip the file open as `fd` (in a worker thread: it takes a while)."""
    st = os.fstat(fd)
    digest = hashlib.sha256()
    chunks: list[bytes] = []
    offset = 0
    while chunk := os.pread(fd, READ_BYTES, offset):
        digest.update(chunk)
        if st.st_size <= keep_limit:
            chunks.append(chunk)
        offset += len(chunk)
    body = b"".join(chunks) if st.st_size <= keep_limit else None
    return Version(
        key=version_key(st),
        etag=f'"{digest.hexdigest()[:32]}"'.encode(),
        last_modified=email.utils.formatdate(int(st.st_mtime), usegmt=True).encode(),
        mtime=int(st.st_mtime),
        body=body,
        gzipped=gzipped_body(body),
        length=st.st_size,
    )


def gzipped_body(body: bytes | None) -> bytes | None:
    """The gzipped form worth sending, if any (in a worker thread: it takes a while)."""
    if body is None or len(body) < GZIP_MIN_BYTES:
        return None
    gzipped = gzip.compress(body, 6, mtime=0)
    # Incompressible: gzip would only cost the client.
    return gzipped if len(gzipped) < len(body) else None


class VersionCache:
    """Versions by real path, least recently used first out; bounded by bytes and count."""

    def __init__(self, max_bytes: int, max_files: int = CACHE_FILES) -> None:
        self.max_bytes = max_bytes
        self.max_files = max_files
        self.bytes = 0
        self._versions: OrderedDict[str, Version] = OrderedDict()

    def get(self, path: str, key: AnyKey) -> Version | None:
        found = self._versions.get(path)
        if found is None or found.key != key:
            return None
        self._versions.move_to_end(path)
        return found

    def put(self, path: str, version: Version) -> None:
        old = self._versions.pop(path, None)
        if old is not None:
            self.bytes -= old.cost
        self._versions[path] = version
        self.bytes += version.cost
        while self._versions and (
            self.bytes > self.max_bytes or len(self._versions) > self.max_files
        ):
            _, evicted = self._versions.popitem(last=False)
            self.bytes -= evicted.cost


def inside(path: str, root: str) -> bool:
    """`path` is `root` or below it, and no name on the way down is hidden."""
    if path != root and not path.startswith(root.rstrip(os.sep) + os.sep):
        return False
    relative = os.path.relpath(path, root)
    return relative == "." or not any(p.startswith(".") for p in relative.split(os.sep))


def open_inside(path: str, root: str) -> int | None:
    """An fd of the regular file at real path `path` inside `root`, or None.

    O_NOFOLLOW refuses a last name swapped for a symlink since it was resolved, and
    O_NONBLOCK makes opening a FIFO return at once (it is then refused as not regular);
    where /proc shows what an fd is, the opened file's own path is checked again, in
    case a directory on the way was swapped meanwhile.
    """
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError:
        return None
    try:
        if stat.S_ISREG(os.fstat(fd).st_mode):
            try:
                opened = os.readlink(f"/proc/self/fd/{fd}")
            except OSError:
                opened = path  # no /proc: the checks before opening are all there is
            if inside(opened, root):
                return fd
    except OSError:
        pass
    os.close(fd)
    return None


def _accepts_gzip(header: bytes) -> bool:
    """`gzip` (or `*`) listed with a q-value above 0 (RFC 9110 12.5.3)."""
    for item in header.decode("latin-1").split(","):
        name, _, params = item.strip().partition(";")
        if name.strip().lower() not in ("gzip", "x-gzip", "*"):
            continue
        quality = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        return quality > 0
    return False


def _etag_matches(header: bytes, etags: tuple[bytes, ...]) -> bool:
    if header.strip() == b"*":
        return True
    for candidate in header.split(b","):
        tag = candidate.strip()
        if tag.startswith(b"W/"):
            tag = tag[2:]  # If-None-Match uses the weak comparison (RFC 9110 13.1.2)
        if tag in etags:
            return True
    return False


def _not_modified_since(header: bytes, mtime: int) -> bool:
    try:
        since = email.utils.parsedate_to_datetime(header.decode("latin-1"))
    except (TypeError, ValueError, IndexError):
        return False
    return mtime <= since.timestamp()


class FeedFiles:
    """GET/HEAD `<prefix><path>` from `root`; hidden files and `..` are never served."""

    def __init__(
        self,
        root: Path,
        prefix: str = "/feeds/",
        *,
        cache_bytes: int = CACHE_BYTES,
        keep_limit: int = KEEP_LIMIT,
    ) -> None:
        self.root = root
        self.prefix = prefix
        # A kept file costs its body and its gzipped form: it must fit with room to spare,
        # or putting it in would evict it at once and every request would read it again.
        self.keep_limit = min(keep_limit, cache_bytes // 3)
        self._cache = VersionCache(cache_bytes)
        # One read per version however many requests want it at once.
        self._loading: dict[tuple[str, Key], asyncio.Future[Version]] = {}

    def _target(self, path: str) -> Path | None:
        relative = path[len(self.prefix) :]
        parts = [p for p in relative.split("/") if p]
        if any(p.startswith(".") or "\\" in p or "\x00" in p for p in parts):
            return None
        target = self.root.joinpath(*parts)
        # A name without a suffix may be a conference's folder: serve its index.
        try:
            folder = not parts or relative.endswith("/") or (not target.suffix and target.is_dir())
        except (OSError, ValueError):
            return None  # a name too long for the file system (ENAMETOOLONG), …: not found
        return target / "index.html" if folder else target

    def _stat_inside(self, target: Path) -> tuple[str, str, os.stat_result] | None:
        """(real path, real root, stat) of a regular file inside the tree, or None."""
        try:
            root = os.path.realpath(self.root)
            real = os.path.realpath(target)
            if not inside(real, root):
                return None
            st = os.stat(real)
        except (OSError, ValueError):
            return None
        return (real, root, st) if stat.S_ISREG(st.st_mode) else None

    async def _version(self, real: str, fd: int) -> Version:
        key = version_key(os.fstat(fd))
        cached = self._cache.get(real, key)
        if cached is not None:
            return cached
        pending = self._loading.get((real, key))
        if pending is None:
            # The worker reads its own duplicate: the fd of the request that started it
            # may be closed before the read ends (a client gone, a cancelled task).
            own = os.dup(fd)
            pending = asyncio.ensure_future(self._read(own))
            self._loading[(real, key)] = pending
            pending.add_done_callback(lambda _: self._loading.pop((real, key), None))
        version = await asyncio.shield(pending)
        if version.key == key:  # otherwise the file was rewritten in place meanwhile
            self._cache.put(real, version)
        return version

    async def _read(self, fd: int) -> Version:
        try:
            return await asyncio.to_thread(read_version, fd, self.keep_limit)
        finally:
            os.close(fd)

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        method = scope["method"]
        if method not in ("GET", "HEAD"):
            await _error(
                send,
                405,
                "method not allowed: feeds are read-only (GET, HEAD)",
                [(b"allow", b"GET, HEAD")],
            )
            return
        target = self._target(scope["path"])
        found = self._stat_inside(target) if target is not None else None
        if found is None or target is None:
            if target == self.root / "index.html":
                await self._listing(send)
            else:
                await _error(send, 404, "not found")
            return
        real, root, st = found
        headers = dict(scope["headers"])
        cached = self._cache.get(real, version_key(st))
        if cached is not None and cached.body is not None:
            # Known version, in memory: no need to open the file at all.
            await self._respond(send, method, headers, target.suffix, cached, None)
            return
        fd = open_inside(real, root)
        if fd is None:
            await _error(send, 404, "not found")
            return
        try:
            try:
                version = await self._version(real, fd)
            except OSError as exc:
                await _error(send, 500, f"feed file unreadable: {exc.strerror or exc}")
                return
            await self._respond(send, method, headers, target.suffix, version, fd)
        finally:
            os.close(fd)

    async def _respond(
        self,
        send: Any,
        method: str,
        headers: dict[bytes, bytes],
        suffix: str,
        version: Version,
        fd: int | None,
    ) -> None:
        await respond(send, method, headers, suffix, version, fd)

    async def _listing(self, send: Any) -> None:
        """/feeds/ itself: a page linking every conference's feeds."""
        try:
            root = os.path.realpath(self.root)
            names = sorted(
                p.name
                for p in self.root.iterdir()
                if p.is_dir() and inside(os.path.realpath(p), root)
            )
        except OSError:
            names = []
        await send_listing(send, names)


async def respond(
    send: Any,
    method: str,
    headers: dict[bytes, bytes],
    suffix: str,
    version: Version,
    fd: int | None,
) -> None:
    """A version's answer: 304 when the client's validators match, else its body
    (gzipped when accepted and worth it; streamed from `fd` when not kept)."""
    use_gzip = version.gzipped is not None and _accepts_gzip(headers.get(b"accept-encoding", b""))
    gz_etag = version.etag[:-1] + b'-gz"'
    response_headers = [
        (b"etag", gz_etag if use_gzip else version.etag),
        (b"last-modified", version.last_modified),
        (b"cache-control", b"no-cache"),
        (b"vary", b"accept-encoding"),
    ]
    inm = headers.get(b"if-none-match")
    ims = headers.get(b"if-modified-since")
    if (inm is not None and _etag_matches(inm, (version.etag, gz_etag))) or (
        inm is None and ims is not None and _not_modified_since(ims, version.mtime)
    ):
        await send({"type": "http.response.start", "status": 304, "headers": response_headers})
        await send({"type": "http.response.body", "body": b""})
        return
    body = version.gzipped if use_gzip else version.body
    response_headers += [
        (b"content-type", CONTENT_TYPES.get(suffix, b"application/octet-stream")),
        (b"content-length", str(version.size if body is None else len(body)).encode()),
    ]
    if use_gzip:
        response_headers.append((b"content-encoding", b"gzip"))
    await send({"type": "http.response.start", "status": 200, "headers": response_headers})
    if method == "HEAD":
        await send({"type": "http.response.body", "body": b""})
    elif body is not None:
        await _send_chunks(send, body)
    else:
        assert fd is not None  # a version without a body comes from an open file
        await _stream(send, fd, version.size)


async def send_listing(send: Any, names: list[str]) -> None:
    """/feeds/ itself: a page linking every conference's feeds."""
    items = "".join(
        f'<li><a href="{html.escape(n)}/">{html.escape(n)}</a> — '
        f'<a href="{html.escape(n)}/live.atom">Atom</a>, '
        f'<a href="{html.escape(n)}/live.rss">RSS</a>, '
        f'<a href="{html.escape(n)}/live.json">JSON Feed</a></li>'
        for n in names
    )
    body = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        "<title>liveblog feeds</title></head><body><h1>Conferences</h1>"
        f"<ul>{items or '<li>none published yet</li>'}</ul></body></html>\n"
    ).encode()
    headers = [
        (b"content-type", b"text/html; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-cache"),
    ]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _send_chunks(send: Any, body: bytes) -> None:
    """`body` in CHUNK_BYTES pieces: the server waits for a full socket between them."""
    for start in range(0, len(body), CHUNK_BYTES):
        end = start + CHUNK_BYTES
        await send({"type": "http.response.body", "body": body[start:end], "more_body": True})
        # A `send` into a socket with room returns without ever suspending: without this,
        # a fast reader would get the whole body before any other request got a turn.
        await asyncio.sleep(0)
    await send({"type": "http.response.body", "body": b""})


async def _stream(send: Any, fd: int, size: int) -> None:
    """A file too big to keep, read chunk by chunk in a worker thread."""
    offset = 0
    while offset < size:
        chunk = await asyncio.to_thread(os.pread, fd, min(CHUNK_BYTES, size - offset), offset)
        if not chunk:
            break  # truncated in place since: the server closes the short response
        offset += len(chunk)
        await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b""})


async def _error(
    send: Any, status: int, message: str, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    """`{"error": "one line"}`, like every other refusal of the server (never cached)."""
    await send_error(send, status, message, [(b"cache-control", b"no-cache"), *(extra or [])])


DOCUMENT_READERS = 2
"""Threads reading feed documents from the database, each on its own connection: a
flood of requests queues for them instead of taking every connection of the pool."""


class FeedDocumentsApp:
    """GET/HEAD `<prefix><path>` from the database's feed documents (PostgreSQL).

    What every node answers is the database's: the same bytes, ETag and Last-Modified
    on all of them, with or without a feeds directory. A conditional GET costs one
    primary-key lookup (ETag, time, size: no body); a body is read once per (path, ETag)
    and kept, with its gzipped form, in the same bounded cache as the files' (bigger
    than `keep_limit`: read for the requests asking at that moment, never kept).
    Paths are the files' (a folder's index, hidden names never served); the listing
    is the documents' conferences.
    """

    def __init__(
        self,
        open_documents: Callable[[], Opened],
        prefix: str = "/feeds/",
        *,
        cache_bytes: int = CACHE_BYTES,
        keep_limit: int = KEEP_LIMIT,
        readers: int = DOCUMENT_READERS,
    ) -> None:
        self.prefix = prefix
        self.keep_limit = min(keep_limit, cache_bytes // 3)
        self._open = open_documents
        self._local = threading.local()
        self._readers = ThreadPoolExecutor(readers, thread_name_prefix="feeds-db")
        self._cache = VersionCache(cache_bytes)
        self._loading: dict[AnyKey, asyncio.Future[Version]] = {}

    def close(self) -> None:
        self._readers.shutdown(wait=False)

    def _path(self, path: str) -> str | None:
        """The document a request path names ("" for the listing), or None."""
        relative = path[len(self.prefix) :]
        parts = [p for p in relative.split("/") if p]
        if any(p.startswith(".") or "\\" in p or "\x00" in p for p in parts):
            return None
        if not parts:
            return ""
        # A conference's folder (`slug`, `slug/`): its index, as FeedFiles serves it.
        if relative.endswith("/") or "." not in parts[-1]:
            parts.append("index.html")
        return "/".join(parts) if len(parts) >= 2 else None

    def _documents(self) -> FeedDocuments:
        # Each reader thread keeps its store (and connection) open: feed polling is the
        # hot path, and DOCUMENT_READERS bounds how many connections it holds.
        found: Opened | None = getattr(self._local, "opened", None)
        if found is None:
            found = self._local.opened = self._open()
        return found[0]

    def _run(self, work: Callable[[FeedDocuments], T]) -> T:
        """`work` on this reader thread's documents; a failed store is closed, so the
        next request opens it anew (a database restarted meanwhile)."""
        try:
            return work(self._documents())
        except StoreError:
            opened: Opened | None = getattr(self._local, "opened", None)
            self._local.opened = None
            if opened is not None:
                with contextlib.suppress(Exception):
                    opened[1]()
            raise

    async def _call(self, work: Callable[[FeedDocuments], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._readers, self._run, work)

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        method = scope["method"]
        if method not in ("GET", "HEAD"):
            await _error(
                send,
                405,
                "method not allowed: feeds are read-only (GET, HEAD)",
                [(b"allow", b"GET, HEAD")],
            )
            return
        path = self._path(scope["path"])
        if path is None:
            await _error(send, 404, "not found")
            return
        try:
            if path == "":
                await send_listing(send, await self._call(lambda d: d.folders()))
                return
            found = await self._call(lambda d: d.version(path))
            if found is None:
                await _error(send, 404, "not found")
                return
            headers = dict(scope["headers"])
            version = self._cache.get(path, (found.path, found.etag))
            if version is None and _etag_matches(
                headers.get(b"if-none-match", b""),
                (f'"{found.etag}"'.encode(), f'"{found.etag}-gz"'.encode()),
            ):
                version = _validators(found)  # a 304 needs no body
            if version is None:
                version = await self._version(path, found)
        except StoreError as exc:
            await _error(send, 503, f"feed documents unavailable: {one_line(str(exc))}")
            return
        suffix = path[path.rfind(".") :]
        await self._respond(send, method, headers, suffix, version)

    async def _version(self, path: str, found: DocumentVersion) -> Version:
        key: AnyKey = (found.path, found.etag)
        cached = self._cache.get(path, key)
        if cached is not None:
            return cached
        pending = self._loading.get(key)
        if pending is None:
            pending = asyncio.ensure_future(self._call(lambda d: _load(d, path)))
            self._loading[key] = pending
            pending.add_done_callback(lambda _: self._loading.pop(key, None))
        version = await asyncio.shield(pending)
        if version.key == key and version.size <= self.keep_limit:
            self._cache.put(path, version)
        return version

    async def _respond(
        self, send: Any, method: str, headers: dict[bytes, bytes], suffix: str, version: Version
    ) -> None:
        await respond(send, method, headers, suffix, version, None)


def _validators(found: DocumentVersion) -> Version:
    """A version without its body: what answering a matching If-None-Match needs."""
    modified = int(found.modified.timestamp())
    return Version(
        key=(found.path, found.etag),
        etag=f'"{found.etag}"'.encode(),
        last_modified=email.utils.formatdate(modified, usegmt=True).encode(),
        mtime=modified,
        body=None,
        gzipped=None,
        length=found.size,
    )


def _load(documents: FeedDocuments, path: str) -> Version:
    """A document's body and its validators (in a reader thread). If it changed since
    its version was looked up, the newer one (its own key: not cached under the old)."""
    document = documents.get(path)
    if document is None:  # removed meanwhile
        raise StoreError(f"{path} was removed while it was read")
    modified = int(document.modified.timestamp())
    return Version(
        key=(path, document.etag),
        etag=f'"{document.etag}"'.encode(),
        last_modified=email.utils.formatdate(modified, usegmt=True).encode(),
        mtime=modified,
        body=document.body,
        gzipped=gzipped_body(document.body),
    )


def mount(feeds_dir: Path, db: str) -> FeedFiles | FeedDocumentsApp:
    """/feeds/ of the app on store `db`: from the database's feed documents where the
    backend keeps them (not SQLite), each reader thread on a store of its own; else
    from the feeds directory, as always."""
    if scheme_of(db) == "sqlite":
        return FeedFiles(feeds_dir)

    def open_documents() -> Opened:
        stores = open_stores(db)
        found: FeedDocuments | None = getattr(stores, "documents", None)
        if found is None:
            stores.close()
            raise StoreError("this store keeps no feed documents")
        return found, stores.close

    return FeedDocumentsApp(open_documents)
