"""What a reader's browser meets on `liveblog serve`, in front of the API (no token):

    GET /                                  the conferences (HTML; JSON if asked by Accept)
    GET /api/conferences/{slug}/stream     the live stream (liveblog.http.stream)
    GET /api/oembed?url=…                  oEmbed 1.0 for a conference's live page
    GET /docs, /docs/…                     Swagger UI, its assets served from the package
                                           `swagger-ui-bundle`: the API docs work offline

Everything else goes to the guarded API app (liveblog.http.api): these routes are public,
read nothing of a body, and answer refusals as `{"error": "one line"}` like the rest.
Conference reads run on a database thread of their own (not the stream's, so a burst of
page loads never delays a broadcast), cached until the timeline projection moves.
"""

from __future__ import annotations

import html
import json
import mimetypes
import re
import traceback
import urllib.parse
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import LiveblogError
from .guard import printable, send_error
from .stream import Broadcaster, stream_slug
from .streamdb import NotBuilt, Reader

if TYPE_CHECKING:
    from ..store.timeline import Conference

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
App = Callable[[Any, Any, Any], Awaitable[None]]
Report = Callable[[str], None]

MAX_LISTED = 1000  # conferences on `/` at most (the newest first); the rest are counted
MAX_URL = 2048
EMBED_WIDTH = 640
EMBED_HEIGHT = 800
MAX_SIZE = 10_000
# A conference's page, wherever its feeds are hosted: …/<slug>/, …/<slug>/index.html
# (the live page) or …/<slug>/embed.html.
_PAGE = re.compile(r"/(?P<slug>[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?)/(?:index\.html|embed\.html)?$")
_DOCS_FILES = {
    "swagger-ui-bundle.js",
    "swagger-ui.css",
    "favicon-32x32.png",
    "favicon-16x16.png",
    "oauth2-redirect.html",
}


@dataclass(frozen=True)
class Listed:
    slug: str
    title: str
    venue: str | None
    url: str | None
    live: bool
    opened: str
    closed: str | None

    @classmethod
    def of(cls, conference: Conference) -> Listed:
        return cls(
            slug=conference.slug,
            title=conference.title,
            venue=conference.venue,
            url=conference.url,
            live=conference.closed_at is None,
            opened=conference.opened_at.date().isoformat(),
            closed=conference.closed_at.date().isoformat() if conference.closed_at else None,
        )

    def page(self) -> str:
        return f"/feeds/{self.slug}/index.html"

    def to_json(self) -> dict[str, Any]:
        return {
            "slug": self.slug,
            "title": self.title,
            "venue": self.venue,
            "live": self.live,
            "opened": self.opened,
            "closed": self.closed,
            "page": self.page(),
            "embed": f"/feeds/{self.slug}/embed.html",
            "stream": f"/api/conferences/{self.slug}/stream",
        }


@dataclass(frozen=True)
class Listing:
    position: int  # the projection's, when read
    conferences: list[Listed]  # the ones `/` shows (MAX_LISTED at most)
    total: int
    # Every conference, by slug and by its own URL: oEmbed finds one `/` does not show.
    by_slug: dict[str, Listed]
    by_url: dict[str, Listed]


class Conferences:
    """The conferences as the timeline has them, read once per projection position."""

    def __init__(self, db_path: str) -> None:
        self.reader = Reader(db_path, "site")
        self._listing: Listing | None = None
        self._known: dict[str, tuple[int, Listed]] = {}  # slug: (last_position, Listed)

    async def listing(self) -> Listing:
        return await self.reader.run(self._read)

    def _read(self) -> Listing:
        timeline = self.reader.timeline()
        with timeline.snapshot():
            position = timeline.projected()
            if self._listing is not None and self._listing.position == position:
                return self._listing
            every = timeline.every_conference()
            known: dict[str, tuple[int, Listed]] = {}
            for slug, last in every:
                cached = self._known.get(slug)
                if cached is not None and cached[0] == last:
                    known[slug] = cached
                    continue
                conference = timeline.conference(slug)
                if conference is not None:
                    known[slug] = (last, Listed.of(conference))
            self._known = known
        # Open conferences first, then the most recently opened.
        ordered = sorted(
            (listed for _, listed in known.values()),
            key=lambda c: (not c.live, _descending(c.opened), c.slug),
        )
        by_url = {c.url.rstrip("/"): c for c in reversed(ordered) if c.url}
        by_slug = {c.slug: c for c in ordered}
        self._listing = Listing(position, ordered[:MAX_LISTED], len(ordered), by_slug, by_url)
        return self._listing

    async def close(self) -> None:
        await self.reader.close()


def _descending(date: str) -> str:
    return "".join(chr(0x10FFFF - ord(c)) for c in date)


