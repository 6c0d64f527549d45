"""Day summaries ("Day N Reflections") through `liveblog summary DAY`.

What a reader gets: sessions → talks → items in the order they happened, corrections
applied, retractions gone, one day at a time; markdown prose, a standalone HTML page
with schema.org LiveBlogPosting JSON-LD, the structure as JSON; `--as-of` the past;
the user's own template.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import zoneinfo
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

Invoke = Callable[..., Result]
Event = dict[str, Any]
Node = dict[str, Any]

LONDON = zoneinfo.ZoneInfo("Europe/London")
DEFAULT_TITLE = "SOCITM 2011 – Day 2 Reflections"


# -- helpers -------------------------------------------------------------------------


def export(invoke: Invoke) -> list[Event]:
    result = invoke("export")
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


def post(invoke: Invoke, *args: str, author: str = "ann") -> Event:
    """Run a reporting command that must succeed; the last event it appended."""
    result = invoke(*args, author=author)
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    return export(invoke)[-1]


def summary(invoke: Invoke, *args: str, author: str = "ann") -> str:
    result = invoke("summary", *args, author=author)
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    return result.stdout


def as_json(invoke: Invoke, day: int = 2, *args: str, author: str = "ann") -> Node:
    data: Node = json.loads(summary(invoke, str(day), "--format", "json", *args, author=author))
    return data


def refused(invoke: Invoke, *args: str, author: str = "ann") -> str:
    """A command that must fail with exit 1 and one `Error:` line."""
    result = invoke(*args, author=author)
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    assert "Traceback" not in result.stderr
    return lines[0]


def walk(flow: list[Node]) -> list[Node]:
    out: list[Node] = []
    for node in flow:
        out.append(node)
        out.extend(walk(node.get("flow", [])))
        out.extend(walk(node.get("items", [])))
    return out


def of_type(data: Node, kind: str) -> list[Node]:
    return [n for n in walk(data["flow"]) if n["type"] == kind]


def intro_after(markdown: str, heading: str) -> str:
    """The first paragraph after the markdown heading line `heading`."""
    lines = markdown.split("\n")
    start = lines.index(heading)
    for line in lines[start + 1 :]:
        if line.strip():
            return line
    raise AssertionError(f"nothing after {heading!r}")


def conference(invoke: Invoke, *extra: str, title: str = "SOCITM 2011") -> None:
    post(
        invoke,
        "conference",
        "open",
        "socitm-2011",
        "--title",
        title,
        "--timezone",
        "Europe/London",
        "--at",
        "2011-06-08T08:30",
        *extra,
    )


def plenary_with_talks(invoke: Invoke) -> dict[str, Event]:
    """Day 2's plenary: four talks with quotes, a note and a photo; then a roundtable."""
    ev: dict[str, Event] = {}
    ev["plenary"] = post(
        invoke,
        "session",
        "start",
        "Opening plenary",
        "--kind",
        "plenary",
        "--room",
        "Hall 1",
        "--host",
        "Jos Creese",
        "--at",
        "2011-06-09T09:15",
    )
    ev["t1"] = post(
        invoke,
        "talk",
        "start",
        "Shared services",
        "--speaker",
        "Andy Burns",
        "--role",
        "Director",
        "--org",
        "ACME Council",
        "--at",
        "2011-06-09T09:20",
    )
    ev["q1"] = post(invoke, "quote", "We must share more", "--at", "2011-06-09T09:25")
    ev["n1"] = post(invoke, "note", "The room is packed", "--at", "2011-06-09T09:26")
    ev["p1"] = post(
        invoke,
        "photo",
        "https://example.org/stage.jpg",
        "--caption",
        "Andy on stage",
        "--at",
        "2011-06-09T09:27",
    )
    ev["t2"] = post(
        invoke,
        "talk",
        "start",
        "Cloud first",
        "--speaker",
        "Bea Smith",
        "--role",
        "CIO",
        "--org",
        "Kent County Council",
        "--at",
        "2011-06-09T09:40",
    )
    ev["q2"] = post(invoke, "quote", "Clouds are fine", "--at", "2011-06-09T09:45")
    ev["t3"] = post(
        invoke,
        "talk",
        "start",
        "Agile in government",
        "--speaker",
        "Cy Jones",
        "--role",
        "Head of IT",
        "--org",
        "Leeds City Council",
        "--at",
        "2011-06-09T10:00",
    )
    ev["t4"] = post(
        invoke,
        "talk",
        "start",
        "What next",
        "--speaker",
        "Dee Patel",
        "--role",
        "CTO",
        "--org",
        "GDS",
        "--at",
        "2011-06-09T10:15",
    )
    ev["q4"] = post(invoke, "quote", "Ship it", "--at", "2011-06-09T10:20")
    post(invoke, "session", "end", "--at", "2011-06-09T10:30")
    ev["roundtable"] = post(
        invoke,
        "session",
        "start",
        "Data sharing",
        "--kind",
        "roundtable",
        "--room",
        "Room 2",
        "--host",
        "Martin Ferguson",
        "--host",
        "Liz Harding",
        "--at",
        "2011-06-09T11:00",
    )
    ev["n2"] = post(invoke, "note", "Lively discussion on consent", "--at", "2011-06-09T11:10")
    post(invoke, "session", "end", "--at", "2011-06-09T12:00")
    return ev


# -- structure and prose ----------------------------------------------------------------


