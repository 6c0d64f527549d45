"""The live page (index.html), the embed page and live.json's `_liveblog` extension, as
`publish` writes them from a real SQLite log: their structure parsed with html.parser
(the DOM the script and the browser tests rely on), escaping of hostile text, the
pinned entry and key moments, corrections, the LIVE marker, the day sections' cache
(incremental renders equal a render from scratch) and `--poll-interval`."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from servers import Workspace

from liveblog.feeds import PublishOptions
from liveblog.pages import sections
from liveblog.service.facade import Liveblog

SLUG = "conf"
FEEDS_URL = "https://blog.example.org/feeds"
HOSTILE = '</script><script>alert("x")</script><img src=x onerror=alert(1)>&amp;'

VOID = {"meta", "link", "img", "br", "hr", "input", "source", "wbr", "area", "base", "col"}


@dataclass
class Node:
    tag: str
    attrs: dict[str, str | None]
    parent: Node | None
    children: list[Node] = field(default_factory=list)
    text: list[str] = field(default_factory=list)

    def find_all(self, pred: Any) -> Iterator[Node]:
        for child in self.children:
            if pred(child):
                yield child
            yield from child.find_all(pred)

    def by_id(self, ident: str) -> Node:
        found = list(self.find_all(lambda n: n.attrs.get("id") == ident))
        assert len(found) == 1, (ident, len(found))
        return found[0]

    def all_text(self) -> str:
        return "".join(self.text) + "".join(c.all_text() for c in self.children)

    def articles(self) -> list[str]:
        return [
            str(n.attrs["id"]).removeprefix("entry-")
            for n in self.find_all(lambda n: n.tag == "article")
        ]

    def inside(self, tag: str) -> bool:
        node = self.parent
        while node is not None and node.tag != tag:
            node = node.parent
        return node is not None

    def has_class(self, name: str) -> bool:
        return name in str(self.attrs.get("class") or "").split()


class Tree(HTMLParser):
    """A small DOM: every element, its parent, and its text; the ids in order."""

    def __init__(self) -> None:
        super().__init__()
        self.root = Node("#document", {}, None)
        self.current = self.root
        self.ids: list[str] = []
        self.scripts: list[tuple[dict[str, str | None], str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, dict(attrs), self.current)
        self.current.children.append(node)
        if node.attrs.get("id"):
            self.ids.append(str(node.attrs["id"]))
        if tag not in VOID:
            self.current = node

    def handle_endtag(self, tag: str) -> None:
        node: Node | None = self.current
        while node is not None and node.tag != tag:
            node = node.parent
        assert node is not None and node.parent is not None, f"stray </{tag}>"
        if tag == "script":
            self.scripts.append((node.attrs, "".join(node.text)))
        self.current = node.parent

    def handle_data(self, data: str) -> None:
        self.current.text.append(data)


def parse(path: Path) -> Tree:
    tree = Tree()
    tree.feed(path.read_text(encoding="utf-8"))
    tree.close()
    assert tree.current is tree.root, "unclosed elements"
    return tree


def landmarks(tree: Tree, tag: str) -> list[Node]:
    """The page's own `tag` elements (not an entry's: a quote has a <footer>)."""
    return list(tree.root.find_all(lambda n: n.tag == tag and not n.inside("article")))


def page_data(tree: Tree) -> dict[str, Any]:
    [text] = [t for a, t in tree.scripts if a.get("id") == "liveblog-data"]
    found: dict[str, Any] = json.loads(text)
    return found


def json_ld(tree: Tree) -> dict[str, Any]:
    [text] = [t for a, t in tree.scripts if a.get("type") == "application/ld+json"]
    found: dict[str, Any] = json.loads(text)
    return found


@dataclass
class Site:
    ws: Workspace
    ids: dict[str, str]

    @property
    def folder(self) -> Path:
        return self.ws.feeds / SLUG

    def blog(self) -> Liveblog:
        return Liveblog(self.ws.db, "ann")

    def publish(self, feeds: Path | None = None, **options: Any) -> None:
        with self.blog() as lb:
            lb.publish(
                PublishOptions(feeds_dir=feeds or self.ws.feeds, feeds_url=FEEDS_URL, **options)
            )

    def tree(self, name: str = "index.html") -> Tree:
        return parse(self.folder / name)


def coverage(db: Path, *, title: str = "Conf <One> & Two") -> dict[str, str]:
    """Two days: a talk with a quote, a note, a photo, a link, a corrected note, a
    retracted note; a pin and a key moment."""
    ids: dict[str, str] = {}
    with Liveblog(db, "ann") as lb:
        lb.open_conference(
            SLUG, title=title, venue="Hall & Co", timezone="Europe/London",
            at="2026-06-01T08:00:00+01:00",
        )  # fmt: skip
        lb.open_day(1, date="2026-06-01", conference=SLUG, at="2026-06-01T08:30:00+01:00")
        ids["session"] = lb.start_session(
            "Opening <plenary>", kind="plenary", conference=SLUG, at="2026-06-01T09:00:00+01:00"
        )[-1].id
        ids["talk"] = lb.start_talk(
            "Shared services", speaker="Ada Byron", conference=SLUG,
            at="2026-06-01T09:05:00+01:00",
        )[-1].id  # fmt: skip
        ids["quote"] = lb.quote(
            "We moved <everything>.", conference=SLUG, at="2026-06-01T09:10:00+01:00"
        )[-1].id
        ids["note"] = lb.note("A full room.", conference=SLUG, at="2026-06-01T09:12:00+01:00")[
            -1
        ].id
        ids["photo"] = lb.photo(
            "https://example.org/stage.jpg", caption="On stage", conference=SLUG,
            at="2026-06-01T09:14:00+01:00",
        )[-1].id  # fmt: skip
        ids["link"] = lb.link(
            "https://example.org/slides.pdf", title="The slides", conference=SLUG,
            at="2026-06-01T09:16:00+01:00",
        )[-1].id  # fmt: skip
        ids["wrong"] = lb.note(
            "Attendance is <300>.", conference=SLUG, at="2026-06-01T09:18:00+01:00"
        )[-1].id
        lb.correct(
            ids["wrong"], text="Attendance is 400.", conference=SLUG,
            at="2026-06-01T10:42:00+01:00",
        )  # fmt: skip
        ids["gone"] = lb.note("A rumour.", conference=SLUG, at="2026-06-01T09:22:00+01:00")[-1].id
        lb.retract(ids["gone"], reason="unconfirmed", conference=SLUG, at="2026-06-01T09:24Z")
        lb.close_day(conference=SLUG, at="2026-06-01T18:00:00+01:00")
        lb.open_day(2, date="2026-06-02", conference=SLUG, at="2026-06-02T08:30:00+01:00")
        ids["day2"] = lb.note("Coffee.", conference=SLUG, at="2026-06-02T08:45:00+01:00")[-1].id
        lb.pin(ids["quote"], conference=SLUG, at="2026-06-02T08:50:00+01:00")
        lb.highlight(ids["photo"], label="The <stage>", conference=SLUG, at="2026-06-02T08:51Z")
    return ids


@pytest.fixture
def site(tmp_path: Path) -> Site:
    ws = Workspace(tmp_path)
    ids = coverage(ws.db)
    result = Site(ws, ids)
    result.publish()
    return result


def test_the_live_page_follows_the_dom_contract(site: Site) -> None:
    tree = site.tree()
    assert len(tree.ids) == len(set(tree.ids)), "an id twice"
    main = tree.root.by_id("liveblog")
    assert main.tag == "main"
    entries = tree.root.by_id("entries")
    assert entries.attrs.get("aria-live") == "polite"
    for landmark in ("header", "nav", "footer"):
        assert list(
            tree.root.find_all(lambda n, t=landmark: n.tag == t and not n.inside("article"))
        ), landmark
    ids = site.ids
    # Newest day first, each day's entries newest first; the pinned quote only in #pinned.
    assert entries.articles() == [
        ids["day2"], ids["wrong"], ids["link"], ids["photo"], ids["note"],
        ids["talk"], ids["session"],
    ]  # fmt: skip
    assert tree.root.by_id("pinned").articles() == [ids["quote"]]
    assert "hidden" not in tree.root.by_id("pinned").attrs
    days = [n.attrs["id"] for n in entries.find_all(lambda n: n.has_class("day"))]
    assert days == ["day-2", "day-1"]
    article = tree.root.by_id(f"entry-{ids['note']}")
    assert article.attrs["data-kind"] == "note" and article.has_class("entry")
    assert int(str(article.attrs["data-position"])) <= int(str(article.attrs["data-changed"]))
    context = next(article.find_all(lambda n: n.has_class("context")))
    assert "Shared services" in context.all_text() and "Opening <plenary>" in context.all_text()
    # Key moments link to their entries on the page.
    moments = tree.root.by_id("key-moments")
    links = [(a.attrs["href"], a.all_text()) for a in moments.find_all(lambda n: n.tag == "a")]
    assert links == [(f"#entry-{ids['photo']}", "The <stage>")]
    button = tree.root.by_id("new-entries")
    assert button.tag == "button" and "hidden" in button.attrs
    assert list(tree.root.find_all(lambda n: n.has_class("live-marker")))
    body = next(tree.root.find_all(lambda n: n.tag == "body"))
    assert body.attrs.get("data-liveblog-state")
    # Links to each day's summary and every feed.
    hrefs = {str(a.attrs.get("href")) for a in tree.root.find_all(lambda n: n.tag == "a")}
    assert {"day-1.html", "day-2.html", "live.atom", "live.json", "reflections.rss"} <= hrefs
    assert (site.folder / "live.js").is_file() and (site.folder / "live.css").is_file()


def test_the_retracted_entry_is_nowhere_and_the_correction_shows(site: Site) -> None:
    tree = site.tree()
    assert f"entry-{site.ids['gone']}" not in tree.ids
    assert "A rumour." not in tree.root.all_text()
    article = tree.root.by_id(f"entry-{site.ids['wrong']}")
    [corrected] = article.find_all(lambda n: n.has_class("corrected"))
    assert corrected.all_text().strip() == "corrected 10:42"
    [earlier] = article.find_all(lambda n: n.tag == "details")
    assert earlier.has_class("earlier") and "open" not in earlier.attrs
    assert "Attendance is <300>." in earlier.all_text()  # escaped: text, not a tag
    assert "Attendance is 400." in article.all_text().replace(earlier.all_text(), "")


def test_the_page_data_and_the_json_ld(site: Site) -> None:
    tree = site.tree()
    data = page_data(tree)
    with site.blog() as lb:
        head = lb.log.head()
    assert data == {
        "conference": SLUG,
        "position": head,
        "stream": f"/api/conferences/{SLUG}/stream",
        "poll": "live.json",
        "poll_interval": 15,
    }
    ld = json_ld(tree)
    assert ld["@type"] == "LiveBlogPosting" and ld["dateModified"].startswith("2026-06-02")
    page = f"{FEEDS_URL}/{SLUG}/index.html#entry-"
    urls = [u["url"] for u in ld["liveBlogUpdate"]]
    assert all(u.startswith(page) for u in urls)
    anchors = {u.removeprefix(page) for u in urls}
    assert {f"entry-{a}" for a in anchors} <= set(tree.ids)
    assert site.ids["gone"] not in anchors and site.ids["quote"] in anchors


def test_the_live_marker_only_while_open(site: Site) -> None:
    with site.blog() as lb:
        lb.close_conference(conference=SLUG)
    site.publish()
    for name in ("index.html", "embed.html"):
        tree = site.tree(name)
        assert not list(tree.root.find_all(lambda n: n.has_class("live-marker"))), name
    assert "coverageEndTime" in json_ld(site.tree())
    live = json.loads((site.folder / "live.json").read_text())
    assert live["_liveblog"]["live"] is False


def test_hostile_text_stays_text(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    coverage(ws.db, title=HOSTILE)
    with Liveblog(ws.db, "ann") as lb:
        lb.note(HOSTILE, conference=SLUG)
        lb.highlight(last=True, label=HOSTILE[:80], conference=SLUG)
        lb.publish(PublishOptions(feeds_dir=ws.feeds, feeds_url=FEEDS_URL))
    for name, scripts in (("index.html", 3), ("embed.html", 2)):
        text = (ws.feeds / SLUG / name).read_text()
        assert text.lower().count("<script") == scripts, name
        tree = parse(ws.feeds / SLUG / name)
        assert not list(tree.root.find_all(lambda n: n.tag == "img" and "onerror" in n.attrs))
        assert HOSTILE in tree.root.all_text(), name
        assert page_data(tree)["conference"] == SLUG
    ld = json_ld(parse(ws.feeds / SLUG / "index.html"))
    assert HOSTILE in ld["headline"]
    assert any(u["articleBody"] == HOSTILE for u in ld["liveBlogUpdate"])


def test_the_embed_page_is_the_stream_without_the_chrome(site: Site) -> None:
    tree = site.tree("embed.html")
    for landmark in ("header", "nav", "footer"):
        assert not list(
            tree.root.find_all(lambda n, t=landmark: n.tag == t and not n.inside("article"))
        ), landmark
    assert tree.root.by_id("liveblog").tag == "main"
    index = site.tree()
    assert tree.root.by_id("entries").articles() == index.root.by_id("entries").articles()
    assert tree.root.by_id("pinned").articles() == [site.ids["quote"]]
    assert page_data(tree) == page_data(index)
    assert len(tree.ids) == len(set(tree.ids))


def test_live_json_carries_the_liveblog_extension(site: Site) -> None:
    live = json.loads((site.folder / "live.json").read_text())
    assert live["version"] == "https://jsonfeed.org/version/1.1"
    top = live["_liveblog"]
    assert top["position"] == page_data(site.tree())["position"]
    assert top["poll_interval"] == 15 and top["live"] is True
    assert top["pinned"] == site.ids["quote"] and top["retracted"] == [site.ids["gone"]]
    items = live["items"]
    assert items[0]["_liveblog"]["id"] == site.ids["quote"]  # the pinned item first
    assert items[0]["_liveblog"]["pinned"] is True and "pinned" in items[0]["tags"]
    by_id = {i["_liveblog"]["id"]: i for i in items}
    photo = by_id[site.ids["photo"]]
    assert photo["_liveblog"]["key_moment"] == {"label": "The <stage>"}
    assert "key moment" in photo["tags"]
    keys = {"id", "position", "changed", "day", "utc_at", "retracted", "pinned", "key_moment"}
    for item in items:
        update = item["_liveblog"]
        assert set(update) == keys | {"html"}
        assert update["html"].startswith(f'<article class="entry" id="entry-{update["id"]}"')
    # The same fragment as on the page (one renderer).
    assert f'id="entry-{site.ids["note"]}"' in (site.folder / "index.html").read_text()


def test_the_pinned_item_leads_live_json_even_past_the_window(site: Site) -> None:
    with site.blog() as lb:
        for n in range(4):
            lb.note(f"Later note {n}.", conference=SLUG)
    site.publish(page_size=2)
    items = json.loads((site.folder / "live.json").read_text())["items"]
    assert items[0]["_liveblog"]["id"] == site.ids["quote"]
    assert len(items) == 3


def test_incremental_renders_equal_a_render_from_scratch(site: Site, tmp_path: Path) -> None:
    """The cached days, pin and key moments: after each change (a note, corrections of
    day 1 and of the pinned entry, a key moment labelled by its entry's title and that
    entry corrected, a new pin, an unhighlight, a retraction, an unpin) the pages and
    live.json are byte for byte a fresh render's."""
    ids = site.ids
    steps = [
        lambda lb: lb.note("Later.", conference=SLUG),
        lambda lb: lb.correct(ids["note"], text="A very full room.", conference=SLUG),
        lambda lb: lb.correct(ids["quote"], text="We moved it all.", conference=SLUG),
        lambda lb: lb.highlight(ids["note"], conference=SLUG),  # labelled by its title
        lambda lb: lb.correct(ids["note"], text="A packed room.", conference=SLUG),
        lambda lb: lb.pin(ids["link"], conference=SLUG),
        lambda lb: lb.unhighlight(ids["note"], conference=SLUG),
        lambda lb: lb.retract(ids["photo"], reason="wrong", conference=SLUG),
        lambda lb: lb.unpin(conference=SLUG),
        # No entry changes: the position (page data, dateModified) still moves.
        lambda lb: lb.close_day(conference=SLUG),
    ]
    for k, step in enumerate(steps):
        with site.blog() as lb:
            step(lb)
        site.publish()  # the cache of this process: only changed days rendered
        sections._cache.clear()
        fresh = tmp_path / f"fresh-{k}"
        site.publish(feeds=fresh)
        for name in ("index.html", "embed.html", "live.json"):
            assert (site.folder / name).read_bytes() == (fresh / SLUG / name).read_bytes(), (
                k,
                name,
            )
        shutil.rmtree(fresh)
    tree = site.tree()
    assert site.ids["photo"] not in tree.root.by_id("entries").articles()
    assert tree.root.by_id("pinned").articles() == []
    assert "hidden" in tree.root.by_id("pinned").attrs  # empty: hidden until the script fills it
    moments = tree.root.by_id("key-moments").parent
    # The one key moment (the photo) was retracted: none is left, the section is hidden.
    assert moments is not None and "hidden" in moments.attrs
    assert list(tree.root.by_id("key-moments").find_all(lambda n: n.tag == "a")) == []
    assert site.ids["link"] in tree.root.by_id("entries").articles()


