"""The reader's live page in a real browser, on a real `liveblog serve`.

One `serve` for the module (a temporary events.db and feeds/), one conference per test so
tests do not see each other's entries; the entries under test are posted by the CLI in
a real process (local mode, on the same events.db, as a reporter at the venue does), and
the page must show them without a reload: the stream (SSE) delivers them. The restart
test has a `serve` of its own. Every wait is on a condition in the page with a generous
deadline; how fast is bench/browser_latency.py's question.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

# Before importing it: `browser` is also loaded as a plugin below, whose asserts pytest
# rewrites only if it marked the module before its first import.
pytest.register_assert_rewrite("browser")
from browser import (  # noqa: E402
    PAGE_SECONDS,
    Tab,
    axe_violations,
    sample_conference,
    screenshots,
)
from servers import Service, Workspace, wait_until  # noqa: E402

from liveblog.service.facade import Liveblog  # noqa: E402
from liveblog.store.factory import open_store  # noqa: E402

if TYPE_CHECKING:
    from playwright.sync_api import Route

# The `browser` and `tab` fixtures.
pytest_plugins = ["browser"]
pytestmark = pytest.mark.slow

SAME_DOCUMENT = "() => window.__liveblogTestDocument === 'the first load'"
"""True while the page was never reloaded: a reload drops the mark set at first load."""


@dataclass
class Live:
    ws: Workspace
    service: Service

    def page_url(self, slug: str, page: str = "index.html") -> str:
        return f"{self.service.feeds_url}/{slug}/{page}"

    def open_conference(self, slug: str, notes: int = 0) -> None:
        """A conference with day 1 open (and `notes` notes), appended in-process (set-up),
        then waited for until serve has published its live page."""
        with Liveblog(self.ws.db, "ann") as lb:
            lb.open_conference(slug, title=f"Conference {slug}", venue="Hall B")
            lb.open_day(1, conference=slug)
            for k in range(notes):
                lb.note(f"Earlier note number {k}: the room fills up slowly.", conference=slug)
        wait_for_page(self.page_url(slug), head(self.ws.db))

    def post(self, *args: str, slug: str) -> str:
        """A CLI command in a real process; the short id it printed (`#P type ID  …`)."""
        out = self.ws.ok(*args, "--conference", slug)
        found = re.match(r"#\d+ \S+ ([0-9a-f]+)\b", out[0]) if out else None
        assert found, out
        return found.group(1)


def head(db: Path) -> int:
    """The log's last position: a page published at it holds everything appended."""
    with open_store(db, readonly=True) as store:
        return store.head()


PAGE_POSITION = re.compile(r'id="liveblog-data">[^<]*"position":(\d+)')


def wait_for_page(url: str, position: int) -> None:
    """Until serve has published `url` as of `position` (the page data says so): a page
    opened earlier would catch up by the stream, under the test's feet."""

    def ready() -> bool:
        try:
            response = httpx.get(url, timeout=5)
        except httpx.TransportError:
            return False
        found = PAGE_POSITION.search(response.text) if response.status_code == 200 else None
        return found is not None and int(found.group(1)) >= position

    wait_until(ready, PAGE_SECONDS, what=f"{url} to be published as of position {position}")


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    ws = Workspace(tmp_path_factory.mktemp("live"))
    # A 1 s poll interval in the pages' data: the tests that make the page poll are quick.
    with Service(ws, args=("--poll-interval", "1")) as service:
        yield Live(ws, service)
        service.stop_cleanly()


def open_live(tab: Tab, url: str) -> None:
    """Open the page, mark the document (see SAME_DOCUMENT), wait for the open stream."""
    tab.goto(url)
    tab.page.evaluate("() => { window.__liveblogTestDocument = 'the first load' }")
    tab.wait_state("stream")


def entry_ids(tab: Tab, container: str = "#entries") -> list[str]:
    """The ids of the entries in `container`, in document order (newest first)."""
    found = tab.page.evaluate(
        "(c) => [...document.querySelectorAll(c + ' article.entry')].map(e => e.id)", container
    )
    assert isinstance(found, list)
    return [str(x) for x in found]


def full_id(tab: Tab, short: str) -> str:
    matches = [x for x in entry_ids(tab, "body") if x.startswith(f"entry-{short}")]
    assert len(matches) == 1, (short, matches)
    return matches[0]


