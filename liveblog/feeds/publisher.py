"""Publishing: every conference's feeds, archives and pages under feeds/<conference>/.

Each publish reads only bounded windows of the timeline (the newest changes, the next
archive block, the days whose summary changed), so its cost follows what is new. A small
state file per conference (`.state.json`, derived and disposable) remembers the archive
boundaries and which day pages are current; deleting it, or all of feeds/, only makes the
next publish write everything again — byte for byte the same.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from markupsafe import escape

from ..projections.timeline import ENTRIES
from ..store.sqlite import Connection
from ..summary import build_day_summary
from ..summary.render import render_day_html, render_fragment
from . import helper, xmltext
from .atom import render_atom
from .defaults import DEFAULT_FEEDS_URL, DEFAULT_PAGE_SIZE
from .document import ATOM_TYPE, JSON_TYPE, RSS_TYPE, Document, latest
from .files import (
    WRITERS,
    ConcurrentWrites,
    check_feeds_dir,
    sweep_stale_temporaries,
    write_if_changed,
)
from .helper import Helper, database_path
from .jsonfeed import render_json
from .model import (
    Conference,
    FeedEntry,
    Tombstone,
    all_days,
    archive_block,
    archive_contents,
    closed_days,
    conferences,
    live_entries,
    load_conference,
    newest_first,
    time_of,
    tombstones,
)
from .rss import render_rss

STATE_FILE = ".state.json"
STATE_VERSION = 2
ARCHIVE_RUN_ENTRIES = 1_000
"""Archive blocks are read from the timeline in runs of about this many entries."""
CONCURRENT_FROM = 8
"""A method writing this many files (or the reflections of this many days) or more
writes them on threads (files.WRITERS)."""

# Folders whose stale temporary files this process has already removed. Only a killed
# writer leaves one (a failing write removes its own), so one sweep per process and
# folder finds them all, and a publish after one new event stays as cheap as before.
_swept: set[Path] = set()


@dataclass(frozen=True)
class PublishOptions:
    feeds_dir: Path
    feeds_url: str = DEFAULT_FEEDS_URL
    page_size: int = DEFAULT_PAGE_SIZE
    hub: str | None = None


@dataclass
class PublishResult:
    changed: list[Path] = field(default_factory=list)
    feed_urls: list[str] = field(default_factory=list)  # changed feeds, for the hub


class _Site:
    """URLs and ids of one conference's published files."""

    def __init__(self, conference: Conference, options: PublishOptions) -> None:
        self.conference = conference
        self.base = f"{options.feeds_url.rstrip('/')}/{conference.slug}"
        self.home = conference.url or f"{self.base}/index.html"
        self.pages = (conference.url or self.base).rstrip("/")

    def url(self, name: str) -> str:
        return f"{self.base}/{name}"

    def entry_id(self, event_id: str) -> str:
        return self.conference.tag("entry", event_id)

    def entry_link(self, entry: FeedEntry) -> str:
        return f"{self.pages}/day-{entry.day}.html#e-{entry.id}"


def _document(
    site: _Site, *, name: str, title: str, entries: list[FeedEntry], **extra: Any
) -> Document:
    conference = site.conference
    stones = extra.pop("tombstones", [])
    return Document(
        id=conference.tag(name),
        title=title,
        subtitle=f"Live coverage of {conference.title}"
        + (f", {conference.venue}" if conference.venue else ""),
        language=conference.language,
        author=f"{conference.title} live blog",
        updated=latest(entries, stones, conference.opened_at),
        self_url=site.url(extra.pop("self_name")),
        site_url=site.home,
        entry_ids={e.id: site.entry_id(e.id) for e in entries}
        | {t.id: site.entry_id(t.id) for t in stones},
        entries=entries,
        tombstones=stones,
        entry_links={e.id: site.entry_link(e) for e in entries},
        **extra,
    )


def archive_document(
    site: _Site, number: int, entries: list[FeedEntry], gone: list[Tombstone], total: int
) -> Document:
    """Archive `number` of `total`: its entries (in log order) and tombstones."""
    return _document(
        site,
        name=f"archive/{number}",
        title=f"{site.conference.title} — live (archive {number})",
        entries=newest_first(entries),
        tombstones=gone,
        self_name=f"archive/{number}.atom",
        archive=True,
        current_url=site.url("live.atom"),
        prev_archive=site.url(f"archive/{number - 1}.atom") if number > 1 else None,
        next_archive=site.url(f"archive/{number + 1}.atom") if number < total else None,
    )


