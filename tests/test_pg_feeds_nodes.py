"""Several `serve` nodes on one PostgreSQL database answer /feeds/… alike: the same bytes,
ETag and Last-Modified from every node, whether or not they share a disk — each here has
a feeds directory of its own (or none), and the feeds come from the database's documents.

Real processes on 127.0.0.1 (slow: MULTI_PROCESS_MODULES)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from servers import LIVEBLOG, Service, Workspace, wait_until
from test_pg_timeline import generated_day

from liveblog.feeds.publisher import DATABASE_TARGET, MARKER_FILE
from liveblog.store.postgres import log as log_module

FEEDS_URL = "https://feeds.example/feeds"  # one public URL for every node's self links
PUBLISH_SECONDS = 120.0  # a first publish of a generated day on a loaded 2-core machine
NODE_START_SECONDS = 120.0  # a cold start on PostgreSQL (the pool, migrations, leadership)


class Node(Service):
    """`liveblog serve` on the PostgreSQL database, with feeds directory `feeds` ("" for
    none: feed documents only)."""

    def __init__(self, workspace: Workspace, url: str, feeds: str) -> None:
        super().__init__(workspace)
        self.db_url = url
        self.feeds_dir = feeds

    def start(self) -> Node:
        self.spawn()
        wait_until(
            self._ready,
            NODE_START_SECONDS,
            what=lambda: f"`liveblog serve` to be ready; stderr: {self.stderr!r}",
        )
        return self

    def __enter__(self) -> Node:
        return self.start()

    def argv(self) -> list[str]:
        return [
            *LIVEBLOG,
            *("--db", self.db_url, "--feeds", self.feeds_dir),
            *("serve", "--port", str(self.port), "--feeds-url", FEEDS_URL),
        ]


@pytest.fixture
def store(pg_url: str) -> Iterator[Any]:
    found = log_module.PostgresEventStore(pg_url, require_log=False)
    yield found
    found.close()


def published_everything(store: Any) -> bool:
    """The database's documents are published up to the log's head."""
    from liveblog.store.postgres.stores import PostgresStores

    head = store.head()
    published = PostgresStores(store).published
    if head == 0 or not published.present():  # made by the first publish
        return False
    target = published.target(DATABASE_TARGET)
    return target is not None and target.position >= head


def documents(store: Any) -> dict[str, bytes]:
    from liveblog.store.postgres.documents import PostgresDocuments

    found = PostgresDocuments(store.conn)
    bodies = {}
    for version in found.list():
        if "/." not in version.path:  # the publisher's own (.state.json): never served
            document = found.get(version.path)
            assert document is not None
            bodies[version.path] = document.body
    return bodies


def files(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.name.startswith(".") and p.name != MARKER_FILE
    }


def fetch_all(node: Service, paths: list[str]) -> dict[str, httpx.Response]:
    with httpx.Client(base_url=node.url, timeout=30.0) as client:
        return {path: client.get(f"/feeds/{path}") for path in paths}


def assert_alike(nodes: list[Node], expected: dict[str, bytes]) -> None:
    """Every node answers every document with the database's bytes and one ETag and
    time, and a 304 to the ETag another node gave."""
    answers = [fetch_all(node, sorted(expected)) for node in nodes]
    for path, body in expected.items():
        first = answers[0][path]
        for answer in answers:
            response = answer[path]
            assert response.status_code == 200, (path, response.text)
            assert response.content == body, path
            for name in ("etag", "last-modified", "content-type"):
                assert response.headers[name] == first.headers[name], (path, name)
    with httpx.Client(timeout=30.0) as client:
        for k, node in enumerate(nodes):
            other = answers[(k + 1) % len(answers)]
            for path in ("c1/live.atom", "c1/index.html", "c2/live.json"):
                etag = other[path].headers["etag"]
                again = client.get(f"{node.url}/feeds/{path}", headers={"if-none-match": etag})
                assert again.status_code == 304, (node.feeds_dir, path)
                assert again.headers["etag"] == etag
        listings = {client.get(f"{node.url}/feeds/").text for node in nodes}
        assert len(listings) == 1 and 'href="c1/"' in listings.pop()


def test_two_nodes_with_their_own_directories_serve_the_same_feeds(
    tmp_path: Path, pg_url: str, store: Any
) -> None:
    ws = Workspace(tmp_path)
    dirs = [tmp_path / "node-a-feeds", tmp_path / "node-b-feeds"]
    nodes = [Node(ws, pg_url, str(d)) for d in dirs]
    with nodes[0], nodes[1]:
        store.append(generated_day(11))
        wait_until(
            lambda: published_everything(store),
            PUBLISH_SECONDS,
            what=lambda: (
                "the feeds to be published; stderr: " + " / ".join(node.stderr for node in nodes)
            ),
        )
        expected = documents(store)
        assert {"c1/live.atom", "c1/archive/1.atom", "c2/index.html"} <= set(expected)
        assert_alike(nodes, expected)
    # Only the node that published wrote its directory (the other's stays as it was):
    # what each serves never depended on it. What was written is the same bytes.
    written = [files(d) for d in dirs if d.exists() and files(d)]
    assert written, "no node wrote its feeds directory"
    for found in written:
        assert found == expected


def test_a_node_without_a_feeds_directory_serves_the_same_feeds(
    tmp_path: Path, pg_url: str, store: Any
) -> None:
    ws = Workspace(tmp_path)
    nodes = [Node(ws, pg_url, ""), Node(ws, pg_url, str(tmp_path / "node-b-feeds"))]
    with nodes[0]:
        store.append(generated_day(12))
        wait_until(
            lambda: published_everything(store),
            PUBLISH_SECONDS,
            what=lambda: f"the feeds to be published; stderr: {nodes[0].stderr}",
        )
        with nodes[1]:
            assert_alike(nodes, documents(store))