def test_posts_from_the_cli_appear_without_a_reload(live: Live, tab: Tab) -> None:
    slug = "appear"
    live.open_conference(slug)
    open_live(tab, live.page_url(slug))
    assert tab.page.get_attribute("#entries", "aria-live") == "polite"

    note = live.post("note", "The keynote starts ten minutes late.", slug=slug)
    tab.wait_entry(note)
    quote = live.post("quote", "Ship it <today> & not tomorrow.", "--speaker", "Ada", slug=slug)
    tab.wait_entry(quote)
    photo = live.post("photo", "https://example.org/p.jpg", "--caption", "The stage", slug=slug)
    tab.wait_entry(photo)

    assert tab.page.evaluate(SAME_DOCUMENT), "the page was reloaded"
    kinds = {
        short: tab.page.get_attribute(tab.entry(short), "data-kind")
        for short in (note, quote, photo)
    }
    assert kinds == {note: "note", quote: "quote", photo: "photo"}
    assert "ten minutes late" in tab.text(tab.entry(note))
    # A quote as a quote with its speaker, escaped text; a photo as a figure with its caption.
    assert "Ship it <today> & not tomorrow." in tab.text(f"{tab.entry(quote)} blockquote")
    assert "Ada" in tab.text(tab.entry(quote))
    assert "The stage" in tab.text(f"{tab.entry(photo)} figure figcaption")
    assert tab.page.get_attribute(f"{tab.entry(photo)} img", "src") == "https://example.org/p.jpg"
    # Newest first.
    order = entry_ids(tab)
    assert order[:3] == [full_id(tab, photo), full_id(tab, quote), full_id(tab, note)], order
    assert tab.errors == []


def test_entries_take_their_place_by_time_in_their_day(live: Live, tab: Tab) -> None:
    slug = "order"
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)

    def ago(minutes: int) -> str:
        return (now - dt.timedelta(minutes=minutes)).isoformat()

    with Liveblog(live.ws.db, "ann") as lb:
        lb.open_conference(slug, title="Ordering", at=ago(180))
        lb.open_day(1, conference=slug, at=ago(170))
    wait_for_page(live.page_url(slug), head(live.ws.db))
    open_live(tab, live.page_url(slug))
    early = live.post("note", "An hour ago.", "--at", ago(60), slug=slug)
    tab.wait_entry(early)
    late = live.post("note", "Half an hour ago.", "--at", ago(30), slug=slug)
    tab.wait_entry(late)
    # Posted last, but it happened between the two: it goes between them.
    between = live.post("note", "Forty-five minutes ago.", "--at", ago(45), slug=slug)
    tab.wait_entry(between)
    assert entry_ids(tab) == [full_id(tab, x) for x in (late, between, early)]

    live.ws.ok("day", "close", "--at", ago(20), "--conference", slug)
    live.ws.ok("day", "open", "2", "--at", ago(10), "--conference", slug)
    second = live.post("note", "Day two begins.", slug=slug)
    tab.wait_entry(second, inside='#entries [data-day="2"]')
    # The new day comes first (newest first), day 1 keeps its entries.
    days = tab.page.evaluate(
        "() => [...document.querySelectorAll('#entries [data-day]')].map(d => d.dataset.day)"
    )
    assert days == ["2", "1"], days
    assert entry_ids(tab, '#entries [data-day="1"]') == [
        full_id(tab, x) for x in (late, between, early)
    ]
    assert tab.page.evaluate(SAME_DOCUMENT)
    assert tab.errors == []


def test_a_correction_changes_the_entry_in_place(live: Live, tab: Tab) -> None:
    slug = "correct"
    live.open_conference(slug)
    open_live(tab, live.page_url(slug))
    wrong = live.post("note", "Attendance is 300.", slug=slug)
    tab.wait_entry(wrong)
    after = live.post("note", "Coffee is served in the foyer.", slug=slug)
    tab.wait_entry(after)
    before = entry_ids(tab)

    live.post("correct", wrong, "Attendance is 400.", slug=slug)
    selector = tab.entry(wrong)
    tab.wait(
        "(s) => { const e = document.querySelector(s); return e && e.querySelector('.corrected') }",
        selector,
        what="the entry marked .corrected",
    )
    assert entry_ids(tab) == before, "the corrected entry moved, or one was added"
    text = tab.text(f"{selector} .corrected")
    assert re.search(r"corrected \d{1,2}:\d{2}", text), text
    assert "Attendance is 400." in tab.text(selector)
    assert "Attendance is 300." in tab.text(f"{selector} details.earlier")
    # The earlier wording is folded away until the reader opens it.
    assert tab.page.get_attribute(f"{selector} details.earlier", "open") is None
    assert tab.count(selector) == 1
    assert tab.page.evaluate(SAME_DOCUMENT)
    assert tab.errors == []


