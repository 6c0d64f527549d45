"""/feeds/ served from the database's feed documents (http/feeds.py: FeedDocumentsApp),
against a PostgreSQL database filled here, and compared with the file server."""

from __future__ import annotations

import datetime as dt
import gzip
import os
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import httpx
import pytest

from liveblog.http.feeds import FeedDocumentsApp, FeedFiles
from liveblog.store.documents import Document, FeedDocuments, content_etag
from liveblog.store.postgres.documents import DOCUMENTS_DDL, PostgresDocuments
from liveblog.store.postgres.driver import PgConnection, connect, connect_direct

pytestmark = pytest.mark.anyio

WHEN = dt.datetime(2026, 5, 1, 9, 30, tzinfo=dt.UTC)
BIG = ("<entry>" + "liveblog " * 200 + "</entry>\n").encode() * 20  # compressible
FILES = {
    "devconf/live.atom": BIG,
    "devconf/live.rss": b"<rss/>",
    "devconf/index.html": b"<!DOCTYPE html><p>devconf</p>",
    "devconf/archive/1.atom": b"<feed>1</feed>",
    "devconf/.state.json": b"{}",
    "other-conf/index.html": b"<p>other</p>",
}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def conn(pg_url: str) -> Iterator[PgConnection]:
    found = connect(pg_url)
    with found.writing():
        found.execute(DOCUMENTS_DDL)
    PostgresDocuments(found).put([Document.of(p, b, modified=WHEN) for p, b in FILES.items()])
    yield found
    found.close()


class Counting:
    """The documents, counting the bodies read."""

    def __init__(self, inner: PostgresDocuments) -> None:
        self.inner = inner
        self.gets = 0

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    def get(self, path: str) -> Document | None:
        self.gets += 1
        return self.inner.get(path)


@pytest.fixture
def counting(conn: PgConnection) -> Counting:
    return Counting(PostgresDocuments(conn))


def client_of(app: object) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=transport, base_url="http://node")


@pytest.fixture
async def client(counting: Counting) -> AsyncIterator[httpx.AsyncClient]:
    documents: FeedDocuments = counting  # type: ignore[assignment]
    app = FeedDocumentsApp(lambda: (documents, lambda: None), readers=1)
    async with client_of(app) as found:
        yield found
    app.close()


async def test_a_document_with_its_validators(client: httpx.AsyncClient) -> None:
    response = await client.get("/feeds/devconf/live.rss")
    assert response.status_code == 200
    assert response.content == b"<rss/>"
    assert response.headers["etag"] == f'"{content_etag(b"<rss/>")}"'
    assert response.headers["last-modified"] == "Fri, 01 May 2026 09:30:00 GMT"
    assert response.headers["content-type"] == "application/rss+xml; charset=utf-8"
    assert response.headers["cache-control"] == "no-cache"


async def test_conditional_gets_are_answered_304(client: httpx.AsyncClient) -> None:
    first = await client.get("/feeds/devconf/live.rss")
    etag = first.headers["etag"]
    again = await client.get("/feeds/devconf/live.rss", headers={"if-none-match": etag})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == etag
    since = await client.get(
        "/feeds/devconf/live.rss", headers={"if-modified-since": first.headers["last-modified"]}
    )
    assert since.status_code == 304
    stale = await client.get("/feeds/devconf/live.rss", headers={"if-none-match": '"other"'})
    assert stale.status_code == 200 and stale.content == b"<rss/>"


async def test_a_matching_etag_reads_no_body(client: httpx.AsyncClient, counting: Counting) -> None:
    etag = f'"{content_etag(BIG)}"'
    response = await client.get("/feeds/devconf/live.atom", headers={"if-none-match": etag})
    assert response.status_code == 304
    assert counting.gets == 0


async def test_gzip_head_and_the_cache(client: httpx.AsyncClient, counting: Counting) -> None:
    zipped = await client.get("/feeds/devconf/live.atom", headers={"accept-encoding": "gzip"})
    assert zipped.headers["content-encoding"] == "gzip"
    assert zipped.headers["etag"] == f'"{content_etag(BIG)}-gz"'
    assert zipped.content == BIG  # httpx decodes it
    assert int(zipped.headers["content-length"]) == len(gzip.compress(BIG, 6, mtime=0))
    plain = await client.get("/feeds/devconf/live.atom", headers={"accept-encoding": "identity"})
    assert "content-encoding" not in plain.headers and plain.content == BIG
    head = await client.head("/feeds/devconf/live.atom")
    assert head.status_code == 200 and head.content == b""
    assert int(head.headers["content-length"]) > 0
    assert counting.gets == 1  # one body read, then the cache
    matched = await client.get(
        "/feeds/devconf/live.atom",
        headers={"if-none-match": zipped.headers["etag"], "accept-encoding": "gzip"},
    )
    assert matched.status_code == 304