@pytest.mark.usefixtures("day_open")
def test_markdown_walks_through_the_day(invoke: Invoke) -> None:
    plenary_with_talks(invoke)
    md = summary(invoke, "2")
    lines = md.split("\n")
    assert lines[0] == f"# {DEFAULT_TITLE}"
    assert re.search(r"^\*By ann\b.*SOCITM 2011.*Thursday 9 June 2011\*$", md, re.M), md

    headings = [line for line in lines if line.startswith("#")]
    assert headings == [
        f"# {DEFAULT_TITLE}",
        "## Opening plenary",
        "### Shared services",
        "### Cloud first",
        "### Agile in government",
        "### What next",
        "## Data sharing",
    ]

    # Every speaker introduced with role, organisation and the talk's title.
    talks = [
        ("Shared services", "Andy Burns", "Director", "ACME Council"),
        ("Cloud first", "Bea Smith", "CIO", "Kent County Council"),
        ("Agile in government", "Cy Jones", "Head of IT", "Leeds City Council"),
        ("What next", "Dee Patel", "CTO", "GDS"),
    ]
    intros = [intro_after(md, f"### {title}") for title, *_ in talks]
    for intro, (title, speaker, role, org) in zip(intros, talks, strict=True):
        for part in (title, speaker, role, org):
            assert part in intro, (part, intro)
    first, *middle, final = intros
    assert first.startswith("First"), first
    assert "Final" in final, final
    for intro in middle:
        assert "First" not in intro and "Final" not in intro, intro
    assert len(set(intros)) == 4  # no sentence pattern met twice in a row here

    plenary = intro_after(md, "## Opening plenary")
    assert "plenary" in plenary and "Hall 1" in plenary and "Jos Creese" in plenary
    assert "09:15" in plenary and "10:30" in plenary  # local (BST) times
    roundtable = intro_after(md, "## Data sharing")
    assert "roundtable" in roundtable.lower()
    assert "Martin Ferguson" in roundtable and "Liz Harding" in roundtable
    assert "Room 2" in roundtable

    # Quotes as attributed block quotes, notes as paragraphs, photos with captions.
    assert "\n> We must share more\n>\n> — Andy Burns\n" in md
    assert "\n> Clouds are fine\n>\n> — Bea Smith\n" in md
    assert "\n\nThe room is packed\n\n" in md
    assert "![Andy on stage](https://example.org/stage.jpg)" in md
    assert "\n*Andy on stage*\n" in md
    assert "\n\nLively discussion on consent\n" in md

    # In the order it happened.
    order = [
        "## Opening plenary",
        "### Shared services",
        "We must share more",
        "The room is packed",
        "Andy on stage",
        "### Cloud first",
        "Clouds are fine",
        "### Agile in government",
        "### What next",
        "Ship it",
        "## Data sharing",
        "Lively discussion on consent",
    ]
    places = [md.index(text) for text in order]
    assert places == sorted(places)


@pytest.mark.usefixtures("day_open")
def test_a_speakers_role_and_organisation_are_set_off_by_commas(invoke: Invoke) -> None:
    """ "Name, Role at Organisation" is an aside: a comma closes it before the verb."""
    plenary_with_talks(invoke)
    md = summary(invoke, "2")
    for title, who in (
        ("Shared services", "Andy Burns, Director at ACME Council"),
        ("Cloud first", "Bea Smith, CIO at Kent County Council"),
        ("Agile in government", "Cy Jones, Head of IT at Leeds City Council"),
        ("What next", "Dee Patel, CTO at GDS"),
    ):
        intro = intro_after(md, f"### {title}")
        assert re.search(rf"{who}[,.]", intro), intro


def test_speaker_introductions_with_partial_details(invoke: Invoke) -> None:
    conference(invoke)
    post(invoke, "day", "open", "1", "--at", "2011-06-08T09:00")
    post(invoke, "session", "start", "Morning", "--at", "2011-06-08T09:10")
    post(invoke, "talk", "start", "Alone", "--speaker", "Ann Lee", "--org", "NHS", "--at", "09:20")
    md = summary(invoke, "1")
    intro = intro_after(md, "### Alone")
    assert "Ann Lee" in intro and "NHS" in intro and "Alone" in intro
    assert "None" not in md


@pytest.mark.usefixtures("day_open")
def test_items_follow_when_they_happened_not_when_they_were_typed(invoke: Invoke) -> None:
    post(invoke, "session", "start", "S", "--at", "2011-06-09T09:10")
    post(invoke, "talk", "start", "T", "--speaker", "Andy Burns", "--at", "2011-06-09T09:15")
    post(invoke, "note", "typed first, said later", "--at", "2011-06-09T09:30")
    post(invoke, "quote", "typed late, said earlier", "--at", "2011-06-09T09:20")
    (talk,) = of_type(as_json(invoke), "talk")
    assert [i["text"] for i in talk["items"]] == [
        "typed late, said earlier",
        "typed first, said later",
    ]
    md = summary(invoke, "2")
    assert md.index("typed late, said earlier") < md.index("typed first, said later")