def hrefs(node: Node) -> list[str]:
    return [str(a.attrs.get("href")) for a in node.find_all(lambda n: n.tag == "a")]


@pytest.mark.parametrize("budget", [1, 3])
def test_entries_past_the_page_budget_are_on_their_day_page(
    site: Site, monkeypatch: pytest.MonkeyPatch, budget: int
) -> None:
    """The page holds the newest LIVE_PAGE_ENTRIES entries; the rest of a day is linked
    to its day page (its key moments too). Incremental renders keep the budget."""
    monkeypatch.setattr(sections, "LIVE_PAGE_ENTRIES", budget)
    site.publish()  # cached with the budget
    with site.blog() as lb:
        later = lb.note("Another day-2 note.", conference=SLUG)[-1].id
    site.publish()
    tree = site.tree()
    ids = site.ids
    assert tree.root.by_id("entries").articles() == [later, ids["day2"], ids["wrong"]][:budget]
    day1 = tree.root.by_id("day-1")
    assert "day-1.html" in hrefs(day1)
    assert hrefs(tree.root.by_id("key-moments")) == [f"day-1.html#e-{ids['photo']}"]
    assert tree.root.by_id("pinned").articles() == [ids["quote"]]  # the pin is always there
    # What the feeds' entry links are told is on the page (State.on_page) is what is.
    with site.blog() as lb:
        timeline = lb.stores.timeline
        conference = timeline.conference(SLUG)
        assert conference is not None
        state = sections.conference_state(timeline, conference)
    assert state.on_page == {i.removeprefix("entry-") for i in tree.ids if i.startswith("entry-")}
    sections._cache.clear()
    fresh = site.ws.root / "fresh"
    site.publish(feeds=fresh)
    assert (fresh / SLUG / "index.html").read_bytes() == (site.folder / "index.html").read_bytes()


@pytest.mark.parametrize("value", ["0", "-1", "abc", "3601", "1.5"])
def test_a_bad_poll_interval_is_refused_in_one_line(tmp_path: Path, value: str) -> None:
    ws = Workspace(tmp_path)
    with Liveblog(ws.db, "ann") as lb:
        lb.open_conference(SLUG, title="Conf")
    proc = ws.cli("publish", "--poll-interval", value)
    assert proc.returncode == 2
    errors = [line for line in proc.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "--poll-interval" in errors[0], proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (ws.feeds / SLUG).exists()


def test_the_poll_interval_reaches_the_page_and_live_json(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    with Liveblog(ws.db, "ann") as lb:
        lb.open_conference(SLUG, title="Conf")
    ws.ok("publish", "--poll-interval", "4")
    assert page_data(parse(ws.feeds / SLUG / "index.html"))["poll_interval"] == 4
    assert page_data(parse(ws.feeds / SLUG / "embed.html"))["poll_interval"] == 4
    live = json.loads((ws.feeds / SLUG / "live.json").read_text())
    assert live["_liveblog"]["poll_interval"] == 4
