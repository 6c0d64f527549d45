"""Append → entry visible in an open browser page, p50/p99 over 100 posts.

The issue's targets bound liveblog's own latencies: p50 ≤ 300 ms, p99 ≤ 1 s. The raw
baseline and the ratio are printed for context.

liveblog side: a temporary events.db with an open conference and day; a real
`liveblog serve` subprocess; its live page `/feeds/<conf>/index.html` open in headless
Chromium (the system's, driven by Playwright, as the browser tests do). Each probe posts
one note through the API (`POST /api/events`, a reporter's bearer token, one keep-alive
httpx client) and takes the wall clock when the 201 has arrived: the append is committed
and acknowledged. A MutationObserver installed in the page before its own script runs
records `Date.now()` the first time an `article.entry` with that id is in the DOM; the
latency is that time minus the acknowledgement (one machine, one clock).

raw side: the minimum that does the same job, in this process: a threaded HTTP/1.1
server whose page opens an EventSource and inserts an `<article>` per message, and whose
POST handler writes the message to every open stream before it answers. No log, no
projection, no rendering: what is left is the browser's EventSource and DOM work and one
local socket.

Before each probe a random pause (uniform in 0–TICK_SECONDS, the same sequence for both
sides) puts the post at a random phase of any polling in the server.
LIVEBLOG_BENCH_BROWSER_POSTS sets the probes per side; without Chromium (or the
playwright package) the benchmark reports why and measures nothing.
"""

from __future__ import annotations

import json
import math
import os
import queue
import random
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from liveblog.service.facade import Liveblog

from .freshness import quantile
from .report import Limit, Outcome, number
from .serving import Serve

if TYPE_CHECKING:
    from playwright.sync_api import Page

DEFAULT_POSTS = 100
POSTS_ENV = "LIVEBLOG_BENCH_BROWSER_POSTS"
WARMUP = 3
TICK_SECONDS = 0.1
PROBE_TIMEOUT = 10.0
P50_TARGET_MS = 300.0
P99_TARGET_MS = 1000.0
CONFERENCE = "bench-browser"
SEED = 2011
TEXT = "the panel agrees that the live page should never need a reload."
# The browser tests' flags (tests/browser.py): headless, no sandbox (root), no network
# chatter of the browser's own that could compete with the page.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)

# Installed before the page's own script: the first time each entry is in the DOM.
OBSERVER = """(() => {
  window.__seen = {};
  const mark = (node) => {
    if (node.nodeType !== 1) return;
    const found = node.matches('article.entry') ? [node] : node.querySelectorAll('article.entry');
    const now = Date.now();
    for (const e of found) if (e.id && !(e.id in window.__seen)) window.__seen[e.id] = now;
  };
  new MutationObserver((records) => {
    for (const r of records) for (const n of r.addedNodes) mark(n);
  }).observe(document, {childList: true, subtree: true});
})();"""

RAW_PAGE = b"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>raw</title>
</head><body><main id="entries"></main><script>
const source = new EventSource('/events');
source.onopen = () => { document.body.dataset.liveblogState = 'stream'; };
source.onmessage = (m) => {
  const data = JSON.parse(m.data);
  const article = document.createElement('article');
  article.className = 'entry';
  article.id = 'entry-' + data.id;
  article.textContent = data.text;
  const list = document.getElementById('entries');
  list.insertBefore(article, list.firstChild);
};
</script></body></html>"""


def posts_wanted() -> int:
    value = os.environ.get(POSTS_ENV, "").replace("_", "").replace(",", "")
    n = int(value) if value else DEFAULT_POSTS
    if n < 10:
        raise ValueError(f"{POSTS_ENV} must be at least 10, not {n}")
    return n


def chromium() -> str | None:
    configured = os.environ.get("LIVEBLOG_CHROMIUM")
    for candidate in (configured, "/usr/bin/chromium", shutil.which("chromium")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


class RawSse:
    """The raw baseline: a page, an SSE endpoint, and a POST that fans out to it."""

    def __init__(self) -> None:
        self.streams: list[queue.Queue[bytes]] = []
        lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                if self.path == "/events":
                    self._stream()
                    return
                self.send_response(200)
                self.send_header("content-type", "text/html; charset=utf-8")
                self.send_header("content-length", str(len(RAW_PAGE)))
                self.end_headers()
                self.wfile.write(RAW_PAGE)

            def _stream(self) -> None:
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.send_header("cache-control", "no-cache")
                self.end_headers()
                self.wfile.write(b"retry: 2000\n\n")
                self.wfile.flush()
                mine: queue.Queue[bytes] = queue.Queue()
                with lock:
                    outer.streams.append(mine)
                try:
                    while True:
                        chunk = mine.get()
                        if not chunk:
                            return
                        self.wfile.write(chunk)
                        self.wfile.flush()
                except OSError:
                    return
                finally:
                    with lock:
                        outer.streams.remove(mine)

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                with lock:
                    for stream in outer.streams:
                        stream.put(b"data: " + body + b"\n\n")
                self.send_response(201)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        for stream in list(self.streams):
            stream.put(b"")
        self.server.shutdown()
        self.server.server_close()


def wait_published(url: str, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            response = httpx.get(url, timeout=5)
            if response.status_code == 200 and "liveblog-data" in response.text:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{url} was not published within {seconds:g} s")


def open_page(page: Page, url: str) -> None:
    page.add_init_script(OBSERVER)
    page.goto(url, wait_until="domcontentloaded")
    page.wait_for_function(
        "() => document.body && document.body.dataset.liveblogState === 'stream'",
        timeout=PROBE_TIMEOUT * 3000,
    )


def probe(page: Page, post: Callable[[], str], rng: random.Random) -> float | None:
    """One post; ms from its acknowledgement to its entry in the DOM (None: not seen)."""
    time.sleep(rng.uniform(0, TICK_SECONDS))
    entry_id = post()
    acknowledged = time.time() * 1000
    try:
        page.wait_for_function(
            "(id) => id in window.__seen",
            arg=f"entry-{entry_id}",
            polling=5,
            timeout=PROBE_TIMEOUT * 1000,
        )
    except Exception:
        return None
    seen = float(page.evaluate("(id) => window.__seen[id]", f"entry-{entry_id}"))
    return seen - acknowledged


@contextmanager
def liveblog_side(root: Path) -> Iterator[tuple[str, Callable[[], str]]]:
    """A serve with an open conference: its live page's URL, and post a note → its id."""
    db = root / "liveblog.db"
    with Liveblog(db, "bench") as lb:
        lb.open_conference(CONFERENCE, title="Browser Latency Benchmark")
        lb.open_day(1)
        token = lb.create_token("bench")
    server = Serve(db, root / "feeds", root / "serve.log")
    client = httpx.Client(
        base_url=server.base, headers={"authorization": f"Bearer {token}"}, timeout=30
    )
    try:
        url = f"{server.base}/feeds/{CONFERENCE}/index.html"
        wait_published(url)
        count = [0]

        def post() -> str:
            count[0] += 1
            body = {
                "id": uuid.uuid4().hex,
                "type": "note.posted",
                "conference": CONFERENCE,
                "data": {"text": f"probe {count[0]}: {TEXT}"},
            }
            response = client.post("/api/events", json=body)
            if response.status_code != 201:
                raise RuntimeError(f"POST /api/events: {response.status_code} {response.text}")
            return str(response.json()["events"][-1]["id"])

        yield url, post
    finally:
        client.close()
        server.close()


