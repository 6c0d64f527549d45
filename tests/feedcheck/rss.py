"""RSS 2.0 checker (the RSS 2.0 specification, as published by the RSS Advisory Board).

Problems have the form ``"<where>: <what is wrong> [<rule code>]"``; the codes are the
keys of `RULES`, and "(ours)" marks rules of this project rather than the spec.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import date, datetime, timedelta, timezone
from typing import TypedDict

from lxml import etree

from .atom import ATOM_NS, clip, describe, elements, parse_xml, problem, text_of

RULES: dict[str, str] = {
    "rss.xml-wellformed": "the document is well-formed XML (XML 1.0)",
    "rss.xml-chars": "no characters XML forbids (C0 controls, U+FFFE/U+FFFF, surrogates), "
    "raw or as character references, and no discouraged C1 controls (XML 1.0 §2.2)",
    "rss.xml-doctype": "no DOCTYPE / DTD (ours)",
    "rss.root": 'the root element is <rss version="2.0">',
    "rss.channel": "<rss> has exactly one <channel>",
    "rss.channel-required": "the channel has exactly one title, link and description; title "
    "and link are not empty",
    "rss.channel-once": "optional channel elements (language, pubDate, ttl, image, ...) "
    "appear at most once",
    "rss.item-title-or-description": "every item has a non-empty title or description",
    "rss.item-once": "item elements other than category appear at most once (enclosure: "
    "RSS Advisory Board best practice)",
    "rss.date": "pubDate and lastBuildDate are RFC 822 dates (2- or 4-digit year) with a "
    "timezone (UT, GMT, Z, a US zone or ±hhmm), naming a real instant, with a matching "
    "day name if one is given",
    "rss.guid-nonempty": "a guid is not empty",
    "rss.guid-ispermalink": 'guid/@isPermaLink is "true" or "false"',
    "rss.guid-permalink-url": 'a guid without isPermaLink="false" is an http(s) URL',
    "rss.guid-unique": "item guids are unique (ours)",
    "rss.self-link": 'the channel has exactly one atom:link rel="self" whose href is an '
    "http(s) URL (ours)",
    "rss.url": "link, comments, image url/link, enclosure url, source url and atom:link "
    "hrefs are absolute http(s) URLs",
    "rss.enclosure": "enclosure has url, length (a non-negative integer) and type",
    "rss.source": "source has a url attribute",
    "rss.email": "author, managingEditor and webMaster are e-mail addresses, optionally "
    "followed by a name in parentheses",
    "rss.ttl": "ttl is a non-negative integer",
    "rss.image": "image has url, title and link",
    "rss.text-only": "RSS's own elements hold text only: markup inside title, description "
    "etc. must be escaped or in CDATA",
}

CHANNEL_REQUIRED = ("title", "link", "description")
CHANNEL_ONCE = [
    "language",
    "copyright",
    "managingEditor",
    "webMaster",
    "pubDate",
    "lastBuildDate",
    "generator",
    "docs",
    "cloud",
    "ttl",
    "image",
    "rating",
    "textInput",
    "skipHours",
    "skipDays",
]
CHANNEL_TEXT = [
    "title",
    "link",
    "description",
    "language",
    "copyright",
    "managingEditor",
    "webMaster",
    "pubDate",
    "lastBuildDate",
    "generator",
    "docs",
    "ttl",
    "rating",
]
ITEM_ONCE = [
    "title",
    "link",
    "description",
    "author",
    "comments",
    "enclosure",
    "guid",
    "pubDate",
    "source",
]
ITEM_TEXT = [
    "title",
    "link",
    "description",
    "author",
    "category",
    "comments",
    "guid",
    "pubDate",
    "source",
]

_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
_DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
_ZONES = {
    "UT": 0,
    "GMT": 0,
    "Z": 0,
    "EST": -5,
    "EDT": -4,
    "CST": -6,
    "CDT": -5,
    "MST": -7,
    "MDT": -6,
    "PST": -8,
    "PDT": -7,
}
_RFC822 = re.compile(
    r"(?:(?P<dow>[A-Za-z]+),\s*)?(?P<day>\d{1,2})\s+(?P<month>[A-Za-z]+)\s+"
    r"(?P<year>\d{4}|\d{2})\s+(?P<hour>\d{2}):(?P<minute>\d{2})(?::(?P<second>\d{2}))?"
    r"(?:\s+(?P<zone>[A-Za-z]+|[+-]\d{4}))?",
    re.ASCII,
)
_WEB_URL = re.compile(r"https?://[^\s/?#<>\"]+[^\s<>\"]*", re.ASCII | re.IGNORECASE)
_EMAIL = re.compile(r"[^@\s()<>]+@[^@\s()<>]+\.[^@\s()<>]+(\s+\([^()]*\))?")


def is_web_url(value: str | None) -> bool:
    return value is not None and _WEB_URL.fullmatch(value) is not None


def _rfc822(value: str) -> tuple[datetime | None, str | None]:
    match = _RFC822.fullmatch(value)
    if match is None:
        return None, f"{clip(value)} is not an RFC 822 date (e.g. 'Fri, 22 Nov 2024 12:05:00 GMT')"
    dow, month_name, zone = match.group("dow"), match.group("month"), match.group("zone")
    if dow is not None and dow not in _DAYS:
        return None, f"{clip(value)}: day name {dow!r} is not one of {', '.join(_DAYS)}"
    if month_name not in _MONTHS:
        return None, f"{clip(value)}: month {month_name!r} is not one of {', '.join(_MONTHS)}"
    if zone is None:
        return None, f"{clip(value)} has no timezone"
    if zone[0] in "+-":
        hours, minutes = int(zone[1:3]), int(zone[3:5])
        if minutes > 59:
            return None, f"{clip(value)}: timezone {zone} is out of range"
        offset = (-1 if zone[0] == "-" else 1) * timedelta(hours=hours, minutes=minutes)
    elif zone in _ZONES:
        offset = timedelta(hours=_ZONES[zone])
    else:
        return None, (
            f"{clip(value)}: timezone {zone!r} is not UT, GMT, Z, a US zone or ±hhmm "
            "(RFC 1123 §5.2.14: military zones are unreliable)"
        )
    year = int(match.group("year"))
    if len(match.group("year")) == 2:
        year += 2000 if year < 50 else 1900
    second = int(match.group("second") or 0)
    try:
        if second > 60:
            raise ValueError("second must be in 0..60")
        when = datetime(
            year,
            _MONTHS.index(month_name) + 1,
            int(match.group("day")),
            int(match.group("hour")),
            int(match.group("minute")),
            min(second, 59),
            tzinfo=timezone(offset),
        )
    except ValueError as exc:
        return None, f"{clip(value)} is not a real date-time ({exc})"
    if dow is not None and _DAYS[date(when.year, when.month, when.day).weekday()] != dow:
        real = _DAYS[when.weekday()]
        return None, f"{clip(value)}: the day is a {real}, not a {dow}"
    return when, None


def rfc822_error(value: str) -> str | None:
    """Why `value` is not an RSS 2.0 (RFC 822) date, or None."""
    return _rfc822(value)[1]


def parse_rfc822(value: str) -> datetime | None:
    """An aware datetime for an RSS 2.0 (RFC 822) date, None if it is not one."""
    return _rfc822(value)[0]


class _Out:
    def __init__(self, problems: list[str]) -> None:
        self.items = problems

    def add(self, where: str, code: str, text: str) -> None:
        self.items.append(problem(where, f"rss.{code}", text))


def _text_only(parent: etree._Element, names: list[str], where: str, out: _Out) -> None:
    for name in names:
        for el in parent.findall(name):
            kids = elements(el)
            if kids:
                out.add(
                    where,
                    "text-only",
                    f"<{name}> contains element {describe(kids[0])}; escape markup or use CDATA",
                )


def _once(parent: etree._Element, names: list[str], where: str, code: str, out: _Out) -> None:
    for name in names:
        n = len(parent.findall(name))
        if n > 1:
            out.add(where, code, f"{n} <{name}> elements, at most one allowed")


def _dates(parent: etree._Element, names: tuple[str, ...], where: str, out: _Out) -> None:
    for name in names:
        for el in parent.findall(name):
            reason = rfc822_error(el.text or "")
            if reason:
                out.add(where, "date", f"<{name}> {reason}")


def _urls(parent: etree._Element, names: tuple[str, ...], where: str, out: _Out) -> None:
    for name in names:
        for el in parent.findall(name):
            if not is_web_url(el.text):
                out.add(where, "url", f"<{name}> {clip(el.text)} is not an absolute http(s) URL")


def _emails(parent: etree._Element, names: tuple[str, ...], where: str, out: _Out) -> None:
    for name in names:
        for el in parent.findall(name):
            if not _EMAIL.fullmatch((el.text or "").strip()):
                out.add(
                    where,
                    "email",
                    f"<{name}> {clip(el.text)} is not an e-mail address "
                    "(like 'ann@example.org (Ann)'); use dc:creator for a bare name",
                )


def _check_channel(channel: etree._Element, out: _Out) -> None:
    where = "channel"
    for name in CHANNEL_REQUIRED:
        found = channel.findall(name)
        if len(found) != 1:
            out.add(
                where, "channel-required", f"must have exactly one <{name}>, found {len(found)}"
            )
        elif name != "description" and not (found[0].text or "").strip():
            out.add(where, "channel-required", f"<{name}> is empty")
    _once(channel, CHANNEL_ONCE, where, "channel-once", out)
    _text_only(channel, CHANNEL_TEXT, where, out)
    _dates(channel, ("pubDate", "lastBuildDate"), where, out)
    _urls(channel, ("link",), where, out)
    _emails(channel, ("managingEditor", "webMaster"), where, out)
    for ttl in channel.findall("ttl"):
        if not re.fullmatch(r"\d+", (ttl.text or "").strip(), re.ASCII):
            out.add(where, "ttl", f"<ttl> {clip(ttl.text)} is not a whole number of minutes")
    for image in channel.findall("image"):
        for name in ("url", "title", "link"):
            if len(image.findall(name)) != 1:
                out.add(where, "image", f"<image> must have exactly one <{name}>")
        _urls(image, ("url", "link"), f"{where} image", out)

    selfs = []
    for link in channel.findall(f"{{{ATOM_NS}}}link"):
        href = link.get("href")
        if link.get("rel", "alternate") == "self":
            selfs.append(link)
            if not is_web_url(href):
                out.add(
                    where,
                    "self-link",
                    f'atom:link rel="self" href {clip(href)} is not an absolute http(s) URL',
                )
        elif not is_web_url(href):
            out.add(where, "url", f"atom:link href {clip(href)} is not an absolute http(s) URL")
    if len(selfs) != 1:
        out.add(
            where, "self-link", f'must have exactly one atom:link rel="self", found {len(selfs)}'
        )


def _item_label(index: int, item: etree._Element) -> str:
    for name in ("guid", "title", "link"):
        el = item.find(name)
        if el is not None and (el.text or "").strip():
            text = el.text.strip()
            return f"item #{index} ({text if len(text) <= 60 else text[:57] + '...'})"
    return f"item #{index}"


def _check_item(item: etree._Element, where: str, out: _Out) -> str | None:
    """Check one item; returns its guid (if it has a usable one)."""
    if not any((el.text or "").strip() for el in item if el.tag in ("title", "description")):
        out.add(where, "item-title-or-description", "has neither a title nor a description")
    _once(item, ITEM_ONCE, where, "item-once", out)
    _text_only(item, ITEM_TEXT, where, out)
    _dates(item, ("pubDate",), where, out)
    _urls(item, ("link", "comments"), where, out)
    _emails(item, ("author",), where, out)
    for enclosure in item.findall("enclosure"):
        for attr in ("url", "length", "type"):
            if not enclosure.get(attr):
                out.add(where, "enclosure", f"<enclosure> has no {attr} attribute")
        length = enclosure.get("length")
        if length and not re.fullmatch(r"\d+", length, re.ASCII):
            out.add(where, "enclosure", f"<enclosure> length {clip(length)} is not a byte count")
        if enclosure.get("url") and not is_web_url(enclosure.get("url")):
            out.add(where, "url", f"<enclosure> url {clip(enclosure.get('url'))} is not a URL")
    for source in item.findall("source"):
        url = source.get("url")
        if not url:
            out.add(where, "source", "<source> has no url attribute")
        elif not is_web_url(url):
            out.add(where, "url", f"<source> url {clip(url)} is not an absolute http(s) URL")
    guid_value = None
    for guid in item.findall("guid"):
        value = (guid.text or "").strip()
        permalink = guid.get("isPermaLink", "true")
        if not value:
            out.add(where, "guid-nonempty", "<guid> is empty")
            continue
        guid_value = value
        if permalink not in ("true", "false"):
            out.add(
                where,
                "guid-ispermalink",
                f'<guid isPermaLink={clip(permalink)}> must be "true" or "false"',
            )
        elif permalink == "true" and not is_web_url(value):
            out.add(
                where,
                "guid-permalink-url",
                f'<guid> {clip(value)} is not an http(s) URL: add isPermaLink="false"',
            )
    return guid_value


def check_rss(data: bytes) -> list[str]:
    """Problems with an RSS 2.0 document; [] when it is valid."""
    root, problems = parse_xml(data, "rss")
    out = _Out(problems)
    if root is None:
        return out.items
    if root.tag != "rss":
        out.add("document", "root", f"root element is {describe(root)}, not rss")
        return out.items
    if root.get("version") != "2.0":
        out.add("document", "root", f'<rss version={clip(root.get("version"))}>, must be "2.0"')
    channels = root.findall("channel")
    if len(channels) != 1:
        out.add("document", "channel", f"must have exactly one <channel>, found {len(channels)}")
    if not channels:
        return out.items
    channel = channels[0]
    _check_channel(channel, out)
    guids: Counter[str] = Counter()
    for index, item in enumerate(channel.findall("item"), 1):
        guid = _check_item(item, _item_label(index, item), out)
        if guid is not None:
            guids[guid] += 1
    for guid, n in guids.items():
        if n > 1:
            out.add(f"item ({guid})", "guid-unique", f"{n} items share this guid")
    return out.items


class RssItem(TypedDict):
    guid: str | None
    title: str | None
    link: str | None
    description: str | None
    pubDate: str | None
    categories: list[str]


def rss_items(data: bytes) -> list[RssItem]:
    """The items of an RSS 2.0 channel, in document order, as plain dicts.

    Raises ValueError if the document is not RSS with a channel.
    """
    root, problems = parse_xml(data, "rss")
    if root is None:
        raise ValueError("; ".join(problems))
    channel = root.find("channel")
    if root.tag != "rss" or channel is None:
        raise ValueError("not an RSS document with a <channel>")

    def first(item: etree._Element, name: str) -> str | None:
        el = item.find(name)
        return None if el is None else text_of(el)

    return [
        RssItem(
            guid=first(item, "guid"),
            title=first(item, "title"),
            link=first(item, "link"),
            description=first(item, "description"),
            pubDate=first(item, "pubDate"),
            categories=[text_of(c) for c in item.findall("category")],
        )
        for item in channel.findall("item")
    ]
