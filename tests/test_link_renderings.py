"""link.posted, as readers see it: the live feeds, archives, the day summary, the
reflections feeds and the day page.

Link events are written through `liveblog import` (the export format, so the log's own
append), on top of the fixed sample log: every id and time is known in advance.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import feedparser
import pytest
from click.testing import Result
from feedcheck import atom_tombstones, check_atom, check_feed, check_feed_dates_order

Invoke = Callable[..., Result]

GOLDEN = Path(__file__).parent / "golden"
SAMPLE = GOLDEN / "sample-day.jsonl"
SLUG = "socitm-2011"
FEEDS_URL = "https://feeds.example.org/feeds"
TAG = f"tag:liveblog,2011-06-08:{SLUG}"
KINDS = {".atom": "atom", ".rss": "rss", ".json": "json"}

SLIDES = "https://example.org/slides.pdf?talk=1&v=2"
REPORT = "https://example.org/report"


def event(id_: str, type_: str, at: str, data: dict[str, Any]) -> str:
    return (
        json.dumps(
            {
                "id": id_,
                "type": type_,
                "conference": SLUG,
                "occurred_at": f"2011-06-10T{at}:00+01:00",
                "author": "ann",
                "data": data,
            },
            ensure_ascii=False,
        )
        + "\n"
    )


LINKS = [
    event(
        "l-slides",
        "link.posted",
        "09:20",
        {
            "day": 3,
            "url": SLIDES,
            "title": "Keynote slides <v2>",
            "description": "All 40 slides.\n\nWith *notes*.",
        },
    ),
    event("l-report", "link.posted", "09:30", {"day": 3, "url": REPORT, "title": "The report"}),
]


def run_ok(invoke: Invoke, *args: str, input: str | None = None) -> Result:
    result = invoke(*args, input=input)
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture
def links(invoke: Invoke) -> Invoke:
    run_ok(invoke, "import", str(SAMPLE))
    run_ok(invoke, "import", "-", input="".join(LINKS))
    return invoke


def publish(invoke: Invoke, feeds: Path, *options: str) -> Path:
    run_ok(invoke, "--feeds", str(feeds), "publish", "--feeds-url", FEEDS_URL, *options)
    return feeds / SLUG


def problems(folder: Path) -> list[str]:
    """Every standards and ordering problem of every feed document under `folder`."""
    out: list[str] = []
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or path.suffix not in KINDS or path.name.startswith("."):
            continue
        data = path.read_bytes()
        kind = KINDS[path.suffix]
        if path.parent.name == "archive":
            found = check_atom(data, archive=True)
        else:
            found = check_feed(data, kind)  # type: ignore[arg-type]
        found = found or check_feed_dates_order(data, kind)  # type: ignore[arg-type]
        out += [f"{path.name}: {p}" for p in found]
    return out


def atom_entry(data: bytes, event_id: str) -> Any:
    parsed = feedparser.parse(data)
    assert not parsed.bozo, parsed.bozo_exception
    (entry,) = [e for e in parsed.entries if e.id == f"{TAG}/entry/{event_id}"]
    return entry


# -- the live feeds ------------------------------------------------------------------------


def test_links_are_published_in_every_live_format(links: Invoke, tmp_path: Path) -> None:
    folder = publish(links, tmp_path / "feeds")
    assert problems(folder) == []

    atom = atom_entry((folder / "live.atom").read_bytes(), "l-slides")
    assert atom.title == "Link — Keynote slides <v2>"
    html = atom.content[0].value
    assert '<a href="https://example.org/slides.pdf?talk=1&amp;v=2">' in html
    assert "Keynote slides &lt;v2&gt;</a>" in html
    assert "<p>All 40 slides.</p><p>With *notes*.</p>" in html

    rss = feedparser.parse((folder / "live.rss").read_bytes())
    assert not rss.bozo
    (item,) = [i for i in rss.entries if i.title == "Link — The report"]
    assert f'<a href="{REPORT}">The report</a>' in item.description

    items = {i["id"]: i for i in json.loads((folder / "live.json").read_text())["items"]}
    plain = items[f"{TAG}/entry/l-report"]
    assert plain["title"] == "Link — The report"
    assert plain["content_text"] == f"The report <{REPORT}>"
    assert "image" not in plain
    with_description = items[f"{TAG}/entry/l-slides"]["content_text"]
    assert with_description == f"Keynote slides <v2> <{SLIDES}>\n\nAll 40 slides.\n\nWith *notes*."


def test_a_corrected_link_shows_its_new_title_and_description(
    links: Invoke, tmp_path: Path
) -> None:
    fix = event(
        "fix-report",
        "entry.corrected",
        "10:00",
        {"target": "l-report", "text": "The council's report", "description": "Page 12."},
    )
    run_ok(links, "import", "-", input=fix)
    folder = publish(links, tmp_path / "feeds")
    assert problems(folder) == []
    entry = atom_entry((folder / "live.atom").read_bytes(), "l-report")
    assert entry.title == "Link — The council's report"
    assert entry.updated.startswith("2011-06-10T")
    assert "<p>Page 12.</p>" in entry.content[0].value
    summary = json.loads(run_ok(links, "summary", "3", "--format", "json").output)
    node = next(n for n in summary["flow"] if n["id"] == "l-report")
    assert (node["title"], node["description"], node["url"]) == (
        "The council's report",
        "Page 12.",
        REPORT,
    )
    assert node["updated_at"] == "2011-06-10T10:00:00+01:00"


def test_a_retracted_link_leaves_a_tombstone(links: Invoke, tmp_path: Path) -> None:
    gone = event("gone-report", "entry.retracted", "10:00", {"target": "l-report"})
    run_ok(links, "import", "-", input=gone)
    folder = publish(links, tmp_path / "feeds")
    assert problems(folder) == []
    live = (folder / "live.atom").read_bytes()
    assert f"{TAG}/entry/l-report" in [t["ref"] for t in atom_tombstones(live)]
    assert "The report" not in (folder / "live.json").read_text()
    assert "The report" not in run_ok(links, "summary", "3").output


def test_links_reach_the_archives_as_they_stood(links: Invoke, tmp_path: Path) -> None:
    # Page size 1: the first link ends up in an archive document (the newest entry stays
    # live); its later correction is not in that archive, written as the entries stood
    # before the next one was posted.
    fix = event("fix-slides", "entry.corrected", "10:00", {"target": "l-slides", "text": "v3"})
    run_ok(links, "import", "-", input=fix)
    folder = publish(links, tmp_path / "feeds", "--page-size", "1")
    assert problems(folder) == []
    archives = b"".join(p.read_bytes() for p in sorted((folder / "archive").glob("*.atom")))
    # A title's "<" as a character reference: never read as markup (see test_feeds_marks).
    assert b"Link \xe2\x80\x94 Keynote slides &#60;v2&gt;" in archives
    assert b"v3" not in archives
    assert "v3" in run_ok(links, "summary", "3").output


# -- the day summary -------------------------------------------------------------------------


def test_links_in_the_markdown_summary(links: Invoke) -> None:
    markdown = run_ok(links, "summary", "3").output
    assert (
        "\n[Keynote slides &lt;v2>](https://example.org/slides.pdf?talk=1&v=2)\n"
        "\nAll 40 slides.\n\nWith \\*notes\\*.\n"
    ) in markdown
    assert f"\n[The report]({REPORT})\n" in markdown


def test_links_in_the_html_summary_and_its_json_ld(links: Invoke) -> None:
    html = run_ok(links, "summary", "3", "--format", "html").output
    # Each entry opens with its line (time, reporter), then its own content.
    slides = html.index('<div class="link" id="e-l-slides">\n  <p class="meta"><time ')
    assert (
        html.index(
            '</p><p><a href="https://example.org/slides.pdf?talk=1'
            '&amp;v=2">Keynote slides &lt;v2&gt;</a></p><p>All 40 slides.</p><p>With *notes*.</p>'
            "</div>"
        )
        > slides
    )
    report = html.index('<div class="link" id="e-l-report">\n  <p class="meta"><time ')
    assert html.index(f'</p><p><a href="{REPORT}">The report</a></p></div>') > report
    start = html.index('<script type="application/ld+json">') + len(
        '<script type="application/ld+json">'
    )
    data = json.loads(html[start : html.index("</script>", start)])
    update = next(u for u in data["liveBlogUpdate"] if u["identifier"] == "l-slides")
    assert update["headline"] == "Keynote slides <v2>"
    assert update["articleBody"] == "All 40 slides.\n\nWith *notes*."
    assert update["sharedContent"] == {
        "@type": "WebPage",
        "url": SLIDES,
        "name": "Keynote slides <v2>",
    }


def test_links_in_the_json_summary(links: Invoke) -> None:
    summary = json.loads(run_ok(links, "summary", "3", "--format", "json").output)
    nodes = {n["id"]: n for n in summary["flow"]}
    assert nodes["l-report"] == {
        "id": "l-report",
        "type": "link",
        "position": nodes["l-report"]["position"],
        "author": "ann",
        "occurred_at": "2011-06-10T09:30:00+01:00",
        "updated_at": None,
        "url": REPORT,
        "title": "The report",
        "description": None,
    }
    assert list(nodes) == ["d3-note", "l-slides", "l-report"]


def test_links_in_the_reflections_feeds_and_the_day_page(links: Invoke, tmp_path: Path) -> None:
    close = event("day-3-closed", "day.closed", "17:00", {"number": 3})
    run_ok(links, "import", "-", input=close)
    folder = publish(links, tmp_path / "feeds")
    assert problems(folder) == []
    page = (folder / "day-3.html").read_text()
    assert f'<a href="{REPORT}">The report</a>' in page
    reflections = feedparser.parse((folder / "reflections.atom").read_bytes())
    assert not reflections.bozo
    (day3,) = [e for e in reflections.entries if "Day 3" in e.title]
    assert f'<a href="{REPORT}">The report</a>' in day3.content[0].value
    items = json.loads((folder / "reflections.json").read_text())["items"]
    assert any(f'<a href="{REPORT}">The report</a>' in i["content_html"] for i in items)