@pytest.mark.usefixtures("day_open")
def test_json_is_the_nested_structure(invoke: Invoke) -> None:
    ev = plenary_with_talks(invoke)
    data = as_json(invoke)
    assert data["title"] == DEFAULT_TITLE
    assert data["reporters"] == ["ann"]
    assert data["conference"]["slug"] == "socitm-2011"
    assert data["conference"]["title"] == "SOCITM 2011"
    assert data["day"]["number"] == 2
    assert data["day"]["date"] == "2011-06-09"

    plenary, roundtable = data["flow"]
    assert plenary["type"] == "session"
    assert plenary["id"] == ev["plenary"]["id"]
    assert plenary["kind"] == "plenary"
    assert plenary["title"] == "Opening plenary"
    assert plenary["room"] == "Hall 1"
    assert plenary["hosts"] == ["Jos Creese"]
    assert plenary["started_at"] == "2011-06-09T09:15:00+01:00"
    assert plenary["ended_at"] == "2011-06-09T10:30:00+01:00"
    assert [t["title"] for t in plenary["flow"]] == [
        "Shared services",
        "Cloud first",
        "Agile in government",
        "What next",
    ]
    first = plenary["flow"][0]
    assert first["type"] == "talk"
    assert (first["speaker"], first["role"], first["organisation"]) == (
        "Andy Burns",
        "Director",
        "ACME Council",
    )
    assert first["started_at"] == "2011-06-09T09:20:00+01:00"
    assert first["ended_at"] == "2011-06-09T09:40:00+01:00"  # the next talk ended it
    assert [i["type"] for i in first["items"]] == ["quote", "note", "photo"]
    quote, note, photo = first["items"]
    assert (quote["text"], quote["speaker"]) == ("We must share more", "Andy Burns")
    assert note["text"] == "The room is packed"
    assert (photo["url"], photo["caption"]) == ("https://example.org/stage.jpg", "Andy on stage")
    assert quote["id"] == ev["q1"]["id"]

    assert roundtable["kind"] == "roundtable"
    assert roundtable["hosts"] == ["Martin Ferguson", "Liz Harding"]
    assert [n["text"] for n in roundtable["flow"]] == ["Lively discussion on consent"]


@pytest.mark.usefixtures("day_open")
def test_default_title_and_the_days_own_title(invoke: Invoke) -> None:
    post(invoke, "note", "hello", "--at", "2011-06-09T09:10")
    assert summary(invoke, "2").startswith(f"# {DEFAULT_TITLE}\n")
    post(invoke, "day", "close", "--at", "2011-06-09T18:00")
    post(invoke, "day", "open", "3", "--title", "Digital by default", "--at", "2011-06-10T09:00")
    post(invoke, "note", "day three", "--at", "2011-06-10T09:10")
    assert summary(invoke, "3").startswith("# Digital by default\n")
    assert "Reflections" not in summary(invoke, "3").split("\n")[0]
    html = summary(invoke, "3", "--format", "html")
    assert "<title>Digital by default</title>" in html
    assert "<h1>Digital by default</h1>" in html
    assert as_json(invoke, 3)["title"] == "Digital by default"
    assert as_json(invoke, 2)["title"] == DEFAULT_TITLE


# -- corrections and retractions ---------------------------------------------------------


@pytest.mark.usefixtures("day_open")
def test_corrections_are_applied(invoke: Invoke) -> None:
    session = post(invoke, "session", "start", "Opening plenery", "--at", "2011-06-09T09:10")
    talk = post(
        invoke,
        "talk",
        "start",
        "Shared servces",
        "--speaker",
        "Andy Brns",
        "--role",
        "Director",
        "--at",
        "2011-06-09T09:15",
    )
    quote = post(invoke, "quote", "We mst share", "--at", "2011-06-09T09:20")
    other = post(invoke, "quote", "Agreed", "--speaker", "Bea Smyth", "--at", "2011-06-09T09:21")
    note = post(invoke, "note", "Rom is full", "--at", "2011-06-09T09:22")
    photo = post(
        invoke, "photo", "https://example.org/a.jpg", "--caption", "The stag", "--at", "09:23"
    )
    post(invoke, "correct", session["id"], "Opening plenary")
    post(invoke, "correct", talk["id"], "Shared services")
    post(invoke, "correct", talk["id"], "--speaker", "Andy Burns")
    post(invoke, "correct", quote["id"][:10], "We must share")
    post(invoke, "correct", other["id"], "--speaker", "Bea Smith")
    post(invoke, "correct", note["id"], "Room is full")
    post(invoke, "correct", photo["id"], "--caption", "The stage")
    # A later correction wins over an earlier one; another reporter may correct too.
    post(invoke, "correct", note["id"], "The room is full", author="bob")

    data = as_json(invoke)
    (plenary,) = data["flow"]
    assert plenary["title"] == "Opening plenary"
    (t,) = plenary["flow"]
    assert (t["title"], t["speaker"]) == ("Shared services", "Andy Burns")
    assert [(i["type"], i.get("text"), i.get("speaker"), i.get("caption")) for i in t["items"]] == [
        ("quote", "We must share", "Andy Burns", None),  # follows the talk's speaker
        ("quote", "Agreed", "Bea Smith", None),
        ("note", "The room is full", None, None),
        ("photo", None, None, "The stage"),
    ]
    assert t["updated_at"] is not None

    md = summary(invoke, "2")
    html = summary(invoke, "2", "--format", "html")
    for wrong in ("plenery", "servces", "Brns", "mst", "Smyth", "Rom is", "The stag\n", "stag<"):
        assert wrong not in md, wrong
        assert wrong not in html, wrong
    assert "> — Andy Burns" in md
    assert "Andy Burns, Director" in intro_after(md, "### Shared services")
    assert "*The stage*" in md
    # Correcting is not reporting: the byline names who covered the day, not the editor.
    assert data["reporters"] == ["ann"]


@pytest.mark.usefixtures("day_open")
def test_retracted_entries_are_gone(invoke: Invoke) -> None:
    ev = plenary_with_talks(invoke)
    post(invoke, "retract", ev["q1"]["id"], "--reason", "misheard")
    post(invoke, "retract", ev["p1"]["id"])
    post(invoke, "retract", ev["n2"]["id"], "--reason", "off the record", author="bob")

    data = as_json(invoke)
    texts = [n.get("text") or n.get("caption") for n in walk(data["flow"])]
    assert "We must share more" not in texts
    assert "Andy on stage" not in texts
    assert "Lively discussion on consent" not in texts
    assert "The room is packed" in texts
    ids = {n["id"] for n in walk(data["flow"])}
    assert not ids & {ev["q1"]["id"], ev["p1"]["id"], ev["n2"]["id"]}

    for fmt in ("markdown", "html", "json"):
        out = summary(invoke, "2", "--format", fmt)
        for gone in ("We must share more", "Andy on stage", "stage.jpg", "consent", "misheard"):
            assert gone not in out, (fmt, gone)
    # The roundtable itself stays, with nothing in it.
    assert [s["title"] for s in data["flow"]] == ["Opening plenary", "Data sharing"]
    assert data["flow"][1]["flow"] == []


