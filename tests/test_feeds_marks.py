"""Issue 14 in the feeds: entry links to the live page, RSS pubDate, titles written with
character references, and pins and key moments as categories (Atom and RSS).

Real files: the sample log imported into a real SQLite file, published by the CLI, read
back with our own checkers (tests/feedcheck) and with feedparser.
"""

from __future__ import annotations

import calendar
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import feedparser
import pytest
from click.testing import Result
from feedcheck import atom_entries, check_title_references, rss_items
from test_feeds import (
    FEEDS_URL,
    RETRACTED,
    SITE,
    SLUG,
    changed_paths,
    event_of,
    feed_ids,
    feeds,
    folder,
    import_lines,
    instant,
    kind_of,
    notes_log,
    parse_html,
    publish,
    run_ok,
    sample,
    snapshot,
    validate,
)

from liveblog.pages import sections

__all__ = ["feeds", "folder", "publish", "sample"]  # fixtures, used by name

Invoke = Callable[..., Result]
LIVE = ("live.atom", "live.rss", "live.json")
PAGE_NAMES = ("index.html", "day-1.html", "day-2.html", "day-3.html")


def mark(invoke: Invoke, id_: str, type_: str, at: str, data: dict[str, Any]) -> None:
    """Append one event of the sample conference (through `import`, as a client would)."""
    line = {
        "id": id_,
        "type": type_,
        "conference": SLUG,
        "occurred_at": f"2011-06-10T{at}:00+01:00",
        "author": "ann",
        "data": data,
    }
    import_lines(invoke, [json.dumps(line, ensure_ascii=False) + "\n"])


def atom_categories(data: bytes) -> dict[str, list[tuple[str | None, str | None]]]:
    return {event_of(str(e["id"])): e["categories"] for e in atom_entries(data)}


def rss_categories(data: bytes) -> dict[str, list[str]]:
    return {event_of(str(i["guid"])): i["categories"] for i in rss_items(data)}


def marked(folder: Path) -> dict[str, Any]:
    """What carries a category in the live Atom and RSS documents."""
    atom = atom_categories((folder / "live.atom").read_bytes())
    rss = rss_categories((folder / "live.rss").read_bytes())
    return {
        "atom": {k: v for k, v in atom.items() if v},
        "rss": {k: v for k, v in rss.items() if v},
    }


# -- entry links ---------------------------------------------------------------------------


def test_every_feed_links_each_entry_to_its_anchor_on_the_live_page(
    sample: Invoke, publish: Callable[..., Result], folder: Path
) -> None:
    publish()
    index = parse_html((folder / "index.html").read_bytes())
    atom = (folder / "live.atom").read_bytes()
    links = {
        "atom": {
            event_of(str(e["id"])): [x["href"] for x in e["links"] if x["rel"] == "alternate"]
            for e in atom_entries(atom)
        },
        "rss": {
            event_of(str(i["guid"])): [i["link"]]
            for i in rss_items((folder / "live.rss").read_bytes())
        },
        "json": {
            event_of(i["id"]): [i.get("url")]
            for i in json.loads((folder / "live.json").read_bytes())["items"]
        },
    }
    assert links["atom"].keys() == links["rss"].keys() == links["json"].keys()
    assert len(links["atom"]) > 10
    for kind, by_entry in links.items():
        for event_id, hrefs in by_entry.items():
            assert hrefs == [f"{SITE}/index.html#entry-{event_id}"], kind
            # The anchor is there: the live page holds every entry not retracted.
            assert f"entry-{event_id}" in index.ids, (kind, event_id)
    # A day's reflection entry still links its day page.
    reflections = atom_entries((folder / "reflections.atom").read_bytes())
    assert reflections
    for entry in reflections:
        day = str(entry["id"]).rsplit("/", 1)[1]
        assert [x["href"] for x in entry["links"] if x["rel"] == "alternate"] == [
            f"{SITE}/{day}.html"
        ]
    assert validate(folder) == []