def test_a_retraction_removes_the_entry_and_says_so(live: Live, tab: Tab) -> None:
    slug = "retract"
    live.open_conference(slug)
    open_live(tab, live.page_url(slug))
    rumour = live.post("note", "A rumour nobody confirmed.", slug=slug)
    tab.wait_entry(rumour)
    kept = live.post("note", "The session on procurement begins.", slug=slug)
    tab.wait_entry(kept)

    live.post("retract", rumour, "--reason", "unconfirmed", slug=slug)
    tab.wait(
        "(s) => document.querySelector(s) === null",
        tab.entry(rumour),
        what="the retracted entry gone",
    )
    assert tab.count(".retracted-notice") == 1
    assert "rumour" not in tab.text("#liveblog")
    assert tab.count(tab.entry(kept)) == 1
    assert tab.page.evaluate(SAME_DOCUMENT)
    assert tab.errors == []


def test_a_pin_moves_the_entry_to_the_top_and_a_key_moment_is_listed(live: Live, tab: Tab) -> None:
    slug = "pins"
    live.open_conference(slug)
    open_live(tab, live.page_url(slug))
    first = live.post("note", "Voting opens at noon.", slug=slug)
    second = live.post("note", "The results will be read out at five.", slug=slug)
    tab.wait_entry(second)
    tab.wait_entry(first)

    live.post("pin", first, slug=slug)
    tab.wait_entry(first, inside="#pinned")
    # Moved, not copied.
    assert tab.count(tab.entry(first)) == 1
    assert full_id(tab, first) not in entry_ids(tab)

    # Pinning another replaces it: the first goes back among the entries.
    live.post("pin", second, slug=slug)
    tab.wait_entry(second, inside="#pinned")
    tab.wait_entry(first)
    assert entry_ids(tab, "#pinned") == [full_id(tab, second)]
    assert tab.count(tab.entry(first)) == 1 and tab.count(tab.entry(second)) == 1

    live.ws.ok("unpin", "--conference", slug)
    tab.wait_entry(second)
    assert entry_ids(tab, "#pinned") == []
    assert entry_ids(tab) == [full_id(tab, second), full_id(tab, first)]

    live.post("highlight", first, "--label", "Voting opens", slug=slug)
    link = f'#key-moments a[href="#{full_id(tab, first)}"]'
    tab.wait("(s) => document.querySelector(s) !== null", link, what=f"{link}")
    assert "Voting opens" in tab.text(link)
    live.ws.ok("unhighlight", first, "--conference", slug)
    tab.wait("(s) => document.querySelector(s) === null", link, what=f"{link} gone")
    # Without a label, a key moment is named by the entry's own words.
    live.post("highlight", second, slug=slug)
    unlabelled = f'#key-moments a[href="#{full_id(tab, second)}"]'
    tab.wait("(s) => document.querySelector(s) !== null", unlabelled, what=unlabelled)
    assert "results will be read out" in tab.text(unlabelled)
    assert tab.page.evaluate(SAME_DOCUMENT)
    assert tab.errors == []


