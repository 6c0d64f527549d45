"""Atom (RFC 4287), with archive links and markers (RFC 5005), tombstones (RFC 6721),
entry links with their `rel` and `type`, and a WebSub hub link.

Written as text (`xmltext`), in the layout feedgen 1.0 and lxml gave it when they built
it: the first renderer is kept in tests/feedgen_reference.py, and the tests hold the two
to the same bytes. Going through feedgen cost a validating setter per field and an lxml
element per value, several times the price of the text itself: on a first full publish
of a big log, where thousands of archive documents are written, it was the largest cost.
"""

from __future__ import annotations

from typing import Any

from .document import ATOM_TYPE, Document
from .xmltext import DECLARATION, attribute, check, text

ATOM_NS = "http://www.w3.org/2005/Atom"
HISTORY_NS = "http://purl.org/syndication/history/1.0"
TOMBSTONE_NS = "http://purl.org/atompub/tombstones/1.0"
GENERATOR = "liveblog"
GENERATOR_URI = "https://pypi.org/project/liveblog/"

# Atom elements carry no prefix: the root declares Atom the default namespace (the
# extensions' elements are prefixed fh: and at:).
_ROOT = f'<feed xmlns:fh="{HISTORY_NS}" xmlns:at="{TOMBSTONE_NS}" xmlns="{ATOM_NS}"'


def _rfc3339(value: Any) -> str:
    return str(value.isoformat(timespec="seconds"))


def _author(out: list[str], indent: str, name: str) -> None:
    if name:  # Atom requires a name: an author without one is left out
        out.append(f"{indent}<author>\n{indent}  <name>{text(name)}</name>\n{indent}</author>\n")


def render_atom(doc: Document) -> bytes:
    if not (doc.id and doc.title):
        raise ValueError("Required fields not set (title, id)")
    lang = f' xml:lang="{attribute(doc.language)}"' if doc.language else ""
    out = [
        f"{DECLARATION}{_ROOT}{lang}>\n"
        f"  <id>{text(doc.id)}</id>\n"
        f"  <title>{text(doc.title)}</title>\n"
        f"  <updated>{doc.updated.isoformat()}</updated>\n"
    ]
    _author(out, "  ", doc.author)
    out.append(
        f'  <link href="{attribute(doc.self_url)}" rel="self" type="{ATOM_TYPE}"/>\n'
        f'  <link href="{attribute(doc.site_url)}" rel="alternate" type="text/html"/>\n'
        f'  <generator uri="{GENERATOR_URI}">{GENERATOR}</generator>\n'
    )
    if doc.subtitle:
        out.append(f"  <subtitle>{text(doc.subtitle)}</subtitle>\n")
    for rel, href, media in (
        ("current", doc.current_url, ATOM_TYPE),
        ("prev-archive", doc.prev_archive, ATOM_TYPE),
        ("next-archive", doc.next_archive, ATOM_TYPE),
        ("hub", doc.hub, None),
    ):
        if href:
            kind = f' type="{media}"' if media else ""
            out.append(f'  <link rel="{rel}" href="{attribute(href)}"{kind}/>\n')
    if doc.archive:
        out.append("  <fh:archive/>\n")
    ids, links = doc.entry_ids, doc.entry_links
    for stone in doc.tombstones:
        out.append(
            f'  <at:deleted-entry ref="{attribute(ids[stone.id])}" '
            f'when="{attribute(_rfc3339(stone.when))}">\n'
            f"    <at:by>\n      <name>{text(stone.by)}</name>\n    </at:by>\n"
        )
        if stone.reason:
            out.append(f"    <at:comment>{text(stone.reason)}</at:comment>\n")
        out.append("  </at:deleted-entry>\n")
    for entry in doc.entries:
        entry_id = ids[entry.id]
        if not (entry_id and entry.title):
            raise ValueError("Required fields not set")
        author = (
            f"    <author>\n      <name>{text(entry.author)}</name>\n    </author>\n"
            if entry.author
            else ""
        )
        content = (
            f'    <content type="html">{text(entry.html)}</content>\n'
            if entry.html
            else '    <content type="html"/>\n'
        )
        link = links.get(entry.id)
        out.append(
            f"  <entry>\n"
            f"    <id>{text(entry_id)}</id>\n"
            f"    <title>{text(entry.title)}</title>\n"
            f"    <updated>{entry.updated.isoformat()}</updated>\n"
            f"{author}{content}"
            f"    <published>{entry.published.isoformat()}</published>\n"
            + (
                f'    <link rel="alternate" type="text/html" href="{attribute(link)}"/>\n'
                if link
                else ""
            )
            + "  </entry>\n"
        )
    out.append("</feed>\n")
    return check("".join(out))


__all__ = ["render_atom"]