@pytest.mark.usefixtures("day_open")
def test_a_retracted_talk_leaves_its_items_in_the_session(invoke: Invoke) -> None:
    ev = plenary_with_talks(invoke)
    post(invoke, "retract", ev["t1"]["id"], "--reason", "wrong talk")
    data = as_json(invoke)
    plenary = data["flow"][0]
    assert [
        (n["type"], n.get("title") or n.get("text") or n.get("caption")) for n in plenary["flow"]
    ] == [
        ("quote", "We must share more"),
        ("note", "The room is packed"),
        ("photo", "Andy on stage"),
        ("talk", "Cloud first"),
        ("talk", "Agile in government"),
        ("talk", "What next"),
    ]
    md = summary(invoke, "2")
    assert "Shared services" not in md
    assert "> We must share more" in md
    # The speakers still count from the first live talk.
    assert intro_after(md, "### Cloud first").startswith("First")
    assert "Final" in intro_after(md, "### What next")
    # Under the session heading, before the first remaining talk.
    assert md.index("## Opening plenary") < md.index("We must share more")
    assert md.index("We must share more") < md.index("### Cloud first")


@pytest.mark.usefixtures("day_open")
def test_a_retracted_final_talk_makes_the_one_before_it_final(invoke: Invoke) -> None:
    ev = plenary_with_talks(invoke)
    post(invoke, "retract", ev["t4"]["id"])
    md = summary(invoke, "2")
    assert "### What next" not in md
    assert "Final" in intro_after(md, "### Agile in government")
    assert "> Ship it" in md  # its quote stays, in the session


@pytest.mark.usefixtures("day_open")
def test_a_retracted_session_leaves_its_content_in_the_day(invoke: Invoke) -> None:
    ev = plenary_with_talks(invoke)
    post(invoke, "retract", ev["roundtable"]["id"])
    data = as_json(invoke)
    assert [n["type"] for n in data["flow"]] == ["session", "note"]
    assert data["flow"][1]["text"] == "Lively discussion on consent"
    md = summary(invoke, "2")
    assert "## Data sharing" not in md
    assert "Lively discussion on consent" in md


# -- one day at a time ------------------------------------------------------------------------


def test_days_never_mix(invoke: Invoke) -> None:
    conference(invoke)
    post(invoke, "day", "open", "1", "--date", "2011-06-08", "--at", "2011-06-08T09:00")
    post(invoke, "session", "start", "Day one session", "--at", "2011-06-08T09:10")
    post(invoke, "talk", "start", "Day one talk", "--speaker", "Ann One", "--at", "09:15")
    one_note = post(invoke, "note", "day one note", "--at", "2011-06-08T09:20")
    post(invoke, "note", "bob on day one", "--at", "2011-06-08T09:30", author="bob")
    post(invoke, "day", "close", "--at", "2011-06-08T17:00")

    post(invoke, "day", "open", "2", "--date", "2011-06-09", "--at", "2011-06-09T09:00")
    post(invoke, "session", "start", "Day two session", "--at", "2011-06-09T09:10")
    post(invoke, "note", "day two note", "--at", "2011-06-09T09:20")
    # A correction typed on day 2 of a day-1 entry changes day 1 only.
    post(invoke, "correct", one_note["id"], "day one note, corrected", "--at", "2011-06-09T09:25")
    post(invoke, "day", "close", "--at", "2011-06-09T17:00")

    post(invoke, "day", "open", "3", "--date", "2011-06-10", "--at", "2011-06-10T09:00")
    post(invoke, "note", "day three note", "--at", "2011-06-10T09:05")
    post(invoke, "note", "cy on day three", "--at", "2011-06-10T09:06", author="cy")

    mine = {1: ["Day one", "day one note, corrected", "bob on day one"]}
    mine[2] = ["Day two session", "day two note"]
    mine[3] = ["day three note", "cy on day three"]
    for day in (1, 2, 3):
        for fmt in ("markdown", "html", "json"):
            out = summary(invoke, str(day), "--format", fmt)
            for other, texts in mine.items():
                for text in texts:
                    assert (text in out) == (other == day), (day, fmt, text)
    assert as_json(invoke, 1)["reporters"] == ["ann", "bob"]
    assert as_json(invoke, 2)["reporters"] == ["ann"]
    assert as_json(invoke, 3)["reporters"] == ["ann", "cy"]
    assert "*By ann and bob ·" in summary(invoke, "1")
    assert "*By ann ·" in summary(invoke, "2")

    day1, day2 = as_json(invoke, 1), as_json(invoke, 2)
    assert (day1["coverage_start"], day1["coverage_end"]) == (
        "2011-06-08T09:00:00+01:00",
        "2011-06-08T17:00:00+01:00",
    )
    assert (day2["coverage_start"], day2["coverage_end"]) == (
        "2011-06-09T09:00:00+01:00",
        "2011-06-09T17:00:00+01:00",
    )
    assert day1["day"]["date"] == "2011-06-08"
    assert "Wednesday 8 June 2011" in summary(invoke, "1")