class Site:
    """The ASGI app of `serve`: the public routes above, then the API app."""

    def __init__(
        self, api: App, broadcaster: Broadcaster, conferences: Conferences, report: Report
    ) -> None:
        self.api = api
        self.broadcaster = broadcaster
        self.conferences = conferences
        self.report = report
        from swagger_ui_bundle import swagger_ui_path

        self.docs_dir = Path(swagger_ui_path)
        self._docs_files: dict[str, bytes] = {}  # read once: a few files, ~1.5 MB in all

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.api(scope, receive, send)
            return
        path: str = scope["path"]
        slug = stream_slug(path)
        try:
            if slug is not None:
                await self.broadcaster.handle(scope, receive, send, slug)
            elif path == "/":
                await self._only_get(scope, send, self._index)
            elif path == "/api/oembed":
                await self._only_get(scope, send, self._oembed)
            elif path == "/docs" or path.startswith("/docs/"):
                await self._only_get(scope, send, self._docs)
            else:
                await self.api(scope, receive, send)
        except LiveblogError as exc:
            # The database unreachable (a driver's error): the reader can try again.
            what = str(exc) if isinstance(exc, NotBuilt) else f"database unavailable: {exc}"
            await send_error(send, 503, what, [(b"retry-after", b"2")])
        except Exception as exc:
            # An answer may have started (a stream): then uvicorn ends it; say it once.
            where = f"{printable(scope['method'], 20)} {printable(path, 200)}"
            lines = "".join(traceback.format_exception(exc)).splitlines()[-40:]
            self.report(f"liveblog: internal error on {where}\n" + "\n".join(lines))
            raise

    async def _only_get(
        self, scope: Scope, send: Send, answer: Callable[[Scope, Send], Awaitable[None]]
    ) -> None:
        if scope["method"] not in ("GET", "HEAD"):
            await send_error(send, 405, "method not allowed", [(b"allow", b"GET, HEAD")])
            return
        await answer(scope, send)

    # -- / ------------------------------------------------------------------------------

    async def _index(self, scope: Scope, send: Send) -> None:
        listing = await self.conferences.listing()
        if wants_json(scope):
            body = json.dumps(
                {
                    "conferences": [c.to_json() for c in listing.conferences],
                    "total": listing.total,
                },
                ensure_ascii=False,
            ).encode()
            await _respond(send, 200, b"application/json", body, vary=True)
            return
        await _respond(send, 200, b"text/html; charset=utf-8", index_html(listing), vary=True)

    # -- /api/oembed --------------------------------------------------------------------

    async def _oembed(self, scope: Scope, send: Send) -> None:
        query = urllib.parse.parse_qs(scope.get("query_string", b"").decode("latin-1"))
        try:
            request = OembedRequest.parse(query)
        except ValueError as exc:
            await send_error(send, 400, str(exc))
            return
        if request.format == "xml":
            await send_error(send, 501, "format=xml is not offered: ask for format=json")
            return
        listing = await self.conferences.listing()
        found = conference_for(request.url, listing)
        if found is None:
            await send_error(send, 404, "no conference of this server has a page at that url")
            return
        body = json.dumps(
            oembed(found, base_url(scope), request.maxwidth, request.maxheight),
            ensure_ascii=False,
        ).encode()
        await _respond(send, 200, b"application/json", body)

    # -- /docs --------------------------------------------------------------------------

    async def _docs(self, scope: Scope, send: Send) -> None:
        path: str = scope["path"]
        if path in ("/docs", "/docs/"):
            await _respond(send, 200, b"text/html; charset=utf-8", DOCS_HTML)
            return
        name = path[len("/docs/") :]
        if name not in _DOCS_FILES:
            await send_error(send, 404, "not found")
            return
        body = self._docs_files.get(name)
        if body is None:
            body = self._docs_files[name] = (self.docs_dir / name).read_bytes()
        media = (mimetypes.guess_type(name)[0] or "application/octet-stream").encode()
        await _respond(send, 200, media, body, cache=b"public, max-age=86400")