def test_a_reader_scrolled_down_sees_n_new_entries_instead_of_a_jump(live: Live, tab: Tab) -> None:
    slug = "scrolled"
    live.open_conference(slug, notes=30)
    tab.page.set_viewport_size({"width": 390, "height": 700})
    open_live(tab, live.page_url(slug))
    assert tab.page.is_hidden("#new-entries")
    tab.page.evaluate("() => window.scrollTo(0, document.documentElement.scrollHeight)")
    tab.wait("() => window.scrollY > 300", what="the page scrolled down")
    # The entry the reader is looking at, and where it is on the screen.
    anchor = tab.page.evaluate(
        "() => { const e = [...document.querySelectorAll('#entries article.entry')]"
        ".find(a => a.getBoundingClientRect().top >= 0); return e.id }"
    )
    top = tab.page.evaluate(
        "(id) => document.getElementById(id).getBoundingClientRect().top", anchor
    )

    fresh = live.post("note", "Breaking: the minister has arrived.", slug=slug)
    # checkVisibility, not offsetParent: the button may float (position: fixed, so that
    # showing it moves nothing), and a fixed element has no offsetParent.
    tab.wait(
        "() => { const b = document.querySelector('#new-entries'); return b && !b.hidden"
        " && b.checkVisibility() && /\\b1 new entry\\b/.test(b.textContent) }",
        what="#new-entries visible, saying 1 new entry",
    )
    live.post("note", "The minister speaks at three.", slug=slug)
    tab.wait(
        "() => /\\b2 new entries\\b/.test(document.querySelector('#new-entries').textContent)",
        what="#new-entries saying 2 new entries",
    )
    now = tab.page.evaluate(
        "(id) => document.getElementById(id).getBoundingClientRect().top", anchor
    )
    assert abs(now - top) <= 2, f"the entry under the reader's eyes moved from {top} to {now}"

    tab.page.click("#new-entries")
    tab.wait_entry(fresh)
    tab.wait(
        "() => !document.querySelector('#new-entries').checkVisibility()",
        what="#new-entries hidden again after a click",
    )
    assert tab.page.evaluate(SAME_DOCUMENT)
    assert tab.errors == []


STATES = """(() => {
  window.__liveblogStates = [];
  new MutationObserver(() => {
    const state = document.body.dataset.liveblogState;
    const seen = window.__liveblogStates;
    if (seen[seen.length - 1] !== state) seen.push(state);
  }).observe(document, {subtree: true, attributes: true, attributeFilter: ['data-liveblog-state']});
})();"""
"""Installed before the page's script: every body[data-liveblog-state] it goes through."""


def test_a_busy_stream_means_polling_meanwhile_then_the_stream(live: Live, tab: Tab) -> None:
    slug = "busy"
    live.open_conference(slug)
    refused: list[str] = []

    def busy(route: Route) -> None:
        # Injected fault: the first two stream requests meet a server that is starting
        # (503, as serve answers before its timeline is built); then the real stream.
        if len(refused) < 2:
            refused.append(route.request.url)
            route.fulfill(status=503, content_type="application/json", body='{"detail":"busy"}')
        else:
            route.continue_()

    tab.page.route(f"**/api/conferences/{slug}/stream*", busy)
    tab.page.add_init_script(STATES)
    tab.goto(live.page_url(slug))
    tab.wait_state("stream")
    states = tab.page.evaluate("() => window.__liveblogStates")
    assert "polling" in states and states[-1] == "stream", states
    assert len(refused) == 2
    note = live.post("note", "Arrives once the stream is open.", slug=slug)
    tab.wait_entry(note)
    assert tab.count(tab.entry(note)) == 1
    assert tab.errors == []


def test_without_a_stream_the_page_polls_live_json_with_if_none_match(live: Live, tab: Tab) -> None:
    slug = "nostream"
    live.open_conference(slug)
    # Injected fault: a host that passes /feeds but not the stream (404, as on static hosting).
    tab.page.route(
        f"**/api/conferences/{slug}/stream*",
        lambda route: route.fulfill(status=404, content_type="text/plain", body="not here"),
    )
    tab.goto(live.page_url(slug))
    tab.wait_state("polling")
    # Polls repeat every second (--poll-interval 1): one after the first carries the
    # ETag it was given and is answered 304, nothing re-sent.
    tab.page.wait_for_event(
        "response",
        lambda r: (
            r.url.endswith("/live.json")
            and r.status == 304
            and bool(r.request.headers.get("if-none-match"))
        ),
        timeout=PAGE_SECONDS * 1000,
    )
    note = live.post("note", "Picked up by polling on serve.", slug=slug)
    tab.wait_entry(note)
    assert tab.state() == "polling"
    assert tab.errors == []


def test_closing_the_conference_takes_the_live_marker_down(live: Live, tab: Tab) -> None:
    slug = "closing"
    live.open_conference(slug)
    open_live(tab, live.page_url(slug))
    assert tab.page.is_visible(".live-marker")
    live.ws.ok("conference", "close", "--conference", slug)
    tab.wait(
        "() => [...document.querySelectorAll('.live-marker')].every(m => !m.checkVisibility())",
        what="the LIVE marker hidden",
    )
    assert tab.page.evaluate(SAME_DOCUMENT)
    assert tab.errors == []


