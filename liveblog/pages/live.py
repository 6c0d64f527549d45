"""The reader's live page (`index.html`) and its chrome-less twin (`embed.html`).

Both are rendered on the server from the timeline, so they read fully without
JavaScript; `live.js` then keeps them current from the stream (or by polling
live.json). The DOM is a contract with that script and the browser tests:
`main#liveblog`, `#pinned`, `#key-moments`, `#entries[aria-live=polite]` holding one
section per day with the entries newest first, each `<article>` from `entry_updates`
(the one fragment renderer), and the page data in `script#liveblog-data`.
"""

from __future__ import annotations

import datetime as dt
import json
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

from ..store.timeline import Conference, Day, Timeline, TimelineEntry
from ..summary.kinds import rendering
from .defaults import DEFAULT_POLL_INTERVAL
from .sections import LD_UPDATES, Section, conference_state, long_date, newest_first
from .updates import entry_updates

FEEDS = (
    ("Live (Atom)", "live.atom", "application/atom+xml"),
    ("Live (RSS)", "live.rss", "application/rss+xml"),
    ("Live (JSON Feed)", "live.json", "application/feed+json"),
    ("Reflections (Atom)", "reflections.atom", "application/atom+xml"),
    ("Reflections (RSS)", "reflections.rss", "application/rss+xml"),
    ("Reflections (JSON Feed)", "reflections.json", "application/feed+json"),
)


@dataclass(frozen=True)
class PageOptions:
    feeds_url: str
    poll_interval: int = DEFAULT_POLL_INTERVAL


@dataclass(frozen=True)
class Pages:
    index: str
    embed: str


@dataclass(frozen=True)
class _Content:
    """What both pages show, read once from the timeline."""

    conference: Conference
    position: int
    sections: list[Section]  # one per day, newest day first
    pinned: str  # the pinned entry's <article>, or ""
    moments: list[TimelineEntry]
    newest: list[TimelineEntry]  # the newest entries (not retracted), newest first
    modified: dt.datetime

    @property
    def days(self) -> list[Day]:
        return [s.day for s in self.sections]


def page_url(feeds_url: str, slug: str) -> str:
    return f"{feeds_url.rstrip('/')}/{slug}/index.html"


def entry_url(feeds_url: str, slug: str, entry_id: str) -> str:
    """An entry's anchor on the live page (there for the entries of its window:
    `sections.State.on_page`; the JSON-LD lists only those)."""
    return f"{page_url(feeds_url, slug)}#entry-{entry_id}"


def stream_path(slug: str) -> str:
    return f"/api/conferences/{urllib.parse.quote(slug, safe='')}/stream"


