"""The text renderers write the bytes feedgen and lxml wrote, for any document.

liveblog.feeds.atom and .rss write XML as text (liveblog.feeds.xmltext) instead of
building it through feedgen; tests/feedgen_reference.py keeps the feedgen renderers they
replaced. Hypothesis draws documents with hostile text (markup, entities, quotes,
whitespace, characters XML cannot carry), empty and missing fields, and times with any
offset and microseconds: both renderers must give the same bytes, or both refuse with a
ValueError (lxml's refusal of a character XML cannot carry).
"""

from __future__ import annotations

import datetime as dt
import re

import feedgen_reference as reference
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from liveblog.feeds import xmltext
from liveblog.feeds.atom import render_atom
from liveblog.feeds.document import Document
from liveblog.feeds.model import FeedEntry, Tombstone
from liveblog.feeds.rss import render_rss

PIECES = [
    "&", "&amp;", "<", ">", "]]>", '"', "'", "\t", "\n", "\n\n", "\r", "\r\n", " ", "  ",
    "<b>x</b>", "&#13;", "é", "€", "😀", "\u2028", "\u0085", "\x7f", "\u200b", "\ufeff",
    "\x00", "\x0b", "\x1f", "\ufffe", "\uffff", "\ud800", "\U0010ffff", "\U0001fffe",
]  # fmt: skip
TEXT = st.lists(st.one_of(st.sampled_from(PIECES), st.characters()), max_size=6).map("".join)
# Mostly text XML can carry, so that most examples get as far as comparing bytes.
NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
SAFE = TEXT.map(lambda value: NOT_XML.sub("", value))
SOME = st.one_of(SAFE, SAFE, SAFE, TEXT)
MAYBE = st.one_of(st.none(), st.just(""), SOME)
TIMES = st.builds(
    lambda base, minutes: base.replace(tzinfo=dt.timezone(dt.timedelta(minutes=minutes))),
    st.datetimes(min_value=dt.datetime(1971, 1, 1), max_value=dt.datetime(2999, 1, 1)),
    st.integers(-23 * 60, 23 * 60),
)


@st.composite
def documents(draw: st.DrawFn) -> Document:
    ids = draw(st.lists(st.sampled_from(["a", "b", "c", "d", "e", "f"]), max_size=5))
    entries = [
        FeedEntry(
            id=event_id,
            kind=draw(st.sampled_from(["note", "quote", "photo", "talk", "session", "day"])),
            day=1,
            author=draw(SOME),
            published=draw(TIMES),
            updated=draw(TIMES),
            title=draw(st.one_of(SOME, st.just(""))),
            html=draw(st.one_of(SOME, st.just(""))),
            text=draw(SOME),
        )
        for event_id in ids
    ]
    stones = [
        Tombstone(id=event_id, when=draw(TIMES), by=draw(SOME), reason=draw(MAYBE))
        for event_id in draw(st.lists(st.sampled_from(["x", "y", "a"]), max_size=3))
    ]
    every = {e.id for e in entries} | {t.id for t in stones}
    return Document(
        id=draw(SOME),
        title=draw(SOME),
        subtitle=draw(SOME),
        language=draw(st.one_of(st.just("en"), SOME)),
        author=draw(SOME),
        updated=draw(TIMES),
        self_url=draw(SOME),
        site_url=draw(SOME),
        entry_ids={event_id: draw(SOME) for event_id in sorted(every)},
        entries=entries,
        tombstones=stones,
        entry_links={e.id: draw(SOME) for e in entries if draw(st.booleans())},
        hub=draw(MAYBE),
        expired=draw(st.booleans()),
        archive=draw(st.booleans()),
        current_url=draw(MAYBE),
        prev_archive=draw(MAYBE),
        next_archive=draw(MAYBE),
    )


def outcome(render: object, doc: Document) -> bytes | str:
    try:
        return render(doc)  # type: ignore[operator,no-any-return]
    except ValueError:  # UnicodeEncodeError (a lone surrogate) is one too
        return "ValueError"


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents())
def test_atom_bytes_match_feedgen(doc: Document) -> None:
    assert outcome(render_atom, doc) == outcome(reference.render_atom, doc)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents())
def test_rss_bytes_match_feedgen(doc: Document) -> None:
    assert outcome(render_rss, doc) == outcome(reference.render_rss, doc)


def test_refused_characters_are_lxmls() -> None:
    """xmltext refuses exactly the characters lxml refuses, over all of Unicode."""
    element = etree.Element("a")
    differ = []
    for code in range(0x110000):
        try:
            element.text = chr(code)
            etree.tostring(element, encoding="UTF-8")
            refused = False
        except ValueError:  # and UnicodeEncodeError, for a lone surrogate
            refused = True
        try:
            xmltext.check(chr(code))
            refuses = False
        except ValueError:
            refuses = True
        if refused != refuses:
            differ.append(hex(code))
    assert differ == []
