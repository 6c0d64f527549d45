"""Feeds: `liveblog publish` and everything it writes under feeds/<conference>/.

Live feeds (Atom, RSS, JSON Feed), RFC 5005 archives, RFC 6721 tombstones, the
reflections feeds, day pages and the index, the WebSub hub, determinism and atomic
writes. Every document is judged by the standards checkers in tests/feedcheck and
parsed back with feedparser; most tests run on the fixed sample log
tests/golden/sample-day.jsonl, so every id and time is known in advance.

To accept a deliberate change of the published bytes, regenerate and review the diff:

    LIVEBLOG_REGEN_GOLDEN=1 .venv/bin/python -m pytest tests/test_feeds.py -k golden
"""

from __future__ import annotations

import calendar
import datetime as dt
import json
import os
import shutil
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs

import feedparser
import pytest
from click.testing import Result
from feedcheck import (
    atom_entries,
    atom_tombstones,
    check_atom,
    check_feed,
    check_feed_dates_order,
    check_title_references,
    parse_rfc822,
    parse_rfc3339,
    rss_items,
)
from lxml import etree

from liveblog.feeds.files import write_if_changed
from liveblog.pages.assets import ASSETS, asset

Invoke = Callable[..., Result]
Kind = Literal["atom", "rss", "json"]

GOLDEN = Path(__file__).parent / "golden"
SAMPLE = GOLDEN / "sample-day.jsonl"
GOLDEN_FEEDS = GOLDEN / "feeds"
REGENERATE = os.environ.get("LIVEBLOG_REGEN_GOLDEN") == "1"

SLUG = "socitm-2011"
SITE = "https://blog.example.org/socitm-2011"  # the sample conference's --url
FEEDS_URL = "https://feeds.example.org/feeds"
BASE = f"{FEEDS_URL}/{SLUG}"
TAG = f"tag:liveblog,2011-06-08:{SLUG}"  # the date the sample conference opened

ATOM_NS = "http://www.w3.org/2005/Atom"
DC_NS = "http://purl.org/dc/elements/1.1/"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
KINDS: dict[str, Kind] = {".atom": "atom", ".rss": "rss", ".json": "json"}
FEEDS = [f"{name}.{ext}" for name in ("live", "reflections") for ext in ("atom", "rss", "json")]
MEDIA_TYPES = {
    "atom": "application/atom+xml",
    "rss": "application/rss+xml",
    "json": "application/feed+json",
}

# The sample's entries in log order, and how it goes with --page-size 3: six full
# archive blocks of three entries (the seventh block, q-patel and d3-note, is not full).
SAMPLE_ENTRIES = [
    "d1-note", "s-plenary", "t-burns",
    "q-burns", "n-hall", "p-burns",
    "s-round", "n-consent", "t-smith",
    "q-ferguson", "q-smith", "n-tests",
    "p-round", "t-jones", "n-demo",
    "q-jones", "s-keynote", "t-patel",
    "q-patel", "d3-note",
]  # fmt: skip
RETRACTED = {"n-demo"}
ARCHIVES_AT_3 = 6


def entry_id(event_id: str) -> str:
    return f"{TAG}/entry/{event_id}"


def event_of(feed_id: str) -> str:
    prefix = f"{TAG}/entry/"
    assert feed_id.startswith(prefix), feed_id
    return feed_id[len(prefix) :]


def event_of_any(feed_id: str) -> str:
    """The event id in an entry id of any conference."""
    return feed_id.rsplit("/entry/", 1)[1]


# -- reading what was published ----------------------------------------------------------


def kind_of(path: Path) -> Kind:
    return KINDS[path.suffix]


def feed_files(folder: Path) -> list[Path]:
    """Every feed document under `folder` (archives included), hidden files excluded."""
    return sorted(
        p
        for p in folder.rglob("*")
        if p.is_file() and p.suffix in KINDS and not p.name.startswith(".")
    )