def top_of(tab: Tab, element_id: str) -> float:
    """Where the element is on the screen, once the page has drawn two frames since the
    last change (the browser's own scroll anchoring runs at layout, before a frame)."""
    return float(
        tab.page.evaluate(
            "async (id) => { await new Promise(r => requestAnimationFrame(() =>"
            " requestAnimationFrame(r))); return document.getElementById(id)"
            ".getBoundingClientRect().top }",
            element_id,
        )
    )


def test_changes_above_a_scrolled_reader_do_not_move_what_they_read(live: Live, tab: Tab) -> None:
    slug = "anchored"
    with Liveblog(live.ws.db, "ann") as lb:
        lb.open_conference(slug, title="Anchored", venue="Hall C")
        lb.open_day(1, conference=slug)
        notes = [
            lb.note(f"Note {k}: the panel goes on. " * (1 + k % 3), conference=slug)[-1].id
            for k in range(30)
        ]
    wait_for_page(live.page_url(slug), head(live.ws.db))
    tab.page.set_viewport_size({"width": 390, "height": 700})
    open_live(tab, live.page_url(slug))
    tab.page.evaluate("() => window.scrollTo(0, 2500)")
    tab.wait("() => window.scrollY > 2000", what="the page scrolled down")
    reading = tab.page.evaluate(
        "() => [...document.querySelectorAll('#entries article.entry')]"
        ".find(a => a.getBoundingClientRect().top >= 0).id"
    )
    top = top_of(tab, reading)
    # Above the reader: the oldest entry (below) is pinned to the top, the newest grows
    # by a correction, the next one is retracted. What they read stays where it was.
    live.post("pin", notes[0][:12], slug=slug)
    tab.wait_entry(notes[0][:12], inside="#pinned")
    assert abs(top_of(tab, reading) - top) <= 2
    live.post("correct", notes[29][:12], "A much longer wording. " * 30, slug=slug)
    tab.wait(
        "(s) => document.querySelector(s + ' .corrected')",
        tab.entry(notes[29][:12]),
        what="the correction",
    )
    assert abs(top_of(tab, reading) - top) <= 2
    live.post("retract", notes[28][:12], slug=slug)
    tab.wait(
        "(s) => document.querySelector(s) === null", tab.entry(notes[28][:12]), what="retracted"
    )
    assert abs(top_of(tab, reading) - top) <= 2
    assert tab.page.evaluate(SAME_DOCUMENT)
    assert tab.errors == []


def test_the_embed_page_updates_inside_another_sites_iframe(live: Live, tab: Tab) -> None:
    slug = "embedded"
    live.open_conference(slug)
    # A downstream blog's page (another origin: about:blank) with the documented snippet.
    tab.page.set_content(
        "<!doctype html><title>A downstream blog</title><h1>Our coverage</h1>"
        f'<iframe src="{live.page_url(slug, "embed.html")}" title="Live coverage"'
        ' loading="lazy" style="width:100%;height:600px;border:0"></iframe>'
    )
    handle = tab.page.wait_for_selector("iframe", timeout=PAGE_SECONDS * 1000)
    assert handle is not None
    frame = handle.content_frame()
    assert frame is not None
    frame.wait_for_function(
        "() => document.body && document.body.dataset.liveblogState === 'stream'",
        timeout=PAGE_SECONDS * 1000,
    )
    note = live.post("note", "Read on a downstream blog.", slug=slug)
    frame.wait_for_selector(f"#entries {tab.entry(note)}", timeout=PAGE_SECONDS * 1000)
    assert "Read on a downstream blog." in frame.inner_text(tab.entry(note))
    assert tab.errors == []