def link_targets(folder: Path) -> dict[str, list[str]]:
    """Every entry link of every live and archive document (Atom, RSS, JSON Feed), by
    document."""
    out: dict[str, list[str]] = {}
    for path in [*(folder / n for n in LIVE), *sorted((folder / "archive").glob("*.atom"))]:
        data = path.read_bytes()
        kind = kind_of(path)
        if kind == "json":
            hrefs = [i["url"] for i in json.loads(data)["items"]]
        elif kind == "rss":
            hrefs = [str(i["link"]) for i in rss_items(data)]
        else:
            hrefs = [
                str(x["href"])
                for e in atom_entries(data)
                for x in e["links"]
                if x["rel"] == "alternate"
            ]
        out[path.relative_to(folder).as_posix()] = hrefs
    return out


def test_an_entry_past_the_live_pages_window_links_its_day_page(
    sample: Invoke,
    publish: Callable[..., Result],
    folder: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A live page that holds only the newest 4 entries (and the pinned one).
    monkeypatch.setattr(sections, "LIVE_PAGE_ENTRIES", 4)
    mark(sample, "pin-burns", "entry.pinned", "10:00", {"target": "q-burns"})
    publish("--page-size", "3")
    pages = {name: parse_html((folder / name).read_bytes()).ids for name in PAGE_NAMES}
    on_page = {i[len("entry-") :] for i in pages["index.html"] if i.startswith("entry-")}
    assert "q-burns" in on_page and len(on_page) == 5  # the newest 4 and the pinned one
    kinds_seen = set()
    for document, hrefs in link_targets(folder).items():
        assert hrefs, document
        for href in hrefs:
            page_url, anchor = href.split("#")
            assert page_url.startswith(f"{SITE}/"), href
            name = page_url[len(SITE) + 1 :]
            event_id = anchor.removeprefix("entry-").removeprefix("e-")
            # Every link's anchor is in the file it names; but an archive shows an entry
            # retracted since as it stood, and the entry is no longer anywhere.
            if event_id not in RETRACTED:
                assert anchor in pages[name], (document, href)
            if document.startswith("archive/"):
                # Archives always link the day page (written once, as entries stood).
                assert name.startswith("day-"), (document, href)
            else:
                assert (name == "index.html") == (event_id in on_page), (document, href)
            kinds_seen.add(name == "index.html")
    assert kinds_seen == {True, False}
    assert validate(folder) == []


def test_without_a_conference_url_links_go_under_the_feeds_url(
    invoke: Invoke, publish: Callable[..., Result], feeds: Path
) -> None:
    import_lines(invoke, notes_log(3))
    publish()
    folder = feeds / "many"
    for name in LIVE:
        data = (folder / name).read_bytes()
        if kind_of(folder / name) == "json":
            urls = [i["url"] for i in json.loads(data)["items"]]
        elif name.endswith(".rss"):
            urls = [i["link"] for i in rss_items(data)]
        else:
            urls = [
                x["href"] for e in atom_entries(data) for x in e["links"] if x["rel"] == "alternate"
            ]
        assert urls == [f"{FEEDS_URL}/many/index.html#entry-many-n{n}" for n in (3, 2, 1)], name


# -- RSS pubDate -----------------------------------------------------------------------------


def test_rss_pubdate_of_a_corrected_item_stays_its_first_publication(
    sample: Invoke, publish: Callable[..., Result], folder: Path
) -> None:
    publish()
    before = {i["guid"]: i for i in rss_items((folder / "live.rss").read_bytes())}
    run_ok(sample, "correct", "n-tests", "Three tests.", "--at", "2011-06-10T10:00:00+01:00")
    publish()
    data = (folder / "live.rss").read_bytes()
    after = {i["guid"]: i for i in rss_items(data)}
    atom = {e["id"]: e for e in atom_entries((folder / "live.atom").read_bytes())}
    guid = f"tag:liveblog,2011-06-08:{SLUG}/entry/n-tests"
    assert "Three tests." in str(after[guid]["description"])
    assert after[guid]["pubDate"] == before[guid]["pubDate"] == "Thu, 09 Jun 2011 09:45:00 +0100"
    assert atom[guid]["updated"] == "2011-06-10T10:00:00+01:00"
    # feedparser reads the same instant as Atom's published, for every item.
    parsed = feedparser.parse(data)
    assert not parsed.bozo
    for item in parsed.entries:
        published = instant(atom[item.id]["published"])
        assert calendar.timegm(item.published_parsed) == int(published.timestamp()), item.id
    # Items go by first publication, newest first: the order checks hold.
    assert validate(folder) == []


# -- titles with < and & -----------------------------------------------------------------


def test_titles_with_markup_characters_use_character_references(
    invoke: Invoke, publish: Callable[..., Result], feeds: Path
) -> None:
    lines = notes_log(0, slug="rd")
    opened = json.loads(lines[0])
    opened["data"]["title"] = "R&D <Live>"
    lines[0] = json.dumps(opened) + "\n"
    import_lines(invoke, lines)
    run_ok(invoke, "note", "Fish & chips <b>not bold</b>", "--conference", "rd")
    run_ok(
        invoke, "link", "https://example.org/?a=1&b=2", "--title", "AT&T <v2> &amp;",
        "--conference", "rd",
    )  # fmt: skip
    publish()
    folder = feeds / "rd"
    expected = {
        "R&D <Live> — live",
        "Note — Fish & chips <b>not bold</b>",
        "Link — AT&T <v2> &amp;",
    }
    for name in ("live.atom", "live.rss"):
        data = (folder / name).read_bytes()
        kind = kind_of(folder / name)
        assert check_title_references(data, kind) == [], name
        assert b"Fish &#38; chips &#60;b&gt;not bold&#60;/b&gt;" in data
        assert b"AT&#38;T &#60;v2&gt; &#38;amp;" in data
        parsed = feedparser.parse(data)
        assert not parsed.bozo, name
        # A feed reader shows each title as typed: no tag taken, no entity decoded twice.
        assert {parsed.feed.title, *(e.title for e in parsed.entries)} == expected, name
    feed = json.loads((folder / "live.json").read_bytes())
    assert {feed["title"], *(i["title"] for i in feed["items"])} == expected
    assert validate(folder) == []


# -- pins and key moments --------------------------------------------------------------------


def test_pins_and_key_moments_are_categories_in_atom_and_rss(
    sample: Invoke, publish: Callable[..., Result], folder: Path
) -> None:
    mark(sample, "h-smith", "entry.highlighted", "10:00",
         {"target": "q-smith", "label": "Cloud <contract> & risk"})  # fmt: skip
    mark(sample, "h-burns", "entry.highlighted", "10:01", {"target": "p-burns"})
    mark(sample, "pin-patel", "entry.pinned", "10:02", {"target": "q-patel"})
    publish()
    assert marked(folder) == {
        "atom": {
            "q-smith": [("key-moment", "Cloud <contract> & risk")],
            "p-burns": [("key-moment", "Key moment")],
            "q-patel": [("pinned", None)],
        },
        "rss": {"q-smith": ["key-moment"], "p-burns": ["key-moment"], "q-patel": ["pinned"]},
    }
    # Feed readers see them as tags.
    for name in ("live.atom", "live.rss"):
        parsed = feedparser.parse((folder / name).read_bytes())
        assert not parsed.bozo
        tags = {event_of(e.id): [t.term for t in e.get("tags", [])] for e in parsed.entries}
        assert {k: v for k, v in tags.items() if v} == {
            "q-smith": ["key-moment"],
            "p-burns": ["key-moment"],
            "q-patel": ["pinned"],
        }, name
    assert validate(folder) == []


def test_a_mark_republishes_the_item_and_the_incremental_publish_matches_a_full_one(
    sample: Invoke, publish: Callable[..., Result], folder: Path, tmp_path: Path
) -> None:
    publish("--page-size", "3")
    archives = {p.name: p.read_bytes() for p in (folder / "archive").glob("*.atom")}
    assert "q-burns" not in [
        event_of(i) for i in feed_ids((folder / "live.atom").read_bytes(), "atom")
    ]

    def step(*event: Any) -> set[str]:
        mark(sample, *event)
        changed = {p.name for p in changed_paths(publish("--page-size", "3"))}
        # What the incremental publish wrote is what a publish from nothing writes.
        fresh = tmp_path / f"fresh-{event[0]}"
        publish("--page-size", "3", to=fresh)
        assert snapshot(folder) == snapshot(fresh / SLUG), event[0]
        assert validate(folder) == [], event[0]
        return changed

    # Pinning an archived entry brings it back to the live documents, marked.
    assert {"live.atom", "live.rss", "live.json"} <= step(
        "pin-burns", "entry.pinned", "10:00", {"target": "q-burns"}
    )
    assert marked(folder) == {
        "atom": {"q-burns": [("pinned", None)]},
        "rss": {"q-burns": ["pinned"]},
    }
    # Archives show their entries as they stood: a mark never rewrites one.
    assert {p.name: p.read_bytes() for p in (folder / "archive").glob("*.atom")} == archives

    # Pinning another replaces it (one event unpins the first).
    step("pin-patel", "entry.pinned", "10:01", {"target": "q-patel"})
    assert marked(folder) == {
        "atom": {"q-patel": [("pinned", None)]},
        "rss": {"q-patel": ["pinned"]},
    }

    # A key moment on a live entry, then taken back.
    assert {"live.atom", "live.rss"} <= step(
        "h-d3", "entry.highlighted", "10:02", {"target": "d3-note", "label": "Fire drill"}
    )
    assert marked(folder)["atom"] == {
        "q-patel": [("pinned", None)],
        "d3-note": [("key-moment", "Fire drill")],
    }
    assert {"live.atom", "live.rss"} <= step(
        "uh-d3", "entry.unhighlighted", "10:03", {"target": "d3-note"}
    )
    assert marked(folder)["atom"] == {"q-patel": [("pinned", None)]}

    # Unpinned: no category left; retracted: no longer pinned nor a key moment.
    step("unpin", "entry.unpinned", "10:04", {"target": "q-patel"})
    assert marked(folder) == {"atom": {}, "rss": {}}
    step("h-patel", "entry.highlighted", "10:05", {"target": "q-patel"})
    assert marked(folder)["rss"] == {"q-patel": ["key-moment"]}
    step("r-patel", "entry.retracted", "10:06", {"target": "q-patel"})
    assert marked(folder) == {"atom": {}, "rss": {}}


# -- the day page ----------------------------------------------------------------------------


def test_the_day_page_shows_each_entrys_time_reporter_and_correction(
    invoke: Invoke, publish: Callable[..., Result], feeds: Path
) -> None:
    from lxml import html as lxml_html

    lines = notes_log(2, slug="ny")
    opened = json.loads(lines[0])
    opened["data"]["timezone"] = "America/New_York"
    lines[0] = json.dumps(opened) + "\n"
    import_lines(invoke, lines)  # notes at 09:02 and 09:03 UTC: 04:02 and 04:03 in New York
    run_ok(invoke, "correct", "ny-n1", "note one, fixed", "--at", "2012-03-01T09:30:00Z")
    run_ok(invoke, "note", "bob's", "--conference", "ny", "--at", "2012-03-01T15:45:00+00:00",
           author="bob")  # fmt: skip
    publish()
    page = lxml_html.fromstring((feeds / "ny" / "day-1.html").read_bytes())
    seen = {}
    for entry in page.xpath('//*[starts-with(@id, "e-")]'):
        (meta,) = entry.xpath('./p[@class="meta"]')
        (when, *corrected) = meta.xpath(".//time")
        seen[entry.get("id")] = (
            when.get("datetime"),
            when.text,
            meta.xpath('string(./span[@class="author"])'),
            [
                (t.get("datetime"), " ".join(t.getparent().text_content().split()))
                for t in corrected
            ],
        )
    assert seen == {
        "e-ny-n1": ("2012-03-01T09:02:00+00:00", "04:02", "ann",
                    [("2012-03-01T09:30:00+00:00", "corrected 04:30")]),
        "e-ny-n2": ("2012-03-01T09:03:00+00:00", "04:03", "ann", []),
        "e-" + seen_id(seen, "bob"): ("2012-03-01T15:45:00+00:00", "10:45", "bob", []),
    }  # fmt: skip


def seen_id(seen: dict[str, Any], author: str) -> str:
    """The event id of the one entry `author` posted (the CLI chose it)."""
    (key,) = [k for k, v in seen.items() if v[2] == author]
    return str(key)[2:]
