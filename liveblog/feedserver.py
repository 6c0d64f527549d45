"""Serving feeds/ over HTTP: content types, strong ETags, Last-Modified, 304s, gzip.

A plain ASGI app (no framework on the path): feed readers poll with conditional GETs,
and answering a 304 costs one stat() and a header comparison. A file's bytes, ETag and
gzipped form are cached by (mtime, size, inode); the publisher replaces files by rename,
so a changed file is always a new inode or mtime and is read again.
"""

from __future__ import annotations

import email.utils
import gzip
import hashlib
import html
import os
import stat
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CONTENT_TYPES = {
    ".atom": b"application/atom+xml; charset=utf-8",
    ".rss": b"application/rss+xml; charset=utf-8",
    ".json": b"application/feed+json; charset=utf-8",
    ".html": b"text/html; charset=utf-8",
    ".xml": b"application/xml; charset=utf-8",
}
CACHE_FILES = 512
CACHE_MAX_BYTES = 4 * 1024 * 1024  # larger files are read per request
GZIP_MIN_BYTES = 512

Scope = dict[str, Any]


@dataclass(frozen=True)
class _File:
    key: tuple[int, int, int]
    body: bytes
    gzipped: bytes | None
    etag: bytes
    last_modified: bytes
    mtime: int


def _load(path: Path) -> _File:
    with open(path, "rb") as handle:
        st = os.fstat(handle.fileno())
        body = handle.read()
    digest = hashlib.sha256(body).hexdigest()[:32]
    gzipped = gzip.compress(body, 6, mtime=0) if len(body) >= GZIP_MIN_BYTES else None
    return _File(
        key=(st.st_mtime_ns, st.st_size, st.st_ino),
        body=body,
        gzipped=gzipped,
        etag=f'"{digest}"'.encode(),
        last_modified=email.utils.formatdate(int(st.st_mtime), usegmt=True).encode(),
        mtime=int(st.st_mtime),
    )


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

    def __init__(self, root: Path, prefix: str = "/feeds/") -> None:
        self.root = root
        self.prefix = prefix
        self._cache: OrderedDict[str, _File] = OrderedDict()

    def _resolve(self, path: str) -> Path | None:
        relative = path[len(self.prefix) :]
        parts = [p for p in relative.split("/") if p]
        if any(p.startswith(".") or "\\" in p or "\x00" in p for p in parts):
            return None
        target = self.root.joinpath(*parts)
        # A name without a suffix may be a conference's folder: serve its index.
        if not parts or relative.endswith("/") or (not target.suffix and target.is_dir()):
            target = target / "index.html"
        return target

    def _file(self, name: str, target: Path) -> _File | None:
        try:
            st = os.stat(target)
        except (OSError, ValueError):
            return None
        if not stat.S_ISREG(st.st_mode):
            return None
        cached = self._cache.get(name)
        if cached is not None and cached.key == (st.st_mtime_ns, st.st_size, st.st_ino):
            self._cache.move_to_end(name)
            return cached
        try:
            loaded = _load(target)
        except OSError:
            return None
        if len(loaded.body) <= CACHE_MAX_BYTES:
            self._cache[name] = loaded
            if len(self._cache) > CACHE_FILES:
                self._cache.popitem(last=False)
        return loaded

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        method = scope["method"]
        if method not in ("GET", "HEAD"):
            await _plain(send, 405, b"method not allowed\n", [(b"allow", b"GET, HEAD")])
            return
        target = self._resolve(scope["path"])
        found = self._file(str(target), target) if target is not None else None
        if found is None and target == self.root / "index.html":
            await self._listing(send)
            return
        if found is None or target is None:
            await _plain(send, 404, b"not found\n")
            return
        headers = dict(scope["headers"])
        use_gzip = found.gzipped is not None and _accepts_gzip(headers.get(b"accept-encoding", b""))
        etag = found.etag[:-1] + b'-gz"' if use_gzip else found.etag
        response_headers = [
            (b"etag", etag),
            (b"last-modified", found.last_modified),
            (b"cache-control", b"no-cache"),
            (b"vary", b"accept-encoding"),
        ]
        inm = headers.get(b"if-none-match")
        ims = headers.get(b"if-modified-since")
        if (inm is not None and _etag_matches(inm, (found.etag, found.etag[:-1] + b'-gz"'))) or (
            inm is None and ims is not None and _not_modified_since(ims, found.mtime)
        ):
            await send({"type": "http.response.start", "status": 304, "headers": response_headers})
            await send({"type": "http.response.body", "body": b""})
            return
        body = found.gzipped if use_gzip and found.gzipped is not None else found.body
        content_type = CONTENT_TYPES.get(target.suffix, b"application/octet-stream")
        response_headers += [
            (b"content-type", content_type),
            (b"content-length", str(len(body)).encode()),
        ]
        if use_gzip:
            response_headers.append((b"content-encoding", b"gzip"))
        await send({"type": "http.response.start", "status": 200, "headers": response_headers})
        await send({"type": "http.response.body", "body": b"" if method == "HEAD" else body})

    async def _listing(self, send: Any) -> None:
        """/feeds/ itself: a page linking every conference's feeds."""
        try:
            names = sorted(
                p.name for p in self.root.iterdir() if p.is_dir() and not p.name.startswith(".")
            )
        except OSError:
            names = []
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


async def _plain(
    send: Any, status: int, body: bytes, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
        *(extra or []),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
