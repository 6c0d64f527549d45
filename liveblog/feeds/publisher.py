"""Publishing: every conference's feeds, archives and pages under feeds/<conference>/.

Which conferences a publish renders (`Publisher.publish`): those with an event after the
feeds directory's high-water mark (an index range scan of the timeline's
`last_position`), those whose folder is gone (looked for only when feeds/'s own mtime
moved), and those whose files the rotating audit finds changed — AUDIT_FILES remembered
fingerprints (size, mtime_ns) compared with the disk per publish. Everything, when the
marker `feeds/.published` is missing, the options changed, or with `--all`. What was
published is kept in SQLite (liveblog.store.sqlite.published) and recorded in one transaction
after the files are written: a publish that dies midway leaves its conferences to the
next one. Two publishes into one feeds directory take turns (a flock on the directory).

Within a conference, each render reads only bounded windows of the timeline (the newest
changes, the next archive block, the days whose summary changed), so its cost follows
what is new. A small state file per conference (`.state.json`, derived and disposable)
remembers the archive boundaries and which day pages are current; deleting it, or all of
feeds/, only makes the next publish write everything again — byte for byte the same.

On a store that keeps feed documents (PostgreSQL: `Stores.documents`), every document
also goes into the database (feeds/outputs.py), or only there (`write_files=False`: no
feeds directory). The database is a publish target of its own (`DATABASE_TARGET`, with
its own high-water mark and its own `.state.json` documents), so a directory and the
documents may be at different positions (nodes with and without a directory, taking
turns as leader). The documents come first: their plan is rendered into them alone and
committed with their target's record (a second publisher waits on the documents'
advisory lock), so what every node serves never waits for this node's directory. The
directory then takes the documents' bytes where its files differ (`_copy`: a directory
in step with the documents takes what this publish staged; one behind, new or damaged
compares each file with its document): no conference is rendered twice, and a node
taking the lead with a stale directory renders only what the documents lack. Only when
the documents hold a later state than this publisher's timeline (another node caught up
further) are they left alone and the directory rendered by itself. Helper processes are
not used with documents (they write files only).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import random
import re
import secrets
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..pages.assets import assets
from ..pages.defaults import DEFAULT_POLL_INTERVAL
from ..pages.live import PageOptions, render_pages
from ..pages.sections import conference_state
from ..pages.updates import entry_updates
from ..store.documents import Document as StoredDocument
from ..store.documents import DocumentVersion, FeedDocuments, content_etag
from ..store.publishing import Published, PublishState, Target
from ..store.timeline import Timeline
from ..summary import build_day_summary
from ..summary.render import render_day_html, render_fragment
from . import helper
from .atom import render_atom
from .defaults import DEFAULT_FEEDS_URL, DEFAULT_PAGE_SIZE
from .document import Document, latest
from .files import (
    WRITERS,
    ConcurrentWrites,
    FeedsDirError,
    check_feeds_dir,
    sweep_stale_temporaries,
    write_if_changed,
)
from .helper import Helper
from .jsonfeed import render_json
from .model import (
    Conference,
    FeedEntry,
    Tombstone,
    all_days,
    archive_block,
    archive_contents,
    closed_days,
    live_entries,
    load_conference,
    newest_first,
    time_of,
    tombstones,
)
from .model import _feed_entry as feed_entry  # one timeline entry's FeedEntry
from .outputs import Outputs
from .rss import render_rss

STATE_FILE = ".state.json"
STATE_VERSION = 2
ARCHIVE_RUN_ENTRIES = 1_000
"""Archive blocks are read from the timeline in runs of about this many entries."""
CONCURRENT_FROM = 8
"""A method writing this many files (or the reflections of this many days) or more
writes them on threads (files.WRITERS)."""
MARKER_FILE = ".published"
"""In feeds/: the random id under which the database remembers this directory."""
DATABASE_TARGET = "documents"
"""The publish-state target of the database's feed documents (a feeds directory's is the
random id in its marker): the database is published to like a directory of its own."""
DATABASE_PATH = "<database>"
_MARKER = re.compile(r"[0-9a-f]{32}")
RENDERING = 2
"""Bump when the renderers write other bytes for the same log: every feeds directory is
then rendered anew by its next publish (the version is part of the options signature)."""
AUDIT_FILES = 200
"""Remembered files each publish compares with the disk (one stat each)."""
LOCK_SECONDS = 30.0
"""How long a publish waits for another one writing the same feeds directory."""
COPY_BATCH_BYTES = 8 * 1024 * 1024
"""Document bodies read from the database at once while a directory copies them."""
PROGRESS_CONFERENCES = 20
PROGRESS_FILES = 100
"""A progress callback is called only for a plan this large (conferences, or files to
render from scratch)."""

Progress = Callable[[int, int], None]
"""Called with (done, total), in files (estimated), while a large plan is rendered."""

# Where each feeds directory's audit goes on in this process (by target id): the next
# publish checks the next window. A new process starts at a random file.
_audit_cursor: dict[str, int] = {}

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
    write_files: bool = True
    """False: no feeds directory, only the database's feed documents (`feeds_dir` is then
    just the root their paths are reported under)."""
    poll_interval: int = DEFAULT_POLL_INTERVAL
    """Seconds between the live page's polls of live.json (when it cannot open the stream)."""


