"""The day summary's "Key moments": from `liveblog highlight`, in every format, through
a user's template, and in the summary webhooks (real CLI, real SQLite file, a real HTTP
receiver)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from click.testing import Result
from receivers import BackgroundDeliverer, Receiver, settled, wait_for
from test_webhooks import FAST, delivered_everything, diagnosis, report, subscribe

Invoke = Callable[..., Result]


def ok(invoke: Invoke, *args: str) -> str:
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    return result.stdout


def ids(invoke: Invoke) -> list[str]:
    return [json.loads(line)["id"] for line in ok(invoke, "export").splitlines()]


def covered_day(invoke: Invoke) -> dict[str, str]:
    """Day 2 (opened by `day_open`): a session, a talk, a quote, a note; their ids."""
    out: dict[str, str] = {}
    steps = {
        "session": ("session", "start", "Opening plenary", "--at", "2011-06-09T09:00"),
        "talk": ("talk", "start", "Sharing", "--speaker", "Andy Burns", "--at", "09:05"),
        "quote": ("quote", "We must share services", "--at", "2011-06-09T09:10"),
        "note": ("note", "A long queue for the Q&A", "--at", "2011-06-09T09:20"),
    }
    for name, step in steps.items():
        ok(invoke, *step)
        out[name] = ids(invoke)[-1]
    return out


def moments(invoke: Invoke) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = json.loads(ok(invoke, "summary", "2", "--format", "json"))[
        "key_moments"
    ]
    return data


def test_highlighting_from_the_cli_fills_the_section(invoke: Invoke, day_open: None) -> None:
    entry = covered_day(invoke)
    assert moments(invoke) == []
    ok(invoke, "highlight", entry["quote"], "--label", "The <b>line</b> of the day & more")
    ok(invoke, "highlight", entry["note"])
    assert [(m["id"], m["label"], m["time"]) for m in moments(invoke)] == [
        (entry["quote"], "The <b>line</b> of the day & more", "09:10"),
        (entry["note"], None, "09:20"),
    ]
    markdown = ok(invoke, "summary", "2")
    section = markdown.split("\n## Key moments\n\n", 1)[1].split("\n\n", 1)[0]
    # No URL for the conference: each links its anchor on the day page, relatively.
    assert section.splitlines() == [
        f"- 09:10 — [The &lt;b>line&lt;/b> of the day & more](day-2.html#e-{entry['quote']})",
        f"- 09:20 — [A long queue for the Q&A](day-2.html#e-{entry['note']})",
    ]
    html = ok(invoke, "summary", "2", "--format", "html")
    assert (
        '<li><time datetime="2011-06-09T09:10:00+01:00">09:10</time> '
        f'<a href="day-2.html#e-{entry["quote"]}">The &lt;b&gt;line&lt;/b&gt; of the day '
        "&amp; more</a></li>"
    ) in html
    # Taken back, or the entry retracted: gone from the section; none left, no section.
    ok(invoke, "unhighlight", entry["quote"])
    ok(invoke, "retract", entry["note"])
    assert moments(invoke) == []
    assert "Key moments" not in ok(invoke, "summary", "2")
    assert '<section class="key-moments">' not in ok(invoke, "summary", "2", "--format", "html")


def test_a_conference_url_makes_the_links_absolute(invoke: Invoke) -> None:
    ok(invoke, "conference", "open", "c", "--title", "C", "--url", "https://c.example.org/live/")
    ok(invoke, "day", "open", "1")
    ok(invoke, "session", "start", "Keynote")
    ok(invoke, "highlight", "--last")
    (moment,) = moments_of(invoke, 1)
    assert moment["link"] == f"https://c.example.org/live/day-1.html#e-{ids(invoke)[-2]}"
    assert moment["text"] == "Keynote"
    assert moment["type"] == "session"


def moments_of(invoke: Invoke, day: int) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = json.loads(ok(invoke, "summary", str(day), "--format", "json"))[
        "key_moments"
    ]
    return data


def test_a_user_template_reads_the_key_moments(
    invoke: Invoke, day_open: None, tmp_path: Path
) -> None:
    entry = covered_day(invoke)
    ok(invoke, "highlight", entry["talk"], "--label", "Talk of the day")
    template = tmp_path / "mine.md.j2"
    template.write_text(
        "{% for m in key_moments %}{{ m.time }} {{ m.label or m.text }} {{ m.link }}\n{% endfor %}"
    )
    out = ok(invoke, "summary", "2", "--template", str(template))
    assert out == f"09:05 Talk of the day day-2.html#e-{entry['talk']}\n"


def test_a_key_moment_on_a_closed_day_sends_the_updated_summary(
    invoke: Invoke, db_path: Path, day_open: None
) -> None:
    entry = covered_day(invoke)
    with Receiver() as receiver:
        subscribe(invoke, receiver.url, "--event", "summary.published", "--event",
                  "summary.updated")  # fmt: skip
        report(invoke, "day", "close", "--at", "2011-06-09T17:30")
        [marked] = report(invoke, "highlight", entry["quote"], "--label", "The line")
        # A pin changes no summary: no version of its own.
        [pinned] = report(invoke, "pin", entry["note"])
        with BackgroundDeliverer(db_path, FAST):
            wait_for(delivered_everything(db_path, receiver, 2), what=diagnosis(db_path, receiver))
            wait_for(lambda: settled(db_path), what="every delivery settled")
    messages = receiver.accepted_json()
    assert [(m["type"], m["data"]["position"]) for m in messages][:2] == [
        ("summary.published", messages[0]["data"]["position"]),
        ("summary.updated", marked),
    ]
    assert pinned not in [m["data"]["position"] for m in messages]
    published, updated = (m["data"] for m in messages)
    assert "Key moments" not in published["markdown"] + published["html"]
    assert "\n## Key moments\n\n- 09:10 — [The line](day-2.html#e-" in updated["markdown"]
    assert '<section class="key-moments">' in updated["html"]