def _script_json(value: Any) -> str:
    """JSON safe inside a <script> element: no `</script>`, no `<!--`, whatever the text."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _instant(value: str) -> dt.datetime:
    when = dt.datetime.fromisoformat(value)
    return when if when.tzinfo is not None else when.replace(tzinfo=dt.UTC)


def _read(timeline: Timeline, conference: Conference) -> _Content:
    state = conference_state(timeline, conference)
    pinned, sections = state.pinned, list(state.sections)
    pinned_html = ""
    newest = [e for s in sections for e in s.shown[:LD_UPDATES]]
    if pinned is not None:
        pinned_html = entry_updates(timeline, conference, [pinned])[0]["html"]
        newest.append(pinned)
    newest = newest_first(newest)[:LD_UPDATES]
    times = [conference.opened_at]
    if conference.closed_at is not None:
        times.append(conference.closed_at)
    at = timeline.occurred_at(state.position)
    if at is not None:
        times.append(at)
    times.extend(_instant(e.updated_at or e.occurred_at) for e in newest)
    return _Content(
        conference=conference,
        position=state.position,
        sections=sections,
        pinned=pinned_html,
        moments=list(state.moments),
        newest=newest,
        modified=max(times, key=lambda t: t.timestamp()),
    )


def _page_data(content: _Content, options: PageOptions) -> str:
    slug = content.conference.slug
    data = {
        "conference": slug,
        "position": content.position,
        "stream": stream_path(slug),
        "poll": "live.json",
        "poll_interval": options.poll_interval,
    }
    return f'<script type="application/json" id="liveblog-data">{_script_json(data)}</script>'


def _key_moments(content: _Content) -> str:
    items = []
    # An entry past the page's budget is on its day page (its `e-` anchor there).
    here = {e.id for s in content.sections for e in s.shown}
    for entry in content.moments:
        label = entry.highlight_label or rendering(entry.kind).feed(entry.data).title
        href = f"#entry-{entry.id}"
        if entry.id not in here and not entry.pinned:
            href = f"day-{entry.day}.html#e-{entry.id}"
        items.append(f'<li><a href="{escape(href)}">{escape(label)}</a></li>')
    inner = "\n".join(items)
    # Empty: hidden until live.js fills it (a reader without JS sees no empty heading).
    hidden = "" if items else " hidden"
    return (
        f'<section class="key-moments" aria-labelledby="key-moments-title"{hidden}>\n'
        '<h2 id="key-moments-title">Key moments</h2>\n'
        f'<ul id="key-moments">{inner}</ul>\n</section>'
    )


def _stream(content: _Content) -> str:
    """What both pages share: the pinned entry, the key moments, the entries."""
    return (
        f'<section id="pinned" aria-label="Pinned entry"{"" if content.pinned else " hidden"}>'
        f"{content.pinned}</section>\n"
        f"{_key_moments(content)}\n"
        '<button id="new-entries" type="button" hidden>New entries</button>\n'
        f'<div id="entries" aria-live="polite">\n'
        + "\n".join(s.html for s in content.sections)
        + "\n</div>"
    )


def _oembed_link(options: PageOptions, conference: Conference) -> str:
    """oEmbed discovery, when the page knows the server it is served by: a feeds URL
    that is `liveblog serve`'s own `/feeds` (the stream is on that same host)."""
    feeds = options.feeds_url.rstrip("/")
    if not feeds.endswith("/feeds"):
        return ""
    query = urllib.parse.urlencode({"url": page_url(feeds, conference.slug), "format": "json"})
    href = f"{feeds.removesuffix('/feeds')}/api/oembed?{query}"
    return (
        f'<link rel="alternate" type="application/json+oembed" href="{escape(href)}"'
        f' title="{escape(conference.title)}">\n'
    )


def _head(content: _Content, options: PageOptions, title: str, extra: str = "") -> str:
    conference = content.conference
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="{escape(conference.language)}">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n"
        f'<meta name="description" content="{escape(_description(conference))}">\n'
        '<link rel="stylesheet" href="live.css">\n'
        f"{extra}{_oembed_link(options, conference)}"
        '<script src="live.js" defer></script>\n'
        "</head>\n"
    )


def _description(conference: Conference) -> str:
    where = f", {conference.venue}" if conference.venue else ""
    return f"Live coverage of {conference.title}{where}"


def _dates(days: Sequence[Day]) -> str:
    if not days:
        return ""
    first, last = days[-1].date, days[0].date
    shown = f'<time datetime="{escape(first)}">{escape(long_date(first))}</time>'
    if last != first:
        shown += f' – <time datetime="{escape(last)}">{escape(long_date(last))}</time>'
    return f'<p class="dates">{shown}</p>\n'


def _header(content: _Content) -> str:
    conference = content.conference
    venue = f'<p class="venue">{escape(conference.venue)}</p>\n' if conference.venue else ""
    live = '<p class="live-marker">LIVE</p>\n' if conference.closed_at is None else ""
    return (
        '<header class="masthead">\n'
        f"<h1>{escape(conference.title)}</h1>\n{venue}{_dates(content.days)}{live}</header>\n"
    )


def _nav(content: _Content) -> str:
    days = "\n".join(
        f'<li><a href="#day-{d.number}">Day {d.number}</a>'
        f' (<a href="day-{d.number}.html">summary</a>)</li>'
        for d in content.days
    )
    days_list = f"<ul>\n{days}\n</ul>\n" if days else ""
    return f'<nav aria-label="Days">\n<h2>Days</h2>\n{days_list}</nav>\n'


