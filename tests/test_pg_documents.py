"""Feed documents in PostgreSQL: the `FeedDocuments` contract (store/documents.py)."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator

import pytest

from liveblog.errors import StoreBusy
from liveblog.store.documents import Document, content_etag, content_type_for
from liveblog.store.postgres.documents import DOCUMENTS_DDL, PostgresDocuments
from liveblog.store.postgres.driver import PgConnection, connect

EARLY = dt.datetime(2026, 5, 1, 9, 0, tzinfo=dt.UTC)
LATE = dt.datetime(2026, 5, 2, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def conn(pg_url: str) -> Iterator[PgConnection]:
    found = connect(pg_url)
    with found.writing():
        found.execute(DOCUMENTS_DDL)
    yield found
    found.close()


@pytest.fixture
def docs(conn: PgConnection) -> PostgresDocuments:
    return PostgresDocuments(conn)


def doc(path: str, body: bytes, modified: dt.datetime = EARLY) -> Document:
    return Document.of(path, body, modified=modified)


def test_put_then_get_returns_the_bytes_type_etag_and_time(docs: PostgresDocuments) -> None:
    body = "<feed>é</feed>".encode()
    assert docs.put([doc("devconf/live.atom", body)]) == ["devconf/live.atom"]
    found = docs.get("devconf/live.atom")
    assert found is not None
    assert found.body == body
    assert found.content_type == "application/atom+xml; charset=utf-8"
    assert found.etag == content_etag(body)
    assert found.modified == EARLY
    version = docs.version("devconf/live.atom")
    assert version == found.version
    assert version is not None and version.size == len(body)
    assert docs.get("devconf/live.rss") is None
    assert docs.version("devconf/live.rss") is None


def test_the_etag_is_the_content_alone() -> None:
    assert content_etag(b"a") == content_etag(b"a") != content_etag(b"b")
    assert len(content_etag(b"")) == 32
    assert content_type_for("x/day-1.html") == "text/html; charset=utf-8"
    assert content_type_for("x/README") == "application/octet-stream"


def test_unchanged_bytes_keep_their_time_and_changed_ones_move_it(
    docs: PostgresDocuments,
) -> None:
    docs.put([doc("c/live.json", b"{}"), doc("c/live.rss", b"<rss/>")])
    changed = docs.put([doc("c/live.json", b"{}", LATE), doc("c/live.rss", b"<rss>2</rss>", LATE)])
    assert changed == ["c/live.rss"]
    json_version, rss_version = docs.version("c/live.json"), docs.version("c/live.rss")
    assert json_version is not None and json_version.modified == EARLY
    assert rss_version is not None and rss_version.modified == LATE
    assert rss_version.etag == content_etag(b"<rss>2</rss>")


def test_the_same_path_twice_in_one_put_keeps_the_last(docs: PostgresDocuments) -> None:
    assert docs.put([doc("c/a.atom", b"1"), doc("c/a.atom", b"2")]) == ["c/a.atom"]
    found = docs.get("c/a.atom")
    assert found is not None and found.body == b"2"


def test_large_puts_go_in_several_statements(
    docs: PostgresDocuments, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("liveblog.store.postgres.documents.PUT_BATCH_BYTES", 10)
    bodies = {f"c/archive/{n}.atom": bytes([65 + n]) * 7 for n in range(1, 6)}
    assert docs.put([doc(p, b) for p, b in bodies.items()]) == list(bodies)
    assert {v.path: v.size for v in docs.list("c/archive/")} == dict.fromkeys(bodies, 7)


def test_paths_must_have_a_folder() -> None:
    for bad in ("live.atom", "c//x", "c/../x", "/c/x", "c/"):
        with pytest.raises(ValueError):
            doc(bad, b"")


def test_list_is_a_prefix_in_path_order(docs: PostgresDocuments) -> None:
    paths = ["a/live.atom", "ab/live.atom", "a/archive/1.atom", "a/.state.json", "b/x.html"]
    docs.put([doc(p, p.encode()) for p in paths])
    assert [v.path for v in docs.list("a/")] == ["a/.state.json", "a/archive/1.atom", "a/live.atom"]
    assert [v.path for v in docs.list()] == sorted(paths)
    assert docs.list("zz/") == []


def test_folders_are_the_conferences(docs: PostgresDocuments) -> None:
    assert docs.folders() == []
    paths = ["b/live.atom", "a/live.atom", "a/archive/1.atom", "a-b/x.html", "a0/y.html"]
    docs.put([doc(p, b"x") for p in paths])
    assert docs.folders() == ["a", "a-b", "a0", "b"]


def test_delete(docs: PostgresDocuments) -> None:
    docs.put([doc("c/a.atom", b"1"), doc("c/b.atom", b"2")])
    assert docs.delete(["c/a.atom", "c/none.atom"]) == 1
    assert docs.delete([]) == 0
    assert [v.path for v in docs.list("c/")] == ["c/b.atom"]


def test_writes_join_the_callers_unit_of_work(docs: PostgresDocuments, pg_url: str) -> None:
    other = PostgresDocuments(connect(pg_url))
    try:
        with pytest.raises(RuntimeError), docs.writing():
            docs.put([doc("c/a.atom", b"1")])
            docs.delete(["c/a.atom"])
            docs.put([doc("c/b.atom", b"2")])
            assert other.get("c/b.atom") is None  # not committed yet
            raise RuntimeError("the caller's unit of work fails")
        assert docs.list() == [] == other.list()
        with docs.writing():
            docs.put([doc("c/b.atom", b"2")])
        assert [v.path for v in other.list()] == ["c/b.atom"]
    finally:
        other.conn.close()


def test_one_publish_at_a_time(docs: PostgresDocuments, pg_url: str) -> None:
    other = PostgresDocuments(connect(pg_url))
    try:
        with docs.exclusive(1.0):
            with pytest.raises(StoreBusy, match="another publish"), other.exclusive(0.1):
                pass
            released = threading.Event()

            def wait_for_it() -> None:
                with other.exclusive(30.0):
                    released.set()

            waiter = threading.Thread(target=wait_for_it)
            waiter.start()
            assert not released.is_set()
        waiter.join(30.0)
        assert released.is_set()  # given up by the first: taken by the waiting one
        with docs.exclusive(0.1):  # and given back by it
            pass
    finally:
        other.conn.close()