@contextmanager
def raw_side() -> Iterator[tuple[str, Callable[[], str]]]:
    raw = RawSse()
    client = httpx.Client(base_url=raw.url, timeout=30)
    try:

        def post() -> str:
            entry_id = uuid.uuid4().hex
            body = json.dumps({"id": entry_id, "text": TEXT}).encode()
            response = client.post("/post", content=body)
            if response.status_code != 201:
                raise RuntimeError(f"raw POST: {response.status_code}")
            return entry_id

        yield raw.url, post
    finally:
        client.close()
        raw.close()


def run() -> Outcome:
    posts = posts_wanted()
    executable = chromium()
    nothing = [
        Limit(f"append→DOM {q} ms", math.nan, math.nan, t, higher_is_better=False, unit="ms")
        for q, t in (("p50", P50_TARGET_MS), ("p99", P99_TARGET_MS))
    ]
    if executable is None:
        return Outcome(nothing, ["SKIPPED: no Chromium (apt-get install chromium)"])
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return Outcome(nothing, ["SKIPPED: the playwright package is not installed"])

    measured: dict[str, list[float]] = {"liveblog": [], "raw": []}
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="liveblog-bench-") as tmp, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        try:
            with (
                liveblog_side(Path(tmp)) as (lb_url, lb_post),
                raw_side() as (
                    raw_url,
                    raw_post,
                ),
            ):
                pages: dict[str, tuple[Page, Callable[[], str]]] = {}
                for name, url, post in (("liveblog", lb_url, lb_post), ("raw", raw_url, raw_post)):
                    page = browser.new_context().new_page()
                    open_page(page, url)
                    pages[name] = (page, post)
                for name, (page, post) in pages.items():
                    rng = random.Random(SEED)
                    for k in range(WARMUP):
                        if probe(page, post, rng) is None:
                            problems.append(f"{name} warm-up probe {k} not seen")
                    rng = random.Random(SEED)
                    for k in range(posts):
                        got = probe(page, post, rng)
                        if got is None:
                            problems.append(
                                f"{name} probe {k + 1} not seen within {PROBE_TIMEOUT:g} s"
                            )
                            continue
                        measured[name].append(got)
                    print(
                        f"  {name}: p50 {number(quantile(measured[name], 0.5))} ms over "
                        f"{len(measured[name])} posts",
                        flush=True,
                    )
        finally:
            browser.close()

    lb, raw = measured["liveblog"], measured["raw"]
    comparisons = [
        Limit(
            f"append→DOM {q} ms",
            quantile(lb, p),
            quantile(raw, p),
            target,
            higher_is_better=False,
            unit="ms",
        )
        for q, p, target in (("p50", 0.5, P50_TARGET_MS), ("p99", 0.99, P99_TARGET_MS))
    ]
    notes = [
        f"{len(lb)} + {len(raw)} timed posts (liveblog + raw, +{WARMUP} warm-up each); "
        f"Chromium {executable}",
        "latency from the POST's acknowledgement (201 received) to the entry's first "
        "appearance in the page's DOM (MutationObserver, Date.now()); random "
        f"0–{TICK_SECONDS * 1000:g} ms pause before each post",
    ]
    if lb:
        notes.append(
            f"liveblog min / median / max ms: {number(min(lb))} / "
            f"{number(quantile(lb, 0.5))} / {number(max(lb))}"
        )
    if posts != DEFAULT_POSTS:
        notes.append(f"SCALED: {POSTS_ENV}={posts} (default {DEFAULT_POSTS})")
    notes += [f"WARNING: {problem}" for problem in problems[:5]]
    if len(problems) > 5:
        notes.append(f"WARNING: … and {len(problems) - 5} more")
    return Outcome(comparisons=comparisons, notes=notes)