def test_two_reporters_in_parallel_sessions(invoke: Invoke) -> None:
    conference(invoke)
    post(invoke, "day", "open", "2", "--at", "2011-06-09T09:00")
    # ann starts first in the log, but bob's session began first in the room.
    post(invoke, "session", "start", "Digital inclusion", "--kind", "breakout",
         "--room", "Room A", "--at", "2011-06-09T10:00")  # fmt: skip
    post(invoke, "session", "start", "Shared services", "--kind", "breakout",
         "--room", "Room B", "--at", "2011-06-09T09:55", author="bob")  # fmt: skip
    post(invoke, "talk", "start", "Online access", "--speaker", "Ann Speaker",
         "--at", "2011-06-09T10:05")  # fmt: skip
    post(invoke, "talk", "start", "Back office", "--speaker", "Bob Speaker",
         "--at", "2011-06-09T10:06", author="bob")  # fmt: skip
    post(invoke, "quote", "Access for all", "--at", "2011-06-09T10:07")
    post(invoke, "quote", "Merge the back office", "--at", "2011-06-09T10:08", author="bob")
    post(invoke, "note", "ann's note", "--at", "2011-06-09T10:09")
    post(invoke, "photo", "https://example.org/b.jpg", "--caption", "bob's photo",
         "--at", "2011-06-09T10:10", author="bob")  # fmt: skip
    post(invoke, "talk", "start", "Assisted digital", "--speaker", "Cat Speaker",
         "--at", "2011-06-09T10:20")  # fmt: skip
    post(invoke, "quote", "Nobody left behind", "--at", "2011-06-09T10:25")
    post(invoke, "quote", "Savings are real", "--at", "2011-06-09T10:26", author="bob")
    post(invoke, "session", "end", "--at", "2011-06-09T11:00", author="bob")
    post(invoke, "session", "end", "--at", "2011-06-09T11:05")

    data = as_json(invoke)
    assert data["reporters"] == ["ann", "bob"]
    b, a = data["flow"]
    assert (b["title"], b["room"], b["author"]) == ("Shared services", "Room B", "bob")
    assert (a["title"], a["room"], a["author"]) == ("Digital inclusion", "Room A", "ann")

    def content(session: Node) -> list[tuple[str, list[tuple[str, str | None]]]]:
        return [
            (
                talk["title"],
                [(i.get("text") or i.get("caption"), i.get("speaker")) for i in talk["items"]],
            )
            for talk in session["flow"]
        ]

    assert content(b) == [
        (
            "Back office",
            [
                ("Merge the back office", "Bob Speaker"),
                ("bob's photo", None),
                ("Savings are real", "Bob Speaker"),
            ],
        )
    ]
    assert content(a) == [
        ("Online access", [("Access for all", "Ann Speaker"), ("ann's note", None)]),
        ("Assisted digital", [("Nobody left behind", "Cat Speaker")]),
    ]

    md = summary(invoke, "2")
    assert "*By ann and bob ·" in md
    assert md.index("## Shared services") < md.index("## Digital inclusion")
    assert md.index("Savings are real") < md.index("## Digital inclusion")
    assert md.index("## Digital inclusion") < md.index("Access for all")
    # bob sees the same summary of the shared day.
    assert summary(invoke, "2", author="bob") == md


# -- --as-of ---------------------------------------------------------------------------------


@pytest.mark.usefixtures("day_open")
def test_as_of_shows_the_summary_as_it_stood(invoke: Invoke) -> None:
    post(invoke, "session", "start", "Plenary", "--at", "2011-06-09T09:10")
    post(invoke, "talk", "start", "Talk", "--speaker", "Andy Burns", "--at", "2011-06-09T09:15")
    early = post(invoke, "quote", "early words", "--at", "2011-06-09T09:20")
    note = post(invoke, "note", "first note", "--at", "2011-06-09T09:21")
    fix = post(invoke, "correct", note["id"], "first note, corrected")
    late = post(invoke, "quote", "late words", "--at", "2011-06-09T09:22")
    post(invoke, "retract", early["id"], "--reason", "misheard")
    # Typed now about an earlier moment: --as-of goes by when the log recorded it.
    post(invoke, "note", "recalled later", "--at", "2011-06-09T09:19")

    events = export(invoke)
    stamps = [e["recorded_at"] for e in events]
    assert stamps == sorted(stamps)
    assert note["recorded_at"] < fix["recorded_at"] < late["recorded_at"]

    at_note = summary(invoke, "2", "--as-of", note["recorded_at"])
    assert "early words" in at_note
    assert "first note" in at_note
    assert "corrected" not in at_note
    assert "late words" not in at_note
    assert "recalled later" not in at_note

    at_fix = summary(invoke, "2", "--as-of", fix["recorded_at"])
    assert "first note, corrected" in at_fix
    assert "early words" in at_fix
    assert "late words" not in at_fix

    at_late = summary(invoke, "2", "--as-of", late["recorded_at"])
    assert "late words" in at_late and "early words" in at_late

    now = summary(invoke, "2")
    assert "early words" not in now
    assert "late words" in now and "recalled later" in now
    # As of the last event, it is the summary of now.
    assert summary(invoke, "2", "--as-of", events[-1]["recorded_at"]) == now
    for fmt in ("html", "json"):
        assert summary(invoke, "2", "--format", fmt, "--as-of", events[-1]["recorded_at"]) == (
            summary(invoke, "2", "--format", fmt)
        )

    # The same moment written in the conference's own time, without an offset.
    local = dt.datetime.fromisoformat(note["recorded_at"]).astimezone(LONDON)
    naive = local.replace(tzinfo=None).isoformat()
    assert summary(invoke, "2", "--as-of", naive) == at_note

    as_of_json = as_json(invoke, 2, "--as-of", note["recorded_at"])
    quotes = of_type(as_of_json, "quote")
    assert [q["text"] for q in quotes] == ["early words"]


