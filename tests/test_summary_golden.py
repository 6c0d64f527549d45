"""Golden files: a fixed sample day's summary in markdown, html and json.

The sample (tests/golden/sample-day.jsonl) is imported, so every id and time is fixed:
two reporters in parallel sessions, corrections, a retraction, a day before and a day
after. To accept a deliberate change of output, regenerate and review the diff:

    LIVEBLOG_REGEN_GOLDEN=1 .venv/bin/python -m pytest tests/test_summary_golden.py
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

Invoke = Callable[..., Result]

GOLDEN = Path(__file__).parent / "golden"
SAMPLE = GOLDEN / "sample-day.jsonl"
REGENERATE = os.environ.get("LIVEBLOG_REGEN_GOLDEN") == "1"
FORMATS = {"markdown": "md", "html": "html", "json": "json"}


@pytest.fixture
def sample(invoke: Invoke) -> Invoke:
    result = invoke("import", str(SAMPLE))
    assert result.exit_code == 0, result.output
    return invoke


def summary(invoke: Invoke, *args: str) -> str:
    result = invoke("summary", *args)
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    return result.stdout


def check_golden(name: str, actual: str) -> None:
    path = GOLDEN / name
    if REGENERATE:
        path.write_text(actual, encoding="utf-8", newline="")
    assert path.exists(), f"{path} is missing: run with LIVEBLOG_REGEN_GOLDEN=1"
    expected = path.read_text(encoding="utf-8")
    assert actual == expected, f"{name} differs from the golden file"


@pytest.mark.parametrize("fmt", FORMATS)
def test_day_2_matches_the_golden_file(sample: Invoke, fmt: str) -> None:
    check_golden(f"day-2.{FORMATS[fmt]}", summary(sample, "2", "--format", fmt))


def test_markdown_is_the_default_format(sample: Invoke) -> None:
    assert summary(sample, "2") == summary(sample, "2", "--format", "markdown")


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_same_after_a_rebuild(sample: Invoke, fmt: str) -> None:
    before = summary(sample, "2", "--format", fmt)
    assert sample("rebuild").exit_code == 0
    assert summary(sample, "2", "--format", fmt) == before


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_same_as_of_the_last_event(sample: Invoke, fmt: str) -> None:
    last = json.loads(sample("export").stdout.splitlines()[-1])["recorded_at"]
    assert summary(sample, "2", "--format", fmt, "--as-of", last) == (
        summary(sample, "2", "--format", fmt)
    )


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_same_through_the_real_command(
    sample: Invoke, run_cli: Callable[..., Any], fmt: str
) -> None:
    done = run_cli("summary", "2", "--conference", "socitm-2011", "--format", fmt)
    assert done.returncode == 0, done.stderr
    assert done.stdout == summary(sample, "2", "--format", fmt)


def test_golden_sample_shape(sample: Invoke) -> None:
    """What the golden files are meant to show, checked apart from their exact text."""
    data = json.loads(summary(sample, "2", "--format", "json"))
    assert data["title"] == "SOCITM 2011 – Day 2 Reflections"
    assert data["reporters"] == ["ann", "bob"]
    assert [(s["id"], s["kind"]) for s in data["flow"]] == [
        ("s-plenary", "plenary"),
        ("s-round", "roundtable"),
        ("s-keynote", "keynote"),
    ]
    plenary, roundtable, keynote = data["flow"]
    assert [t["id"] for t in plenary["flow"]] == ["t-burns", "t-smith", "t-jones"]
    assert [t["id"] for t in keynote["flow"]] == ["t-patel"]
    assert [n["id"] for n in roundtable["flow"]] == ["n-consent", "q-ferguson", "p-round"]
    assert roundtable["flow"][1]["speaker"] == "Martin Ferguson"
    burns, smith, jones = plenary["flow"]
    assert [i["id"] for i in burns["items"]] == ["q-burns", "n-hall", "p-burns"]
    assert burns["items"][2]["caption"] == "Andy Burns on the main stage, Hall 1"
    assert smith["items"][0]["text"].endswith("someone else's contract.")
    assert [i["id"] for i in jones["items"]] == ["q-jones"]  # the demo note was retracted
    assert data["coverage_start"] == "2011-06-09T08:45:00+01:00"
    assert data["coverage_end"] == "2011-06-09T17:00:00+01:00"
    text = json.dumps(data)
    assert "Registration queues" not in text  # day 1
    assert "fire drill" not in text  # day 3


# -- key moments ------------------------------------------------------------------------

MARKS = GOLDEN / "key-moments.jsonl"
"""Key moments on the sample's day 2: two with labels (one a session), one without, one
taken back, one retracted later; and a pin (not a key moment)."""


@pytest.fixture
def marked(sample: Invoke) -> Invoke:
    result = sample("import", str(MARKS))
    assert result.exit_code == 0, result.output
    return sample


@pytest.mark.parametrize("fmt", FORMATS)
def test_key_moments_match_the_golden_file(marked: Invoke, fmt: str) -> None:
    check_golden(f"day-2-key-moments.{FORMATS[fmt]}", summary(marked, "2", "--format", fmt))


def test_key_moments_right_after_the_opening(marked: Invoke) -> None:
    data = json.loads(summary(marked, "2", "--format", "json"))
    site = "https://blog.example.org/socitm-2011"
    assert data["key_moments"] == [
        {
            "id": "p-burns",
            "type": "photo",
            "label": None,
            "text": "Andy Burns on the main stage, Hall 1",
            "author": "ann",
            "occurred_at": "2011-06-09T09:14:00+01:00",
            "time": "09:14",
            "link": f"{site}/day-2.html#e-p-burns",
        },
        {
            "id": "s-round",
            "type": "session",
            "label": "The roundtable",
            "text": "Data sharing across boundaries",
            "author": "bob",
            "occurred_at": "2011-06-09T09:15:00+01:00",
            "time": "09:15",
            "link": f"{site}/day-2.html#e-s-round",
        },
        {
            "id": "q-smith",
            "type": "quote",
            "label": "Cloud [contract] & <risk>",
            "text": "“The cloud is someone else's computer — and someone else's contract.” "
            "— Bea Smith",
            "author": "ann",
            "occurred_at": "2011-06-09T09:40:00+01:00",
            "time": "09:40",
            "link": f"{site}/day-2.html#e-q-smith",
        },
    ]
    markdown = summary(marked, "2")
    opening, rest = markdown.split("\n## Key moments\n", 1)
    assert opening.count("\n") == 3  # the title, a blank line, the byline
    section, after = rest.split("\n\n## ", 1)
    assert section.strip().splitlines() == [
        f"- 09:14 — [Andy Burns on the main stage, Hall 1]({site}/day-2.html#e-p-burns)",
        f"- 09:15 — [The roundtable]({site}/day-2.html#e-s-round)",
        f"- 09:40 — [Cloud \\[contract\\] & &lt;risk>]({site}/day-2.html#e-q-smith)",
    ]
    assert after.startswith("Opening plenary\n")
    html = summary(marked, "2", "--format", "html")
    byline = html.index('<p class="byline">')
    moments = html.index('<section class="key-moments">')
    assert byline < moments < html.index('<section class="session')
    # Each links an anchor the day page holds.
    for moment in data["key_moments"]:
        assert f'id="e-{moment["id"]}"' in html
    assert "Cloud [contract] &amp; &lt;risk&gt;" in html


def test_no_key_moments_no_section(sample: Invoke) -> None:
    assert json.loads(summary(sample, "2", "--format", "json"))["key_moments"] == []
    assert "Key moments" not in summary(sample, "2")
    assert '<section class="key-moments">' not in summary(sample, "2", "--format", "html")


def test_key_moments_as_of_before_they_were_marked(marked: Invoke) -> None:
    # The day as it stood before the marks were recorded: no section.
    lines = [json.loads(line) for line in marked("export").stdout.splitlines()]
    before = next(e for e in lines if e["id"] == "h-smith")["recorded_at"]
    earlier = [e["recorded_at"] for e in lines if e["recorded_at"] < before]
    assert earlier  # two imports: recorded apart (microseconds)
    data = json.loads(summary(marked, "2", "--format", "json", "--as-of", max(earlier)))
    assert data["key_moments"] == []