async def test_a_changed_document_is_served_anew(
    client: httpx.AsyncClient, counting: Counting
) -> None:
    assert (await client.get("/feeds/devconf/live.rss")).content == b"<rss/>"
    counting.inner.put([Document.of("devconf/live.rss", b"<rss>2</rss>")])
    response = await client.get("/feeds/devconf/live.rss")
    assert response.content == b"<rss>2</rss>"
    assert response.headers["etag"] == f'"{content_etag(b"<rss>2</rss>")}"'


async def test_folders_hidden_names_and_the_listing(client: httpx.AsyncClient) -> None:
    for path in ("/feeds/devconf/", "/feeds/devconf"):
        response = await client.get(path)
        assert response.status_code == 200
        assert response.content == FILES["devconf/index.html"]
        assert response.headers["content-type"] == "text/html; charset=utf-8"
    for hidden in ("/feeds/devconf/.state.json", "/feeds/.devconf/live.rss"):
        response = await client.get(hidden)
        assert response.status_code == 404
        assert response.json() == {"error": "not found"}
    assert (await client.get("/feeds/devconf/none.atom")).status_code == 404
    assert (await client.get("/feeds/live.atom")).status_code == 404
    listing = await client.get("/feeds/")
    assert listing.status_code == 200
    assert listing.text.index('href="devconf/"') < listing.text.index('href="other-conf/"')
    refused = await client.post("/feeds/devconf/live.rss")
    assert refused.status_code == 405 and refused.headers["allow"] == "GET, HEAD"


async def test_big_documents_are_served_but_never_kept(counting: Counting) -> None:
    documents: FeedDocuments = counting  # type: ignore[assignment]
    app = FeedDocumentsApp(
        lambda: (documents, lambda: None), readers=1, cache_bytes=3 * 1024, keep_limit=1024
    )
    try:
        async with client_of(app) as client:
            for _ in range(2):
                response = await client.get("/feeds/devconf/live.atom")
                assert response.content == BIG
            small = await client.get("/feeds/devconf/live.rss")
            assert small.content == b"<rss/>"
            await client.get("/feeds/devconf/live.rss")
        assert counting.gets == 3  # the big one read each time, the small one once
        assert app._cache.bytes <= 3 * 1024
    finally:
        app.close()


async def test_the_same_bytes_on_disk_have_the_same_validator(
    client: httpx.AsyncClient, tmp_path: Path
) -> None:
    for path, body in FILES.items():
        target = tmp_path / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(body)
        os.utime(target, (WHEN.timestamp(), WHEN.timestamp()))
    async with client_of(FeedFiles(tmp_path)) as files:
        for path in ("devconf/live.atom", "devconf/archive/1.atom", "devconf/"):
            for encoding in ("gzip", "identity"):
                headers = {"accept-encoding": encoding}
                on_disk = await files.get(f"/feeds/{path}", headers=headers)
                in_db = await client.get(f"/feeds/{path}", headers=headers)
                assert on_disk.status_code == in_db.status_code == 200
                assert on_disk.content == in_db.content
                for name in ("etag", "last-modified", "content-type", "content-length"):
                    assert on_disk.headers[name] == in_db.headers[name]
        assert (await files.get("/feeds/")).content == (await client.get("/feeds/")).content


async def test_a_failing_database_is_a_503_in_one_line_then_reopened(
    pg_url: str, conn: PgConnection
) -> None:
    opened: list[PgConnection] = []
    closed: list[PgConnection] = []

    def open_documents() -> tuple[FeedDocuments, Callable[[], None]]:
        if not opened:
            # The first store's connection is broken for good: a direct one (a pooled
            # connection would be replaced by the driver before its next statement).
            found = connect_direct(pg_url)
            found.raw.close()
        else:
            found = connect(pg_url)
        opened.append(found)
        return PostgresDocuments(found), lambda: closed.append(found)

    app = FeedDocumentsApp(open_documents, readers=1)
    try:
        async with client_of(app) as client:
            response = await client.get("/feeds/devconf/live.rss")
            assert response.status_code == 503
            assert response.json()["error"].startswith("feed documents unavailable")
            assert "\n" not in response.json()["error"]
            assert closed == opened[:1]  # the failed store let go
            again = await client.get("/feeds/devconf/live.rss")
            assert again.status_code == 200 and again.content == b"<rss/>"
    finally:
        app.close()
        for found in opened:
            found.close()