@dataclass
class PublishResult:
    changed: list[Path] = field(default_factory=list)
    feed_urls: list[str] = field(default_factory=list)  # changed feeds, for the hub
    rendered: list[str] = field(default_factory=list)  # the conferences rendered
    repaired: list[str] = field(default_factory=list)  # ... of them for damaged files
    everything: bool = False  # every conference was rendered
    audited: int = 0  # files compared with their fingerprints
    seconds: float = 0.0


@dataclass
class _Plan:
    target: Target | None  # None: this feeds directory is new to the database
    path: str
    signature: str
    work: dict[str, tuple[int, bool]] = field(default_factory=dict)  # slug: (last, fresh)
    forget_all: bool = False
    folders_moved: bool = False
    target_id: str = ""  # the id it is recorded under (a new marker's, once written)
    behind: bool = False  # the target holds more than this snapshot's timeline: hands off

    def needs_record(self, head: int, done: dict[str, Published], forget: list[str]) -> bool:
        """Anything to remember? An idle publish writes nothing (a write would wake every
        process watching the database)."""
        t = self.target
        if self.behind:
            return False
        return (
            t is None
            or bool(done or forget)
            or self.forget_all
            or self.folders_moved
            or (t.position, t.signature) != (head, self.signature)
        )


class _Progress:
    """Progress in files: each conference is expected to write its archives (entries /
    page size), its day pages and ten others (six feeds, two pages, two assets); each
    file written ticks one, and a conference that wrote fewer (most were current) jumps
    to its end when done."""

    def __init__(self, callback: Progress, units: dict[str, int]) -> None:
        self.callback = callback
        self.units = units
        self.total = sum(units.values())
        self.done = 0
        self.current = 0  # ticked within the conference being rendered
        self._slug = ""

    @classmethod
    def start(
        cls, publisher: Publisher, plan: _Plan, callback: Progress | None
    ) -> _Progress | None:
        work = plan.work
        if callback is None or not work:
            return None
        fresh = plan.forget_all or any(f for _, f in work.values())
        if len(work) < PROGRESS_CONFERENCES and not fresh:
            return None
        slugs = None if plan.forget_all else list(work)
        counts = publisher.timeline.entry_counts(slugs)
        days = publisher.timeline.day_counts(slugs)
        size = publisher.options.page_size
        units = {slug: counts.get(slug, 0) // size + days.get(slug, 0) + 10 for slug in work}
        progress = cls(callback, units)
        if len(work) < PROGRESS_CONFERENCES and progress.total < PROGRESS_FILES:
            return None
        callback(0, progress.total)
        return progress

    def wrote(self) -> None:
        if self.current < self.units.get(self._slug, 0):
            self.current += 1
            self.done += 1
            self.callback(self.done, self.total)

    def conference(self, slug: str) -> None:
        self._slug, self.current = slug, 0

    def conference_done(self) -> None:
        self.done += max(0, self.units.get(self._slug, 0) - self.current)
        self.current = 0
        self.callback(self.done, self.total)


@contextlib.contextmanager
def _exclusive(feeds: Path) -> Iterator[None]:
    """One publish at a time per feeds directory (any process): what one records must be
    what is on disk. Waits up to LOCK_SECONDS for another publish to finish."""
    try:
        feeds.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        check_feeds_dir(feeds)
        raise
    fd = os.open(feeds, os.O_RDONLY | os.O_DIRECTORY)
    try:
        deadline = time.monotonic() + LOCK_SECONDS
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise FeedsDirError(
                        f"another publish has been writing {feeds} for {LOCK_SECONDS:.0f} s "
                        "(try again when it is done)"
                    ) from None
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)


