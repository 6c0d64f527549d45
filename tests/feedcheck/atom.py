"""Atom checker: RFC 4287, with RFC 5005 archives and RFC 6721 tombstones.

Also home to the helpers the RSS and JSON Feed checkers share (XML parsing without
network or entity expansion, character checks, RFC 3339 dates, IRI syntax).

Every problem is one line: ``"<where>: <what is wrong> [<rule code>]"``. The rule codes
are the keys of `RULES`; "(ours)" marks rules of this project rather than the RFCs.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re
from collections import Counter
from datetime import UTC, datetime, timedelta, timezone
from typing import TypedDict

from lxml import etree

ATOM_NS = "http://www.w3.org/2005/Atom"
XHTML_NS = "http://www.w3.org/1999/xhtml"
TOMBSTONE_NS = "http://purl.org/atompub/tombstones/1.0"
HISTORY_NS = "http://purl.org/syndication/history/1.0"
IANA_REL_PREFIX = "http://www.iana.org/assignments/relation/"

RULES: dict[str, str] = {
    "atom.xml-wellformed": "the document is well-formed XML (XML 1.0)",
    "atom.xml-chars": "no characters XML forbids (C0 controls, U+FFFE/U+FFFF, surrogates), "
    "raw or as character references, and no discouraged C1 controls (XML 1.0 §2.2)",
    "atom.xml-doctype": "no DOCTYPE / DTD: feed readers do not process them (ours)",
    "atom.root": "the root element is atom:feed (RFC 4287 §4.1.1)",
    "atom.feed-id": "atom:feed has exactly one atom:id (RFC 4287 §4.1.1)",
    "atom.feed-title": "atom:feed has exactly one atom:title (RFC 4287 §4.1.1)",
    "atom.feed-updated": "atom:feed has exactly one atom:updated (RFC 4287 §4.1.1)",
    "atom.feed-once": "atom:feed has at most one atom:generator, atom:icon, atom:logo, "
    "atom:rights and atom:subtitle (RFC 4287 §4.1.1)",
    "atom.feed-author": "atom:feed has an atom:author unless every entry has one (RFC 4287 §4.1.1)",
    "atom.id-iri": "atom:id content is an absolute IRI (RFC 4287 §4.2.6)",
    "atom.date": "atom:updated / atom:published are RFC 3339 date-times with upper-case T "
    "and Z and a timezone, and name a real instant (RFC 4287 §3.3)",
    "atom.link-href": "every atom:link has an href that is an IRI reference (RFC 4287 §4.2.7.1)",
    "atom.link-alternate-unique": "at most one rel=alternate link per type and hreflang, "
    "in the feed and in each entry (RFC 4287 §4.1.1, §4.1.2)",
    "atom.self-link": "the feed has exactly one rel=self link and its href is absolute (ours; "
    "RFC 4287 §4.1.1 says SHOULD)",
    "atom.metadata-order": "all feed metadata comes before the first entry or deleted-entry (ours)",
    "atom.entry-id": "each atom:entry has exactly one atom:id (RFC 4287 §4.1.2)",
    "atom.entry-title": "each atom:entry has exactly one atom:title (RFC 4287 §4.1.2)",
    "atom.entry-updated": "each atom:entry has exactly one atom:updated (RFC 4287 §4.1.2)",
    "atom.entry-once": "each atom:entry has at most one atom:content, atom:published, "
    "atom:rights, atom:source and atom:summary (RFC 4287 §4.1.2)",
    "atom.entry-author": "each entry has an atom:author, in itself, its atom:source or the "
    "feed (RFC 4287 §4.1.2)",
    "atom.entry-content-or-alternate": "an entry without atom:content has a rel=alternate "
    "link (RFC 4287 §4.1.2)",
    "atom.entry-summary": "an entry has atom:summary when its content has src or is Base64 "
    "(RFC 4287 §4.1.2)",
    "atom.entry-id-unique": "entry ids are unique within the document (ours; RFC 4287 §4.1.1 "
    "allows repeats with different atom:updated)",
    "atom.content-type": "atom:content/@type is text, html, xhtml or a non-composite MIME "
    "media type, never e.g. 'CDATA' (RFC 4287 §4.1.3.1)",
    "atom.content-src": "atom:content with src is empty, src is an IRI reference and type, "
    "if given, is a MIME media type, not text/html/xhtml (RFC 4287 §4.1.3.2)",
    "atom.content-base64": "content whose type is neither XML nor text/* is valid Base64 "
    "(RFC 4287 §4.1.3.3)",
    "atom.text-type": "text constructs have type text, html or xhtml (RFC 4287 §3.1.1)",
    "atom.text-no-children": "type text / html (and text/* or Base64 content) contains no "
    "child elements: markup must be escaped (RFC 4287 §3.1.1, §4.1.3.3)",
    "atom.xhtml-div": "type xhtml contains exactly one xhtml:div and no other text "
    "(RFC 4287 §3.1.1.3, §4.1.3.3)",
    "atom.person": "person constructs have exactly one atom:name, at most one atom:uri "
    "(an IRI) and at most one atom:email (RFC 4287 §3.2)",
    "atom.category-term": "atom:category has a term attribute (RFC 4287 §4.2.2)",
    "atom.unknown-element": "no unknown elements in the Atom namespace (ours: catches typos)",
    "atom.tombstone-ref": "at:deleted-entry has a ref that is an absolute IRI (RFC 6721 §3)",
    "atom.tombstone-when": "at:deleted-entry has a when that is an RFC 3339 date-time "
    "(RFC 6721 §3)",
    "atom.tombstone-children": "at:deleted-entry has at most one at:by (a person construct) "
    "and at most one at:comment (RFC 6721 §3)",
    "atom.tombstone-entry-conflict": "a tombstone's ref is not also an entry id in the same "
    "document (ours; RFC 6721 lets readers resolve it by date)",
    "atom.tombstone-unique": "tombstone refs are unique within the document (ours; RFC 6721 "
    "forbids repeating ref and when together)",
    "atom.archive-marker": "an archive document (archive=True) contains fh:archive (RFC 5005 §4)",
    "atom.archive-current": "a document with fh:archive has a rel=current link (ours; "
    "RFC 5005 §4 says SHOULD)",
    "atom.archive-link-href": "prev-archive, next-archive and current links have an href "
    "(RFC 5005 §4)",
    "atom.archive-link-once": "at most one link each of rel current, prev-archive and "
    "next-archive (ours)",
    "atom.archive-complete-conflict": "a document does not contain both fh:complete and "
    "fh:archive (RFC 5005 §2, §4)",
    "atom.archive-element": "fh:archive and fh:complete are empty, appear at most once, and "
    "only as children of atom:feed (RFC 5005)",
}


# --------------------------------------------------------------------------- shared helpers


def problem(where: str, code: str, text: str) -> str:
    """One problem line: where, what, and the rule code in brackets."""
    return f"{where}: {text} [{code}]"


def clip(value: object, limit: int = 80) -> str:
    """repr() of a value, shortened for messages."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def local(tag: str) -> str:
    return tag.rpartition("}")[2]