@pytest.mark.usefixtures("day_open")
def test_as_of_leaves_the_live_projection_alone(invoke: Invoke) -> None:
    note = post(invoke, "note", "n", "--at", "2011-06-09T09:21")
    post(invoke, "note", "m", "--at", "2011-06-09T09:22")
    before = invoke("status", "--json").stdout
    summary(invoke, "2", "--as-of", note["recorded_at"])
    assert invoke("status", "--json").stdout == before


@pytest.mark.usefixtures("day_open")
def test_as_of_before_the_conference_or_unreadable_is_refused(invoke: Invoke) -> None:
    post(invoke, "note", "n", "--at", "2011-06-09T09:21")
    first = export(invoke)[0]["recorded_at"]
    before = (dt.datetime.fromisoformat(first) - dt.timedelta(seconds=1)).isoformat()
    refused(invoke, "summary", "2", "--as-of", before)
    assert "not a time" in refused(invoke, "summary", "2", "--as-of", "yesterday-ish")


# -- HTML: a standalone page, every piece of user text escaped --------------------------------

VOID = {"meta", "img", "br", "hr", "link", "input", "source", "wbr"}


class Page(HTMLParser):
    """Parses the page, checking tags nest, collecting text, attributes and scripts."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.decls: list[str] = []
        self.stack: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self.titles: list[str] = []
        self.errors: list[str] = []

    def handle_decl(self, decl: str) -> None:
        self.decls.append(decl)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag == "script":
            self.scripts.append((dict(attrs), ""))
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:]}")
            return
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        if self.stack and self.stack[-1] == "script":
            attrs, body = self.scripts[-1]
            self.scripts[-1] = (attrs, body + data)
        elif self.stack and self.stack[-1] == "title":
            self.titles.append(data)
        else:
            self.text.append(data)


def parse(page: str) -> Page:
    parser = Page()
    parser.feed(page)
    parser.close()
    assert parser.errors == [], parser.errors
    assert parser.stack == [], parser.stack
    return parser


def json_ld(page: Page) -> Node:
    (script,) = page.scripts
    attrs, body = script
    assert attrs == {"type": "application/ld+json"}
    data: Node = json.loads(body)
    return data


@pytest.mark.usefixtures("day_open")
def test_html_is_a_standalone_page_with_json_ld(invoke: Invoke) -> None:
    ev = plenary_with_talks(invoke)
    post(invoke, "retract", ev["n1"]["id"])
    html = summary(invoke, "2", "--format", "html")
    assert html.lstrip().lower().startswith("<!doctype html>")
    page = parse(html)
    assert [d.lower() for d in page.decls] == ["doctype html"]
    html_tag = page.tags[0]
    assert html_tag[0] == "html"
    assert html_tag[1].get("lang") == "en"
    assert {"head", "body", "title"} <= {t for t, _ in page.tags}
    assert ("meta", {"charset": "utf-8"}) in page.tags
    assert page.titles == [DEFAULT_TITLE]
    text = "".join(page.text)
    for words in ("Opening plenary", "We must share more", "Andy on stage", "Ship it"):
        assert words in text
    assert "The room is packed" not in html

    ld = json_ld(page)
    assert ld["@context"] in ("https://schema.org", "http://schema.org", "https://schema.org/")
    assert ld["@type"] == "LiveBlogPosting"
    assert ld["headline"] == DEFAULT_TITLE
    assert ld["coverageStartTime"] == "2011-06-09T09:00:00+01:00"  # the day opened
    # The day is open: coverage runs to its last event (the roundtable's end).
    assert ld["coverageEndTime"] == "2011-06-09T12:00:00+01:00"

    data = as_json(invoke)
    live = walk(data["flow"])
    updates = ld["liveBlogUpdate"]
    assert len(updates) == len(live) == 11  # 2 sessions, 4 talks, 3 quotes, 1 note, 1 photo
    assert [u["identifier"] for u in updates] == [n["id"] for n in live]
    assert ev["n1"]["id"] not in {u["identifier"] for u in updates}
    for update, node in zip(updates, live, strict=True):
        assert update["@type"] == "BlogPosting"
        assert update["datePublished"] == node["occurred_at"]
        assert update["author"]["name"] == "ann"
    by_id = {u["identifier"]: u for u in updates}
    assert by_id[ev["q1"]["id"]]["articleBody"] == "We must share more"
    assert by_id[ev["p1"]["id"]]["image"] == "https://example.org/stage.jpg"
    for update in updates:
        assert ld["coverageStartTime"] <= update["datePublished"] <= ld["coverageEndTime"]

    post(invoke, "day", "close", "--at", "2011-06-09T17:30")
    ld = json_ld(parse(summary(invoke, "2", "--format", "html")))
    assert ld["coverageEndTime"] == "2011-06-09T17:30:00+01:00"


HOSTILE = {
    "script": "<script>alert(1)</script>",
    "quotes": "\"quotes\" & 'apostrophes'",
    "close": "</script><script>alert(2)</script>",
    "img": "<img src=x onerror=alert(3)>",
    "arabic": "مرحبا بالعالم",
    "hebrew": "שלום עולם",
    "emoji": "emoji 😀🎉 👩‍💻",
    "entity": "&amp; &lt;b&gt; stays text",
    "rlo": "before \u202etxt.exe after",
    "comment": "<!-- not a comment --> ]]>",
}
# Quotes, angle brackets and the like are refused in URLs at input (see below); what a
# valid URL can still carry, & and ', must be escaped in the page.
BAD_URL = "https://example.org/p.jpg?a='x'&b=%3Cscript%3E&c=(1)"
REFUSED_URL = "https://example.org/p.jpg?a=\"><script>alert(4)</script>&b='x'"


@pytest.mark.usefixtures("day_open")
def test_a_url_that_could_break_markup_is_refused(invoke: Invoke) -> None:
    result = invoke("photo", REFUSED_URL, "--caption", "c")
    assert result.exit_code == 1
    assert "URL" in result.output


def hostile_day(invoke: Invoke) -> None:
    h = HOSTILE
    conference(invoke, "--venue", h["quotes"], title=f"Conf {h['script']}")
    post(invoke, "day", "open", "2", "--at", "2011-06-09T09:00")
    post(invoke, "session", "start", h["close"], "--kind", "roundtable", "--room", h["img"],
         "--host", h["arabic"], "--host", h["quotes"], "--at", "2011-06-09T09:10")  # fmt: skip
    post(invoke, "talk", "start", h["script"], "--speaker", h["hebrew"], "--role", h["img"],
         "--org", h["close"], "--at", "2011-06-09T09:15")  # fmt: skip
    post(invoke, "quote", h["quotes"], "--at", "2011-06-09T09:16")
    post(invoke, "quote", h["emoji"], "--speaker", h["script"], "--at", "2011-06-09T09:17")
    post(invoke, "note", f"{h['close']}\n\n{h['rlo']}", "--at", "2011-06-09T09:18")
    post(invoke, "note", h["comment"], "--at", "2011-06-09T09:19")
    post(invoke, "note", h["entity"], "--at", "2011-06-09T09:19:30")
    post(invoke, "photo", BAD_URL, "--caption", h["img"], "--at", "2011-06-09T09:20")
    post(invoke, "note", "from a hostile author", "--at", "2011-06-09T09:21",
         author="Zoë <script>alert(5)</script>")  # fmt: skip


def test_hostile_text_is_escaped_in_html(invoke: Invoke) -> None:
    hostile_day(invoke)
    html = summary(invoke, "2", "--format", "html")

    assert html.count("<script") == 1  # the JSON-LD block, nothing else
    assert html.count("</script") == 1
    head, script = html.split('<script type="application/ld+json">')
    script, body = script.split("</script>")
    # Inside the JSON-LD, < > & are JSON escapes: no markup, no entity to misread.
    assert not {"<", ">", "&"} & set(script)
    markup = head + body
    assert "<img src=x" not in markup
    assert "<!-- not" not in markup
    assert HOSTILE["quotes"] not in markup  # raw " and ' and & never reach the page
    assert "'x'" not in markup  # nor in an attribute
    for words in ("arabic", "hebrew", "emoji"):
        assert HOSTILE[words] in markup  # no reason to escape these: they stay readable
    assert "\u202e" in markup

    page = parse(html)
    allowed = {
        "html", "head", "meta", "title", "style", "script", "body", "article", "header",
        "div", "footer", "h1", "h2", "h3", "p", "time", "section", "blockquote", "figure", "img",
        "figcaption", "br", "span", "em", "a",
    }  # fmt: skip
    for tag, attrs in page.tags:
        assert tag in allowed, tag
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
    (img,) = [attrs for tag, attrs in page.tags if tag == "img"]
    assert img["src"] == BAD_URL
    assert img["alt"] == HOSTILE["img"]

    # Every piece of hostile text reads back exactly as typed.
    text = "".join(page.text)
    for value in HOSTILE.values():
        assert value in text, value
    assert "Zoë <script>alert(5)</script>" in text  # the byline
    assert page.titles == [f"Conf {HOSTILE['script']} – Day 2 Reflections"]

    ld = json_ld(page)
    assert ld["@type"] == "LiveBlogPosting"
    assert ld["headline"] == f"Conf {HOSTILE['script']} – Day 2 Reflections"
    bodies = [u["articleBody"] for u in ld["liveBlogUpdate"]]
    assert f"{HOSTILE['close']}\n\n{HOSTILE['rlo']}" in bodies
    assert HOSTILE["comment"] in bodies
    assert HOSTILE["quotes"] in bodies
    assert BAD_URL in [u.get("image") for u in ld["liveBlogUpdate"]]
    assert {a["name"] for a in ld["author"]} == {"ann", "Zoë <script>alert(5)</script>"}


def test_hostile_text_is_neutralised_in_markdown(invoke: Invoke) -> None:
    hostile_day(invoke)
    md = summary(invoke, "2")
    # (The photo's URL is a link destination, which markdown renderers percent-encode.)
    text = "\n".join(line for line in md.split("\n") if not line.startswith("!["))
    assert "<script" not in text
    assert "</script" not in text
    assert "<img" not in text
    assert "<!--" not in text
    for words in ("arabic", "hebrew", "emoji"):
        assert HOSTILE[words] in md
    # Even a quote of several paragraphs stays one block quote, the note two paragraphs.
    assert "\n\n" + HOSTILE["rlo"] + "\n" in md


def test_hostile_text_survives_json(invoke: Invoke) -> None:
    hostile_day(invoke)
    data = as_json(invoke)
    assert data["title"] == f"Conf {HOSTILE['script']} – Day 2 Reflections"
    assert data["conference"]["venue"] == HOSTILE["quotes"]
    (session,) = [n for n in data["flow"] if n["type"] == "session"]
    assert session["title"] == HOSTILE["close"]
    assert session["hosts"] == [HOSTILE["arabic"], HOSTILE["quotes"]]
    texts = [n.get("text") for n in walk(data["flow"])]
    assert HOSTILE["emoji"] in texts


@pytest.mark.usefixtures("day_open")
def test_markdown_keeps_a_photo_whose_caption_has_brackets(invoke: Invoke) -> None:
    post(invoke, "photo", "https://example.org/a.jpg", "--caption", "Slide 1] of [3",
         "--at", "2011-06-09T09:10")  # fmt: skip
    md = summary(invoke, "2")
    # The image's alt text must not end early at the caption's own "]".
    image = re.compile(r"!\[((?:[^\[\]\\]|\\.)*)\]\(https://example\.org/a\.jpg\)")
    assert image.search(md), md


# -- the user's own template -----------------------------------------------------------------


@pytest.mark.usefixtures("day_open")
def test_a_user_template(invoke: Invoke, tmp_path: Path) -> None:
    plenary_with_talks(invoke)
    template = tmp_path / "mine.txt.j2"
    template.write_text(
        "{{ title }} by {{ byline }}\n"
        "{% for s in flow %}[{{ s.title }}]"
        "{% for t in s.flow %}({{ t.speaker if t.type == 'talk' else t.text }}){% endfor %}"
        "\n{% endfor %}",
        encoding="utf-8",
    )
    out = summary(invoke, "2", "--template", str(template))
    assert out == (
        f"{DEFAULT_TITLE} by ann\n"
        "[Opening plenary](Andy Burns)(Bea Smith)(Cy Jones)(Dee Patel)\n"
        "[Data sharing](Lively discussion on consent)\n"
    )


@pytest.mark.parametrize("name", ["page.html", "page.htm", "page.html.j2"])
def test_a_user_html_template_escapes_user_text(invoke: Invoke, tmp_path: Path, name: str) -> None:
    hostile_day(invoke)
    template = tmp_path / name
    template.write_text(
        "<h1>{{ title }}</h1>"
        "{% for n in flow if n.type == 'session' %}<h2>{{ n.title }}</h2>{% endfor %}",
        encoding="utf-8",
    )
    out = summary(invoke, "2", "--template", str(template))
    assert "<script" not in out, out
    assert "&lt;script&gt;" in out


@pytest.mark.usefixtures("day_open")
def test_template_errors_are_one_line(invoke: Invoke, tmp_path: Path) -> None:
    post(invoke, "note", "hello", "--at", "2011-06-09T09:10")
    missing = tmp_path / "nowhere" / "missing.md.j2"
    error = refused(invoke, "summary", "2", "--template", str(missing))
    assert "missing.md.j2" in error

    broken = tmp_path / "broken.md.j2"
    broken.write_text("{% for x in flow %}\nno end\n", encoding="utf-8")
    refused(invoke, "summary", "2", "--template", str(broken))

    unknown = tmp_path / "unknown.md.j2"
    unknown.write_text("{{ no_such_thing.at_all }}\n", encoding="utf-8")
    refused(invoke, "summary", "2", "--template", str(unknown))


# -- refusals ----------------------------------------------------------------------------------


@pytest.mark.usefixtures("day_open")
def test_unknown_day_or_conference_is_refused(invoke: Invoke) -> None:
    assert "5" in refused(invoke, "summary", "5")
    assert "nope" in refused(invoke, "summary", "2", "--conference", "nope")
    refused(invoke, "summary", "5", "--format", "html")
    refused(invoke, "summary", "5", "--as-of", "2099-01-01T00:00")
    assert invoke("summary", "0").exit_code == 2
    assert invoke("summary", "two").exit_code == 2
    assert invoke("summary", "2", "--format", "pdf").exit_code == 2


def test_summary_of_an_empty_log_is_refused(invoke: Invoke) -> None:
    refused(invoke, "summary", "1")


def test_summary_of_another_conference(invoke: Invoke) -> None:
    conference(invoke)
    post(invoke, "day", "open", "1", "--at", "2011-06-08T09:00")
    post(invoke, "note", "socitm note", "--at", "2011-06-08T09:10")
    post(
        invoke, "conference", "open", "other", "--title", "Other", "--at", "2011-06-08T08:00",
        author="bob",
    )  # fmt: skip
    post(invoke, "day", "open", "1", "--at", "2011-06-08T09:00", author="bob")
    post(invoke, "note", "other note", "--at", "2011-06-08T09:10", author="bob")
    assert "socitm note" in summary(invoke, "1")
    assert "other note" in summary(invoke, "1", author="bob")
    out = summary(invoke, "1", "--conference", "other")
    assert out.startswith("# Other – Day 1 Reflections\n")
    assert "socitm note" not in out
    # Someone who never reported, with two conferences open: which one is ambiguous.
    refused(invoke, "summary", "1", author="zed")
    assert "other note" in summary(invoke, "1", "--conference", "other", author="zed")


@pytest.mark.usefixtures("day_open")
def test_summary_after_the_conference_closed(invoke: Invoke) -> None:
    post(invoke, "note", "last words", "--at", "2011-06-09T17:00")
    post(invoke, "conference", "close", "--at", "2011-06-09T18:00")
    md = summary(invoke, "2")
    assert md.startswith(f"# {DEFAULT_TITLE}\n")
    assert "last words" in md
    assert as_json(invoke)["coverage_end"] == "2011-06-09T18:00:00+01:00"
    assert summary(invoke, "2", "--conference", "socitm-2011") == md


@pytest.mark.usefixtures("day_open")
def test_the_byline_leaves_out_a_reporter_whose_entries_were_all_retracted(
    invoke: Invoke,
) -> None:
    post(invoke, "note", "Kept", "--at", "2011-06-09T09:10")
    result = invoke("note", "Mistake", "--at", "2011-06-09T09:11", author="zed")
    assert result.exit_code == 0, result.output
    assert "zed" in summary(invoke, "2").splitlines()[2]
    assert invoke("retract", "--last", author="zed").exit_code == 0
    byline = summary(invoke, "2").splitlines()[2]
    assert byline.startswith("*By ann ")
    assert "zed" not in byline
