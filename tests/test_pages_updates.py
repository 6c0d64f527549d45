"""The shared entry fragment: the EntryUpdate keys, escaping, retractions, pins."""

from __future__ import annotations

import datetime as dt
from html.parser import HTMLParser
from typing import Any, cast

from liveblog.pages.updates import entry_updates
from liveblog.store.timeline import Conference, Timeline, TimelineEntry

CONFERENCE = Conference(
    slug="conf",
    title="Conf",
    venue=None,
    timezone="Europe/London",
    url=None,
    language="en",
    opened_at=dt.datetime(2026, 6, 1, 8, tzinfo=dt.UTC),
    closed_at=None,
    changed_position=1,
)
TIMELINE = cast(Timeline, None)  # the renderer reads no timeline yet


def entry(**overrides: Any) -> TimelineEntry:
    fields: dict[str, Any] = {
        "position": 5,
        "id": "abc123",
        "conference": "conf",
        "day": 1,
        "kind": "note",
        "author": "ann",
        "occurred_at": "2026-06-01T10:42:00+01:00",
        "utc_at": "2026-06-01T09:42:00+00:00",
        "session": None,
        "talk": None,
        "data": {"text": "hello"},
    }
    fields.update(overrides)
    return TimelineEntry(**fields)


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(html: str) -> Tags:
    tags = Tags()
    tags.feed(html)
    return tags


def test_keys_and_article_attributes() -> None:
    [update] = entry_updates(TIMELINE, CONFERENCE, [entry(changed_position=9)])
    assert set(update) == {
        "id", "position", "changed", "day", "utc_at",
        "retracted", "pinned", "key_moment", "html",
    }  # fmt: skip
    assert update["changed"] == 9 and update["key_moment"] is None
    tag, attrs = parse(update["html"]).tags[0]
    assert tag == "article" and attrs["id"] == "entry-abc123"
    assert attrs["data-position"] == "5" and attrs["data-kind"] == "note"
    time = next(a for t, a in parse(update["html"]).tags if t == "time")
    assert time["datetime"] == "2026-06-01T10:42:00+01:00"


def test_hostile_text_is_escaped() -> None:
    hostile = '<script>alert("x")</script>'
    [update] = entry_updates(
        TIMELINE, CONFERENCE, [entry(kind="quote", data={"text": hostile, "speaker": hostile})]
    )
    parsed = parse(update["html"])
    assert "script" not in [tag for tag, _ in parsed.tags]
    assert "blockquote" in [tag for tag, _ in parsed.tags]
    assert hostile in "".join(parsed.text)


def test_retracted_has_no_html_and_is_not_pinned() -> None:
    [update] = entry_updates(
        TIMELINE, CONFERENCE, [entry(retracted=True, pinned=True, highlighted=True)]
    )
    assert update["html"] == "" and update["retracted"] is True
    assert update["pinned"] is False and update["key_moment"] is None


def test_key_moment_label() -> None:
    [update] = entry_updates(
        TIMELINE, CONFERENCE, [entry(highlighted=True, highlight_label="Keynote")]
    )
    assert update["key_moment"] == {"label": "Keynote"}


def test_each_kind_has_its_element() -> None:
    cases = {
        "photo": ({"url": "https://x.test/a.jpg", "caption": "Stage"}, "figcaption"),
        "link": ({"url": "https://x.test/", "title": "Slides"}, "a"),
        "talk": ({"title": "Keynote", "speaker": "Jane"}, "p"),
        "session": ({"title": "Morning"}, "p"),
    }
    for kind, (data, element) in cases.items():
        [update] = entry_updates(TIMELINE, CONFERENCE, [entry(kind=kind, data=data)])
        parsed = parse(update["html"])
        assert element in [tag for tag, _ in parsed.tags], kind
        assert str(data.get("caption") or data["title"]) in "".join(parsed.text), kind
