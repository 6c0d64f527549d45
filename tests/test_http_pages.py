"""What a browser meets on `liveblog serve` besides the feeds: `/` lists the conferences
(HTML, or JSON when asked), and `/docs` works offline (Swagger UI's assets are served by
liveblog itself; no other host is named)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest
from servers import Service, Workspace, wait_until

VOID = {"meta", "link", "br", "img", "input", "hr", "source", "wbr", "area", "col", "embed"}


class Balanced(HTMLParser):
    """Every element closed in order, one <main>, a <title>, a lang: well-formed HTML."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.problems: list[str] = []
        self.seen: list[str] = []
        self.attrs: dict[str, dict[str, str | None]] = {}
        self.text: list[str] = []
        self.doctype = False

    def handle_decl(self, decl: str) -> None:
        self.doctype = self.doctype or decl.lower() == "doctype html"

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.seen.append(tag)
        self.attrs.setdefault(tag, dict(attrs))
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> closes {self.stack[-1:]}")
            return
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def check_html(text: str) -> Balanced:
    parser = Balanced()
    parser.feed(text)
    parser.close()
    assert parser.doctype, "no <!DOCTYPE html>"
    assert not parser.problems, parser.problems
    assert not parser.stack, f"unclosed: {parser.stack}"
    assert parser.seen.count("main") == 1
    assert parser.attrs["html"].get("lang")
    assert "title" in parser.seen
    return parser


def served_ready(service: Service) -> Service:
    def built() -> bool:
        response = httpx.get(f"{service.url}/", headers={"accept": "application/json"})
        return response.status_code == 200

    wait_until(built, 30, what="the timeline to be built")
    return service


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Workspace, Service]]:
    ws = Workspace(tmp_path_factory.mktemp("pages") / "ws")
    ws.ok("conference", "open", "old", "--title", "Old & <Closed>", "--venue", "Room <1>")
    ws.ok("conference", "close", "--conference", "old")
    ws.ok("conference", "open", "demo", "--title", "Demo Conf", "--venue", "Main Hall")
    with Service(ws) as service:
        served_ready(service)
        yield ws, service


def test_root_lists_the_conferences_as_html(site: tuple[Workspace, Service]) -> None:
    _, service = site
    response = httpx.get(f"{service.url}/", headers={"accept": "text/html,*/*;q=0.8"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["vary"] == "Accept"
    parsed = check_html(response.text)
    text = "".join(parsed.text)
    assert "Demo Conf" in text and "Main Hall" in text
    # Characters of a title are text, never markup.
    assert "Old & <Closed>" in text and "Room <1>" in text
    assert "&lt;Closed&gt;" in response.text
    assert 'href="/feeds/demo/index.html"' in response.text
    assert 'href="/feeds/old/index.html"' in response.text
    # The open one first, marked LIVE; the closed one not.
    demo, old = response.text.index("Demo Conf"), response.text.index("Old &amp;")
    assert demo < old
    items = re.findall(r"<li>.*?</li>", response.text)
    assert [("LIVE" in item) for item in items] == [True, False]


def test_root_answers_json_when_asked(site: tuple[Workspace, Service]) -> None:
    _, service = site
    response = httpx.get(f"{service.url}/", headers={"accept": "application/json"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["total"] == 2
    by_slug = {c["slug"]: c for c in body["conferences"]}
    assert by_slug["demo"]["live"] is True and by_slug["old"]["live"] is False
    assert by_slug["demo"]["page"] == "/feeds/demo/index.html"
    assert by_slug["demo"]["stream"] == "/api/conferences/demo/stream"
    assert by_slug["old"]["title"] == "Old & <Closed>"


def test_root_follows_new_conferences(site: tuple[Workspace, Service]) -> None:
    ws, service = site
    ws.ok("conference", "open", "fresh", "--title", "Fresh One")

    def listed() -> bool:
        response = httpx.get(f"{service.url}/", headers={"accept": "application/json"})
        return "fresh" in {c["slug"] for c in response.json()["conferences"]}

    wait_until(listed, 30, what="the new conference on /")


def test_root_head_and_wrong_methods(site: tuple[Workspace, Service]) -> None:
    _, service = site
    head = httpx.head(f"{service.url}/")
    assert head.status_code == 200 and head.content == b""
    post = httpx.post(f"{service.url}/", content=b"x")
    assert post.status_code == 405
    assert "error" in post.json()


def test_docs_work_offline(site: tuple[Workspace, Service]) -> None:
    _, service = site
    response = httpx.get(f"{service.url}/docs")
    assert response.status_code == 200
    check_html(response.text)
    # No asset from any other host: every URL in the page is this server's.
    assert not re.search(r"(?:src|href)=\"(?:https?:)?//", response.text), response.text
    assets = re.findall(r'(?:src|href)="(/docs/[^"]+)"', response.text)
    assert {"/docs/swagger-ui-bundle.js", "/docs/swagger-ui.css"} <= set(assets)
    for asset in assets:
        got = httpx.get(f"{service.url}{asset}")
        assert got.status_code == 200, asset
        assert len(got.content) > 100
    js = httpx.get(f"{service.url}/docs/swagger-ui-bundle.js")
    assert "javascript" in js.headers["content-type"]
    assert "SwaggerUIBundle" in js.text
    assert httpx.get(f"{service.url}/docs/swagger-ui.css").headers["content-type"] == "text/css"
    assert httpx.get(f"{service.url}/openapi.json").status_code == 200
    assert httpx.get(f"{service.url}/docs/../pyproject.toml").status_code == 404
    assert httpx.get(f"{service.url}/docs/index.j2").status_code == 404


def test_root_on_an_empty_database(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    with Service(ws) as service:

        def answered() -> httpx.Response | None:
            response = httpx.get(f"{service.url}/")
            return response if response.status_code == 200 else None

        response = wait_until(answered, 30, what="/ to answer")
        check_html(response.text)
        assert "No conference yet" in response.text


def test_root_with_more_conferences_than_it_lists(tmp_path: Path) -> None:
    from liveblog.http.site import MAX_LISTED
    from liveblog.service.facade import Liveblog

    ws = Workspace(tmp_path / "ws")
    count = MAX_LISTED + 30
    with Liveblog(ws.db, "editor") as service:
        for n in range(count):
            service.open_conference(f"conf-{n}", title=f"Conference {n}")
    with Service(ws) as service:
        served_ready(service)
        listed = httpx.get(f"{service.url}/", headers={"accept": "application/json"}).json()
        assert listed["total"] == count and len(listed["conferences"]) == MAX_LISTED
        page = httpx.get(f"{service.url}/")
        check_html(page.text)
        assert page.text.count("<li>") == MAX_LISTED and "… and 30 more." in page.text
        # oEmbed knows every conference, not only those `/` has room for.
        shown = {c["slug"] for c in listed["conferences"]}
        hidden = next(f"conf-{n}" for n in range(count) if f"conf-{n}" not in shown)
        found = httpx.get(
            f"{service.url}/api/oembed",
            params={"url": f"https://blog.example/{hidden}/index.html"},
        )
        assert found.status_code == 200, found.text
        assert f"/feeds/{hidden}/embed.html" in found.json()["html"]