def _same_bytes(path: Path, etag: str) -> bool:
    """The file holds the bytes of that ETag (the document's): nothing to copy."""
    try:
        return content_etag(path.read_bytes()) == etag
    except OSError:
        return False


def _read_marker(feeds: Path) -> str | None:
    try:
        text = (feeds / MARKER_FILE).read_text(encoding="ascii").strip()
    except (OSError, ValueError):
        return None
    return text if _MARKER.fullmatch(text) else None


class _Site:
    """URLs and ids of one conference's published files."""

    def __init__(self, conference: Conference, options: PublishOptions) -> None:
        self.conference = conference
        self.base = f"{options.feeds_url.rstrip('/')}/{conference.slug}"
        self.home = conference.url or f"{self.base}/index.html"
        self.pages = (conference.url or self.base).rstrip("/")
        # The entries the live page holds (its newest LIVE_PAGE_ENTRIES and the pinned
        # one), once the live documents are rendered; None before (archives).
        self.on_live_page: frozenset[str] | None = None

    def url(self, name: str) -> str:
        return f"{self.base}/{name}"

    def entry_id(self, event_id: str) -> str:
        return self.conference.tag("entry", event_id)

    def entry_link(self, entry: FeedEntry) -> str:
        """Where the entry really is as this publish writes it: its anchor on the live
        page when the page holds it, else its anchor on its day page (which holds every
        entry of the day not retracted)."""
        if self.on_live_page is not None and entry.id in self.on_live_page:
            return f"{self.pages}/index.html#entry-{entry.id}"
        return self.day_anchor(entry)

    def day_anchor(self, entry: FeedEntry) -> str:
        """The entry on its day page. Archives always link there: an archive is written
        once, as its entries stood, and the same log must give the same bytes whenever
        it is published, while the live page's window moves on."""
        return f"{self.pages}/day-{entry.day}.html#e-{entry.id}"

    def day_link(self, number: int) -> str:
        """A day's reflection entry: its day page."""
        return f"{self.pages}/day-{number}.html"


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


def _live_page_ids(timeline: Timeline, conference: Conference) -> frozenset[str]:
    """The entries the live page holds (the page's own reading, cached: the page and
    live.json reuse it)."""
    state = conference_state(timeline, conference)
    ids = {entry.id for section in state.sections for entry in section.shown}
    if state.pinned is not None:
        ids.add(state.pinned.id)
    return frozenset(ids)


