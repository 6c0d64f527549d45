"""Property tests for the feeds: hostile text never breaks a feed, nor escapes its text.

Reporters paste from anywhere: control characters, markup, CDATA terminators, quotes,
right-to-left text, emoji. Whatever a log holds, every published document must stay
valid (tests/feedcheck), parse with feedparser, keep user text as text (never as
markup), and publish deterministically.

Each Hypothesis example gets its own temporary directory (function-scoped fixtures
would be shared between examples).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import feedparser
import pytest
from click.testing import CliRunner, Result
from feedcheck import atom_entries, rss_items
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree
from test_feeds import differing, feed_files, feed_ids, kind_of, snapshot, validate

from liveblog.cli.main import cli
from liveblog.domain.text import clean_body, clean_line

SLUG = "hostile"
FEEDS_URL = "https://feeds.example.org/feeds"

# -- hostile text -----------------------------------------------------------------------

PIECES = [
    "<script>alert(1)</script>", "</script>", "<script", "<b>", "<img src=x onerror=alert(1)>",
    "]]>", "<![CDATA[", "-->", "<!--", "&", "&amp;", "&#0;", "&#x1F;", "&lt;", '"', "'",
    "\x00", "\x07", "\x1b[31m", "\x0b", "\x0c", "\x7f", "\x85", "\x9b", "\r", "\r\n", "\t",
    "\n", "\n\n", "\u2028", "\u2029", "\u200b", "\ufeff",
    "\u202e", "\u202d", "\u200f", "\u061c", "שלום", "مرحبا", "😀", "👩‍👩‍👧", "🇬🇧", "e\u0301",
    "{{ title }}", "{% if x %}", "${x}", "%s", "\\", "`", "*_[x](y)_*", "# h", "  ",
]  # fmt: skip

# Every character XML 1.0 can carry (and a few it cannot: C0 and C1 controls, which the
# log strips at the door). Non-characters and lone surrogates have their own tests.
CHARACTERS = st.characters(codec="utf-8", exclude_characters="\ufffe\uffff")
HOSTILE = st.lists(st.one_of(st.sampled_from(PIECES), CHARACTERS), max_size=7).map(
    lambda parts: "x" + "".join(parts)  # never blank once cleaned: the log refuses blanks
)

# A key moment's label: one line, at most 80 characters (so cut short here).
SHORT = HOSTILE.map(lambda text: text[:40])

FIELDS = [
    "conference", "venue", "day", "session", "room", "host", "talk", "speaker", "role",
    "organisation", "quote", "note", "caption", "correction", "corrected_speaker", "reason",
    "author",
]  # fmt: skip

# What the content HTML may contain: the markup liveblog writes itself.
ALLOWED_TAGS = {
    "p", "br", "blockquote", "footer", "figure", "img", "figcaption", "article", "section",
    "header", "h1", "h2", "h3", "h4", "time", "ul", "ol", "li", "em", "strong", "span", "a",
    "q", "cite", "div",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {"class", "id", "src", "alt", "loading", "datetime", "href", "title", "lang"}

ATOM = "{http://www.w3.org/2005/Atom}"
ATOM_ELEMENTS = [
    "feed", "id", "title", "subtitle", "updated", "author", "name", "link", "generator",
    "entry", "published", "content", "category",
]  # fmt: skip
RSS_ELEMENTS = [
    "rss", "channel", "title", "link", "description", "docs", "generator", "language",
    "lastBuildDate", "managingEditor", "item", "guid", "pubDate", "category",
]  # fmt: skip
# Every element a feed may hold: user text must never add one.
ELEMENTS = {
    "atom": {f"{ATOM}{name}" for name in ATOM_ELEMENTS}
    | {
        "{http://purl.org/syndication/history/1.0}archive",
        "{http://purl.org/atompub/tombstones/1.0}deleted-entry",
        "{http://purl.org/atompub/tombstones/1.0}by",
        "{http://purl.org/atompub/tombstones/1.0}comment",
    },
    "rss": set(RSS_ELEMENTS) | {f"{ATOM}link", "{http://purl.org/dc/elements/1.1/}creator"},
}


# -- building and publishing a log -------------------------------------------------------


def build_log(texts: dict[str, str], *, close: bool) -> list[str]:
    """A day of coverage with every free-text field taken from `texts`."""
    t = texts
    author = t["author"]
    events: list[tuple[str, str, dict[str, Any], str]] = [
        ("open", "conference.opened",
         {"title": t["conference"], "venue": t["venue"], "url": "https://blog.example.org/h"},
         "ann"),
        ("d1", "day.opened", {"number": 1, "date": "2011-06-08", "title": t["day"]}, "ann"),
        ("s1", "session.started",
         {"day": 1, "title": t["session"], "kind": "panel", "room": t["room"],
          "hosts": [t["host"]]}, author),
        ("t1", "talk.started",
         {"day": 1, "session": "s1", "title": t["talk"], "speaker": t["speaker"],
          "role": t["role"], "organisation": t["organisation"]}, author),
        ("q1", "quote.captured",
         {"day": 1, "session": "s1", "talk": "t1", "text": t["quote"], "speaker": t["speaker"]},
         author),
        ("n1", "note.posted", {"day": 1, "session": "s1", "talk": "t1", "text": t["note"]},
         author),
        ("p1", "photo.posted",
         {"day": 1, "session": "s1", "url": "https://photos.example.org/h/1.jpg",
          "caption": t["caption"]}, "ann"),
        ("n2", "note.posted", {"day": 1, "text": t["reason"]}, "ann"),
        ("p2", "photo.posted",
         {"day": 1, "session": "s1", "url": "https://photos.example.org/h/2.jpg",
          "caption": t["caption"]}, author),
        ("fix-n1", "entry.corrected", {"target": "n1", "text": t["correction"]}, "ann"),
        ("fix-q1", "entry.corrected", {"target": "q1", "speaker": t["corrected_speaker"]},
         author),
        ("gone-p1", "entry.retracted", {"target": "p1", "reason": t["reason"]}, author),
        ("t1-end", "talk.ended", {"talk": "t1"}, author),
        ("s1-end", "session.ended", {"session": "s1"}, author),
        ("n3", "note.posted", {"day": 1, "text": t["note"]}, "ann"),
        ("h-q1", "entry.highlighted", {"target": "q1", "label": t["label"]}, author),
        ("pin-n3", "entry.pinned", {"target": "n3"}, "ann"),
        ("d1-end", "day.closed", {"number": 1}, "ann"),
    ]  # fmt: skip
    if close:
        events.append(("close", "conference.closed", {}, "ann"))
    start = dt.datetime(2011, 6, 8, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    return [
        json.dumps({
            "id": event_id, "type": kind, "conference": SLUG, "author": who,
            "occurred_at": (start + dt.timedelta(minutes=i)).isoformat(), "data": data,
        }) + "\n"
        for i, (event_id, kind, data, who) in enumerate(events)
    ]  # fmt: skip


@dataclass
class Site:
    root: Path
    runner: CliRunner

    @property
    def db(self) -> str:
        return str(self.root / "events.db")

    def run(self, *args: str, input: str | None = None) -> Result:
        return self.runner.invoke(
            cli, ["--db", self.db, "--author", "ann", *args], input=input, catch_exceptions=False
        )

    def publish(self, feeds: str = "feeds", *options: str) -> Result:
        result = self.run(
            "--feeds", str(self.root / feeds), "publish", "--feeds-url", FEEDS_URL, *options
        )
        assert result.exit_code == 0, result.output
        return result


@contextmanager
def fresh_site() -> Iterator[Site]:
    with tempfile.TemporaryDirectory(prefix="liveblog-feeds-") as root:
        yield Site(Path(root), CliRunner())


# -- what "nothing unescaped" means -------------------------------------------------------


class _Markup(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: set[str] = set()
        self.attributes: set[str] = set()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        for name, value in attrs:
            self.attributes.add(name)
            if name in ("src", "href") and value is not None:
                self.urls.append(value)


def markup_problems(html: str, where: str) -> list[str]:
    """Tags or attributes in entry HTML that liveblog does not write: user text that
    became markup."""
    parser = _Markup()
    parser.feed(html)
    parser.close()
    problems = [f"{where}: tag <{tag}>" for tag in sorted(parser.tags - ALLOWED_TAGS)]
    problems += [f"{where}: attribute {a}" for a in sorted(parser.attributes - ALLOWED_ATTRIBUTES)]
    problems += [
        f"{where}: url {url!r}" for url in parser.urls if not url.startswith(("https://", "#"))
    ]
    return problems


def escaping_problems(folder: Path) -> list[str]:
    problems: list[str] = []
    for path in feed_files(folder):
        data = path.read_bytes()
        name = path.relative_to(folder).as_posix()
        kind = kind_of(path)
        if kind == "json":
            feed = json.loads(data)
            for item in feed["items"]:
                problems += markup_problems(item["content_html"], f"{name} {item['id']}")
            continue
        if re.search(rb"<script", data, re.IGNORECASE):
            problems.append(f"{name}: raw <script in the XML")
        root = etree.fromstring(data, etree.XMLParser(resolve_entities=False, no_network=True))
        unknown = {el.tag for el in root.iter() if isinstance(el.tag, str)} - ELEMENTS[kind]
        problems += [f"{name}: element {tag}" for tag in sorted(unknown)]
        if kind == "atom":
            for entry in atom_entries(data):
                problems += markup_problems(str(entry["content"]), f"{name} {entry['id']}")
        else:
            for item in rss_items(data):
                problems += markup_problems(str(item["description"]), f"{name} {item['guid']}")
    for page in sorted(folder.glob("*.html")):
        text = page.read_text(encoding="utf-8")
        scripts = _scripts(text)
        lower = text.lower()
        # Every raw "<script" is one of the pages' own scripts (the JSON-LD block, the
        # page data, live.js): user text never opened or closed one.
        if lower.count("<script") != len(scripts) or lower.count("</script") != len(scripts):
            problems.append(f"{page.name}: user text opened or closed a <script>")
        for attrs in scripts:
            if attrs not in OWN_SCRIPTS:
                problems.append(f"{page.name}: a <script> of none of ours: {attrs}")
    return problems


OWN_SCRIPTS = (
    {"type": "application/ld+json"},
    {"type": "application/json", "id": "liveblog-data"},
    {"src": "live.js", "defer": None},
)
"""The <script> elements the pages write, by their attributes."""


class _Scripts(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script":
            self.found.append(dict(attrs))


def _scripts(text: str) -> list[dict[str, str | None]]:
    parser = _Scripts()
    parser.feed(text)
    parser.close()
    return parser.found


def feedparser_problems(folder: Path) -> list[str]:
    problems: list[str] = []
    for path in feed_files(folder):
        kind = kind_of(path)
        if kind == "json":
            continue  # feedparser 6 does not read JSON Feed
        data = path.read_bytes()
        parsed: Any = feedparser.parse(data)
        name = path.relative_to(folder).as_posix()
        if parsed.bozo:
            problems.append(f"{name}: feedparser bozo: {parsed.get('bozo_exception')}")
        if [e.get("id") for e in parsed.entries] != feed_ids(data, kind):
            problems.append(f"{name}: feedparser reads other entry ids")
    return problems


def entry(folder: Path, name: str, event_id: str) -> dict[str, Any]:
    feed = json.loads((folder / name).read_bytes())
    found = [i for i in feed["items"] if i["id"].endswith(f"/entry/{event_id}")]
    assert len(found) == 1, (name, event_id)
    item: dict[str, Any] = found[0]
    return item


# -- the properties ---------------------------------------------------------------------


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    texts=st.fixed_dictionaries({**dict.fromkeys(FIELDS, HOSTILE), "label": SHORT}),
    page_size=st.integers(min_value=1, max_value=4),
    close=st.booleans(),
)
def test_hostile_text_never_breaks_a_feed(
    texts: dict[str, str], page_size: int, close: bool
) -> None:
    with fresh_site() as site:
        imported = site.run("import", "-", input="".join(build_log(texts, close=close)))
        assert imported.exit_code == 0, imported.output
        size = str(page_size)
        site.publish("feeds", "--page-size", size)
        folder = site.root / "feeds" / SLUG

        assert validate(folder) == []
        assert escaping_problems(folder) == []
        assert feedparser_problems(folder) == []

        # User text round-trips as text (every entry in one live document).
        site.publish("all", "--page-size", "50")
        folder = site.root / "all" / SLUG
        note = entry(folder, "live.json", "n3")
        assert note["content_text"] == clean_body(texts["note"])
        assert note["authors"] == [{"name": "ann"}]
        quote = entry(folder, "live.json", "q1")
        assert quote["title"] == f"Quote — {clean_line(texts['corrected_speaker'])}"
        assert quote["authors"] == [{"name": clean_line(texts["author"])}]
        corrected = entry(folder, "live.json", "n1")
        assert corrected["content_text"] == clean_body(texts["correction"])
        photo = entry(folder, "live.json", "p2")
        assert photo["title"].startswith("Photo — ")
        assert photo["content_text"] == clean_body(texts["caption"])
        assert photo["image"] == "https://photos.example.org/h/2.jpg"
        # A key moment's label reads back as typed (cleaned to one line), in Atom.
        marks = {
            str(e["id"]).rsplit("/", 1)[1]: e["categories"]
            for e in atom_entries((folder / "live.atom").read_bytes())
        }
        assert marks["q1"] == [("key-moment", clean_line(texts["label"]))]
        assert marks["n3"] == [("pinned", None)]
        live = (folder / "live.json").read_bytes()
        assert not any(i.endswith("/entry/p1") for i in feed_ids(live, "json"))
        assert json.loads(live).get("expired", False) is close

        # Deterministic: again changes nothing; a fresh publish gives the same bytes.
        again = site.publish("feeds", "--page-size", size)
        assert again.stdout == ""
        site.publish("fresh", "--page-size", size)
        assert differing(snapshot(site.root / "fresh"), snapshot(site.root / "feeds")) == []


# -- what XML cannot carry at all ---------------------------------------------------------

# A field a user fills -> its key in build_log's texts.
WHERE = {
    "conference title": "conference",
    "venue": "venue",
    "speaker": "speaker",
    "note": "note",
    "author": "author",
    "retraction reason": "reason",
    "caption": "caption",
    "key moment label": "label",
}
PLAIN = dict.fromkeys([*FIELDS, "label"], "plain")


def publish_or_refuse(texts: dict[str, str], lines: list[str] | None = None) -> None:
    """Import a log with `texts`; the log may refuse it cleanly, else every feed must be
    published valid."""
    with fresh_site() as site:
        imported = site.run("import", "-", input="".join(lines or build_log(texts, close=False)))
        if imported.exit_code != 0:
            assert imported.exit_code == 1, imported.output
            assert imported.stderr.startswith("Error: "), imported.output
            assert "internal error" not in imported.output
            return
        for feeds, size in (("paged", "2"), ("all", "50")):  # archives; everything live
            result = site.runner.invoke(
                cli,
                ["--db", site.db, "--feeds", str(site.root / feeds), "publish",
                 "--feeds-url", FEEDS_URL, "--page-size", size],
            )  # fmt: skip
            assert result.exception is None, f"publish failed: {result.exception!r}"
            assert result.exit_code == 0, result.output
            folder = site.root / feeds / SLUG
            assert validate(folder) == []
            assert escaping_problems(folder) == []


@pytest.mark.parametrize("field", list(WHERE))
def test_non_characters_are_refused_or_dropped(field: str) -> None:
    """U+FFFE and U+FFFF are legal in JSON and in the log, but XML cannot carry them."""
    publish_or_refuse({**PLAIN, WHERE[field]: "plain \ufffe and \uffff text"})


@pytest.mark.parametrize("field", ["note", "speaker", "author"])
def test_lone_surrogates_are_refused_or_dropped(field: str) -> None:
    """A JSON import can spell a lone surrogate (\\ud800); no feed may carry one."""
    marker = "SURROGATE-HERE"
    lines = build_log({**PLAIN, field: f"plain {marker} text"}, close=False)
    publish_or_refuse(PLAIN, [line.replace(marker, "\\ud800") for line in lines])


@pytest.mark.parametrize("where", ["photo", "conference"])
def test_urls_with_characters_uris_forbid_are_refused_or_escaped(where: str) -> None:
    """A URL is written into links: characters RFC 3986 forbids (quotes, angle brackets,
    braces, pipes, carets, backticks) must be refused by the log or percent-encoded in
    the feeds, never written raw."""
    url = 'https://photos.example.org/a"b/<script>alert(1)</script>/{x}|y^z`.jpg'
    events = [json.loads(line) for line in build_log(PLAIN, close=False)]
    if where == "conference":
        events[0]["data"]["url"] = url
    else:  # the photo that stays (the log retracts p1)
        (photo,) = [e for e in events if e["id"] == "p2"]
        photo["data"]["url"] = url
    publish_or_refuse(PLAIN, [json.dumps(e) + "\n" for e in events])


def test_the_plain_log_publishes_valid_feeds() -> None:
    """The control for the tests above: without hostile text, the log is accepted."""
    with fresh_site() as site:
        imported = site.run("import", "-", input="".join(build_log(PLAIN, close=True)))
        assert imported.exit_code == 0, imported.output
        site.publish("feeds", "--page-size", "2")
        folder = site.root / "feeds" / SLUG
        assert len(list(folder.glob("archive/*.atom"))) >= 2
        assert validate(folder) == []
        assert escaping_problems(folder) == []
        assert feedparser_problems(folder) == []