def describe(el: etree._Element) -> str:
    """An element's name as a reader would write it: atom:entry, fh:archive, rss, {ns}x."""
    tag = el.tag
    if not isinstance(tag, str):
        return "(comment or processing instruction)"
    ns, _, name = tag[1:].partition("}") if tag.startswith("{") else ("", "", tag)
    prefix = {
        ATOM_NS: "atom:",
        XHTML_NS: "xhtml:",
        TOMBSTONE_NS: "at:",
        HISTORY_NS: "fh:",
    }.get(ns, f"{{{ns}}}" if ns else "")
    return prefix + name


def elements(el: etree._Element) -> list[etree._Element]:
    """Child elements, without comments and processing instructions."""
    return [child for child in el if isinstance(child.tag, str)]


def text_of(el: etree._Element) -> str:
    return "".join(el.itertext())


_XML_DECL_ENCODING = re.compile(rb"""<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")
# Characters XML 1.0 does not allow anywhere, raw or as character references.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# Allowed but discouraged (XML 1.0 §2.2): in a feed they nearly always mean mojibake.
_DISCOURAGED = re.compile("[\x7f-\x84\x86-\x9f]")
_CHAR_REF = re.compile(r"&#(?:x([0-9A-Fa-f]+)|([0-9]+));")


def _decode(data: bytes) -> tuple[str | None, str]:
    if data.startswith(codecs.BOM_UTF8):
        encoding = "utf-8-sig"
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16"
    else:
        match = _XML_DECL_ENCODING.match(data)
        encoding = match.group(1).decode("ascii") if match else "utf-8"
    try:
        return data.decode(encoding), encoding
    except (LookupError, UnicodeDecodeError):
        return None, encoding


def _char_name(code: int) -> str:
    return f"U+{code:04X}"


def char_problems(data: bytes, prefix: str) -> list[str]:
    """Characters XML forbids or discourages, raw or as character references."""
    text, encoding = _decode(data)
    if text is None:
        return [problem("document", f"{prefix}.xml-wellformed", f"bytes are not valid {encoding}")]
    found: list[tuple[int, str]] = []
    for match in _NOT_XML.finditer(text):
        found.append((match.start(), f"forbidden character {_char_name(ord(match.group()))}"))
    for match in _DISCOURAGED.finditer(text):
        found.append((match.start(), f"control character {_char_name(ord(match.group()))}"))
    for match in _CHAR_REF.finditer(text):
        code = int(match.group(1), 16) if match.group(1) else int(match.group(2))
        if code > 0x10FFFF or _NOT_XML.match(chr(code)):
            found.append((match.start(), f"reference {match.group()} to a forbidden character"))
        elif _DISCOURAGED.match(chr(code)):
            found.append((match.start(), f"reference {match.group()} to a control character"))
    found.sort()
    out = [
        problem(f"line {text.count(chr(10), 0, pos) + 1}", f"{prefix}.xml-chars", what)
        for pos, what in found[:5]
    ]
    if len(found) > 5:
        out.append(
            problem("document", f"{prefix}.xml-chars", f"{len(found) - 5} more bad characters")
        )
    return out


def parse_xml(data: bytes, prefix: str) -> tuple[etree._Element | None, list[str]]:
    """Parse without network access, DTD loading or entity expansion.

    Returns the root (None if the document is not well-formed) and the problems found
    so far: bad characters, parse errors, a DOCTYPE.
    """
    if isinstance(data, str):
        data = data.encode("utf-8")
    problems = char_problems(data, prefix)
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        recover=False,
    )
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        problems.append(problem("document", f"{prefix}.xml-wellformed", f"not well-formed: {exc}"))
        return None, problems
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:
        problems.append(
            problem("document", f"{prefix}.xml-doctype", "has a DOCTYPE; feeds must not have one")
        )
    return root, problems


_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})", re.ASCII
)
_RFC3339_NO_ZONE = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?", re.ASCII)


def _rfc3339(value: str) -> tuple[datetime | None, str | None]:
    match = _RFC3339.fullmatch(value)
    if match is None:
        if _RFC3339_NO_ZONE.fullmatch(value):
            return None, f"{clip(value)} has no timezone (Z or ±hh:mm)"
        if _RFC3339.fullmatch(value.upper()):
            return None, f"{clip(value)}: T and Z must be upper case"
        return None, (
            f"{clip(value)} is not an RFC 3339 date-time (YYYY-MM-DDThh:mm:ss[.f](Z|±hh:mm))"
        )
    year, month, day, hour, minute, second = (int(match.group(i)) for i in range(1, 7))
    fraction, zone = match.group(7), match.group(8)
    if second == 60 and minute != 59:
        return None, f"{clip(value)}: a leap second (60) can only follow minute 59"
    try:
        if zone == "Z":
            tz = UTC
        else:
            zone_hours, zone_minutes = int(zone[1:3]), int(zone[4:6])
            if zone_hours > 23 or zone_minutes > 59:
                raise ValueError("timezone offset out of range")
            sign = -1 if zone[0] == "-" else 1
            tz = timezone(sign * timedelta(hours=zone_hours, minutes=zone_minutes))
        micro = int((fraction[1:] + "000000")[:6]) if fraction else 0
        # A leap second is kept as :59.999999 so that it still sorts after :59.
        if second == 60:
            second, micro = 59, 999999
        return datetime(year, month, day, hour, minute, second, micro, tzinfo=tz), None
    except ValueError as exc:
        return None, f"{clip(value)} is not a real date-time ({exc})"


def rfc3339_error(value: str) -> str | None:
    """Why `value` is not a strict RFC 3339 date-time (T and Z upper case), or None."""
    return _rfc3339(value)[1]


def parse_rfc3339(value: str) -> datetime | None:
    """An aware datetime for a strict RFC 3339 date-time, None if it is not one."""
    return _rfc3339(value)[0]


# An IRI reference: no whitespace, no characters RFC 3987 excludes everywhere.
_IRI_REF = re.compile(r"[^\s<>\"{}|\\^`]*")
_ABS_IRI = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:[^\s<>\"{}|\\^`]+")


def is_iri_reference(value: str) -> bool:
    return _IRI_REF.fullmatch(value) is not None


def is_absolute_iri(value: str) -> bool:
    return _ABS_IRI.fullmatch(value) is not None


# ------------------------------------------------------------------------------ Atom proper


def A(name: str) -> str:
    return f"{{{ATOM_NS}}}{name}"


def T(name: str) -> str:
    return f"{{{TOMBSTONE_NS}}}{name}"


def H(name: str) -> str:
    return f"{{{HISTORY_NS}}}{name}"


FEED_ELEMENTS = frozenset(
    [
        "author",
        "category",
        "contributor",
        "generator",
        "icon",
        "id",
        "link",
        "logo",
        "rights",
        "subtitle",
        "title",
        "updated",
        "entry",
    ]
)
ENTRY_ELEMENTS = frozenset(
    [
        "author",
        "category",
        "content",
        "contributor",
        "id",
        "link",
        "published",
        "rights",
        "source",
        "summary",
        "title",
        "updated",
    ]
)
ARCHIVE_RELS = ("current", "prev-archive", "next-archive")
TEXT_TYPES = ("text", "html", "xhtml")
_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z\-]+"
_MEDIA_TYPE = re.compile(
    rf"{_TOKEN}/{_TOKEN}(\s*;\s*{_TOKEN}=({_TOKEN}|\"([^\"\\]|\\.)*\"))*", re.ASCII
)
_XML_MEDIA_TYPES = frozenset(
    {
        "text/xml",
        "application/xml",
        "text/xml-external-parsed-entity",
        "application/xml-external-parsed-entity",
        "application/xml-dtd",
    }
)


class _Out:
    def __init__(self, problems: list[str]) -> None:
        self.items = problems

    def add(self, where: str, code: str, text: str) -> None:
        self.items.append(problem(where, f"atom.{code}", text))


def _children(parent: etree._Element, name: str) -> list[etree._Element]:
    return list(parent.findall(A(name)))


def _count_exactly_one(
    parent: etree._Element, name: str, where: str, code: str, out: _Out
) -> etree._Element | None:
    found = _children(parent, name)
    if len(found) != 1:
        out.add(where, code, f"must contain exactly one atom:{name}, found {len(found)}")
    return found[0] if found else None


def _at_most_one(parent: etree._Element, names: str, where: str, code: str, out: _Out) -> None:
    for name in names.split():
        found = _children(parent, name)
        if len(found) > 1:
            out.add(where, code, f"must contain at most one atom:{name}, found {len(found)}")


def _check_id(el: etree._Element | None, where: str, out: _Out) -> str | None:
    if el is None:
        return None
    value = el.text or ""
    if not is_absolute_iri(value):
        out.add(where, "id-iri", f"atom:id {clip(value)} is not an absolute IRI")
    return value


def _check_date(el: etree._Element | None, where: str, out: _Out) -> None:
    if el is None:
        return
    if elements(el):
        out.add(where, "date", f"{describe(el)} must contain only text")
    reason = rfc3339_error(el.text or "")
    if reason:
        out.add(where, "date", f"{describe(el)} {reason}")


def _check_xhtml_div(el: etree._Element, where: str, out: _Out) -> None:
    kids = elements(el)
    name = describe(el)
    if len(kids) != 1 or kids[0].tag != f"{{{XHTML_NS}}}div":
        found = ", ".join(describe(kid) for kid in kids) or "none"
        out.add(
            where,
            "xhtml-div",
            f'{name} type="xhtml" must contain exactly one xhtml:div, found {found}',
        )
    stray = (el.text or "").strip() or any((child.tail or "").strip() for child in el)
    if stray:
        out.add(where, "xhtml-div", f'{name} type="xhtml" has text outside its xhtml:div')


def _no_children(el: etree._Element, where: str, kind: str, out: _Out) -> None:
    kids = elements(el)
    if kids:
        out.add(
            where,
            "text-no-children",
            f"{describe(el)} ({kind}) must not contain child elements (found "
            f"{describe(kids[0])}); escape the markup",
        )


def _check_text(el: etree._Element | None, where: str, out: _Out) -> None:
    """A text construct: atom:title, atom:subtitle, atom:summary, atom:rights."""
    if el is None:
        return
    kind = el.get("type", "text")
    if kind not in TEXT_TYPES:
        out.add(where, "text-type", f"{describe(el)} type={clip(kind)} must be text, html or xhtml")
    elif kind == "xhtml":
        _check_xhtml_div(el, where, out)
    else:
        _no_children(el, where, f'type="{kind}"', out)


def _check_person(el: etree._Element, where: str, out: _Out, *, code: str = "person") -> None:
    name = describe(el)
    names = el.findall(A("name"))
    if len(names) != 1:
        out.add(where, code, f"{name} must contain exactly one atom:name, found {len(names)}")
    elif not (names[0].text or "").strip():
        out.add(where, code, f"{name} has an empty atom:name")
    for child in ("uri", "email"):
        found = el.findall(A(child))
        if len(found) > 1:
            out.add(where, code, f"{name} has {len(found)} atom:{child}, at most one allowed")
    for uri in el.findall(A("uri")):
        if not is_iri_reference(uri.text or "") or not (uri.text or "").strip():
            out.add(where, code, f"{name} atom:uri {clip(uri.text)} is not an IRI")
    for email in el.findall(A("email")):
        if not re.fullmatch(r"[^@\s]+@[^@\s]+", email.text or ""):
            out.add(where, code, f"{name} atom:email {clip(email.text)} is not an address")


def _rel(link: etree._Element) -> str:
    rel = str(link.get("rel", "alternate"))
    return rel.removeprefix(IANA_REL_PREFIX)


def _check_links(parent: etree._Element, where: str, out: _Out) -> dict[str, list[etree._Element]]:
    by_rel: dict[str, list[etree._Element]] = {}
    alternates: Counter[tuple[str, str]] = Counter()
    for link in _children(parent, "link"):
        rel = _rel(link)
        by_rel.setdefault(rel, []).append(link)
        href = link.get("href")
        if href is None:
            code = "archive-link-href" if rel in ARCHIVE_RELS else "link-href"
            out.add(where, code, f'atom:link rel="{rel}" has no href')
        elif not is_iri_reference(href):
            out.add(where, "link-href", f'atom:link rel="{rel}" href {clip(href)} is not an IRI')
        if rel == "alternate":
            alternates[(link.get("type", "").lower(), link.get("hreflang", "").lower())] += 1
    for (kind, lang), n in alternates.items():
        if n > 1:
            out.add(
                where,
                "link-alternate-unique",
                f'{n} rel="alternate" links with type={kind or "(none)"} and '
                f"hreflang={lang or '(none)'}; at most one allowed",
            )
    return by_rel


def _check_categories(parent: etree._Element, where: str, out: _Out) -> None:
    for category in _children(parent, "category"):
        if not category.get("term"):
            out.add(where, "category-term", "atom:category has no (or an empty) term attribute")


def _check_unknown(parent: etree._Element, allowed: frozenset[str], where: str, out: _Out) -> None:
    for child in elements(parent):
        if child.tag.startswith(f"{{{ATOM_NS}}}") and local(child.tag) not in allowed:
            out.add(where, "unknown-element", f"unknown Atom element {describe(child)}")


def _content_kind(content: etree._Element, where: str, out: _Out) -> str | None:
    """text, html, xhtml, xml, textmime or base64; None if the type is not valid."""
    kind: str | None = content.get("type")
    if kind is None:
        return "text"
    if kind in TEXT_TYPES:
        return str(kind)
    if not _MEDIA_TYPE.fullmatch(kind):
        out.add(
            where,
            "content-type",
            f"atom:content type={clip(kind)} is not text, html, xhtml or a MIME media type",
        )
        return None
    media = kind.split(";", 1)[0].strip().lower()
    if media.startswith(("multipart/", "message/")):
        out.add(where, "content-type", f"atom:content type={clip(kind)} is a composite type")
        return None
    if media in _XML_MEDIA_TYPES or media.endswith(("/xml", "+xml")):
        return "xml"
    if media.startswith("text/"):
        return "textmime"
    return "base64"


def _check_content(content: etree._Element, where: str, out: _Out) -> bool:
    """Check atom:content; True if the entry therefore needs an atom:summary."""
    kind = _content_kind(content, where, out)
    src = content.get("src")
    if src is not None:
        if elements(content) or (content.text or "").strip():
            out.add(where, "content-src", "atom:content with src must be empty")
        if not src or not is_iri_reference(src):
            out.add(where, "content-src", f"atom:content src {clip(src)} is not an IRI reference")
        if content.get("type") in TEXT_TYPES:
            out.add(
                where,
                "content-src",
                f'atom:content with src has type="{content.get("type")}"; '
                "it must be a MIME media type",
            )
        return True
    if kind == "xhtml":
        _check_xhtml_div(content, where, out)
    elif kind in ("text", "html"):
        _no_children(content, where, f'type="{kind}"', out)
    elif kind == "textmime":
        _no_children(content, where, f"type={content.get('type')}", out)
    elif kind == "base64":
        _no_children(content, where, f"type={content.get('type')}", out)
        payload = re.sub(r"\s+", "", content.text or "")
        try:
            base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError):
            out.add(
                where,
                "content-base64",
                f"atom:content type={content.get('type')} is not valid Base64",
            )
        return True
    return False


def _has_author(entry: etree._Element) -> bool:
    if _children(entry, "author"):
        return True
    return any(_children(source, "author") for source in _children(entry, "source"))


def _entry_label(index: int, entry: etree._Element) -> str:
    ids = _children(entry, "id")
    ident = (ids[0].text or "").strip() if ids else ""
    return f"entry #{index} ({ident})" if ident else f"entry #{index}"


def _check_entry(entry: etree._Element, where: str, feed_has_author: bool, out: _Out) -> None:
    _check_id(_count_exactly_one(entry, "id", where, "entry-id", out), where, out)
    _check_text(_count_exactly_one(entry, "title", where, "entry-title", out), where, out)
    _check_date(_count_exactly_one(entry, "updated", where, "entry-updated", out), where, out)
    _at_most_one(entry, "content published rights source summary", where, "entry-once", out)
    for published in _children(entry, "published"):
        _check_date(published, where, out)
    for name in ("summary", "rights"):
        for el in _children(entry, name):
            _check_text(el, where, out)
    for name in ("author", "contributor"):
        for person in _children(entry, name):
            _check_person(person, where, out)
    for source in _children(entry, "source"):
        for person in _children(source, "author") + _children(source, "contributor"):
            _check_person(person, where, out)
    _check_categories(entry, where, out)
    _check_unknown(entry, ENTRY_ELEMENTS, where, out)
    links = _check_links(entry, where, out)

    contents = _children(entry, "content")
    needs_summary = any([_check_content(content, where, out) for content in contents])
    if not contents and "alternate" not in links:
        out.add(
            where,
            "entry-content-or-alternate",
            'has neither atom:content nor an atom:link rel="alternate"',
        )
    if needs_summary and not _children(entry, "summary"):
        out.add(
            where,
            "entry-summary",
            "atom:content has src or is Base64-encoded, so atom:summary is required",
        )
    if not feed_has_author and not _has_author(entry):
        out.add(where, "entry-author", "no atom:author in the entry, its atom:source or the feed")


def _check_tombstones(feed: etree._Element, entry_ids: set[str], out: _Out) -> None:
    refs: Counter[str] = Counter()
    for index, tomb in enumerate(feed.findall(T("deleted-entry")), 1):
        ref, when = tomb.get("ref"), tomb.get("when")
        where = f"deleted-entry #{index} ({ref})" if ref else f"deleted-entry #{index}"
        if ref is None:
            out.add(where, "tombstone-ref", "at:deleted-entry has no ref attribute")
        elif not is_absolute_iri(ref):
            out.add(where, "tombstone-ref", f"ref {clip(ref)} is not an absolute IRI")
        else:
            refs[ref] += 1
            if ref in entry_ids:
                out.add(
                    where,
                    "tombstone-entry-conflict",
                    f"ref {clip(ref)} is also the id of an atom:entry in this document",
                )
        if when is None:
            out.add(where, "tombstone-when", "at:deleted-entry has no when attribute")
        else:
            reason = rfc3339_error(when)
            if reason:
                out.add(where, "tombstone-when", f"when {reason}")
        for name in ("by", "comment"):
            found = tomb.findall(T(name))
            if len(found) > 1:
                out.add(
                    where, "tombstone-children", f"{len(found)} at:{name} elements, at most one"
                )
        for by in tomb.findall(T("by")):
            _check_person(by, where, out, code="tombstone-children")
    for ref, n in refs.items():
        if n > 1:
            out.add(
                f"deleted-entry ({ref})", "tombstone-unique", f"{n} at:deleted-entry with this ref"
            )


def _check_history(
    feed: etree._Element, links: dict[str, list[etree._Element]], archive: bool, out: _Out
) -> None:
    where = "feed"
    archives = [child for child in feed if child.tag == H("archive")]
    completes = [child for child in feed if child.tag == H("complete")]
    for el in feed.iter(H("archive"), H("complete")):
        if el.getparent() is not feed:
            out.add(where, "archive-element", f"{describe(el)} is not a child of atom:feed")
        elif elements(el) or (el.text or "").strip():
            out.add(where, "archive-element", f"{describe(el)} must be empty")
    for found in (archives, completes):
        if len(found) > 1:
            out.add(where, "archive-element", f"{len(found)} {describe(found[0])}, at most one")
    if archive and not archives:
        out.add(where, "archive-marker", "archive document has no fh:archive element")
    if archives and completes:
        out.add(where, "archive-complete-conflict", "contains both fh:archive and fh:complete")
    if (archive or archives) and "current" not in links:
        out.add(where, "archive-current", 'archive document has no atom:link rel="current"')
    for rel in ARCHIVE_RELS:
        if len(links.get(rel, [])) > 1:
            out.add(
                where,
                "archive-link-once",
                f'{len(links[rel])} atom:link rel="{rel}", at most one allowed',
            )


def _check_order(feed: etree._Element, out: _Out) -> None:
    entry_tags = (A("entry"), T("deleted-entry"))
    seen_entry = False
    for child in elements(feed):
        if child.tag in entry_tags:
            seen_entry = True
        elif seen_entry:
            out.add(
                "feed",
                "metadata-order",
                f"{describe(child)} comes after the first entry; feed metadata must come first",
            )


def check_atom(data: bytes, *, archive: bool = False) -> list[str]:
    """Problems with an Atom feed document; [] when it is valid.

    `archive=True` additionally demands an RFC 5005 archive document (fh:archive and
    a rel=current link).
    """
    root, problems = parse_xml(data, "atom")
    out = _Out(problems)
    if root is None:
        return out.items
    if root.tag != A("feed"):
        out.add("document", "root", f"root element is {describe(root)}, not atom:feed")
        return out.items
    where = "feed"
    _check_id(_count_exactly_one(root, "id", where, "feed-id", out), where, out)
    _check_text(_count_exactly_one(root, "title", where, "feed-title", out), where, out)
    _check_date(_count_exactly_one(root, "updated", where, "feed-updated", out), where, out)
    _at_most_one(root, "generator icon logo rights subtitle", where, "feed-once", out)
    for name in ("subtitle", "rights"):
        for el in _children(root, name):
            _check_text(el, where, out)
    for name in ("author", "contributor"):
        for person in _children(root, name):
            _check_person(person, where, out)
    _check_categories(root, where, out)
    _check_unknown(root, FEED_ELEMENTS, where, out)
    links = _check_links(root, where, out)
    selfs = links.get("self", [])
    if len(selfs) != 1:
        out.add(
            where, "self-link", f'must have exactly one atom:link rel="self", found {len(selfs)}'
        )
    for link in selfs:
        href = link.get("href")
        if href is not None and not is_absolute_iri(href):
            out.add(where, "self-link", f'rel="self" href {clip(href)} is not absolute')
    _check_order(root, out)

    entries = _children(root, "entry")
    feed_has_author = bool(_children(root, "author"))
    if not feed_has_author:
        missing = [
            _entry_label(i, entry) for i, entry in enumerate(entries, 1) if not _has_author(entry)
        ]
        if missing:
            out.add(
                where,
                "feed-author",
                f"no atom:author, and {len(missing)} of its entries have none either: "
                + ", ".join(missing[:3]),
            )
    ids: Counter[str] = Counter()
    for index, entry in enumerate(entries, 1):
        _check_entry(entry, _entry_label(index, entry), feed_has_author, out)
        for el in _children(entry, "id"):
            ids[el.text or ""] += 1
    for ident, n in ids.items():
        if n > 1:
            out.add(f"entry ({ident})", "entry-id-unique", f"{n} entries share this atom:id")
    _check_tombstones(root, set(ids), out)
    _check_history(root, links, archive, out)
    return out.items


# ------------------------------------------------------------------------ reading helpers


class AtomLink(TypedDict):
    rel: str
    href: str | None
    type: str | None
    hreflang: str | None
    title: str | None


class AtomEntry(TypedDict):
    id: str | None
    title: str | None
    updated: str | None
    published: str | None
    links: list[AtomLink]
    authors: list[str]
    summary: str | None
    content: str | None
    content_type: str | None
    categories: list[tuple[str | None, str | None]]  # (term, label)


class AtomTombstone(TypedDict):
    ref: str | None
    when: str | None
    by: str | None
    comment: str | None


def _parse_feed(data: bytes) -> etree._Element:
    root, problems = parse_xml(data, "atom")
    if root is None:
        raise ValueError("; ".join(problems))
    if root.tag != A("feed"):
        raise ValueError(f"root element is {describe(root)}, not atom:feed")
    return root


def _first_text(parent: etree._Element, tag: str) -> str | None:
    el = parent.find(tag)
    if el is None:
        return None
    if el.get("type") == "xhtml":
        return text_of(el).strip()
    return text_of(el)


def atom_links(parent: etree._Element) -> list[AtomLink]:
    return [
        AtomLink(
            rel=_rel(link),
            href=link.get("href"),
            type=link.get("type"),
            hreflang=link.get("hreflang"),
            title=link.get("title"),
        )
        for link in _children(parent, "link")
    ]


def atom_entries(data: bytes) -> list[AtomEntry]:
    """The entries of an Atom feed, in document order, as plain dicts.

    Text values are the element's text content (escaped HTML stays HTML; for type
    xhtml, the text of the div). Raises ValueError if the document is not an Atom feed.
    """
    root = _parse_feed(data)
    entries: list[AtomEntry] = []
    for entry in _children(root, "entry"):
        content = entry.find(A("content"))
        entries.append(
            AtomEntry(
                id=_first_text(entry, A("id")),
                title=_first_text(entry, A("title")),
                updated=_first_text(entry, A("updated")),
                published=_first_text(entry, A("published")),
                links=atom_links(entry),
                authors=[
                    text_of(name)
                    for author in _children(entry, "author")
                    for name in author.findall(A("name"))
                ],
                summary=_first_text(entry, A("summary")),
                content=_first_text(entry, A("content")),
                content_type=None if content is None else content.get("type", "text"),
                categories=[(c.get("term"), c.get("label")) for c in _children(entry, "category")],
            )
        )
    return entries


def atom_tombstones(data: bytes) -> list[AtomTombstone]:
    """The at:deleted-entry elements of an Atom feed, in document order."""
    root = _parse_feed(data)
    return [
        AtomTombstone(
            ref=tomb.get("ref"),
            when=tomb.get("when"),
            by=_first_text(tomb, f"{T('by')}/{A('name')}"),
            comment=_first_text(tomb, T("comment")),
        )
        for tomb in root.findall(T("deleted-entry"))
    ]