def _footer() -> str:
    feeds = "\n".join(f'<li><a href="{name}">{escape(t)}</a></li>' for t, name, _ in FEEDS)
    return (
        "<footer>\n<h2>Follow in a feed reader</h2>\n"
        f"<ul>\n{feeds}\n</ul>\n<p>Published by liveblog.</p>\n</footer>\n"
    )


def _json_ld(content: _Content, options: PageOptions) -> str:
    conference = content.conference
    url = page_url(options.feeds_url, conference.slug)
    updates = []
    for entry in content.newest[:LD_UPDATES]:
        parts = rendering(entry.kind).feed(entry.data)
        update: dict[str, Any] = {
            "@type": "BlogPosting",
            "headline": parts.title[:110],
            "url": entry_url(options.feeds_url, conference.slug, entry.id),
            "datePublished": _instant(entry.occurred_at).isoformat(),
            "dateModified": _instant(entry.updated_at or entry.occurred_at).isoformat(),
            "articleBody": parts.text,
            "author": {"@type": "Person", "name": entry.author},
        }
        if parts.image:
            update["image"] = parts.image
        updates.append(update)
    posting: dict[str, Any] = {
        "@context": "https://schema.org",
        "@type": "LiveBlogPosting",
        "@id": url,
        "url": url,
        "headline": f"{conference.title} — live blog",
        "inLanguage": conference.language,
        "datePublished": conference.opened_at.isoformat(),
        "dateModified": content.modified.isoformat(),
        "coverageStartTime": conference.opened_at.isoformat(),
        "description": _description(conference),
        "author": {"@type": "Organization", "name": f"{conference.title} live blog"},
    }
    if conference.closed_at is not None:
        posting["coverageEndTime"] = conference.closed_at.isoformat()
    if conference.venue:
        posting["contentLocation"] = {"@type": "Place", "name": conference.venue}
    posting["liveBlogUpdate"] = updates
    return f'<script type="application/ld+json">{_script_json(posting)}</script>\n'


def _alternates(conference: Conference) -> str:
    return "".join(
        f'<link rel="alternate" type="{media}" title="{escape(f"{conference.title} — {t}")}"'
        f' href="{name}">\n'
        for t, name, media in FEEDS
    )


def _index(content: _Content, options: PageOptions) -> str:
    conference = content.conference
    url = page_url(options.feeds_url, conference.slug)
    extra = (
        f'<link rel="canonical" href="{escape(url)}">\n'
        + _alternates(conference)
        + _json_ld(content, options)
    )
    return (
        _head(content, options, f"{conference.title} — live blog", extra)
        + '<body data-liveblog-state="static">\n'
        '<a class="skip-link" href="#entries">Skip to the entries</a>\n'
        + _header(content)
        + _nav(content)
        + f'<main id="liveblog">\n{_stream(content)}\n</main>\n'
        + _footer()
        + _page_data(content, options)
        + "\n</body>\n</html>\n"
    )


def _embed(content: _Content, options: PageOptions) -> str:
    """The same stream without header, nav or footer: for an iframe on another site
    (its title links to the full page, in a new tab)."""
    conference = content.conference
    title = f"{conference.title} — live"
    live = ' <span class="live-marker">LIVE</span>' if conference.closed_at is None else ""
    return (
        # Its content is the live page's: search engines should list that one.
        _head(content, options, title, '<meta name="robots" content="noindex">\n')
        + '<body class="embed" data-liveblog-state="static">\n'
        + f'<main id="liveblog">\n<h1 class="embed-title"><a href="index.html" target="_blank">'
        f"{escape(conference.title)}</a>{live}</h1>\n{_stream(content)}\n</main>\n"
        + _page_data(content, options)
        + "\n</body>\n</html>\n"
    )


def render_pages(timeline: Timeline, conference: Conference, options: PageOptions) -> Pages:
    """index.html and embed.html of one conference, as of the timeline's state."""
    content = _read(timeline, conference)
    return Pages(index=_index(content, options), embed=_embed(content, options))
