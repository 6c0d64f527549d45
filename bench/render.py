"""Rendering one 50-entry feed document: render_atom / render_rss / render_json vs raw builds.

The document is the live feed as `liveblog publish` writes it: the 50 newest entries of
a small synthetic log (bench.synthetic, cached), read through the timeline projection
after a catch-up (`live_entries`, nothing archived), with the same ids, links and
metadata the publisher gives them (the Atom document also carries the live feed's
tombstones and its `current` link). Building it is untimed; the clock covers one call
of the renderer, from `Document` to bytes.

The raw baseline serialises the same entries and metadata with no library in between:
a minimal lxml tree (Atom and RSS: the same elements, attributes and namespaces, dates
formatted the same way, pretty-printed with an XML declaration) and one `json.dumps` of
the same items (JSON Feed, indented as liveblog writes it). Each round renders every
format once on each side, alternating which side goes first; figures are medians.
The issue sets no target for this benchmark: the ratios are reported, not judged.
"""

from __future__ import annotations

import email.utils
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lxml import etree

from liveblog.feeds.atom import ATOM_NS, HISTORY_NS, TOMBSTONE_NS, render_atom
from liveblog.feeds.document import ATOM_TYPE, RSS_TYPE, Document, latest
from liveblog.feeds.jsonfeed import VERSION, render_json
from liveblog.feeds.model import (
    Conference,
    FeedEntry,
    Tombstone,
    live_entries,
    load_conference,
    tombstones,
)
from liveblog.feeds.publisher import DEFAULT_FEEDS_URL, DEFAULT_PAGE_SIZE
from liveblog.feeds.rss import DC_NS, render_rss
from liveblog.service.facade import Liveblog

from . import synthetic
from .report import Comparison, Outcome, median_ms

SOURCE_EVENTS = 1_000
ENTRIES = DEFAULT_PAGE_SIZE
"""50: a live feed's page."""
ROUNDS = 50
WARMUP = 5
AUTHOR = synthetic.AUTHORS[0]
XML_NS = "http://www.w3.org/XML/1998/namespace"

Render = Callable[[Document], bytes]


# -- the document --------------------------------------------------------------------


def live_document(
    conference: Conference, entries: list[FeedEntry], stones: list[Tombstone]
) -> Document:
    """The live feed's document, with the ids and links `Publisher` gives it."""
    base = f"{DEFAULT_FEEDS_URL}/{conference.slug}"
    pages = (conference.url or base).rstrip("/")
    return Document(
        id=conference.tag("live"),
        title=f"{conference.title} — live",
        subtitle=f"Live coverage of {conference.title}"
        + (f", {conference.venue}" if conference.venue else ""),
        language=conference.language,
        author=f"{conference.title} live blog",
        updated=latest(entries, stones, conference.opened_at),
        self_url=f"{base}/live.atom",
        site_url=conference.url or f"{base}/index.html",
        entry_ids={e.id: conference.tag("entry", e.id) for e in entries}
        | {t.id: conference.tag("entry", t.id) for t in stones},
        entries=entries,
        tombstones=stones,
        entry_links={e.id: f"{pages}/day-{e.day}.html#e-{e.id}" for e in entries},
        current_url=f"{base}/live.atom",
        prev_archive=f"{base}/archive/1.atom",
    )


def load_document(tmp: Path) -> tuple[Document, str]:
    """The live document of the cached small log, and where it came from."""
    log = synthetic.cached_log(SOURCE_EVENTS)
    path = log.copy_to(tmp)
    with Liveblog(path, AUTHOR) as service:
        service.catch_up()
        conn = service.stores.timeline
        conference = load_conference(conn, synthetic.CONFERENCE)
        if conference is None:
            raise RuntimeError(f"the synthetic log has no conference {synthetic.CONFERENCE}")
        # Nothing archived: the live window is simply the newest entries.
        entries = live_entries(conn, conference.slug, ENTRIES, 0)
        stones = tombstones(conn, conference.slug, ENTRIES)
    if len(entries) != ENTRIES:
        raise RuntimeError(f"the live window holds {len(entries)} entries, not {ENTRIES}")
    return live_document(conference, entries, stones), log.describe()


def without_tombstones(doc: Document) -> Document:
    """RSS and JSON Feed documents: the publisher gives them no tombstones."""
    ids = {e.id: doc.entry_ids[e.id] for e in doc.entries}
    return Document(
        **{**vars(doc), "tombstones": [], "entry_ids": ids, "current_url": None},
    )


# -- the raw baseline ----------------------------------------------------------------


