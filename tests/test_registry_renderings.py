"""Every entry kind of the registry has its renderings, found by kind from one place.

`liveblog.summary.kinds` holds, per kind, the feed entry, the summary node (JSON), its
Markdown and HTML, and its JSON-LD update. A kind without them is an error wherever it
would be shown, never a guess; these tests fail as soon as a kind of
`events.ENTRY_KINDS` has no rendering, or an incomplete one.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from liveblog.domain.events import ENTRY_KINDS
from liveblog.feeds.model import _from_data
from liveblog.summary import kinds
from liveblog.summary.render import json_ld, render

STARTED = "2011-06-09T09:00:00+01:00"


def sample_node(kind: str, **extra: Any) -> dict[str, Any]:
    """A summary node of `kind` from its model's registry EXAMPLE, as the summary builds it."""
    node: dict[str, Any] = {
        "id": f"e-{kind}",
        "type": kind,
        "position": 7,
        "author": "ann",
        "occurred_at": STARTED,
        "updated_at": None,
    }
    node.update(kinds.rendering(kind).node(dict(ENTRY_KINDS[kind].EXAMPLE), STARTED, None))
    node.update(extra)
    return node


def sample_summary(flow: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "conference": {
            "slug": "c1",
            "title": "C1",
            "venue": None,
            "timezone": "Europe/London",
            "url": None,
            "language": "en",
        },
        "day": {"number": 2, "date": "2011-06-09", "title": None, "opened_at": STARTED},
        "title": "C1 – Day 2 Reflections",
        "reporters": ["ann"],
        "coverage_start": STARTED,
        "coverage_end": STARTED,
        "changed_position": 7,
        "flow": flow,
    }


@pytest.mark.parametrize("kind", sorted(ENTRY_KINDS))
def test_every_entry_kind_has_every_rendering(kind: str) -> None:
    found = kinds.rendering(kind)
    assert isinstance(found, kinds.Rendering)
    assert kind == found.KIND
    example = dict(ENTRY_KINDS[kind].EXAMPLE)
    parts = found.feed(example)
    assert parts.title and parts.html and parts.text
    node = sample_node(kind, intro="An introduction.")
    json.dumps(node)  # the summary's JSON is its nodes
    assert found.markdown(node).strip()
    assert found.html(node).strip().startswith("<")
    assert found.json_ld(node).headline


def test_the_registry_and_the_renderings_name_the_same_kinds() -> None:
    assert kinds.rendered_kinds() == set(ENTRY_KINDS)


@pytest.mark.parametrize("kind", sorted(ENTRY_KINDS))
def test_each_kind_renders_in_every_summary_format(kind: str) -> None:
    node = sample_node(kind)
    summary = sample_summary([node])
    for fmt in ("markdown", "html", "json"):
        assert render(summary, fmt).strip()
    assert f'"identifier":"e-{kind}"' in json_ld(summary)


# -- a kind without renderings fails, loudly ----------------------------------------------


def test_a_kind_without_renderings_is_an_error_not_a_guess() -> None:
    with pytest.raises(LookupError, match="'poll' has no rendering"):
        kinds.rendering("poll")
    node = sample_node("note") | {"type": "poll"}
    for fmt in ("markdown", "html"):
        with pytest.raises(LookupError, match="'poll'"):
            render(sample_summary([node]), fmt)
    with pytest.raises(LookupError, match="'poll'"):
        json_ld(sample_summary([node]))
    with pytest.raises(LookupError):  # the feeds: not published as some other kind
        _from_data("e1", "poll", 2, "ann", STARTED, None, {"text": "?"})


def test_a_registry_kind_without_renderings_is_found() -> None:
    """What the first test would report for a new entry kind declared without them."""
    registry = dict(ENTRY_KINDS) | {"poll": ENTRY_KINDS["note"]}
    missing = sorted(set(registry) - kinds.rendered_kinds())
    assert missing == ["poll"]


def test_an_incomplete_rendering_cannot_be_declared() -> None:
    with pytest.raises(TypeError):

        class Poll(kinds.Rendering):  # no markdown, html, json_ld…
            KIND = "poll"

            def feed(self, data: kinds.Data) -> kinds.FeedParts:
                return kinds.FeedParts("Poll", "<p>Poll</p>", "Poll")

    with pytest.raises(LookupError):
        kinds.rendering("poll")  # and nothing half-made was registered


def test_a_kind_cannot_have_two_renderings() -> None:
    with pytest.raises(TypeError, match="two renderings"):

        class OtherNote(kinds.Note):
            KIND = "note"
