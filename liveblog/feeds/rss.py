"""RSS 2.0, written as text (`xmltext`).

The elements come in the order and layout feedgen 1.0 and lxml gave them (the first
renderer is kept in tests/feedgen_reference.py; the tests hold the two to the same
bytes). Dates are the document's explicit times in RFC 822 form, never "now", and are
formatted without touching the process's locale (feedgen switched it for every date).
"""

from __future__ import annotations

import email.utils
from typing import Any

from .atom import ATOM_NS
from .document import RSS_TYPE, Document
from .xmltext import DECLARATION, attribute, check, text

DC_NS = "http://purl.org/dc/elements/1.1/"
CONTENT_NS = "http://purl.org/rss/1.0/modules/content/"
DOCS = "http://www.rssboard.org/rss-specification"
GENERATOR = "liveblog"

_ROOT = (
    f'<rss xmlns:dc="{DC_NS}" xmlns:atom="{ATOM_NS}" xmlns:content="{CONTENT_NS}" version="2.0">\n'
)


def rfc822(value: Any) -> str:
    return email.utils.format_datetime(value)


def render_rss(doc: Document) -> bytes:
    if not (doc.title and doc.site_url and doc.subtitle):
        raise ValueError("Required fields not set (title, link, description)")
    # The channel's <link> is the site; the feed's own address is the atom:link self.
    out = [
        f"{DECLARATION}{_ROOT}  <channel>\n"
        f"    <title>{text(doc.title)}</title>\n"
        f"    <link>{text(doc.site_url)}</link>\n"
        f"    <description>{text(doc.subtitle)}</description>\n"
        f'    <atom:link href="{attribute(doc.self_url)}" rel="self" type="{RSS_TYPE}"/>\n'
        f"    <docs>{DOCS}</docs>\n"
        f"    <generator>{GENERATOR}</generator>\n"
    ]
    if doc.language:
        out.append(f"    <language>{text(doc.language)}</language>\n")
    # The feed's author: RSS's managingEditor must be an e-mail address.
    out.append(
        f"    <lastBuildDate>{text(rfc822(doc.updated))}</lastBuildDate>\n"
        f"    <dc:creator>{text(doc.author)}</dc:creator>\n"
    )
    if doc.hub:
        out.append(f'    <atom:link rel="hub" href="{attribute(doc.hub)}"/>\n')
    ids, links = doc.entry_ids, doc.entry_links
    for entry in doc.entries:
        if not (entry.title or entry.html):
            raise ValueError("Required fields not set")
        link = links.get(entry.id)
        guid = ids[entry.id]
        out.append(
            "    <item>\n"
            + (f"      <title>{text(entry.title)}</title>\n" if entry.title else "")
            + (f"      <link>{text(link)}</link>\n" if link else "")
            + (f"      <description>{text(entry.html)}</description>\n" if entry.html else "")
            + (f'      <guid isPermaLink="false">{text(guid)}</guid>\n' if guid else "")
            # RSS's own <author> must be an e-mail address; Dublin Core names a person.
            + (f"      <dc:creator>{text(entry.author)}</dc:creator>\n" if entry.author else "")
            + f"      <pubDate>{text(rfc822(entry.updated))}</pubDate>\n"
            "    </item>\n"
        )
    out.append("  </channel>\n</rss>\n")
    return check("".join(out))