def rfc3339(value: Any) -> str:
    return str(value.isoformat(timespec="seconds"))


def raw_atom(doc: Document) -> bytes:
    """The same Atom elements as render_atom, built directly with lxml."""
    feed = etree.Element(
        f"{{{ATOM_NS}}}feed",
        nsmap={None: ATOM_NS, "fh": HISTORY_NS, "at": TOMBSTONE_NS},
    )
    feed.set(f"{{{XML_NS}}}lang", doc.language)
    sub = etree.SubElement
    a = f"{{{ATOM_NS}}}"
    sub(feed, a + "id").text = doc.id
    sub(feed, a + "title").text = doc.title
    sub(feed, a + "updated").text = rfc3339(doc.updated)
    sub(sub(feed, a + "author"), a + "name").text = doc.author
    sub(feed, a + "link", href=doc.self_url, rel="self", type=ATOM_TYPE)
    sub(feed, a + "link", href=doc.site_url, rel="alternate", type="text/html")
    sub(feed, a + "generator", uri="https://pypi.org/project/liveblog/").text = "liveblog"
    sub(feed, a + "subtitle").text = doc.subtitle
    for rel, href in (("current", doc.current_url), ("prev-archive", doc.prev_archive)):
        if href:
            sub(feed, a + "link", rel=rel, href=href, type=ATOM_TYPE)
    for stone in doc.tombstones:
        deleted = sub(
            feed,
            f"{{{TOMBSTONE_NS}}}deleted-entry",
            ref=doc.entry_ids[stone.id],
            when=rfc3339(stone.when),
        )
        sub(sub(deleted, f"{{{TOMBSTONE_NS}}}by"), a + "name").text = stone.by
        if stone.reason:
            sub(deleted, f"{{{TOMBSTONE_NS}}}comment").text = stone.reason
    for entry in doc.entries:
        item = sub(feed, a + "entry")
        sub(item, a + "id").text = doc.entry_ids[entry.id]
        sub(item, a + "title").text = entry.title
        sub(item, a + "updated").text = rfc3339(entry.updated)
        sub(sub(item, a + "author"), a + "name").text = entry.author
        sub(item, a + "content", type="html").text = entry.html
        sub(item, a + "published").text = rfc3339(entry.published)
        link = doc.entry_links.get(entry.id)
        if link:
            sub(item, a + "link", rel="alternate", type="text/html", href=link)
    data: bytes = etree.tostring(feed, pretty_print=True, encoding="UTF-8", xml_declaration=True)
    return data


def raw_rss(doc: Document) -> bytes:
    """The same RSS 2.0 elements as render_rss, built directly with lxml."""
    rss = etree.Element("rss", version="2.0", nsmap={"atom": ATOM_NS, "dc": DC_NS})
    sub = etree.SubElement
    channel = sub(rss, "channel")
    sub(channel, "title").text = doc.title
    sub(channel, "link").text = doc.site_url
    sub(channel, "description").text = doc.subtitle
    sub(channel, f"{{{ATOM_NS}}}link", href=doc.self_url, rel="self", type=RSS_TYPE)
    sub(channel, "docs").text = "http://www.rssboard.org/rss-specification"
    sub(channel, "generator").text = "liveblog"
    sub(channel, "language").text = doc.language
    sub(channel, "lastBuildDate").text = email.utils.format_datetime(doc.updated)
    sub(channel, f"{{{DC_NS}}}creator").text = doc.author
    for entry in doc.entries:
        item = sub(channel, "item")
        sub(item, "title").text = entry.title
        link = doc.entry_links.get(entry.id)
        if link:
            sub(item, "link").text = link
        sub(item, "description").text = entry.html
        sub(item, "guid", isPermaLink="false").text = doc.entry_ids[entry.id]
        sub(item, f"{{{DC_NS}}}creator").text = entry.author
        sub(item, "pubDate").text = email.utils.format_datetime(entry.updated)
    data: bytes = etree.tostring(rss, pretty_print=True, encoding="UTF-8", xml_declaration=True)
    return data


