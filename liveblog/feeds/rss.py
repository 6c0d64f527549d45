"""RSS 2.0 with feedgen.

feedgen formats RSS dates by switching the whole process's locale (not thread-safe, and
a surprise for anything else running in the service), and gives every channel a
lastBuildDate of "now". So it is given no dates at all: the extension writes pubDate and
lastBuildDate itself, in RFC 822 form, from the document's explicit times.
"""

from __future__ import annotations

import email.utils
from typing import Any

from feedgen.ext.base import BaseEntryExtension, BaseExtension
from feedgen.feed import FeedGenerator
from lxml import etree

from .atom import ATOM_NS, categories, titles_as_references
from .document import RSS_TYPE, Document

DC_NS = "http://purl.org/dc/elements/1.1/"


def rfc822(value: Any) -> str:
    return email.utils.format_datetime(value)


class _LiveblogChannel(BaseExtension):  # type: ignore[misc]
    def __init__(self) -> None:
        self.document: Document | None = None

    def extend_ns(self) -> dict[str, str]:
        return {"dc": DC_NS}

    def extend_rss(self, rss: Any) -> Any:
        doc = self.document
        assert doc is not None
        channel = rss.find("channel")
        etree.SubElement(channel, "lastBuildDate").text = rfc822(doc.updated)
        # The feed's author: RSS's managingEditor must be an e-mail address.
        etree.SubElement(channel, f"{{{DC_NS}}}creator").text = doc.author
        if doc.hub:
            etree.SubElement(channel, f"{{{ATOM_NS}}}link", rel="hub", href=doc.hub)
        return rss


class _LiveblogItem(BaseEntryExtension):  # type: ignore[misc]
    def __init__(self) -> None:
        self.published: Any = None
        self.author: str | None = None

    def extend_ns(self) -> dict[str, str]:
        return {"dc": DC_NS}

    def extend_rss(self, item: Any) -> Any:
        if self.author:
            # RSS's own <author> must be an e-mail address; Dublin Core names a person.
            etree.SubElement(item, f"{{{DC_NS}}}creator").text = self.author
        if self.published is not None:
            etree.SubElement(item, "pubDate").text = rfc822(self.published)
        return item


def render_rss(doc: Document) -> bytes:
    fg = FeedGenerator()
    fg.register_extension("liveblog", _LiveblogChannel, _LiveblogItem, atom=False, rss=True)
    fg.liveblog.document = doc
    # No dates through feedgen (see the module docstring): not even its default "now".
    fg._FeedGenerator__rss_lastBuildDate = None
    fg.title(doc.title)
    fg.description(doc.subtitle)
    fg.language(doc.language)
    # Self first: feedgen takes the channel's <link> from the last link given.
    fg.link(href=doc.self_url, rel="self", type=RSS_TYPE)
    fg.link(href=doc.site_url, rel="alternate")
    fg.generator("liveblog")
    # RSS has no `updated`: an item's one date is its first publication (a correction
    # leaves it), so items go newest-published first (stable: ties keep the document's
    # order), and a reader judging by pubDate sees them in order.
    for entry in sorted(doc.entries, key=lambda e: e.published.timestamp(), reverse=True):
        fe = fg.add_entry(order="append")
        fe.title(entry.title)
        fe.guid(doc.entry_ids[entry.id], permalink=False)
        fe.description(entry.html)
        link = doc.entry_links.get(entry.id)
        if link:
            fe.link(href=link)
        for term, _label in categories(entry):
            fe.category(term=term)  # RSS's <category> is a name: the label stays Atom's
        fe.liveblog.published = entry.published
        fe.liveblog.author = entry.author
    data: bytes = fg.rss_str(pretty=True, encoding="UTF-8", xml_declaration=True)
    return titles_as_references(data)
