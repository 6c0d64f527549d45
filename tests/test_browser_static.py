"""The live page hosted as plain static files: no liveblog process, no stream.

`liveblog publish --poll-interval 1` writes the folder; `python -m http.server` serves it
(a real subprocess; it has no /api, so the page's EventSource cannot open); the page
falls back to polling live.json and picks up the next `liveblog publish`.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx
import pytest

# Before importing it: `browser` is also loaded as a plugin below (see test_browser_live).
pytest.register_assert_rewrite("browser")
from browser import PAGE_SECONDS, Tab  # noqa: E402
from servers import Workspace, free_port, wait_until  # noqa: E402

from liveblog.service.facade import Liveblog  # noqa: E402

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytest_plugins = ["browser"]
pytestmark = pytest.mark.slow

SLUG = "static"


@dataclass
class Hosted:
    ws: Workspace
    port: int

    @property
    def page_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/{SLUG}/index.html"

    def publish(self) -> None:
        self.ws.ok(
            "publish", "--poll-interval", "1", "--feeds-url", f"http://127.0.0.1:{self.port}"
        )

    def post(self, *args: str) -> str:
        out = self.ws.ok(*args, "--conference", SLUG)
        found = re.match(r"#\d+ \S+ ([0-9a-f]+)\b", out[0]) if out else None
        assert found, out
        return found.group(1)


@pytest.fixture(scope="module")
def hosted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hosted]:
    ws = Workspace(tmp_path_factory.mktemp("static"))
    with Liveblog(ws.db, "ann") as lb:
        lb.open_conference(SLUG, title="Static Conference", venue="Room 1")
        lb.open_day(1, conference=SLUG)
        lb.note("The first note, published before the page is opened.", conference=SLUG)
    port = free_port()
    site = Hosted(ws, port)
    site.publish()
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        cwd=ws.feeds,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:

        def up() -> bool:
            try:
                return httpx.get(site.page_url, timeout=5).status_code == 200
            except httpx.TransportError:
                return False

        wait_until(up, PAGE_SECONDS, what="python -m http.server to serve the page")
        yield site
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_the_page_polls_and_picks_up_a_publish(hosted: Hosted, tab: Tab) -> None:
    tab.goto(hosted.page_url)
    tab.wait_state("polling")
    assert tab.count("#entries article.entry") == 1
    polls: list[str] = []
    tab.page.on("request", lambda r: polls.append(r.url) if "live.json" in r.url else None)

    note = hosted.post("note", "Published while the page was open.")
    hosted.publish()
    tab.wait_entry(note)

    newest = tab.page.evaluate("() => document.querySelector('#entries article.entry').id")
    assert newest.startswith(f"entry-{note}"), newest
    hosted.post("correct", note, "Corrected while the page was open.")
    hosted.publish()
    tab.wait(
        "(s) => { const e = document.querySelector(s); return e && e.querySelector('.corrected') }",
        tab.entry(note),
        what="the correction picked up by polling",
    )
    assert "Corrected while the page was open." in tab.text(tab.entry(note))
    hosted.post("retract", note, "--reason", "test")
    hosted.publish()
    tab.wait("(s) => document.querySelector(s) === null", tab.entry(note), what="retraction")
    assert tab.count(".retracted-notice") == 1
    assert tab.state() == "polling"
    assert polls, "the page never fetched live.json"
    assert tab.errors == []


def test_the_page_is_readable_without_javascript(hosted: Hosted, browser: Browser) -> None:
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        response = page.goto(hosted.page_url)
        assert response is not None and response.status == 200
        assert page.locator("main#liveblog").count() == 1
        # (The module's other test may have published more entries: find this one.)
        first = page.locator("#entries article.entry", has_text="published before the page")
        assert first.count() == 1
        assert page.locator("time[datetime]").count() >= 1
    finally:
        context.close()