def raw_json(doc: Document) -> bytes:
    """The same JSON Feed items as render_json, in one json.dumps."""
    items = []
    for entry in doc.entries:
        item = {
            "id": doc.entry_ids[entry.id],
            "title": entry.title,
            "content_html": entry.html,
            "content_text": entry.text,
            "date_published": entry.published.isoformat(timespec="seconds"),
            "date_modified": entry.updated.isoformat(timespec="seconds"),
            "authors": [{"name": entry.author}],
        }
        link = doc.entry_links.get(entry.id)
        if link:
            item["url"] = link
        if entry.image:
            item["image"] = entry.image
        items.append(item)
    feed = {
        "version": VERSION,
        "title": doc.title,
        "home_page_url": doc.site_url,
        "feed_url": doc.self_url,
        "description": doc.subtitle,
        "language": doc.language,
        "authors": [{"name": doc.author}],
        "items": items,
    }
    return (json.dumps(feed, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


# -- checks --------------------------------------------------------------------------


def count_items(fmt: str, data: bytes) -> tuple[int, int]:
    """(entries, tombstones) in a rendered document, parsed back."""
    if fmt == "json":
        return len(json.loads(data)["items"]), 0
    root = etree.fromstring(data)
    if fmt == "atom":
        entries = root.findall(f"{{{ATOM_NS}}}entry")
        return len(entries), len(root.findall(f"{{{TOMBSTONE_NS}}}deleted-entry"))
    return len(root.findall("channel/item")), 0


def canonical(fmt: str, data: bytes) -> Any:
    """What a document says, whatever its serialisation details: parsed JSON, or exclusive
    C14N (namespace declarations in a fixed order, unused ones dropped)."""
    if fmt == "json":
        return json.loads(data)
    return etree.tostring(etree.fromstring(data), method="c14n", exclusive=True)


# -- the benchmark -------------------------------------------------------------------


def run() -> Outcome:
    with tempfile.TemporaryDirectory(prefix="liveblog-bench-") as tmp:
        atom_doc, source = load_document(Path(tmp))
    plain_doc = without_tombstones(atom_doc)
    formats: dict[str, tuple[Document, Render, Render]] = {
        "atom": (atom_doc, render_atom, raw_atom),
        "rss": (plain_doc, render_rss, raw_rss),
        "json": (plain_doc, render_json, raw_json),
    }
    times: dict[tuple[str, str], list[float]] = {
        (fmt, side): [] for fmt in formats for side in ("liveblog", "raw")
    }
    sizes: dict[tuple[str, str], int] = {}
    problems: list[str] = []

    for fmt, (doc, liveblog_render, raw_render) in formats.items():
        ours, theirs = liveblog_render(doc), raw_render(doc)
        sizes[fmt, "liveblog"], sizes[fmt, "raw"] = len(ours), len(theirs)
        wanted = (len(doc.entries), len(doc.tombstones))
        for side, data in (("liveblog", ours), ("raw", theirs)):
            counted = count_items(fmt, data)
            if counted != wanted:
                problems.append(f"{side} {fmt} holds (entries, tombstones) {counted}, not {wanted}")
        if canonical(fmt, ours) != canonical(fmt, theirs):
            problems.append(f"the raw {fmt} document differs from liveblog's (canonical form)")

    for k in range(WARMUP + ROUNDS):
        for fmt, (doc, liveblog_render, raw_render) in formats.items():
            sides = [("liveblog", liveblog_render), ("raw", raw_render)]
            if k % 2:
                sides.reverse()
            for side, render_doc in sides:
                start = time.perf_counter()
                render_doc(doc)
                elapsed = time.perf_counter() - start
                if k >= WARMUP:
                    times[fmt, side].append(elapsed)

    comparisons = [
        Comparison(
            f"render {fmt} ms/doc",
            median_ms(times[fmt, "liveblog"]),
            median_ms(times[fmt, "raw"]),
            None,
            higher_is_better=False,
        )
        for fmt in formats
    ]
    notes = [
        f"document: the live feed of the {source}: {len(atom_doc.entries)} entries "
        f"(Atom also {len(atom_doc.tombstones)} tombstone(s)); median of {ROUNDS} renders "
        f"per format and side (+{WARMUP} warm-up), alternating sides",
        "liveblog = render_atom / render_rss (XML written as text) / render_json; "
        "raw = the same elements built with plain lxml / one json.dumps"
        + ("" if problems else "; checked: each raw document equals liveblog's (C14N / parsed)"),
        "bytes per document (liveblog / raw): "
        + ", ".join(f"{fmt} {sizes[fmt, 'liveblog']:,} / {sizes[fmt, 'raw']:,}" for fmt in formats),
        "spread of liveblog renders (min / max ms): "
        + "; ".join(
            f"{fmt} {min(times[fmt, 'liveblog']) * 1000:.2f} / "
            f"{max(times[fmt, 'liveblog']) * 1000:.2f}"
            for fmt in formats
        ),
        "no target: the issue sets none for rendering; ratios are reported only",
    ]
    notes += [f"WARNING: {problem}" for problem in problems]
    return Outcome(comparisons=comparisons, notes=notes)