def archive_document(
    site: _Site, number: int, entries: list[FeedEntry], gone: list[Tombstone], total: int
) -> Document:
    """Archive `number` of `total`: its entries (in log order) and tombstones."""
    doc = _document(
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
    doc.entry_links.update({e.id: site.day_anchor(e) for e in doc.entries})
    return doc


class Publisher:
    def __init__(
        self,
        timeline: Timeline,
        published: PublishState,
        options: PublishOptions,
        *,
        documents: FeedDocuments | None = None,
    ) -> None:
        """`documents`: the store's feed documents (`Stores.documents`), written as well
        as the files, or instead of them with `options.write_files` False."""
        self.timeline = timeline
        self.published = published
        self.options = options
        self.documents = documents
        if not options.write_files and documents is None:
            raise FeedsDirError(
                "no feeds directory, and this database keeps no feed documents "
                "(give a directory with --feeds)"
            )
        self._out = Outputs(options.feeds_dir, files=options.write_files, documents=documents)
        self._progress: _Progress | None = None
        self._files: dict[str, tuple[int, int]] = {}  # the conference being rendered
        self.head = 0  # the position published as of: the snapshot's projected position
        self.log_head = 0  # the log's last position in that snapshot

    # -- which conferences: the selection ------------------------------------------------

    def publish(
        self, *, everything: bool = False, progress: Progress | None = None
    ) -> PublishResult:
        """Render the conferences whose inputs changed since this feeds directory (and
        the database's feed documents, if any) was last published (all of them with
        `everything`), and remember what was written.

        Call it outside any transaction: it reads one snapshot, writes the files, then
        records what it published (and puts the changed feed documents) in a write
        transaction of its own.
        """
        started = time.perf_counter()
        result = PublishResult()
        self._opened: list[Outputs] = []
        try:
            self._publish(everything, progress, result)
        finally:
            for out in self._opened:
                out.close()
        result.seconds = time.perf_counter() - started
        return result

    def _publish(self, everything: bool, progress: Progress | None, result: PublishResult) -> None:
        feeds = self.options.feeds_dir
        files = self.options.write_files
        if files:
            check_feeds_dir(feeds)
            if not feeds.is_dir() and not self.timeline.any_conference():
                return  # nothing to publish, and nowhere made for it
        elif not self.timeline.any_conference():
            return
        self.published.ensure()
        with contextlib.ExitStack() as stack:
            marker = None
            if files:
                stack.enter_context(_exclusive(feeds))
                marker = _read_marker(feeds)
            if self.documents is not None:
                stack.enter_context(self.documents.exclusive(LOCK_SECONDS))
            with self.timeline.snapshot():
                # As of the timeline's own position, not the log's head: an append that
                # landed after the catch-up is in the log but not in the rows rendered
                # here, and recording the head would mark it published (never rendered).
                self.head = self.timeline.projected()
                self.log_head = self.timeline.head()
                file_plan = self._plan(marker, everything, result) if files else None
                database = None
                if self.documents is not None:
                    database = self._database_plan(everything, result)
                # The documents first, alone: every node serves them, and their plan is
                # incremental (the shared target is current), while this node's own
                # directory may be far behind (or new: it led before, or never). The
                # directory then copies their bytes (`_copy`) instead of rendering.
                if database is not None:
                    done, forget = self._render(database, result, progress, documents=True)
                    staged = self._out
                copy = file_plan is not None and database is not None and not database.behind
                if file_plan is not None and not copy:
                    # No documents; or they hold a later state than this snapshot's (left
                    # alone, never taken back): the directory is rendered by itself.
                    file_done, file_forget = self._render(
                        file_plan, result, progress, documents=False
                    )
            now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
            if database is not None:
                # The documents and their target's record in one transaction: the target
                # moves only with the documents it describes. Every node serves them
                # from here on, whatever this node's directory still has to do.
                with staged.unit_of_work():
                    staged.commit()
                    self._record(database, done, forget, now)
            if file_plan is None:
                return
            if copy:
                assert database is not None
                file_done, file_forget = self._copy(file_plan, database.target, staged, result)
            if file_plan.target is None:  # new to this database: a marker of its own
                file_plan.target_id = secrets.token_hex(16)
                write_if_changed(feeds / MARKER_FILE, f"{file_plan.target_id}\n".encode())
            else:
                file_plan.target_id = file_plan.target.id
            self._record(file_plan, file_done, file_forget, now)
        # A file written to both outputs changed once.
        result.changed = list(dict.fromkeys(result.changed))

    def _render(
        self,
        plan: _Plan,
        result: PublishResult,
        progress: Progress | None,
        *,
        documents: bool,
    ) -> tuple[dict[str, Published], list[str]]:
        """Render the plan's conferences into one output: the database's documents, or
        else the directory. Returns what was rendered (slug: Published) and the
        conferences to forget (gone from the timeline)."""
        self._use(documents)
        self._progress = _Progress.start(self, plan, progress)
        done: dict[str, Published] = {}
        forget: list[str] = []
        for slug, (position, fresh) in sorted(plan.work.items()):
            conference = load_conference(self.timeline, slug)
            if conference is None:
                forget.append(slug)
                continue
            if self._progress is not None:
                self._progress.conference(slug)
            written = self._conference(conference, result, fresh=fresh)
            done[slug] = Published(position, written, fresh)
            result.rendered.append(slug)
            if self._progress is not None:
                self._progress.conference_done()
        return done, forget

    def _use(self, documents: bool) -> None:
        """Write to the documents only, or to the directory only, from now on (what the
        documents' output staged waits for its commit: `publish` closes them all)."""
        keep = self.documents if documents else None
        self._out = Outputs(self.options.feeds_dir, files=not documents, documents=keep)
        self._opened.append(self._out)
        self._progress = None

    def _record(self, plan: _Plan, done: dict[str, Published], forget: list[str], now: str) -> None:
        """Remember the publish of one target, if there is anything to remember."""
        if not plan.needs_record(self.head, done, forget):
            return
        database = plan.path == DATABASE_PATH
        self.published.record(
            target_id=DATABASE_TARGET if database else plan.target_id,
            path=plan.path,
            seen=plan.target,
            head=self.head,
            signature=plan.signature,
            folders_mtime_ns=0 if database else self.options.feeds_dir.stat().st_mtime_ns,
            # The audit compares files with the disk: documents have none.
            published={slug: Published(p.position, [], p.fresh) for slug, p in done.items()}
            if database
            else done,
            forget_all=plan.forget_all,
            forget=forget,
            now=now,
        )

    def _copy(
        self, plan: _Plan, documents_were: Target | None, staged: Outputs, result: PublishResult
    ) -> tuple[dict[str, Published], list[str]]:
        """Bring the directory's conferences of `plan` up to date from the documents
        just committed (as of this publish's snapshot; the documents' lock is still
        held). No rendering: the documents are what a render would write, byte for byte.
        A directory that was in step with the documents (both targets at one position,
        one signature: this node published both last time) takes what this publish
        staged; any other (behind, new, damaged) compares each file with its document
        and writes those that differ (`_copy_conference`). Returns what to record, as
        `_render` does."""
        self._use(False)
        held = self.published.published_conferences(DATABASE_TARGET)
        was = plan.target
        in_step = (
            was is not None
            and documents_were is not None
            and not plan.forget_all
            and was.position == documents_were.position
            and was.signature == documents_were.signature == plan.signature
        )
        done: dict[str, Published] = {}
        forget: list[str] = []
        for slug, (position, fresh) in sorted(plan.work.items()):
            if slug not in held:  # gone from the timeline: the documents forgot it
                forget.append(slug)
            elif in_step and not fresh:
                news = list(staged.staged_under(slug))  # a publish's changes: a few
                written = self._copy_files(slug, news, len(news), result)
                done[slug] = Published(position, written, False)
            else:
                done[slug] = Published(position, self._copy_conference(slug, result), True)
        return done, forget

    def _copy_conference(self, slug: str, result: PublishResult) -> list[tuple[str, int, int]]:
        """Every document of the conference into the directory, where its bytes differ;
        the fingerprints of all its files (the list is complete: recorded `fresh`)."""
        assert self.documents is not None
        feeds = self.options.feeds_dir
        versions = self.documents.list(f"{slug}/")
        stale = [v for v in versions if not _same_bytes(feeds / v.path, v.etag)]
        differ = {v.path for v in stale}
        self._slug, self._files = slug, {}
        for version in versions:
            if version.path not in differ:
                self._remember(feeds / version.path)
        bodies = ((d.path, d.body) for d in self._bodies(stale))
        return self._copy_files(slug, bodies, len(stale), result, keep=self._files)

    def _copy_files(
        self,
        slug: str,
        documents: Iterable[tuple[str, bytes]],
        count: int,
        result: PublishResult,
        keep: dict[str, tuple[int, int]] | None = None,
    ) -> list[tuple[str, int, int]]:
        """Write these `count` documents (path, bytes) into the directory, `.state.json`
        last (in the directory too, the state never claims more than is there); the
        fingerprints of the files written (and of `keep`'s)."""
        feeds = self.options.feeds_dir
        folder = feeds / slug
        if folder not in _swept:
            for place in (folder, folder / "archive"):
                sweep_stale_temporaries(place)
            _swept.add(folder)
        self._slug, self._files = slug, dict(keep or {})
        state: bytes | None = None
        with self._writes(result, count) as w:
            for path, body in documents:
                if path == f"{slug}/{STATE_FILE}":
                    state = body
                else:
                    w.write(feeds / path, body)
        if state is not None:
            write_if_changed(folder / STATE_FILE, state)
            self._remember(folder / STATE_FILE)
        return [(name, size, mtime) for name, (size, mtime) in sorted(self._files.items())]

    def _bodies(self, versions: list[DocumentVersion]) -> Iterator[StoredDocument]:
        """The documents of `versions`, in their order, read a bounded batch at a time."""
        assert self.documents is not None
        batch: list[str] = []
        size = 0
        for version in versions:
            batch.append(version.path)
            size += version.size
            if size >= COPY_BATCH_BYTES:
                yield from self.documents.get_many(batch)
                batch, size = [], 0
        if batch:
            yield from self.documents.get_many(batch)

    def signature(self) -> str:
        """What every published file depends on besides the log."""
        options = self.options
        return json.dumps(
            [RENDERING, options.feeds_url, options.page_size, options.hub, options.poll_interval],
            separators=(",", ":"),
        )

    def _ahead_of_timeline(self, target: Target | None, everything: bool, signature: str) -> bool:
        """The target was published from a later state of the timeline than this
        snapshot's (a publish of another process that caught up further, or the
        projection rebuilding): rendering now would take it back. This publish leaves it
        alone; the next one, caught up, renders what changed. A target beyond the log's
        head is another matter: the log is not the one published (rendered anew)."""
        return (
            target is not None
            and not everything
            and target.signature == signature
            and self.head < target.position <= self.log_head
        )

    def _database_plan(self, everything: bool, result: PublishResult) -> _Plan:
        """The database's documents, published to as a target of their own (see
        `_target_plan`); documents have no audit: nothing edits them by hand."""
        target = self.published.target(DATABASE_TARGET)
        return self._target_plan(target, DATABASE_PATH, everything, result)

    def _target_plan(
        self, target: Target | None, path: str, everything: bool, result: PublishResult
    ) -> _Plan:
        """What one target (a directory, or the documents) lacks: nothing if it holds a
        later state than this snapshot (`behind`); everything, from nothing (a new
        target: each conference's `.state.json`, if any, still holds) or anew (the
        options changed, the log is not the one published, or --all); else the
        conferences changed after its high-water mark."""
        signature = self.signature()
        plan = _Plan(target, path, signature)
        if self._ahead_of_timeline(target, everything, signature):
            plan.behind = True
            return plan
        if (
            target is None
            or everything
            or target.signature != signature
            or target.position > self.log_head
        ):
            fresh = target is not None or everything
            plan.forget_all = True
            plan.work = {slug: (last, fresh) for slug, last in self.timeline.every_conference()}
            result.everything = True
            return plan
        plan.work = {
            slug: (last, False) for slug, last in self.timeline.changed_after(target.position)
        }
        return plan

    def _plan(self, marker: str | None, everything: bool, result: PublishResult) -> _Plan:
        """The feeds directory's plan (`_target_plan`), and the conferences whose files
        are damaged."""
        feeds = self.options.feeds_dir
        path = str(feeds.resolve())
        target = self.published.target(marker) if marker else None
        if target is not None and target.path != path:
            target = None  # a copy of another feeds directory: it gets an id of its own
        plan = self._target_plan(target, path, everything, result)
        if target is None or plan.behind or plan.forget_all:
            return plan
        # Damage: a conference folder gone (one stat of feeds/ says whether to look), or a
        # file that is not what was written (a bounded window of the rotating audit).
        damaged = set()
        mtime = feeds.stat().st_mtime_ns
        if mtime != target.folders_mtime_ns:
            plan.folders_moved = True
            there = {entry.name for entry in os.scandir(feeds) if entry.is_dir()}
            damaged |= self.published.published_conferences(target.id) - there
        damaged |= self._audit(target, result)
        if damaged:
            known = dict(self.timeline.last_positions(damaged))
            for slug in damaged:
                if slug in known:
                    plan.work[slug] = (known[slug], True)
                else:
                    plan.work.setdefault(slug, (0, True))
            result.repaired = sorted(damaged)
        return plan

    def _audit(self, target: Target, result: PublishResult) -> set[str]:
        """Compare the next AUDIT_FILES remembered files with the disk; the conferences
        whose files differ (deleted, edited, replaced by hand)."""
        cursor = _audit_cursor.get(target.id)
        if cursor is None:
            cursor = random.randint(0, self.published.last_file_id(target.id))
        window = self.published.audit_window(target.id, cursor, AUDIT_FILES)
        damaged = set()
        feeds = self.options.feeds_dir
        for record in window:
            try:
                stat = os.stat(feeds / record.conference / record.name)
            except OSError:
                damaged.add(record.conference)
                continue
            if (stat.st_size, stat.st_mtime_ns) != (record.size, record.mtime_ns):
                damaged.add(record.conference)
        if window:
            _audit_cursor[target.id] = window[-1].id
        result.audited = len(window)
        return damaged

    # -- one conference ----------------------------------------------------------------

    def _write(self, result: PublishResult, path: Path, data: bytes, url: str | None) -> None:
        self._written(result, path, self._out.write(path, data), url)

    def _written(self, result: PublishResult, path: Path, changed: bool, url: str | None) -> None:
        """Book-keeping for a file now on disk (`changed`: its bytes are new)."""
        if changed:
            result.changed.append(path)
            if url is not None:
                result.feed_urls.append(url)
        self._remember(path)
        if self._progress is not None:
            self._progress.wrote()

    def _remember(self, path: Path) -> None:
        """The file's fingerprint as written (or found equal), for the audit."""
        if not self._out.files:
            return  # rendering the documents: no file to audit
        stat = path.stat()
        folder = self.options.feeds_dir / self._slug
        self._files[path.relative_to(folder).as_posix()] = (stat.st_size, stat.st_mtime_ns)

    def _conference(
        self, conference: Conference, result: PublishResult, *, fresh: bool = False
    ) -> list[tuple[str, int, int]]:
        """Render one conference; returns the fingerprints of the files it wrote."""
        site = _Site(conference, self.options)
        folder = self.options.feeds_dir / conference.slug
        self._slug, self._files = conference.slug, {}
        for place in (folder, folder / "archive"):
            if self.options.write_files and place not in _swept:
                sweep_stale_temporaries(place)
                _swept.add(place)
        self._out.begin(conference.slug)
        state = self._load_state(folder, fresh=fresh)
        archives = self._archives(site, folder, state, result)
        archived_to = state["last"][1] if state["last"] else 0
        self._live(site, folder, archives, archived_to, result)
        self._days(site, folder, state, result)
        self._index(site, folder, result)
        state["position"] = self.head
        # Written last: in each output, the state never claims more than is there.
        self._out.write(folder / STATE_FILE, json.dumps(state).encode())
        self._remember(folder / STATE_FILE)
        return [(name, size, mtime) for name, (size, mtime) in sorted(self._files.items())]

    def _load_state(self, folder: Path, *, fresh: bool = False) -> dict[str, Any]:
        """The cache of what was published, if it still matches the output being
        rendered (the directory, or the documents) and the options."""
        out = self._out
        if out.files:
            return self._output_state(folder, out.read_file, out.in_files, fresh)
        return self._output_state(folder, out.read_document, out.in_documents, fresh)

    def _output_state(
        self,
        folder: Path,
        read: Callable[[Path], bytes | None],
        exists: Callable[[Path], bool],
        fresh: bool,
    ) -> dict[str, Any]:
        """One output's state, if it matches that output and the options."""
        try:
            if fresh:
                raise ValueError("rendered from scratch")
            text = read(folder / STATE_FILE)
            if text is None:
                raise ValueError("no state")
            state = dict(json.loads(text))
            count = state["count"]
            signature = state.get("signature") or [None, self.options.feeds_url]
            if (
                state.get("version") == STATE_VERSION
                and state.get("page_size") == self.options.page_size
                # Archives hold their URLs: written under another --feeds-url, all anew.
                and signature[1] == self.options.feeds_url
                and (count == 0 or exists(folder / "archive" / f"{count}.atom"))
            ):
                return state
        except (OSError, ValueError, KeyError, TypeError, IndexError):
            pass
        return _empty_state(self.options.page_size)

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
            block = archive_block(self.timeline, site.conference.slug, last[1] if last else 0, size)
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
                contents = archive_contents(self.timeline, slug, blocks)
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
        # A helper writes files itself: not where documents are kept too.
        wanted = many and bool(job["runs"]) and self.documents is None
        database = self.timeline.location() if wanted else None
        if database is None:
            return None
        return stack.enter_context(Helper(database, self.options, slug, job))

    def _entries_of_days(self, slug: str, days: list[tuple[int, int]]) -> int:
        return self.timeline.entries_of_days(slug, [number for number, _ in days])

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
            self._out.write,
        )

    def _live(
        self, site: _Site, folder: Path, archives: int, archived_to: int, result: PublishResult
    ) -> None:
        conference = site.conference
        size = self.options.page_size
        entries = live_entries(self.timeline, conference.slug, size, archived_to)
        site.on_live_page = _live_page_ids(self.timeline, conference)
        stones = tombstones(self.timeline, conference.slug, size)
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
            if name == "live.json":
                extra.update(self._live_extension(conference, entries, stones))
            doc = _document(site, self_name=name, **extra)
            self._write(result, folder / name, render_doc(doc), site.url(name))

    def _live_extension(
        self, conference: Conference, entries: list[FeedEntry], stones: list[Tombstone]
    ) -> dict[str, Any]:
        """live.json's `_liveblog` (what the live page's polling applies): the pinned
        entry first (listed even when it is older than the window), every item's
        EntryUpdate, the recent retractions."""
        slug = conference.slug
        # The live page's own reading of the conference (cached: the page reuses it).
        state = conference_state(self.timeline, conference)
        pinned = state.pinned
        ids = [e.id for e in entries]
        if pinned is not None and pinned.id not in ids:
            entries = [feed_entry(pinned), *entries]
            ids.insert(0, pinned.id)
        found = {e.id: e for e in self.timeline.entries_by_id(slug, ids)}
        rows = [found[i] for i in ids if i in found]
        updates = {u["id"]: u for u in entry_updates(self.timeline, conference, rows)}
        if pinned is not None:
            entries = sorted(entries, key=lambda e: e.id != pinned.id)  # stable: pinned first
        return {
            "entries": entries,
            "extension": {
                "position": state.position,
                "poll_interval": self.options.poll_interval,
                "live": conference.closed_at is None,
                "pinned": pinned.id if pinned is not None else None,
                "retracted": [t.id for t in stones],
            },
            "entry_extensions": updates,
        }

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
            state["days"], state["closed"] = {}, None  # None: reflections too
            state["signature"] = signature
        known: dict[str, int] = state["days"]
        # The articles of the pages written here (with their titles and reporters)
        # serve the reflections too.
        articles: dict[int, tuple[str, str, list[str]]] = {}
        stale = [
            (number, position)
            for number, position in all_days(self.timeline, slug)
            if known.get(str(number)) != position
            or not self._out.exists(folder / f"day-{number}.html")
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
                    summary = build_day_summary(self.timeline, slug, number)
                    page, article = render_day_html(summary)
                    writes.write(folder / f"day-{number}.html", page.encode())
                    articles[number] = (article, summary["title"], summary["reporters"])
        for number, position in stale:
            known[str(number)] = position
        # The reflections change only when a closed day does (a note in the open day
        # never touches them): each closed day's last change is remembered.
        closing = closed_days(self.timeline, slug)
        closed = {str(d.number): d.changed_position for d in closing}
        reflections = [folder / f"reflections.{ext}" for ext in ("atom", "rss", "json")]
        if state.get("closed") == closed and all(self._out.exists(p) for p in reflections):
            return
        state["closed"] = closed
        entries = []
        for day in closing:
            if day.number in articles:
                article, title, reporters = articles[day.number]
            else:
                summary = build_day_summary(self.timeline, slug, day.number)
                article, title = render_fragment(summary), summary["title"]
                reporters = summary["reporters"]
            updated = time_of(self.timeline, day.changed_position) or day.closed_at
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
        with self._writes(result, len(entries), urls) as writes:
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
                doc.entry_links.update({e.id: site.day_link(e.day) for e in entries})
                writes.write(path, render_doc(doc))

    def _index(self, site: _Site, folder: Path, result: PublishResult) -> None:
        """The reader's pages (liveblog/pages): the live page, the embed page, and the
        script and stylesheet they load (no other host)."""
        options = PageOptions(self.options.feeds_url, self.options.poll_interval)
        pages = render_pages(self.timeline, site.conference, options)
        self._write(result, folder / "index.html", pages.index.encode(), None)
        self._write(result, folder / "embed.html", pages.embed.encode(), None)
        for name, body in assets():
            self._write(result, folder / name, body, None)


def _empty_state(page_size: int) -> dict[str, Any]:
    return {
        "version": STATE_VERSION,
        "page_size": page_size,
        "count": 0,
        "last": None,
        "days": {},
        "closed": None,  # unknown: the reflections are written
        "position": 0,
    }


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


LAGGING_SHOWN = 10
"""Conferences with unpublished events that `status` names (it counts the others)."""


def freshness(
    timeline: Timeline | None,
    published: PublishState | None,
    feeds_dir: Path,
    head: int,
    *,
    documents: bool = False,
) -> dict[str, Any]:
    """Where the feeds directory (with `documents`: the database's feed documents) was
    last published up to, read from the publisher's state: the high-water mark, and the
    conferences with events after it (counted; the oldest LAGGING_SHOWN named). Its cost
    follows how many lag, not how many exist."""
    out: dict[str, Any] = {
        "dir": DATABASE_PATH if documents else str(feeds_dir),
        "published": False,
        "position": 0,
        "lag": head,
        "published_at": None,
        "lagging": None,
        "lagging_conferences": [],
    }
    marker = DATABASE_TARGET if documents else _read_marker(feeds_dir)
    if timeline is None or published is None or marker is None or not published.present():
        return out
    target = published.target(marker)
    path = DATABASE_PATH if documents else str(feeds_dir.resolve())
    if target is None or target.path != path:
        return out
    count, rows = timeline.lagging(target.position, LAGGING_SHOWN)
    at = published.published_positions(target.id, [slug for slug, _ in rows])
    out.update(
        published=True,
        position=target.position,
        lag=max(0, head - target.position),
        published_at=target.published_at,
        lagging=count,
        lagging_conferences=[
            {"conference": slug, "position": at.get(slug, 0), "newest": last} for slug, last in rows
        ],
    )
    return out