async def _respond(
    send: Send,
    status: int,
    media: bytes,
    body: bytes,
    *,
    vary: bool = False,
    cache: bytes = b"no-cache",
) -> None:
    headers = [
        (b"content-type", media),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", cache),
    ]
    if vary:
        headers.append((b"vary", b"Accept"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def wants_json(scope: Scope) -> bool:
    """Accept prefers application/json over text/html (a browser's `*/*;q=0.8` does not)."""
    accept = ""
    for name, value in scope["headers"]:
        if name == b"accept":
            accept = value.decode("latin-1")[:1000]
    best = {"application/json": 0.0, "text/html": 0.0}
    for part in accept.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        q = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        media = media.lower()
        if media in best:
            best[media] = max(best[media], q)
        elif media == "*/*":
            best["text/html"] = max(best["text/html"], q * 0.5)
    return best["application/json"] > best["text/html"]


def index_html(listing: Listing) -> bytes:
    e = html.escape
    items = []
    for c in listing.conferences:
        where = f' <span class="venue">{e(c.venue)}</span>' if c.venue else ""
        when = e(c.opened if c.closed in (None, c.opened) else f"{c.opened} – {c.closed}")
        live = ' <strong class="live-marker">LIVE</strong>' if c.live else ""
        items.append(
            f'<li><a href="{e(c.page())}">{e(c.title)}</a>{live}{where} '
            f'<time datetime="{e(c.opened)}">{when}</time></li>'
        )
    if items:
        body = '<ul class="conferences">\n' + "\n".join(items) + "\n</ul>"
    else:
        body = "<p>No conference yet: <code>liveblog conference open SLUG --title TITLE</code>.</p>"
    more = ""
    if listing.total > len(listing.conferences):
        more = f"\n<p>… and {listing.total - len(listing.conferences)} more.</p>"
    page = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Conferences — liveblog</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 0 auto; max-width: 44rem; padding: 1rem;
  line-height: 1.5; color: #1a1a1a; background: #fff; }}
a {{ color: #0b4f9c; }}
.venue, time {{ color: #4a4a4a; }}
.live-marker {{ background: #b00020; color: #fff; padding: 0 .3em; border-radius: .2em;
  font-size: .8em; }}
</style>
</head>
<body>
<header><h1>Conferences</h1></header>
<main id="conferences">
{body}{more}
</main>
<footer><p><a href="/docs">API</a> · <a href="/feeds/">feeds</a></p></footer>
</body>
</html>
"""
    return page.encode()


@dataclass(frozen=True)
class OembedRequest:
    url: str
    maxwidth: int | None
    maxheight: int | None
    format: str

    @classmethod
    def parse(cls, query: dict[str, list[str]]) -> OembedRequest:
        urls = query.get("url")
        if not urls or not urls[-1].strip():
            raise ValueError("url is required: the address of a conference's live page")
        url = urls[-1].strip()
        if len(url) > MAX_URL:
            raise ValueError(f"url is over {MAX_URL} characters")
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("url must be an http:// or https:// address")
        fmt = (query.get("format") or ["json"])[-1]
        if fmt not in ("json", "xml"):
            raise ValueError(f"format must be json (or xml), not {fmt[:20]!r}")
        return cls(url, _size(query, "maxwidth"), _size(query, "maxheight"), fmt)


def _size(query: dict[str, list[str]], name: str) -> int | None:
    values = query.get(name)
    if not values:
        return None
    text = values[-1].strip()
    if not text.isascii() or not text.isdigit() or not 0 < int(text) <= MAX_SIZE:
        raise ValueError(f"{name} must be a number of pixels from 1 to {MAX_SIZE}")
    return int(text)


def conference_for(url: str, listing: Listing) -> Listed | None:
    """The conference whose page `url` is: its live page or embed page under any feeds
    URL (…/<slug>/index.html), or the conference's own URL (`--url` when opened)."""
    own = listing.by_url.get(url.rstrip("/"))
    if own is not None:
        return own
    found = _PAGE.search(urllib.parse.urlsplit(url).path)
    if found is None:
        return None
    return listing.by_slug.get(found["slug"])


def base_url(scope: Scope) -> str:
    """This server as the client reached it (uvicorn applies X-Forwarded-* it trusts)."""
    host = ""
    for name, value in scope["headers"]:
        if name == b"host":
            host = value.decode("latin-1")
    if not host or not re.fullmatch(r"[A-Za-z0-9.\-:\[\]]{1,300}", host):
        server = scope.get("server") or ("127.0.0.1", 80)
        host = f"{server[0]}:{server[1]}"
    return f"{scope.get('scheme', 'http')}://{host}"


def oembed(
    conference: Listed, base: str, maxwidth: int | None, maxheight: int | None
) -> dict[str, Any]:
    """An oEmbed 1.0 `rich` answer: an iframe of the conference's embed page."""
    width = min(EMBED_WIDTH, maxwidth or EMBED_WIDTH)
    height = min(EMBED_HEIGHT, maxheight or EMBED_HEIGHT)
    src = f"{base}/feeds/{conference.slug}/embed.html"
    title = html.escape(conference.title)
    frame = (
        f'<iframe src="{html.escape(src)}" width="{width}" height="{height}" '
        f'title="{title} — live" loading="lazy" style="border:0;max-width:100%"></iframe>'
    )
    return {
        "version": "1.0",
        "type": "rich",
        "title": conference.title,
        "provider_name": "liveblog",
        "provider_url": f"{base}/",
        "cache_age": 3600,
        "html": frame,
        "width": width,
        "height": height,
    }


DOCS_HTML = b"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>liveblog - API docs</title>
<link rel="stylesheet" href="/docs/swagger-ui.css">
<link rel="icon" type="image/png" href="/docs/favicon-32x32.png">
</head>
<body>
<main id="swagger-ui"></main>
<script src="/docs/swagger-ui-bundle.js"></script>
<script>
window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  oauth2RedirectUrl: window.location.origin + "/docs/oauth2-redirect.html",
  deepLinking: true
});
</script>
</body>
</html>
"""
