"""Feed validators for the tests: Atom (RFC 4287, 5005, 6721), RSS 2.0 and JSON Feed 1.1.

Each checker returns a list of one-line problems, empty when the document is valid::

    assert check_atom(xml_bytes) == []

A problem reads ``"<where>: <what is wrong> [<rule code>]"``; `RULES` maps every rule
code to what it checks and where the rule comes from.
"""

from __future__ import annotations

import itertools
import json
import re
from datetime import datetime
from typing import Any, Literal

from .atom import (
    ATOM_NS,
    AtomEntry,
    AtomLink,
    AtomTombstone,
    atom_entries,
    atom_tombstones,
    check_atom,
    parse_rfc3339,
    parse_xml,
    rfc3339_error,
)
from .atom import RULES as ATOM_RULES
from .jsonfeed import RULES as JSON_RULES
from .jsonfeed import check_jsonfeed
from .rss import RULES as RSS_RULES
from .rss import RssItem, check_rss, parse_rfc822, rfc822_error, rss_items

__all__ = [
    "ATOM_RULES",
    "JSON_RULES",
    "ORDER_RULES",
    "RSS_RULES",
    "RULES",
    "TITLE_RULES",
    "AtomEntry",
    "AtomLink",
    "AtomTombstone",
    "RssItem",
    "atom_entries",
    "atom_tombstones",
    "check_atom",
    "check_feed",
    "check_feed_dates_order",
    "check_jsonfeed",
    "check_rss",
    "check_title_references",
    "parse_rfc822",
    "parse_rfc3339",
    "rfc822_error",
    "rfc3339_error",
    "rss_items",
]

Kind = Literal["atom", "rss", "json"]

ORDER_RULES: dict[str, str] = {
    "order.date": "every entry has the date the order is judged by, in the format's syntax",
    "order.newest-first": "entries are in non-increasing date order: newest first (ours)",
    "order.feed-updated": "the feed's atom:updated / lastBuildDate is not older than any "
    "entry's updated / pubDate (ours)",
}

TITLE_RULES: dict[str, str] = {
    "title.references": "a title's `<` and `&` are written as character references "
    "(&#60;, &#38;), not as &lt; / &amp; nor in CDATA: a reader that takes the title for "
    "HTML (RSS titles are ambiguous) still shows the text as typed (ours)",
}

RULES: dict[str, str] = {
    **ATOM_RULES,
    **RSS_RULES,
    **JSON_RULES,
    **ORDER_RULES,
    **TITLE_RULES,
}


def check_feed(data: bytes, kind: Kind) -> list[str]:
    """check_atom, check_rss or check_jsonfeed, by `kind`."""
    if kind == "atom":
        return check_atom(data)
    if kind == "rss":
        return check_rss(data)
    return check_jsonfeed(data)


def _dated(data: bytes, kind: Kind, field: str | None) -> tuple[list[tuple[str, Any]], Any]:
    """[(label, date text or None)] in document order, and the feed-level date text."""
    if kind == "json":
        doc = json.loads(data)
        items = [item for item in doc.get("items", []) if isinstance(item, dict)]
        rows = []
        for i, item in enumerate(items, 1):
            value = item.get(field) if field else item.get("date_modified")
            if field is None and value is None:
                value = item.get("date_published")
            rows.append((f"item #{i} ({item.get('id')})", value))
        return rows, None
    root, problems = parse_xml(data, kind)
    if root is None:
        raise ValueError("; ".join(problems))
    if kind == "atom":
        name = field or "updated"
        rows = []
        for i, entry in enumerate(root.findall(f"{{{ATOM_NS}}}entry"), 1):
            ident = entry.findtext(f"{{{ATOM_NS}}}id")
            rows.append((f"entry #{i} ({ident})", entry.findtext(f"{{{ATOM_NS}}}{name}")))
        return rows, root.findtext(f"{{{ATOM_NS}}}updated") if name == "updated" else None
    channel = root.find("channel")
    if channel is None:
        raise ValueError("no <channel>")
    name = field or "pubDate"
    rows = []
    for i, item in enumerate(channel.findall("item"), 1):
        label = item.findtext("guid") or item.findtext("title") or ""
        rows.append((f"item #{i} ({label})", item.findtext(name)))
    return rows, channel.findtext("lastBuildDate") if name == "pubDate" else None


def check_feed_dates_order(data: bytes, kind: Kind, *, field: str | None = None) -> list[str]:
    """Entries must be newest first (ties allowed), judged by their dates as instants.

    The date used: Atom ``updated``, RSS ``pubDate``, JSON Feed ``date_modified`` falling
    back to ``date_published``; `field` names another (e.g. "published",
    "date_published"). With the default field, the feed-level date (atom:updated,
    lastBuildDate) must not be older than the newest entry. Well-formedness and the
    rest of validity are check_atom / check_rss / check_jsonfeed's business: a document
    they reject may raise ValueError here.
    """
    parse = parse_rfc822 if kind == "rss" else parse_rfc3339
    rows, feed_date = _dated(data, kind, field)
    problems: list[str] = []
    dated: list[tuple[str, str, datetime]] = []
    for label, text in rows:
        when = parse(text) if isinstance(text, str) else None
        if when is None:
            problems.append(f"{label}: no usable date ({text!r}) [order.date]")
        else:
            dated.append((label, text, when))
    for (label_a, text_a, a), (label_b, text_b, b) in itertools.pairwise(dated):
        if b > a:
            problems.append(
                f"{label_b}: dated {text_b}, newer than the entry before it, {label_a} "
                f"({text_a}); entries must be newest first [order.newest-first]"
            )
    if isinstance(feed_date, str) and dated:
        feed_when = parse(feed_date)
        label, text, newest = max(dated, key=lambda row: row[2])
        if feed_when is not None and feed_when < newest:
            problems.append(
                f"feed: dated {feed_date}, older than {label} ({text}) [order.feed-updated]"
            )
    return problems


# A title element, with any prefix, as serialised; its text up to the closing tag.
_TITLE = re.compile(rb"<((?:[A-Za-z_][-.\w]*:)?title)\b([^>]*)>(.*?)</\1>", re.DOTALL)
_MARKUP_TYPE = re.compile(rb"""\btype\s*=\s*["'](?:html|xhtml)["']""")


def check_title_references(data: bytes, kind: Kind) -> list[str]:
    """Every title (the feed's, each entry's) writes `<` and `&` as numeric character
    references. Judged on the bytes, since a parser hides how a character was written;
    JSON Feed has no such ambiguity (titles are plain text), nor has an Atom title of
    type html or xhtml (it says it holds markup)."""
    if kind == "json":
        return []
    problems = []
    for number, match in enumerate(_TITLE.finditer(data), 1):
        if kind == "atom" and _MARKUP_TYPE.search(match.group(2)):
            continue
        text = match.group(3)
        written = [form for form in (b"&lt;", b"&amp;", b"<![CDATA[") if form in text]
        if written:
            shown = text.decode("utf-8", "replace")[:60]
            forms = ", ".join(f.decode() for f in written)
            problems.append(
                f"title #{number} ({shown!r}): writes {forms} instead of &#60; / &#38; "
                "[title.references]"
            )
    return problems