def test_screenshots_and_no_serious_accessibility_violation(live: Live, tab: Tab) -> None:
    slug = "sample"
    sample_conference(live.ws.db, slug)
    wait_for_page(live.page_url(slug), head(live.ws.db))
    wait_for_page(live.page_url(slug, "embed.html"), head(live.ws.db))

    open_live(tab, live.page_url(slug))
    assert tab.page.is_visible(".live-marker")
    assert tab.count("#pinned article.entry") == 1
    assert tab.count("#key-moments a") == 1
    assert tab.count("main#liveblog") == 1
    shots = screenshots(tab.page, "live")
    assert all(path.stat().st_size > 0 for path in shots)
    live_problems = axe_violations(tab.page, "live")
    # Keyboard focus is visible: the first Tab lands on a link that gets an outline.
    tab.page.keyboard.press("Tab")
    focused = tab.page.evaluate(
        "() => { const e = document.activeElement; const s = getComputedStyle(e);"
        " return {tag: e.tagName, outline: s.outlineStyle, width: parseFloat(s.outlineWidth)} }"
    )
    assert focused["tag"] == "A" and focused["outline"] != "none" and focused["width"] >= 2, focused
    # The dark scheme (prefers-color-scheme) must hold its contrast too.
    tab.page.emulate_media(color_scheme="dark")
    screenshots(tab.page, "live-dark")
    dark_problems = axe_violations(tab.page, "live-dark")
    tab.page.emulate_media(color_scheme="light")

    open_live(tab, live.page_url(slug, "embed.html"))
    # The same stream without the page's chrome (an entry may have a header of its own).
    assert tab.count("header:not(article header), nav, footer:not(article footer)") == 0
    assert tab.count("#entries article.entry") >= 5
    screenshots(tab.page, "embed")
    embed_problems = axe_violations(tab.page, "embed")

    assert live_problems == [], "\n".join(live_problems)
    assert dark_problems == [], "\n".join(dark_problems)
    assert embed_problems == [], "\n".join(embed_problems)
    assert tab.errors == []


def test_the_page_resumes_after_a_server_restart_with_nothing_missed_or_twice(
    tmp_path_factory: pytest.TempPathFactory, tab: Tab
) -> None:
    ws = Workspace(tmp_path_factory.mktemp("restart"))
    slug = "restart"
    # Every `update` message the page's EventSource receives, by its id (log position).
    tab.page.add_init_script(
        """(() => {
          window.__liveblogMessages = [];
          const Native = window.EventSource;
          window.EventSource = function (url, options) {
            const source = new Native(url, options);
            source.addEventListener('update', (m) => window.__liveblogMessages.push(m.lastEventId));
            return source;
          };
          window.EventSource.prototype = Native.prototype;
          Object.assign(window.EventSource, {CONNECTING: 0, OPEN: 1, CLOSED: 2});
        })();"""
    )
    with Service(ws) as service:
        live = Live(ws, service)
        live.open_conference(slug)
        open_live(tab, live.page_url(slug))
        before = live.post("note", "Posted before the restart.", slug=slug)
        tab.wait_entry(before)

        service.stop_cleanly()
        during = live.post("note", "Posted while the server was down.", slug=slug)
        service.start()
        after = live.post("note", "Posted after the restart.", slug=slug)

        tab.wait_entry(during)
        tab.wait_entry(after)
        tab.wait_state("stream")
        assert tab.page.evaluate(SAME_DOCUMENT)
        ids = entry_ids(tab)
        assert len(ids) == len(set(ids)), ids
        assert ids == [full_id(tab, after), full_id(tab, during), full_id(tab, before)]
        messages = [int(x) for x in tab.page.evaluate("() => window.__liveblogMessages")]
        assert messages == sorted(set(messages)), f"a message twice or out of order: {messages}"
        service.stop_cleanly()


def test_a_stream_refused_for_good_after_a_restart_means_polling(
    tmp_path_factory: pytest.TempPathFactory, tab: Tab
) -> None:
    ws = Workspace(tmp_path_factory.mktemp("gone"))
    slug = "gone"
    refuse = [False]

    def stream(route: Route) -> None:
        # Injected fault, once the page has its stream: the server comes back without
        # one (as a plain web server put in serve's place would: 404).
        if refuse[0]:
            route.fulfill(status=404, content_type="text/plain", body="no stream here")
        else:
            route.continue_()

    tab.page.route(f"**/api/conferences/{slug}/stream*", stream)
    with Service(ws, args=("--poll-interval", "1")) as service:
        live = Live(ws, service)
        live.open_conference(slug)
        open_live(tab, live.page_url(slug))
        refuse[0] = True
        service.stop_cleanly()
        service.start()
        tab.wait_state("polling")
        after = live.post("note", "Picked up by polling after the restart.", slug=slug)
        tab.wait_entry(after)
        assert tab.state() == "polling"
        assert tab.page.evaluate(SAME_DOCUMENT)
        assert tab.errors == []
        service.stop_cleanly()