def snapshot(root: Path) -> dict[str, bytes]:
    """Every published file under `root` (not the hidden state cache), by relative path."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)
    }


def differing(a: dict[str, bytes], b: dict[str, bytes]) -> list[str]:
    """Names of the files that are in one snapshot only, or differ."""
    return sorted(name for name in a.keys() | b.keys() if a.get(name) != b.get(name))


def validate(folder: Path) -> list[str]:
    """Every standards and ordering problem of every feed document under `folder`."""
    problems: list[str] = []
    for path in feed_files(folder):
        data = path.read_bytes()
        name = path.relative_to(folder).as_posix()
        kind = kind_of(path)
        # Every document, archives and reflections included, is ordered newest `updated`
        # first (then newest published): a corrected entry or day comes first.
        if path.parent.name == "archive":
            found = check_atom(data, archive=True)
        else:
            found = check_feed(data, kind)
        if not found:
            found = check_feed_dates_order(_unpinned(data, kind), kind)
            found += check_title_references(data, kind)
        problems += [f"{name}: {p}" for p in found]
    return problems


def _unpinned(data: bytes, kind: Kind) -> bytes:
    """The document without JSON Feed's pinned item: live.json puts it first, whatever
    its date (the live page's contract); the others must still be newest first."""
    if kind != "json":
        return data
    feed = json.loads(data)
    feed["items"] = [i for i in feed["items"] if not i.get("_liveblog", {}).get("pinned")]
    return json.dumps(feed).encode()


def xml(data: bytes) -> Any:
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    return etree.fromstring(data, parser)


def atom_links(data: bytes) -> list[tuple[str, str]]:
    """(rel, href) of the feed-level atom:link elements, in document order."""
    root = xml(data)
    return [
        (link.get("rel", "alternate"), link.get("href"))
        for link in root.findall(f"{{{ATOM_NS}}}link")
    ]


def rels(data: bytes, rel: str) -> list[str]:
    return [href for r, href in atom_links(data) if r == rel]


def rss_channel(data: bytes) -> Any:
    channel = xml(data).find("channel")
    assert channel is not None
    return channel


def rss_self_links(data: bytes) -> list[str]:
    return [
        link.get("href")
        for link in rss_channel(data).findall(f"{{{ATOM_NS}}}link")
        if link.get("rel") == "self"
    ]


def feed_ids(data: bytes, kind: Kind) -> list[str]:
    """Entry ids (Atom id, RSS guid, JSON Feed item id) in document order."""
    if kind == "atom":
        return [str(e["id"]) for e in atom_entries(data)]
    if kind == "rss":
        return [str(i["guid"]) for i in rss_items(data)]
    return [str(item["id"]) for item in json.loads(data)["items"]]


def feed_titles(data: bytes, kind: Kind) -> dict[str, str]:
    if kind == "atom":
        return {str(e["id"]): str(e["title"]) for e in atom_entries(data)}
    if kind == "rss":
        return {str(i["guid"]): str(i["title"]) for i in rss_items(data)}
    return {str(item["id"]): str(item["title"]) for item in json.loads(data)["items"]}


def feed_contents(data: bytes, kind: Kind) -> dict[str, str]:
    """Entry id -> the entry's HTML (once XML-unescaped, for Atom and RSS)."""
    if kind == "atom":
        return {str(e["id"]): str(e["content"]) for e in atom_entries(data)}
    if kind == "rss":
        return {str(i["guid"]): str(i["description"]) for i in rss_items(data)}
    return {str(item["id"]): str(item["content_html"]) for item in json.loads(data)["items"]}


def atom_by_id(data: bytes) -> dict[str, Any]:
    return {str(e["id"]): e for e in atom_entries(data)}


def instant(text: str | None) -> dt.datetime:
    assert text is not None
    when = parse_rfc3339(text)
    assert when is not None, text
    return when


def changed_paths(result: Result) -> list[Path]:
    return [Path(line) for line in result.stdout.splitlines() if line]


def struct_seconds(value: Any) -> int:
    """A feedparser *_parsed struct_time (UTC) as a Unix time."""
    return calendar.timegm(value)


# -- fixtures ------------------------------------------------------------------------


@pytest.fixture
def feeds(tmp_path: Path) -> Path:
    return tmp_path / "feeds"


@pytest.fixture
def folder(feeds: Path) -> Path:
    return feeds / SLUG


@pytest.fixture
def publish(invoke: Invoke, feeds: Path) -> Callable[..., Result]:
    """`liveblog --feeds DIR publish --feeds-url FEEDS_URL [OPTIONS]`; must succeed."""

    def run(*options: str, to: Path | None = None) -> Result:
        result = invoke("--feeds", str(to or feeds), "publish", "--feeds-url", FEEDS_URL, *options)
        assert result.exit_code == 0, result.output
        return result

    return run


def run_ok(invoke: Invoke, *args: str, author: str = "ann") -> Result:
    result = invoke(*args, author=author)
    assert result.exit_code == 0, result.output
    return result


def import_lines(invoke: Invoke, lines: list[str]) -> None:
    result = invoke("import", "-", input="".join(lines))
    assert result.exit_code == 0, result.output


@pytest.fixture
def sample(invoke: Invoke) -> Invoke:
    run_ok(invoke, "import", str(SAMPLE))
    return invoke


def sample_lines() -> list[str]:
    return SAMPLE.read_text(encoding="utf-8").splitlines(keepends=True)


def notes_log(count: int, *, slug: str = "many", url: str | None = None) -> list[str]:
    """A conference with day 1 open and `count` notes a minute apart (UTC)."""
    start = dt.datetime(2012, 3, 1, 9, 0, tzinfo=dt.UTC)
    opened: dict[str, Any] = {"title": "Many notes"}
    if url:
        opened["url"] = url
    events: list[dict[str, Any]] = [
        {"id": f"{slug}-open", "type": "conference.opened", "data": opened},
        {"id": f"{slug}-day", "type": "day.opened", "data": {"number": 1, "date": "2012-03-01"}},
    ]
    events += [
        {"id": f"{slug}-n{i}", "type": "note.posted", "data": {"day": 1, "text": f"note {i}"}}
        for i in range(1, count + 1)
    ]
    for i, event in enumerate(events):
        event.update(
            conference=slug,
            author="ann",
            occurred_at=(start + dt.timedelta(minutes=i)).isoformat(),
        )
    return [json.dumps(e) + "\n" for e in events]


# -- validity ------------------------------------------------------------------------


@pytest.mark.parametrize("page_size", ["3", "50"])
def test_every_feed_document_is_valid(
    sample: Invoke, publish: Callable[..., Result], folder: Path, page_size: str
) -> None:
    publish("--page-size", page_size)
    names = {p.relative_to(folder).as_posix() for p in feed_files(folder)}
    assert set(FEEDS) <= names
    if page_size == "3":
        assert {f"archive/{n}.atom" for n in range(1, ARCHIVES_AT_3 + 1)} <= names
    assert validate(folder) == []


def test_documents_stay_valid_through_corrections_and_retractions(
    sample: Invoke, publish: Callable[..., Result], folder: Path
) -> None:
    publish("--page-size", "3")
    steps = [
        ("correct", "d1-note", "Registration queues reached the car park.",
         "--at", "2011-06-10T09:20:00+01:00"),
        ("retract", "q-burns", "--reason", "Misheard.", "--at", "2011-06-10T09:21:00+01:00"),
        ("note", "Coffee & <cake> at 10.", "--at", "2011-06-10T09:22:00+01:00"),
        ("retract", "d3-note", "--at", "2011-06-10T09:23:00+01:00"),
        ("day", "close", "--at", "2011-06-10T17:00:00+01:00"),
        ("conference", "close", "--at", "2011-06-10T17:05:00+01:00"),
    ]  # fmt: skip
    for step in steps:
        run_ok(sample, *step)
        publish("--page-size", "3")
        assert validate(folder) == [], step


def test_no_date_is_now(sample: Invoke, publish: Callable[..., Result], folder: Path) -> None:
    """Every date comes from the log (the sample ends in 2011): never the clock."""
    publish("--page-size", "3")
    last = dt.datetime(2011, 6, 10, 9, 10, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    for path in feed_files(folder):
        data = path.read_bytes()
        dates: list[dt.datetime] = []
        if path.suffix == ".atom":
            root = xml(data)
            dates += [instant(el.text) for el in root.iter(f"{{{ATOM_NS}}}updated")]
            dates += [instant(el.text) for el in root.iter(f"{{{ATOM_NS}}}published")]
            dates += [instant(t["when"]) for t in atom_tombstones(data)]
        elif path.suffix == ".rss":
            texts = [rss_channel(data).findtext("lastBuildDate")]
            texts += [i["pubDate"] for i in rss_items(data)]
            for text in texts:
                assert text is not None
                when = parse_rfc822(text)
                assert when is not None, text
                dates.append(when)
        else:
            for item in json.loads(data)["items"]:
                dates += [instant(item["date_published"]), instant(item["date_modified"])]
        assert dates, path
        for when in dates:
            assert when.utcoffset() is not None, path
            assert when <= last, f"{path.name}: {when} is later than the log's last event"


def test_live_documents_hold_page_size_entries(
    invoke: Invoke, publish: Callable[..., Result], feeds: Path
) -> None:
    import_lines(invoke, notes_log(55))
    publish()  # the default page size is 50
    folder = feeds / "many"
    for name in ("live.atom", "live.rss", "live.json"):
        ids = feed_ids((folder / name).read_bytes(), kind_of(folder / name))
        assert len(ids) == 50, name
        assert ids[0].endswith("/entry/many-n55")
    archive = (folder / "archive" / "1.atom").read_bytes()
    assert [e["id"] for e in atom_entries(archive)] == [
        f"tag:liveblog,2012-03-01:many/entry/many-n{i}" for i in range(50, 0, -1)
    ]
    assert not (folder / "archive" / "2.atom").exists()
    publish("--page-size", "7", to=feeds.parent / "seven")
    live = (feeds.parent / "seven" / "many" / "live.json").read_bytes()
    assert len(feed_ids(live, "json")) == 7
    assert validate(feeds.parent / "seven" / "many") == []


@pytest.mark.parametrize("size", ["0", "-1", "x"])
def test_page_size_must_be_a_positive_number(sample: Invoke, feeds: Path, size: str) -> None:
    result = sample("--feeds", str(feeds), "publish", "--page-size", size)
    assert result.exit_code == 2
    assert not feeds.exists()


def test_each_conference_has_its_own_folder(
    sample: Invoke, publish: Callable[..., Result], feeds: Path
) -> None:
    import_lines(sample, notes_log(4, slug="other", url="https://other.example.org/"))
    publish()
    assert sorted(p.name for p in feeds.iterdir() if p.is_dir()) == ["other", SLUG]
    other = (feeds / "other" / "live.atom").read_bytes()
    ours = (feeds / SLUG / "live.atom").read_bytes()
    assert all(":other/entry/other-n" in i for i in feed_ids(other, "atom"))
    assert all(f":{SLUG}/entry/" in i for i in feed_ids(ours, "atom"))
    assert rels(other, "alternate") == ["https://other.example.org/"]
    assert validate(feeds / "other") == []
    assert validate(feeds / SLUG) == []


# -- feedparser round trip ------------------------------------------------------------


def test_atom_round_trips_through_feedparser(
    sample: Invoke, publish: Callable[..., Result], folder: Path
) -> None:
    publish("--page-size", "3")
    atoms = [p for p in feed_files(folder) if p.suffix == ".atom"]
    assert len(atoms) == 2 + ARCHIVES_AT_3
    for path in atoms:
        data = path.read_bytes()
        parsed: Any = feedparser.parse(data)
        assert parsed.bozo == 0, (path.name, parsed.get("bozo_exception"))
        assert parsed.version == "atom10"
        root = xml(data)
        assert parsed.feed.id == root.findtext(f"{{{ATOM_NS}}}id")
        assert parsed.feed.title == root.findtext(f"{{{ATOM_NS}}}title")
        assert struct_seconds(parsed.feed.updated_parsed) == int(
            instant(root.findtext(f"{{{ATOM_NS}}}updated")).timestamp()
        )
        assert [(link.rel, link.href) for link in parsed.feed.links] == atom_links(data)
        ours = atom_entries(data)
        assert [e.id for e in parsed.entries] == [e["id"] for e in ours]
        for theirs, mine in zip(parsed.entries, ours, strict=True):
            assert theirs.title == mine["title"]
            assert theirs.link == next(
                link["href"] for link in mine["links"] if link["rel"] == "alternate"
            )
            assert struct_seconds(theirs.updated_parsed) == int(
                instant(mine["updated"]).timestamp()
            )
            assert struct_seconds(theirs.published_parsed) == int(
                instant(mine["published"]).timestamp()
            )
            assert [a.name for a in theirs.authors] == mine["authors"]
            assert theirs.content[0].type == "text/html"


def test_rss_round_trips_through_feedparser(
    sample: Invoke, publish: Callable[..., Result], folder: Path
) -> None:
    publish()
    for name in ("live.rss", "reflections.rss"):
        data = (folder / name).read_bytes()
        parsed: Any = feedparser.parse(data)
        assert parsed.bozo == 0, (name, parsed.get("bozo_exception"))
        assert parsed.version == "rss20"
        assert parsed.feed.link == SITE
        assert parsed.feed.language == "en"
        ours = rss_items(data)
        assert ours
        assert [e.id for e in parsed.entries] == [i["guid"] for i in ours]
        for theirs, mine in zip(parsed.entries, ours, strict=True):
            assert theirs.title == mine["title"]
            assert theirs.link == mine["link"]
            assert mine["pubDate"] is not None
            when = parse_rfc822(mine["pubDate"])
            assert when is not None
            assert struct_seconds(theirs.published_parsed) == int(when.timestamp())
            assert theirs.author


def test_the_three_formats_carry_the_same_entries(
    sample: Invoke, publish: Callable[..., Result], folder: Path
) -> None:
    publish()
    for name in ("live", "reflections"):
        atom = (folder / f"{name}.atom").read_bytes()
        rss = (folder / f"{name}.rss").read_bytes()
        feed = json.loads((folder / f"{name}.json").read_bytes())
        ids = feed_ids(atom, "atom")
        assert ids == [item["id"] for item in feed["items"]]
        # RSS has no `updated`: its items go by first publication (pubDate), newest first.
        assert sorted(feed_ids(rss, "rss")) == sorted(ids)
        by_published = sorted(
            feed["items"], key=lambda i: instant(i["date_published"]), reverse=True
        )
        assert feed_ids(rss, "rss") == [i["id"] for i in by_published]
        assert feed_titles(atom, "atom") == feed_titles(rss, "rss")
        assert feed_titles(atom, "atom") == {i["id"]: i["title"] for i in feed["items"]}
        for entry, item in zip(atom_entries(atom), feed["items"], strict=True):
            assert instant(entry["published"]) == instant(item["date_published"])
            assert instant(entry["updated"]) == instant(item["date_modified"])
            assert entry["authors"] == [a["name"] for a in item["authors"]]
            assert entry["content"] == item["content_html"]
            alternate = [x["href"] for x in entry["links"] if x["rel"] == "alternate"]
            assert alternate == [item["url"]]


# -- entries: ids, titles, content, authors, dates ---------------------------------------


def test_live_feed_holds_every_entry_newest_change_first(
    sample: Invoke, publish: Callable[..., Result], folder: Path
) -> None:
    publish()
    ids = feed_ids((folder / "live.atom").read_bytes(), "atom")
    # Corrected entries (p-burns, q-ferguson, q-smith) rank by their correction.
    expected = [
        "d3-note", "q-patel", "t-patel", "s-keynote", "q-jones", "t-jones", "p-round",
        "n-tests", "q-smith", "q-ferguson", "t-smith", "n-consent", "p-burns", "s-round",
        "n-hall", "q-burns", "t-burns", "s-plenary", "d1-note",
    ]  # fmt: skip
    assert [event_of(i) for i in ids] == expected


def test_titles_are_human(sample: Invoke, publish: Callable[..., Result], folder: Path) -> None:
    publish()
    for name in ("live.atom", "live.rss", "live.json"):
        titles = {
            event_of(k): v
            for k, v in feed_titles((folder / name).read_bytes(), kind_of(folder / name)).items()
        }
        assert titles["q-burns"] == "Quote — Andy Burns"
        assert titles["q-ferguson"] == "Quote — Martin Ferguson"  # the corrected speaker
        assert titles["t-burns"] == "Talk: Sharing services, sharing risk — Andy Burns"
        assert titles["t-smith"] == "Talk: Cloud first? Not yet — Bea Smith"
        assert titles["s-plenary"] == "Plenary: Opening plenary"
        assert titles["s-round"] == "Roundtable: Data sharing across boundaries"
        assert titles["s-keynote"] == "Keynote: Closing keynote"
        assert titles["n-consent"] == "Note — Consensus that consent models need to be simpler."
        assert titles["p-burns"] == "Photo — Andy Burns on the main stage, Hall 1"
        assert titles["p-round"] == "Photo — Round the table in Room 2"
        long_note = titles["n-hall"]
        assert long_note.startswith("Note — Around 400 delegates in the hall;")
        assert len(long_note) <= len("Note — ") + 60


def test_content_is_html_with_user_text_escaped(
    sample: Invoke, publish: Callable[..., Result], folder: Path
) -> None:
    publish()
    for name in ("live.atom", "live.rss", "live.json"):
        contents = {
            event_of(k): v
            for k, v in feed_contents((folder / name).read_bytes(), kind_of(folder / name)).items()
        }
        tests = contents["n-tests"]
        assert "&lt;exit&gt;" in tests
        assert "<exit>" not in tests
        assert tests.startswith("<p>Smith")  # two paragraphs of HTML
        assert tests.count("<p>") == 2
        assert contents["q-burns"] == (
            "<blockquote><p>We cannot afford to do this alone any more.</p>"
            "<footer>— Andy Burns</footer></blockquote>"
        )
        assert '<img src="https://photos.example.org/socitm-2011/burns.jpg"' in contents["p-burns"]
        assert "Andy Burns on the main stage, Hall 1" in contents["p-burns"]
        assert "Warwickshire County Council" in contents["t-burns"]
    atom = atom_by_id((folder / "live.atom").read_bytes())
    assert {e["content_type"] for e in atom.values()} == {"html"}
    feed = json.loads((folder / "live.json").read_bytes())
    text = {event_of(i["id"]): i["content_text"] for i in feed["items"]}
    assert "<exit>" in text["n-tests"]  # plain text stays plain


def test_entries_carry_author_published_and_updated(
    sample: Invoke, publish: Callable[..., Result], folder: Path
) -> None:
    publish()
    entries = {event_of(k): v for k, v in atom_by_id((folder / "live.atom").read_bytes()).items()}
    assert entries["n-consent"]["authors"] == ["bob"]
    assert entries["q-burns"]["authors"] == ["ann"]
    # Uncorrected: updated is when it happened.
    assert entries["q-burns"]["published"] == "2011-06-09T09:10:00+01:00"
    assert entries["q-burns"]["updated"] == "2011-06-09T09:10:00+01:00"
    # Corrected: published stays, updated is the last correction.
    assert entries["q-smith"]["published"] == "2011-06-09T09:40:00+01:00"
    assert entries["q-smith"]["updated"] == "2011-06-09T09:42:00+01:00"
    assert "contract." in entries["q-smith"]["content"]
    assert entries["p-burns"]["updated"] == "2011-06-09T09:20:00+01:00"
    feed = json.loads((folder / "live.json").read_bytes())
    items = {event_of(i["id"]): i for i in feed["items"]}
    assert items["q-smith"]["date_published"] == "2011-06-09T09:40:00+01:00"
    assert items["q-smith"]["date_modified"] == "2011-06-09T09:42:00+01:00"
    assert items["n-consent"]["authors"] == [{"name": "bob"}]
    assert items["p-burns"]["image"] == "https://photos.example.org/socitm-2011/burns.jpg"
    rss = {event_of(str(i["guid"])): i for i in rss_items((folder / "live.rss").read_bytes())}
    # RSS has one date: the first publication, as Atom's published (not the correction).
    assert rss["q-smith"]["pubDate"] == "Thu, 09 Jun 2011 09:40:00 +0100"
    channel = rss_channel((folder / "live.rss").read_bytes())
    creators = {
        event_of(item.findtext("guid")): item.findtext(f"{{{DC_NS}}}creator")
        for item in channel.findall("item")
    }
    assert creators["n-consent"] == "bob"


def test_entry_ids_derive_from_event_ids(
    sample: Invoke, publish: Callable[..., Result], folder: Path
) -> None:
    publish()
    ids = feed_ids((folder / "live.atom").read_bytes(), "atom")
    assert sorted(ids) == sorted(entry_id(e) for e in SAMPLE_ENTRIES if e not in RETRACTED)
    guids = rss_channel((folder / "live.rss").read_bytes()).findall("item/guid")
    assert {g.get("isPermaLink") for g in guids} == {"false"}


def test_a_correction_keeps_the_id_and_advances_updated(
    sample: Invoke, publish: Callable[..., Result], folder: Path
) -> None:
    publish("--page-size", "3")
    before = {name: (folder / name).read_bytes() for name in ("live.atom", "live.rss", "live.json")}
    old = atom_by_id(before["live.atom"])[entry_id("q-patel")]
    run_ok(
        sample, "correct", "q-patel", "Digital is how we work now.",
        "--at", "2011-06-10T09:20:00+01:00",
    )  # fmt: skip
    changed = {p.name for p in changed_paths(publish("--page-size", "3"))}
    assert {"live.atom", "live.rss", "live.json"} <= changed
    data = (folder / "live.atom").read_bytes()
    new = atom_by_id(data)[entry_id("q-patel")]
    assert new["published"] == old["published"] == "2011-06-09T11:20:00+01:00"
    assert old["updated"] == "2011-06-09T11:20:00+01:00"
    assert new["updated"] == "2011-06-10T09:20:00+01:00"
    assert "Digital is how we work now." in str(new["content"])
    assert feed_ids(data, "atom")[0] == entry_id("q-patel")  # the newest change leads
    assert instant(xml(data).findtext(f"{{{ATOM_NS}}}updated")) == instant(new["updated"])
    assert entry_id("q-patel") in feed_ids(before["live.json"], "json")
    assert feed_ids((folder / "live.json").read_bytes(), "json")[0] == entry_id("q-patel")
    # RSS: the item keeps its place and its pubDate (its first publication); the new
    # text is there.
    rss = (folder / "live.rss").read_bytes()
    assert feed_ids(rss, "rss") == feed_ids(before["live.rss"], "rss")
    item = {event_of(str(i["guid"])): i for i in rss_items(rss)}["q-patel"]
    assert item["pubDate"] == "Thu, 09 Jun 2011 11:20:00 +0100"
    assert "Digital is how we work now." in str(item["description"])
    feed = json.loads((folder / "live.json").read_bytes())
    assert feed["items"][0]["date_modified"] == "2011-06-10T09:20:00+01:00"
    assert feed["items"][0]["date_published"] == "2011-06-09T11:20:00+01:00"
    assert validate(folder) == []


def test_correcting_an_archived_entry_brings_it_back_to_live_with_its_id(
    sample: Invoke, publish: Callable[..., Result], folder: Path
) -> None:
    publish("--page-size", "3")
    assert entry_id("q-burns") not in feed_ids((folder / "live.atom").read_bytes(), "atom")
    archive_2 = (folder / "archive" / "2.atom").read_bytes()
    assert entry_id("q-burns") in feed_ids(archive_2, "atom")
    run_ok(
        sample, "correct", "q-burns", "We cannot afford to go it alone.",
        "--at", "2011-06-10T09:30:00+01:00",
    )  # fmt: skip
    publish("--page-size", "3")
    live = atom_entries((folder / "live.atom").read_bytes())
    assert live[0]["id"] == entry_id("q-burns")
    assert live[0]["updated"] == "2011-06-10T09:30:00+01:00"
    assert live[0]["published"] == "2011-06-09T09:10:00+01:00"
    assert (folder / "archive" / "2.atom").read_bytes() == archive_2
    assert validate(folder) == []


def test_a_retraction_leaves_a_tombstone(
    sample: Invoke, publish: Callable[..., Result], folder: Path
) -> None:
    publish()
    for name in ("live.atom", "live.rss", "live.json"):
        data = (folder / name).read_bytes()
        assert entry_id("n-demo") not in feed_ids(data, kind_of(folder / name)), name
        if name == "live.json":
            # Named only in the live page's extension: what its polling takes down.
            feed = json.loads(data)
            assert "n-demo" in feed["_liveblog"]["retracted"]
            del feed["_liveblog"]
            data = json.dumps(feed).encode()
        assert b"n-demo" not in data or name == "live.atom", name
    stones = atom_tombstones((folder / "live.atom").read_bytes())
    assert stones == [
        {
            "ref": entry_id("n-demo"),
            "when": "2011-06-09T10:22:00+01:00",
            "by": "ann",
            "comment": "The demo was cancelled.",
        }
    ]


def test_retracting_after_publishing_replaces_the_entry_by_a_tombstone(
    sample: Invoke, publish: Callable[..., Result], folder: Path
) -> None:
    publish()
    feeds = ("live.atom", "live.rss", "live.json")
    was = {name: feed_ids((folder / name).read_bytes(), kind_of(folder / name)) for name in feeds}
    assert entry_id("q-patel") in was["live.atom"]
    run_ok(
        sample, "retract", "q-patel", "--reason", "Not said <on stage>.",
        "--at", "2011-06-10T09:40:00+01:00",
    )  # fmt: skip
    changed = {p.name for p in changed_paths(publish())}
    assert {"live.atom", "live.rss", "live.json"} <= changed
    for name in feeds:
        ids = feed_ids((folder / name).read_bytes(), kind_of(folder / name))
        assert ids == [i for i in was[name] if i != entry_id("q-patel")], name
    data = (folder / "live.atom").read_bytes()
    stones = atom_tombstones(data)
    assert stones[0] == {
        "ref": entry_id("q-patel"),
        "when": "2011-06-10T09:40:00+01:00",
        "by": "ann",
        "comment": "Not said <on stage>.",
    }
    assert [s["ref"] for s in stones] == [entry_id("q-patel"), entry_id("n-demo")]
    assert instant(xml(data).findtext(f"{{{ATOM_NS}}}updated")) == instant(stones[0]["when"])
    assert validate(folder) == []


# -- archives (RFC 5005) ---------------------------------------------------------------


def test_archives_are_linked_prev_next_current(
    sample: Invoke, publish: Callable[..., Result], folder: Path
) -> None:
    publish("--page-size", "3")
    archive = folder / "archive"
    assert sorted(p.name for p in archive.iterdir() if not p.name.startswith(".")) == [
        f"{n}.atom" for n in range(1, ARCHIVES_AT_3 + 1)
    ]
    for n in range(1, ARCHIVES_AT_3 + 1):
        data = (archive / f"{n}.atom").read_bytes()
        assert check_atom(data, archive=True) == [], n
        assert rels(data, "self") == [f"{BASE}/archive/{n}.atom"]
        assert rels(data, "current") == [f"{BASE}/live.atom"]
        assert rels(data, "prev-archive") == ([f"{BASE}/archive/{n - 1}.atom"] if n > 1 else [])
        expected_next = [f"{BASE}/archive/{n + 1}.atom"] if n < ARCHIVES_AT_3 else []
        assert rels(data, "next-archive") == expected_next
        assert rels(data, "alternate") == [SITE]
        block = SAMPLE_ENTRIES[3 * (n - 1) : 3 * n]
        assert feed_ids(data, "atom") == [entry_id(e) for e in reversed(block)]
        assert xml(data).findtext(f"{{{ATOM_NS}}}id") == f"{TAG}/archive/{n}"
    live = (folder / "live.atom").read_bytes()
    assert check_atom(live) == []
    assert rels(live, "prev-archive") == [f"{BASE}/archive/{ARCHIVES_AT_3}.atom"]
    assert rels(live, "next-archive") == []
    assert b"<fh:archive" not in live


def test_archives_show_entries_as_they_stood_when_the_block_closed(
    sample: Invoke, publish: Callable[..., Result], folder: Path
) -> None:
    """Archive 2 closed when s-round was posted: p-burns's later correction is not in it;
    archive 5 closed before n-demo was retracted, so n-demo is still an entry there."""
    publish("--page-size", "3")
    two = atom_by_id((folder / "archive" / "2.atom").read_bytes())
    assert two[entry_id("p-burns")]["title"] == "Photo — Andy Burns on stage"
    assert two[entry_id("p-burns")]["updated"] == "2011-06-09T09:14:00+01:00"
    five = (folder / "archive" / "5.atom").read_bytes()
    assert entry_id("n-demo") in feed_ids(five, "atom")
    assert atom_tombstones(five) == []
    four = atom_by_id((folder / "archive" / "4.atom").read_bytes())
    # q-ferguson and q-smith were corrected before block 4 closed (at p-round).
    assert four[entry_id("q-ferguson")]["title"] == "Quote — Martin Ferguson"
    assert four[entry_id("q-smith")]["updated"] == "2011-06-09T09:42:00+01:00"


def test_an_entry_retracted_before_its_block_closed_is_a_tombstone_in_the_archive(
    invoke: Invoke, publish: Callable[..., Result], feeds: Path
) -> None:
    lines = notes_log(3)
    extra = [
        {"id": "fix-1", "type": "entry.corrected", "data": {"target": "many-n1", "text": "one!"}},
        {"id": "gone-2", "type": "entry.retracted",
         "data": {"target": "many-n2", "reason": "Wrong room."}},
        {"id": "many-n4", "type": "note.posted", "data": {"day": 1, "text": "note 4"}},
    ]  # fmt: skip
    for i, event in enumerate(extra):
        event.update(conference="many", author="bob", occurred_at=f"2012-03-01T10:0{i}:00+00:00")
    import_lines(invoke, lines + [json.dumps(e) + "\n" for e in extra])
    publish("--page-size", "3")
    data = (feeds / "many" / "archive" / "1.atom").read_bytes()
    assert check_atom(data, archive=True) == []
    tag = "tag:liveblog,2012-03-01:many/entry"
    # n1 was corrected (10:00) after n3 was posted (09:02): last updated first.
    assert feed_ids(data, "atom") == [f"{tag}/many-n1", f"{tag}/many-n3"]
    one = atom_by_id(data)[f"{tag}/many-n1"]
    assert one["updated"] == "2012-03-01T10:00:00+00:00"
    assert "one!" in str(one["content"])
    assert atom_tombstones(data) == [
        {"ref": f"{tag}/many-n2", "when": "2012-03-01T10:01:00+00:00", "by": "bob",
         "comment": "Wrong room."}
    ]  # fmt: skip


def test_a_full_archive_never_changes(
    invoke: Invoke, publish: Callable[..., Result], folder: Path
) -> None:
    lines = sample_lines()
    import_lines(invoke, lines[:20])  # up to n-tests: blocks 1-3 are full and followed
    publish("--page-size", "3")
    archive = folder / "archive"
    first = {n: (archive / f"{n}.atom").read_bytes() for n in (1, 2, 3)}
    assert not (archive / "4.atom").exists()
    assert rels(first[3], "next-archive") == []
    # Everything after: more entries (archives 4-6), then corrections and retractions
    # of archived entries, published after every event.
    later = [*lines[20:]]
    later += [
        json.dumps({
            "id": f"late-{i}", "type": t, "conference": SLUG, "author": "ann",
            "occurred_at": f"2011-06-10T1{i}:00:00+01:00", "data": data,
        }) + "\n"
        for i, (t, data) in enumerate([
            ("entry.corrected", {"target": "d1-note", "text": "Queues past the car park."}),
            ("entry.corrected", {"target": "t-burns", "text": "Sharing services"}),
            ("entry.retracted", {"target": "n-hall", "reason": "Duplicate."}),
            ("entry.corrected", {"target": "q-smith", "speaker": "Bea Smyth"}),
        ])
    ]  # fmt: skip
    for line in later:
        import_lines(invoke, [line])
        publish("--page-size", "3")
        for n in (1, 2):
            assert (archive / f"{n}.atom").read_bytes() == first[n], (n, line)
    # Archive 3 gained its next-archive link when archive 4 began, and nothing else.
    three = (archive / "3.atom").read_bytes()
    assert rels(three, "next-archive") == [f"{BASE}/archive/4.atom"]
    assert atom_entries(three) == atom_entries(first[3])
    assert atom_tombstones(three) == atom_tombstones(first[3])
    assert without_next_archive(three) == without_next_archive(first[3])
    assert validate(folder) == []


def without_next_archive(data: bytes) -> bytes:
    """The document, canonicalized, without its next-archive link."""
    root = xml(data)
    for link in root.findall(f"{{{ATOM_NS}}}link"):
        if link.get("rel") == "next-archive":
            root.remove(link)
    canonical: bytes = etree.tostring(root, method="c14n")
    return canonical


def test_entry_ids_are_stable_across_documents_and_publishes(
    invoke: Invoke, publish: Callable[..., Result], folder: Path
) -> None:
    """Whatever document an entry is in, whenever published, its id is the same and no
    two events ever share one."""
    seen: dict[str, str] = {}  # feed id -> event id
    for line in sample_lines():
        import_lines(invoke, [line])
        publish("--page-size", "3")
        for path in feed_files(folder):
            if path.name.startswith("reflections"):
                continue
            for feed_id in feed_ids(path.read_bytes(), kind_of(path)):
                event = event_of(feed_id)
                assert seen.setdefault(feed_id, event) == event
                assert feed_id == entry_id(event)
    assert sorted(seen.values()) == sorted(SAMPLE_ENTRIES)


def test_every_entry_stays_reachable_from_live_or_an_archive(
    invoke: Invoke, publish: Callable[..., Result], feeds: Path
) -> None:
    """RFC 5005 §4: the live document and the archives together hold every entry.
    Corrections of archived entries must not push unarchived entries out of sight."""
    lines = notes_log(5)
    fixes = [
        {"id": f"fix-{n}", "type": "entry.corrected", "conference": "many", "author": "ann",
         "occurred_at": f"2012-03-01T10:0{n}:00+00:00",
         "data": {"target": f"many-n{n}", "text": f"note {n}, corrected"}}
        for n in (1, 2)
    ]  # fmt: skip
    import_lines(invoke, lines + [json.dumps(e) + "\n" for e in fixes])
    publish("--page-size", "3")
    folder = feeds / "many"
    reachable = {
        event_of_any(i)
        for path in feed_files(folder)
        if path.suffix == ".atom" and not path.name.startswith("reflections")
        for i in feed_ids(path.read_bytes(), "atom")
    }
    assert reachable == {f"many-n{n}" for n in range(1, 6)}


# -- closing a conference ---------------------------------------------------------------


@pytest.mark.parametrize("publish_between", [False, True])
def test_a_closed_conference_json_feeds_say_expired(
    sample: Invoke, publish: Callable[..., Result], folder: Path, publish_between: bool
) -> None:
    publish()
    for name in ("live.json", "reflections.json"):
        assert json.loads((folder / name).read_bytes()).get("expired", False) is False
    run_ok(sample, "day", "close", "--at", "2011-06-10T17:00:00+01:00")
    if publish_between:  # every day closed and published before the conference closes
        publish()
    run_ok(sample, "conference", "close", "--at", "2011-06-10T17:30:00+01:00")
    publish()
    for name in ("live.json", "reflections.json"):
        assert json.loads((folder / name).read_bytes()).get("expired") is True, name
    assert validate(folder) == []


# -- reflections --------------------------------------------------------------------------


def test_reflections_have_one_entry_per_closed_day(
    sample: Invoke, publish: Callable[..., Result], folder: Path
) -> None:
    publish()
    data = (folder / "reflections.atom").read_bytes()
    entries = atom_entries(data)
    assert [e["id"] for e in entries] == [f"{TAG}/day-2", f"{TAG}/day-1"]  # day 3 is open
    day2 = entries[0]
    assert day2["title"] == "SOCITM 2011 – Day 2 Reflections"
    assert day2["published"] == "2011-06-09T17:00:00+01:00"
    assert day2["updated"] == "2011-06-09T17:00:00+01:00"
    assert day2["content_type"] == "html"
    html = str(day2["content"])
    assert "We cannot afford to do this alone any more." in html
    assert "<h2>Opening plenary</h2>" in html
    assert "The demo was cancelled" not in html and "bin-collection" not in html
    assert "&lt;exit&gt;" in html
    assert [x["href"] for x in day2["links"] if x["rel"] == "alternate"] == [f"{SITE}/day-2.html"]
    assert xml(data).findtext(f"{{{ATOM_NS}}}id") == f"{TAG}/reflections"
    feed = json.loads((folder / "reflections.json").read_bytes())
    assert [i["id"] for i in feed["items"]] == [f"{TAG}/day-2", f"{TAG}/day-1"]
    assert len(rss_items((folder / "reflections.rss").read_bytes())) == 2
    run_ok(sample, "day", "close", "--at", "2011-06-10T17:00:00+01:00")
    publish()
    ids = feed_ids((folder / "reflections.atom").read_bytes(), "atom")
    assert ids == [f"{TAG}/day-3", f"{TAG}/day-2", f"{TAG}/day-1"]


def test_a_correction_updates_its_days_reflection_in_place(
    sample: Invoke, publish: Callable[..., Result], folder: Path
) -> None:
    publish()
    before = atom_by_id((folder / "reflections.atom").read_bytes())
    run_ok(
        sample, "correct", "q-jones", "Ship small; ship often.",
        "--at", "2011-06-10T10:00:00+01:00",
    )  # fmt: skip
    changed = {p.name for p in changed_paths(publish())}
    assert {"reflections.atom", "reflections.rss", "reflections.json", "day-2.html"} <= changed
    assert "day-1.html" not in changed
    after = atom_by_id((folder / "reflections.atom").read_bytes())
    assert list(after) == list(before)  # same ids, same order
    day2 = after[f"{TAG}/day-2"]
    assert day2["published"] == before[f"{TAG}/day-2"]["published"]
    assert day2["updated"] == "2011-06-10T10:00:00+01:00"
    assert "Ship small; ship often." in str(day2["content"])
    assert after[f"{TAG}/day-1"] == before[f"{TAG}/day-1"]
    feed = json.loads((folder / "reflections.json").read_bytes())
    assert feed["items"][0]["date_modified"] == "2011-06-10T10:00:00+01:00"
    assert validate(folder) == []


def test_reflections_stay_newest_first_after_correcting_an_earlier_day(
    sample: Invoke, publish: Callable[..., Result], folder: Path
) -> None:
    """A reflections document is ordered and dated consistently: after a correction to
    day 1, the entries' dates (Atom updated, RSS pubDate, JSON date_modified) still read
    newest first in document order."""
    run_ok(sample, "correct", "d1-note", "Queues!", "--at", "2011-06-10T09:30:00+01:00")
    publish()
    for name in ("reflections.atom", "reflections.rss", "reflections.json"):
        data = (folder / name).read_bytes()
        assert check_feed(data, kind_of(folder / name)) == [], name
        assert check_feed_dates_order(data, kind_of(folder / name)) == [], name


# -- pages --------------------------------------------------------------------------------


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.head_links: list[dict[str, str | None]] = []
        self.anchors: list[str] = []
        self.ids: set[str] = set()
        self.lang: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if found.get("id"):
            self.ids.add(str(found["id"]))
        if tag == "html":
            self.lang = found.get("lang")
        if tag == "link":
            self.head_links.append(found)
        if tag == "a" and found.get("href"):
            self.anchors.append(str(found["href"]))


def parse_html(data: bytes) -> _Links:
    parser = _Links()
    parser.feed(data.decode("utf-8"))
    parser.close()
    return parser


def test_day_pages_come_from_the_summary(
    sample: Invoke, publish: Callable[..., Result], folder: Path
) -> None:
    publish()
    assert sorted(p.name for p in folder.glob("day-*.html")) == [
        "day-1.html", "day-2.html", "day-3.html"
    ]  # fmt: skip
    page = (folder / "day-2.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert "SOCITM 2011 – Day 2 Reflections" in page
    assert page == (GOLDEN / "day-2.html").read_text(encoding="utf-8")
    # Every live entry's link points at its anchor on the live page.
    index = parse_html((folder / "index.html").read_bytes())
    for entry in atom_entries((folder / "live.atom").read_bytes()):
        (href,) = [x["href"] for x in entry["links"] if x["rel"] == "alternate"]
        assert href == f"{SITE}/index.html#entry-{event_of(entry['id'])}"
        assert href.split("#")[1] in index.ids, href


def test_index_links_every_feed_with_autodiscovery(
    sample: Invoke, publish: Callable[..., Result], folder: Path
) -> None:
    publish()
    index = parse_html((folder / "index.html").read_bytes())
    assert index.lang == "en"
    alternates = {
        (link["type"], link["href"])
        for link in index.head_links
        if link.get("rel") == "alternate" and link.get("type") in MEDIA_TYPES.values()
    }
    assert alternates == {(MEDIA_TYPES[kind_of(Path(n))], n) for n in FEEDS}
    for _, href in alternates:
        assert href is not None and (folder / href).is_file()
    for link in index.head_links:
        if link.get("rel") == "alternate":
            assert link.get("title"), link
    assert {f"day-{n}.html" for n in (1, 2, 3)} <= set(index.anchors)
    for href in index.anchors:
        if href.startswith("#"):  # an anchor on the page itself (a day, an entry)
            assert href[1:] in index.ids, href
        elif "://" not in href:  # the entries' own links go elsewhere
            assert (folder / href.split("#")[0]).is_file(), href


# -- links, author, language --------------------------------------------------------------


def site_and_self(path: Path) -> tuple[list[str], list[str]]:
    """(site links, self links) of one feed document."""
    data = path.read_bytes()
    if path.suffix == ".atom":
        site = [href for rel, href in atom_links(data) if rel == "alternate"]
        return site, rels(data, "self")
    if path.suffix == ".rss":
        channel = rss_channel(data)
        return [str(el.text) for el in channel.findall("link")], rss_self_links(data)
    feed = json.loads(data)
    return [feed["home_page_url"]], [feed["feed_url"]]


def test_every_feed_has_one_self_link_and_the_site_link(
    sample: Invoke, publish: Callable[..., Result], folder: Path
) -> None:
    publish("--page-size", "3")
    for path in feed_files(folder):
        site, self_links = site_and_self(path)
        url = f"{BASE}/{path.relative_to(folder).as_posix()}"
        assert self_links == [url], path.name
        assert site == [SITE], path.name
        assert url not in site


def test_without_a_conference_url_the_site_link_is_the_index(
    invoke: Invoke, publish: Callable[..., Result], feeds: Path
) -> None:
    import_lines(invoke, notes_log(4))
    publish("--page-size", "3")
    folder = feeds / "many"
    for path in feed_files(folder):
        site, self_links = site_and_self(path)
        assert site == [f"{FEEDS_URL}/many/index.html"], path.name
        assert self_links == [f"{FEEDS_URL}/many/{path.relative_to(folder).as_posix()}"]
        assert self_links[0] not in site
    assert validate(folder) == []


@pytest.mark.parametrize("name", FEEDS)
def test_every_feed_names_an_author_and_a_language(
    sample: Invoke, publish: Callable[..., Result], folder: Path, name: str
) -> None:
    publish()
    data = (folder / name).read_bytes()
    expected = "SOCITM 2011 live blog"
    if name.endswith(".atom"):
        root = xml(data)
        assert root.get(XML_LANG) == "en"
        assert root.findtext(f"{{{ATOM_NS}}}author/{{{ATOM_NS}}}name") == expected
    elif name.endswith(".rss"):
        channel = rss_channel(data)
        assert channel.findtext("language") == "en"
        # RSS's managingEditor must be an e-mail address; dc:creator names a person.
        authors = [channel.findtext("managingEditor"), channel.findtext(f"{{{DC_NS}}}creator")]
        assert expected in authors, "the RSS channel names no author"
    else:
        feed = json.loads(data)
        assert feed["language"] == "en"
        assert feed["authors"] == [{"name": expected}]


# -- the WebSub hub -------------------------------------------------------------------------


@dataclass
class Hub:
    url: str
    pings: list[dict[str, list[str]]] = field(default_factory=list)
    content_types: list[str] = field(default_factory=list)

    def urls(self) -> list[str]:
        return [u for ping in self.pings for u in ping.get("hub.url", [])]

    def clear(self) -> None:
        self.pings.clear()
        self.content_types.clear()


@pytest.fixture
def hub() -> Iterator[Hub]:
    """A WebSub hub on 127.0.0.1 that records the publish pings it is sent."""
    record: Hub | None = None

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode("utf-8")
            assert record is not None
            record.pings.append(parse_qs(body))
            record.content_types.append(self.headers.get("Content-Type", ""))
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    record = Hub(f"http://127.0.0.1:{server.server_address[1]}/")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield record
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def hub_links(path: Path) -> list[str]:
    data = path.read_bytes()
    if path.suffix == ".atom":
        return rels(data, "hub")
    if path.suffix == ".rss":
        return [
            link.get("href")
            for link in rss_channel(data).findall(f"{{{ATOM_NS}}}link")
            if link.get("rel") == "hub"
        ]
    return [h["url"] for h in json.loads(data).get("hubs", []) if h.get("type") == "WebSub"]


def test_the_hub_is_linked_and_pinged_for_every_changed_feed(
    sample: Invoke, publish: Callable[..., Result], folder: Path, hub: Hub
) -> None:
    result = publish("--hub", hub.url)
    assert "Warning" not in result.stderr
    for name in FEEDS:
        assert hub_links(folder / name) == [hub.url], name
    assert validate(folder) == []
    assert all(ping["hub.mode"] == ["publish"] for ping in hub.pings)
    assert sorted(hub.urls()) == sorted(f"{BASE}/{name}" for name in FEEDS)
    assert set(hub.content_types) == {"application/x-www-form-urlencoded"}
    # Nothing changed: nothing to ping.
    hub.clear()
    publish("--hub", hub.url)
    assert hub.pings == []
    # A new note changes only the live feeds (day 3 is open: no reflection changes).
    run_ok(sample, "note", "Lunch is served.", "--at", "2011-06-10T12:00:00+01:00")
    changed = {p.name for p in changed_paths(publish("--hub", hub.url))}
    assert sorted(hub.urls()) == sorted(f"{BASE}/live.{ext}" for ext in ("atom", "rss", "json"))
    assert {u.rsplit("/", 1)[1] for u in hub.urls()} <= changed


@pytest.mark.parametrize("option", ["--hub", "--feeds-url"])
def test_a_changed_option_gives_the_bytes_of_a_fresh_publish(
    sample: Invoke,
    publish: Callable[..., Result],
    feeds: Path,
    tmp_path: Path,
    hub: Hub,
    option: str,
) -> None:
    """Publish options show in the documents (hub links, self links): after a change,
    every document says what a fresh publish with the new options says."""
    publish()
    value = hub.url if option == "--hub" else "https://moved.example.org/feeds"
    publish(option, value)  # the last --feeds-url given wins
    publish(option, value, to=tmp_path / "fresh")
    assert differing(snapshot(feeds), snapshot(tmp_path / "fresh")) == []


def test_an_unreachable_hub_only_warns(sample: Invoke, feeds: Path, folder: Path) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = sample(
        "--feeds", str(feeds), "publish", "--feeds-url", FEEDS_URL,
        "--hub", f"http://127.0.0.1:{port}/",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Warning:" in result.stderr
    assert "Traceback" not in result.output
    assert (folder / "live.atom").is_file()
    assert hub_links(folder / "live.atom") == [f"http://127.0.0.1:{port}/"]
    assert validate(folder) == []


# -- determinism, changed files, atomic writes ------------------------------------------


def test_publishing_twice_changes_nothing(
    sample: Invoke, publish: Callable[..., Result], feeds: Path
) -> None:
    publish("--page-size", "3")
    before = snapshot(feeds)
    mtimes = {p: p.stat().st_mtime_ns for p in feeds.rglob("*") if p.is_file()}
    again = publish("--page-size", "3")
    assert again.stdout == ""
    assert "no changes" in again.stderr
    assert differing(snapshot(feeds), before) == []
    assert {p: p.stat().st_mtime_ns for p in feeds.rglob("*") if p.is_file()} == mtimes


@pytest.mark.parametrize("lost", ["feeds", "state"])
def test_a_fresh_publish_gives_the_same_bytes(
    sample: Invoke, publish: Callable[..., Result], feeds: Path, folder: Path, lost: str
) -> None:
    run_ok(sample, "correct", "d1-note", "Queues!", "--at", "2011-06-10T09:30:00+01:00")
    publish("--page-size", "3")
    before = snapshot(feeds)
    if lost == "feeds":
        shutil.rmtree(feeds)
        publish("--page-size", "3")
        assert differing(snapshot(feeds), before) == []
    else:  # the state cache is disposable: without it nothing changes
        (folder / ".state.json").unlink()
        again = publish("--page-size", "3")
        assert differing(snapshot(feeds), before) == []
        assert again.stdout == "", "files rewritten though their bytes end up the same"


def test_publishing_along_the_way_gives_the_same_bytes_as_publishing_once(
    invoke: Invoke, publish: Callable[..., Result], tmp_path: Path, feeds: Path
) -> None:
    """After every event of the sample (archives written as blocks fill, day pages and
    reflections as days change), the end result is what one publish of the log gives."""
    for line in sample_lines():
        import_lines(invoke, [line])
        publish("--page-size", "3")
    once = tmp_path / "once"
    publish("--page-size", "3", to=once)
    assert differing(snapshot(feeds), snapshot(once)) == []
    assert validate(feeds / SLUG) == []


def test_publish_lists_each_changed_file_once(
    sample: Invoke, publish: Callable[..., Result], feeds: Path
) -> None:
    """Six archives written in one publish: each is listed once, and each is written
    once, with its final bytes (its next-archive link included)."""
    listed = changed_paths(publish("--page-size", "3"))
    assert len(listed) == len(set(listed)), [str(p) for p in listed]


def test_publish_lists_exactly_the_files_that_changed(
    sample: Invoke, publish: Callable[..., Result], feeds: Path, folder: Path
) -> None:
    first = changed_paths(publish("--page-size", "3"))
    assert {p.resolve() for p in first} == {(feeds / name).resolve() for name in snapshot(feeds)}
    # Age every file, then change the log a little.
    old = 1_000_000_000
    for path in feeds.rglob("*"):
        if path.is_file():
            os.utime(path, (old, old))
    before = snapshot(feeds)
    run_ok(sample, "note", "Lunch is served.", "--at", "2011-06-10T12:00:00+01:00")
    listed = changed_paths(publish("--page-size", "3"))
    after = snapshot(feeds)
    changed = {name for name in after if before.get(name) != after[name]}
    assert changed >= {f"{SLUG}/live.atom", f"{SLUG}/day-3.html"}
    assert {p.resolve() for p in listed} == {(feeds / name).resolve() for name in changed}
    for name in after:
        mtime = (feeds / name).stat().st_mtime
        assert (mtime == old) == (name not in changed), name


def test_a_reader_holding_the_old_file_sees_it_whole(
    sample: Invoke, publish: Callable[..., Result], folder: Path
) -> None:
    """Files are replaced by rename: an open reader keeps the complete old bytes."""
    publish()
    path = folder / "live.atom"
    old = path.read_bytes()
    with path.open("rb") as reader:
        run_ok(sample, "note", "Lunch is served.", "--at", "2011-06-10T12:00:00+01:00")
        publish()
        assert reader.read() == old
    assert path.read_bytes() != old
    leftovers = [p.name for p in folder.rglob(".*") if p.name != ".state.json"]
    assert leftovers == []


def test_write_if_changed_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "feed.atom"
    assert write_if_changed(path, b"one") is True
    assert path.read_bytes() == b"one"
    os.utime(path, (1_000_000_000, 1_000_000_000))
    assert write_if_changed(path, b"one") is False
    assert path.stat().st_mtime == 1_000_000_000
    inode = path.stat().st_ino
    assert write_if_changed(path, b"two") is True
    assert path.read_bytes() == b"two"
    assert path.stat().st_ino != inode  # a new file renamed into place

    def broken(fd: int) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("liveblog.feeds.files.os.fsync", broken)
    with pytest.raises(OSError, match="disk full"):
        write_if_changed(path, b"three")
    assert path.read_bytes() == b"two"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["feed.atom"]


# -- ordering --------------------------------------------------------------------------------


def test_a_backdated_entry_keeps_the_live_feeds_newest_first(
    sample: Invoke, publish: Callable[..., Result], folder: Path
) -> None:
    """A reporter on poor wifi posts late, with --at the time it happened: the live
    documents must still be in date order (newest first), as they declare."""
    run_ok(sample, "note", "Lunch is served.", "--at", "2011-06-10T12:00:00+01:00")
    run_ok(sample, "note", "Coffee queue.", "--at", "2011-06-10T11:00:00+01:00")
    publish()
    for name in ("live.atom", "live.rss", "live.json"):
        data = (folder / name).read_bytes()
        assert check_feed_dates_order(data, kind_of(folder / name)) == [], name


# -- golden files -----------------------------------------------------------------------------


def test_the_sample_publishes_the_golden_files(
    sample: Invoke, publish: Callable[..., Result], feeds: Path
) -> None:
    publish("--page-size", "3")
    actual = snapshot(feeds)
    # The live page's script and stylesheet are the package's own files, copied: not
    # golden files (they change with every edit of the script).
    copies = [path for path in actual if Path(path).name in ASSETS]
    assert sorted(Path(path).name for path in copies) == sorted(ASSETS)
    for path in copies:
        assert actual.pop(path) == asset(Path(path).name), f"{path} is not the package's"
    if REGENERATE:
        shutil.rmtree(GOLDEN_FEEDS, ignore_errors=True)
        for name, data in actual.items():
            target = GOLDEN_FEEDS / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
    assert GOLDEN_FEEDS.is_dir(), f"{GOLDEN_FEEDS} is missing: run with LIVEBLOG_REGEN_GOLDEN=1"
    expected = snapshot(GOLDEN_FEEDS)
    assert sorted(actual) == sorted(expected)
    for name in expected:
        assert actual[name] == expected[name], f"{name} differs from the golden file"
