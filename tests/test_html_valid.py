"""The published pages validate with the Nu HTML checker (vnu.jar), and the live page's
JSON-LD is a schema.org LiveBlogPosting a search engine can read.

A sample conference (every kind of entry, a correction, a retraction, a pin, a key moment,
two days) is published by `liveblog publish` in a real process;
vnu checks all of them in one run (the JVM starts slowly), once per module. (serve's `/`
page: test_html_valid_serve.py.)
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from browser import ARTIFACTS, SAMPLE, sample_conference, vnu_errors
from servers import Workspace

pytestmark = pytest.mark.slow

FEEDS_URL = "https://blog.example.org/feeds"
PAGES = ("index.html", "embed.html", "day-1.html", "day-2.html")


@pytest.fixture(scope="module")
def published(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Workspace, dict[str, str]]]:
    ws = Workspace(tmp_path_factory.mktemp("valid"))
    ids = sample_conference(ws.db)
    ws.ok("publish", "--feeds-url", FEEDS_URL)
    yield ws, ids


def page_path(ws: Workspace, name: str) -> Path:
    return ws.feeds / SAMPLE / name


@pytest.fixture(scope="module")
def errors_by_page(published: tuple[Workspace, dict[str, str]]) -> dict[str, list[str]]:
    ws, _ = published
    paths = [page_path(ws, name) for name in PAGES]
    missing = [str(p) for p in paths if not p.is_file()]
    assert not missing, f"not written: {missing}"
    # Copies under test-artifacts/ let a reader of a failed run see what vnu saw.
    ARTIFACTS.mkdir(exist_ok=True)
    for path in paths:
        (ARTIFACTS / f"valid-{path.name}").write_bytes(path.read_bytes())
    found: dict[str, list[str]] = {name: [] for name in PAGES}
    for line in vnu_errors(paths):
        found.setdefault(line.split(":", 1)[0], []).append(line)
    return found


@pytest.mark.parametrize("name", PAGES)
def test_the_page_has_no_html_error(errors_by_page: dict[str, list[str]], name: str) -> None:
    assert errors_by_page[name] == [], "\n".join(errors_by_page[name])


class _JsonLd(HTMLParser):
    """The text of every <script type="application/ld+json">, and every element id."""

    def __init__(self) -> None:
        super().__init__()
        self.blocks: list[str] = []
        self.ids: set[str] = set()
        self._inside = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if values.get("id"):
            self.ids.add(str(values["id"]))
        if tag == "script" and values.get("type") == "application/ld+json":
            self._inside = True
            self.blocks.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._inside = False

    def handle_data(self, data: str) -> None:
        if self._inside:
            self.blocks[-1] += data


def _things(node: Any) -> Iterator[dict[str, Any]]:
    """Every JSON-LD object in a document (top level, lists, @graph)."""
    if isinstance(node, list):
        for item in node:
            yield from _things(item)
    elif isinstance(node, dict):
        yield node
        if "@graph" in node:
            yield from _things(node["@graph"])


def _is(thing: dict[str, Any], kind: str) -> bool:
    declared = thing.get("@type")
    return kind in (declared if isinstance(declared, list) else [declared])


def test_the_live_page_is_a_live_blog_posting_with_a_url_per_update(
    published: tuple[Workspace, dict[str, str]],
) -> None:
    ws, ids = published
    parser = _JsonLd()
    parser.feed(page_path(ws, "index.html").read_text())
    assert parser.blocks, "no <script type=application/ld+json> in index.html"
    things = [t for block in parser.blocks for t in _things(json.loads(block))]
    postings = [t for t in things if _is(t, "LiveBlogPosting")]
    assert len(postings) == 1, things
    posting = postings[0]
    modified = datetime.fromisoformat(str(posting["dateModified"]))
    assert modified.tzinfo is not None, posting["dateModified"]
    updates = posting["liveBlogUpdate"]
    updates = updates if isinstance(updates, list) else [updates]
    urls = [str(update["url"]) for update in updates]
    page = f"{FEEDS_URL}/{SAMPLE}/index.html#entry-"
    assert all(url.startswith(page) for url in urls), urls
    anchors = {url.removeprefix(page) for url in urls}
    # Every update's anchor is an entry on the page; the retracted one is in none.
    assert {f"entry-{a}" for a in anchors} <= parser.ids, anchors - parser.ids
    for name in ("quote", "note", "photo", "link", "wrong", "day2"):
        assert ids[name] in anchors, (name, anchors)
    assert ids["retracted"] not in anchors
