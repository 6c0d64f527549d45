"""Atom (RFC 4287) with feedgen, plus what feedgen lacks, through its extension hook:
archive links and markers (RFC 5005), tombstones (RFC 6721), entry links with their
`rel` and `type`, and a WebSub hub link."""

from __future__ import annotations

import re
from typing import Any

from feedgen.ext.base import BaseEntryExtension, BaseExtension
from feedgen.feed import FeedGenerator
from lxml import etree

from .document import ATOM_TYPE, Document
from .model import FeedEntry

ATOM_NS = "http://www.w3.org/2005/Atom"
HISTORY_NS = "http://purl.org/syndication/history/1.0"
TOMBSTONE_NS = "http://purl.org/atompub/tombstones/1.0"


# feedgen writes Atom elements without a namespace under a literal xmlns attribute, so
# Atom elements added here do the same (a qualified name would print as ns0:link).


def _rfc3339(value: Any) -> str:
    return str(value.isoformat(timespec="seconds"))


_TITLE = re.compile(rb"(<title\b[^>]*>)([^<]*)(</title>)")


def titles_as_references(data: bytes) -> bytes:
    """Every <title>'s `<` and `&` written as character references (&#60; &#38;), not
    as &lt; and &amp;: a reader that takes a title for HTML (RSS titles are ambiguous,
    and some readers treat Atom's the same) then still shows the text as typed.

    lxml has no way to ask for a character reference, so the serialised bytes are
    rewritten; a title holds text only, so `[^<]*` spans the whole of it."""

    def refs(match: re.Match[bytes]) -> bytes:
        text = match.group(2).replace(b"&lt;", b"&#60;").replace(b"&amp;", b"&#38;")
        return match.group(1) + text + match.group(3)

    return _TITLE.sub(refs, data)


PINNED = "pinned"
KEY_MOMENT = "key-moment"
KEY_MOMENT_LABEL = "Key moment"
"""Category terms of the reader's page marks (Atom `term`, RSS text), and the label of a
key moment that has none of its own."""


def categories(entry: FeedEntry) -> list[tuple[str, str | None]]:
    """(term, label) of an entry's marks: pinned first, then a key moment."""
    out: list[tuple[str, str | None]] = []
    if entry.pinned:
        out.append((PINNED, None))
    if entry.highlighted:
        out.append((KEY_MOMENT, entry.highlight_label or KEY_MOMENT_LABEL))
    return out


class _LiveblogFeed(BaseExtension):  # type: ignore[misc]
    def __init__(self) -> None:
        self.document: Document | None = None

    def extend_ns(self) -> dict[str, str]:
        return {"fh": HISTORY_NS, "at": TOMBSTONE_NS}

    def extend_atom(self, feed: Any) -> Any:
        doc = self.document
        assert doc is not None
        links = [
            ("current", doc.current_url, ATOM_TYPE),
            ("prev-archive", doc.prev_archive, ATOM_TYPE),
            ("next-archive", doc.next_archive, ATOM_TYPE),
            ("hub", doc.hub, None),
        ]
        for rel, href, media in links:
            if href:
                link = etree.SubElement(feed, "link", rel=rel, href=href)
                if media:
                    link.set("type", media)
        if doc.archive:
            etree.SubElement(feed, f"{{{HISTORY_NS}}}archive")
        for stone in doc.tombstones:
            deleted = etree.SubElement(
                feed,
                f"{{{TOMBSTONE_NS}}}deleted-entry",
                ref=doc.entry_ids[stone.id],
                when=_rfc3339(stone.when),
            )
            by = etree.SubElement(deleted, f"{{{TOMBSTONE_NS}}}by")
            etree.SubElement(by, "name").text = stone.by
            if stone.reason:
                etree.SubElement(deleted, f"{{{TOMBSTONE_NS}}}comment").text = stone.reason
        return feed


class _LiveblogEntry(BaseEntryExtension):  # type: ignore[misc]
    def __init__(self) -> None:
        self.link: str | None = None

    def extend_atom(self, entry: Any) -> Any:
        # feedgen drops `rel` and `type` from entry links: add the link ourselves.
        if self.link:
            etree.SubElement(entry, "link", rel="alternate", type="text/html", href=self.link)
        return entry


def render_atom(doc: Document) -> bytes:
    fg = FeedGenerator()
    fg.register_extension("liveblog", _LiveblogFeed, _LiveblogEntry, atom=True, rss=False)
    fg.liveblog.document = doc
    fg.id(doc.id)
    fg.title(doc.title)
    fg.subtitle(doc.subtitle)
    fg.language(doc.language)
    fg.author({"name": doc.author})
    fg.link(href=doc.self_url, rel="self", type=ATOM_TYPE)
    fg.link(href=doc.site_url, rel="alternate", type="text/html")
    fg.generator("liveblog", uri="https://pypi.org/project/liveblog/")
    fg.updated(doc.updated)  # explicit: feedgen would otherwise say "now"
    for entry in doc.entries:
        fe = fg.add_entry(order="append")  # the default prepends
        fe.id(doc.entry_ids[entry.id])
        fe.title(entry.title)
        fe.author({"name": entry.author})
        fe.published(entry.published)
        fe.updated(entry.updated)
        fe.content(entry.html, type="html")  # never 'CDATA': invalid Atom
        for term, label in categories(entry):
            fe.category({"term": term, **({"label": label} if label else {})})
        fe.liveblog.link = doc.entry_links.get(entry.id)
    data: bytes = fg.atom_str(pretty=True, encoding="UTF-8", xml_declaration=True)
    return titles_as_references(data)


__all__ = ["KEY_MOMENT", "PINNED", "categories", "render_atom", "titles_as_references"]