class Publisher:
    def __init__(self, conn: Connection, options: PublishOptions) -> None:
        self.conn = conn
        self.options = options

    def publish(self) -> PublishResult:
        check_feeds_dir(self.options.feeds_dir)
        result = PublishResult()
        row = self.conn.execute("SELECT ifnull(max(position), 0) FROM events").fetchone()
        self.head = int(row[0])
        for slug in conferences(self.conn):
            conference = load_conference(self.conn, slug)
            if conference is not None:
                self._conference(conference, result)
        return result

    # -- one conference ----------------------------------------------------------------

    def _write(self, result: PublishResult, path: Path, data: bytes, url: str | None) -> None:
        self._written(result, path, write_if_changed(path, data), url)

    def _written(self, result: PublishResult, path: Path, changed: bool, url: str | None) -> None:
        """Book-keeping for a file now on disk (`changed`: its bytes are new)."""
        if changed:
            result.changed.append(path)
            if url is not None:
                result.feed_urls.append(url)

    def _conference(self, conference: Conference, result: PublishResult) -> None:
        site = _Site(conference, self.options)
        folder = self.options.feeds_dir / conference.slug
        for place in (folder, folder / "archive"):
            if place not in _swept:
                sweep_stale_temporaries(place)
                _swept.add(place)
        state = self._load_state(folder)
        archives = self._archives(site, folder, state, result)
        archived_to = state["last"][1] if state["last"] else 0
        self._live(site, folder, archives, archived_to, result)
        self._days(site, folder, state, result)
        self._index(site, folder, result)
        state["position"] = self.head
        write_if_changed(folder / STATE_FILE, json.dumps(state).encode())

    def _load_state(self, folder: Path) -> dict[str, Any]:
        """The cache of what was published, if it still matches the files and options."""
        try:
            state = dict(json.loads((folder / STATE_FILE).read_text()))
            count = state["count"]
            if (
                state.get("version") == STATE_VERSION
                and state.get("page_size") == self.options.page_size
                and (count == 0 or (folder / "archive" / f"{count}.atom").exists())
            ):
                return state
        except (OSError, ValueError, KeyError, TypeError):
            pass
        return {
            "version": STATE_VERSION,
            "page_size": self.options.page_size,
            "count": 0,
            "last": None,
            "days": {},
            "closed": {},
            "position": 0,
        }

    def _archives(
        self, site: _Site, folder: Path, state: dict[str, Any], result: PublishResult
    ) -> int:
        """Write archive documents for every newly full block; returns how many exist.

        The state keeps only the newest archive's bounds ([first, last, next] positions):
        finding the next block reads `page_size + 1` rows, whatever the log's size.
        """
        size = self.options.page_size
        count: int = state["count"]
        last: list[int] | None = state["last"]
        bounds: dict[int, list[int]] = {count: last} if last else {}
        before = count
        while True:
            block = archive_block(self.conn, site.conference.slug, last[1] if last else 0, size)
            if block is None:
                break
            count += 1
            last = [block[0], block[size - 1], block[size]]
            bounds[count] = last
        # Each new archive once; and the newest old one again, as it gains next-archive.
        # Consecutive blocks are read together, ARCHIVE_RUN_ENTRIES entries at a time.
        # Many of them (a first full publish): every other run goes to a helper process.
        numbers = [n for n in range(max(before, 1), count + 1) if n in bounds]
        step = max(1, ARCHIVE_RUN_ENTRIES // size)
        runs = [numbers[start : start + step] for start in range(0, len(numbers), step)]
        theirs = [
            [(n, bounds[n][0], bounds[n][1], bounds[n][2]) for n in chosen] for chosen in runs[1::2]
        ]
        slug = site.conference.slug
        job = {"kind": "archives", "total": count, "runs": theirs}
        with contextlib.ExitStack() as stack:
            writes = stack.enter_context(self._writes(result, len(numbers)))
            many = len(numbers) * size >= helper.HELPER_ENTRIES
            other = self._helper(stack, slug, job, many)
            for k, chosen in enumerate(runs):
                if other is not None and k % 2 == 1:
                    for path, changed in other.next_run():
                        writes.written_elsewhere(Path(path), changed)
                    continue
                blocks = [(bounds[n][0], bounds[n][1], bounds[n][2]) for n in chosen]
                contents = archive_contents(self.conn, slug, blocks)
                for number, (entries, gone) in zip(chosen, contents, strict=True):
                    doc = archive_document(site, number, entries, gone, count)
                    writes.write(folder / "archive" / f"{number}.atom", render_atom(doc))
        state["count"], state["last"] = count, last
        return count

    def _helper(
        self, stack: contextlib.ExitStack[Any], slug: str, job: dict[str, Any], many: bool
    ) -> Helper | None:
        """A helper process for every other run of `job`, if there are `many` files and
        the database is a file it can open."""
        database = database_path(self.conn) if many and job["runs"] else None
        if database is None:
            return None
        return stack.enter_context(Helper(database, self.options, slug, job))

    def _entries_of_days(self, slug: str, days: list[tuple[int, int]]) -> int:
        marks = ", ".join("?" * len(days))
        row = self.conn.execute(
            f"SELECT count(*) FROM {ENTRIES} WHERE conference = ? AND day IN ({marks})",
            [slug, *(number for number, _ in days)],
        ).fetchone()
        return int(row[0])

    def _writes(
        self, result: PublishResult, work: int, urls: dict[Path, str] | None = None
    ) -> ConcurrentWrites:
        """Where a method writes its files: on threads, overlapping the rendering, when
        there is much to write (`work`: files, or entries; a first full publish); else
        one by one, as `_write` does. Either way each goes through `_written`, in order
        (with its feed's URL from `urls`, for the hub)."""
        workers = WRITERS if work >= CONCURRENT_FROM else 0
        return ConcurrentWrites(
            lambda path, changed: self._written(result, path, changed, (urls or {}).get(path)),
            workers,
        )

    def _live(
        self, site: _Site, folder: Path, archives: int, archived_to: int, result: PublishResult
    ) -> None:
        conference = site.conference
        size = self.options.page_size
        entries = live_entries(self.conn, conference.slug, size, archived_to)
        stones = tombstones(self.conn, conference.slug, size)
        common: dict[str, Any] = {
            "name": "live",
            "title": f"{conference.title} — live",
            "entries": entries,
            "hub": self.options.hub,
            "expired": conference.closed_at is not None,
            "prev_archive": site.url(f"archive/{archives}.atom") if archives else None,
        }
        for name, render_doc in (
            ("live.atom", render_atom),
            ("live.rss", render_rss),
            ("live.json", render_json),
        ):
            extra = dict(common)
            if name == "live.atom":
                extra["tombstones"] = stones
                extra["current_url"] = site.url(name)
            doc = _document(site, self_name=name, **extra)
            self._write(result, folder / name, render_doc(doc), site.url(name))

    def _days(
        self, site: _Site, folder: Path, state: dict[str, Any], result: PublishResult
    ) -> None:
        """Day pages and the reflections feeds, re-rendered only for days that changed."""
        slug = site.conference.slug
        # Pages and reflections also depend on the conference itself and on the options.
        signature = [
            site.conference.changed_position,
            self.options.feeds_url,
            self.options.hub,
        ]
        if state.get("signature") != signature:
            state["days"], state["closed"] = {}, {}
            state["signature"] = signature
        known: dict[str, int] = state["days"]
        # The articles of the pages written here (with their titles and reporters)
        # serve the reflections too.
        articles: dict[int, tuple[str, str, list[str]]] = {}
        stale = [
            (number, position)
            for number, position in all_days(self.conn, slug)
            if known.get(str(number)) != position or not (folder / f"day-{number}.html").exists()
        ]
        # Many of them (a first full publish): every other run goes to a helper process.
        per_run = helper.DAYS_PER_RUN
        runs = [stale[start : start + per_run] for start in range(0, len(stale), per_run)]
        job = {"kind": "days", "runs": [[number for number, _ in run] for run in runs[1::2]]}
        with contextlib.ExitStack() as stack:
            writes = stack.enter_context(self._writes(result, len(stale)))
            many = len(runs) > 1 and self._entries_of_days(slug, stale) >= helper.HELPER_ENTRIES
            other = self._helper(stack, slug, job, many)
            for k, run in enumerate(runs):
                if other is not None and k % 2 == 1:
                    for (number, _), (path, changed, article, title, reporters) in zip(
                        run, other.next_run(), strict=True
                    ):
                        writes.written_elsewhere(Path(path), changed)
                        articles[number] = (article, title, reporters)
                    continue
                for number, _ in run:
                    summary = build_day_summary(self.conn, slug, number)
                    page, article = render_day_html(summary)
                    writes.write(folder / f"day-{number}.html", page.encode())
                    articles[number] = (article, summary["title"], summary["reporters"])
        for number, position in stale:
            known[str(number)] = position
        # The reflections change only when a closed day does (a note in the open day
        # never touches them): each closed day's last change is remembered.
        closing = closed_days(self.conn, slug)
        closed = {str(d.number): d.changed_position for d in closing}
        reflections = [folder / f"reflections.{ext}" for ext in ("atom", "rss", "json")]
        if state.get("closed") == closed and all(p.exists() for p in reflections):
            return
        state["closed"] = closed
        entries = []
        for day in closing:
            if day.number in articles:
                article, title, reporters = articles[day.number]
            else:
                summary = build_day_summary(self.conn, slug, day.number)
                article, title = render_fragment(summary), summary["title"]
                reporters = summary["reporters"]
            updated = time_of(self.conn, day.changed_position) or day.closed_at
            entries.append(
                FeedEntry(
                    id=f"day-{day.number}",
                    kind="day",
                    day=day.number,
                    author=", ".join(reporters) or site.conference.title,
                    published=day.closed_at,
                    updated=max(updated, day.closed_at, key=lambda t: t.timestamp()),
                    title=title,
                    html=article,
                    text=title,
                )
            )
        entries = newest_first(entries)
        # Each day's article is escaped once for Atom and RSS; a feed is written while
        # the next renders (with every closed day's article, they can be large).
        urls = {path: site.url(path.name) for path in reflections}
        with xmltext.remembering(), self._writes(result, len(entries), urls) as writes:
            for path, render_doc in zip(
                reflections, (render_atom, render_rss, render_json), strict=True
            ):
                doc = _document(
                    site,
                    name="reflections",
                    title=f"{site.conference.title} — reflections",
                    entries=entries,
                    self_name=path.name,
                    hub=self.options.hub,
                    expired=site.conference.closed_at is not None,
                )
                doc.entry_ids.update({e.id: site.conference.tag(e.id) for e in entries})
                doc.entry_links.update({e.id: f"{site.pages}/day-{e.day}.html" for e in entries})
                writes.write(path, render_doc(doc))

    def _index(self, site: _Site, folder: Path, result: PublishResult) -> None:
        conference = site.conference
        days = [number for number, _ in all_days(self.conn, conference.slug)]
        links = [
            ("Live (Atom)", "live.atom", ATOM_TYPE),
            ("Live (RSS)", "live.rss", RSS_TYPE),
            ("Live (JSON Feed)", "live.json", JSON_TYPE),
            ("Reflections (Atom)", "reflections.atom", ATOM_TYPE),
            ("Reflections (RSS)", "reflections.rss", RSS_TYPE),
            ("Reflections (JSON Feed)", "reflections.json", JSON_TYPE),
        ]
        head = "\n".join(
            f'<link rel="alternate" type="{media}" title="{escape(title)}" href="{name}">'
            for title, name, media in links
        )
        feeds = "\n".join(f'<li><a href="{name}">{escape(t)}</a></li>' for t, name, _ in links)
        day_items = "\n".join(f'<li><a href="day-{n}.html">Day {n}</a></li>' for n in days)
        page = (
            "<!DOCTYPE html>\n"
            f'<html lang="{escape(conference.language)}">\n<head>\n<meta charset="utf-8">\n'
            f"<title>{escape(conference.title)} — live blog</title>\n{head}\n</head>\n<body>\n"
            f"<h1>{escape(conference.title)}</h1>\n"
            + (f"<p>{escape(conference.venue)}</p>\n" if conference.venue else "")
            + f"<h2>Days</h2>\n<ul>\n{day_items}\n</ul>\n"
            f"<h2>Feeds</h2>\n<ul>\n{feeds}\n</ul>\n</body>\n</html>\n"
        )
        self._write(result, folder / "index.html", page.encode(), None)


def ping_hub(hub: str, urls: list[str], timeout: float = 10.0) -> list[str]:
    """Tell a WebSub hub which feeds changed; returns one-line problems (never raises)."""
    import httpx

    problems = []
    with httpx.Client(timeout=timeout, follow_redirects=False) as client:
        for url in urls:
            try:
                response = client.post(hub, data={"hub.mode": "publish", "hub.url": url})
                if not response.is_success:
                    problems.append(f"hub answered {response.status_code} for {url}")
            except httpx.HTTPError as exc:
                problems.append(f"hub unreachable for {url}: {type(exc).__name__}")
    return problems


def freshness(feeds_dir: Path) -> list[dict[str, Any]]:
    """Per conference folder: the log position its feeds were last published at."""
    out: list[dict[str, Any]] = []
    if not feeds_dir.is_dir():
        return out
    for folder in sorted(p for p in feeds_dir.iterdir() if p.is_dir()):
        try:
            state = json.loads((folder / STATE_FILE).read_text())
        except (OSError, ValueError):
            continue
        live = folder / "live.atom"
        out.append(
            {
                "conference": folder.name,
                "position": int(state.get("position", 0)),
                "written": live.stat().st_mtime if live.exists() else None,
            }
        )
    return out
