"""The live stream of `liveblog serve`: `GET /api/conferences/{slug}/stream`, Server-Sent
Events, one message per log position that changed an entry of the conference.

    retry: 2000                      once, first
    id: <position>                   then, per position that changed entries
    event: update
    data: {"position": P, "entries": [EntryUpdate, ...], "live": bool}
    : ping                           every `heartbeat` seconds

The `id` is the log position, so a reader that reconnects with `Last-Event-ID` (or
`?since=P`, the page's own position) gets every message after it, nothing twice.

One `Broadcaster` per process does the reading. It is woken when the timeline projection
advances (the scheduler calls `wake` after each catch-up; a standby node's scheduler on
every tick, since another node projects), reads once, on one database thread, the
changes of the conferences somebody watches, encodes each message once, and hands the
same bytes to every subscriber of that conference. A subscriber is a bounded queue of
bytes: a reader too slow to keep it under `queue_bytes` is disconnected (its browser
reconnects with Last-Event-ID and resumes exactly), and an idle stream holds no database
connection, only its place in the queue table.

Nothing missed, nothing twice, without a lock: the broadcaster's reads and a new
subscriber's catch-up pages run on the same single database thread, one after another.
The broadcaster's reads publish every change up to `published`; a catch-up page reads
the conference's changes after the reader's position up to that same `published`, and
the live messages queued meanwhile are dropped up to where the catch-up reached. An
entry changed again later is read in its latest state, at its latest position: a
message is "how these entries read as of this position".

The database thread (its jobs by priority: broadcasts first, then the cheapest catch-up)
and the cache of encoded messages that readers catching up share are in
liveblog.http.streamdb; sends are chunked, so a reader that reads nothing holds no more
than a chunk of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import re
import urllib.parse
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from ..domain.text import SLUG_PATTERN
from ..errors import LiveblogError
from .guard import send_error
from .limits import StreamSettings
from .streamdb import (
    BROADCAST,
    CONTAINERS,
    FIRST_PAGE,
    NEXT_PAGE,
    Ahead,
    Message,
    MessageCache,
    NotBuilt,
    Reader,
)

if TYPE_CHECKING:
    from ..store.timeline import Conference, Timeline, TimelineEntry

T = TypeVar("T")
Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
Report = Callable[[str], None]

PREFIX = "/api/conferences/"
SUFFIX = "/stream"
_SLUG = re.compile(SLUG_PATTERN)
MAX_POSITION = 2**63 - 1
RETRY_MS = 2000
START = f"retry: {RETRY_MS}\n\n".encode()
PING = b": ping\n\n"
HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]
# A broadcast that finds more changed entries than this for one conference (an import,
# a rebuild) does not hold them all in memory for every subscriber: those subscribers'
# streams end, and each resumes from its Last-Event-ID by catch-up pages.
MAX_BROADCAST_PAGES = 4
# Bytes handed to the connection per send at most (messages joined up to it).
CHUNK = 32 * 1024


def stream_slug(path: str) -> str | None:
    """The conference slug of a stream path, or None if `path` is not one."""
    if path.startswith(PREFIX) and path.endswith(SUFFIX):
        return path[len(PREFIX) : -len(SUFFIX)]
    return None


def encode(position: int, entries: list[dict[str, Any]], live: bool) -> Message:
    """One SSE message. JSON never holds a raw newline (it escapes them), so `data` is
    one line; non-ASCII stays UTF-8 (SSE splits lines on CR and LF only)."""
    data = json.dumps(
        {"position": position, "entries": entries, "live": live},
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return Message(position, f"id: {position}\nevent: update\ndata: {data}\n\n".encode())


class Subscriber:
    """One open stream: a bounded queue of messages and the wake-up of its writer."""

    __slots__ = (
        "_waiter",
        "after",
        "client",
        "closed",
        "conference",
        "items",
        "limit",
        "overflow",
        "size",
    )

    def __init__(self, conference: str, after: int, limit: int, client: str = "") -> None:
        self.conference = conference
        self.client = client  # its address (the one X-Forwarded-For gives, if trusted)
        self.after = after  # the reader's position (Last-Event-ID / since)
        self.limit = limit
        self.items: deque[Message] = deque()
        self.size = 0
        self.closed = False
        # Called when the queue overflows: ends the connection even if its writer is
        # stuck in a send to a client that reads nothing (set by the handler).
        self.overflow: Callable[[], None] | None = None
        self._waiter: asyncio.Future[None] | None = None

    def push(self, message: Message) -> None:
        if self.closed:
            return
        if self.size + len(message.body) > self.limit:
            self.close()
            if self.overflow is not None:
                self.overflow()
            return
        self.items.append(message)
        self.size += len(message.body)
        self._wake()

    def close(self) -> None:
        self.closed = True
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def take(self) -> list[Message]:
        taken = list(self.items)
        self.items.clear()
        self.size = 0
        return taken

    async def wait(self) -> None:
        """Until there is something to take, or the subscriber is closed."""
        while not self.items and not self.closed:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None


@dataclass(frozen=True)
class Page:
    """What one read of a conference's changes found: its messages, the position they
    reach (every change up to it is in them), and whether that is all there is."""

    messages: list[Message]
    reached: int
    done: bool


def read_page(
    timeline: Timeline,
    conference: Conference,
    after: int,
    upto: int,
    batch: int,
    cache: MessageCache | None = None,
    *,
    fresh: bool = False,
) -> Page:
    """The messages for the changes of `conference` in (after, upto], at most about
    `batch` entries of them (`Timeline.changes` pages by changed position). `fresh`: the
    changes are new (a broadcast), so a talk or session among them drops the cache."""
    if after >= upto:
        return Page([], max(after, upto), True)
    rows = timeline.changes(conference.slug, after, batch)
    full = len(rows) == batch
    kept = [row for row in rows if row.changed <= upto]
    done = not full or len(kept) < len(rows)
    if done:
        reached = upto
    else:
        # The page may have cut the last position's entries in two (a pin changes two):
        # that position is read whole by the next page.
        last = kept[-1].changed
        trimmed = [row for row in kept if row.changed < last]
        if trimmed:
            kept = trimmed
            reached = kept[-1].changed
        else:  # one position with more entries than a page: cannot happen (≤ 2 each)
            reached = last
    if fresh and cache is not None and any(_recontexts(row) for row in kept):
        cache.drop(conference.slug)
    messages = messages_for(timeline, conference, kept, after, reached, cache)
    return Page(messages, reached, done)


def _recontexts(entry: TimelineEntry) -> bool:
    """A change to a talk or session that was there before: the entries in it show it."""
    return entry.kind in CONTAINERS and entry.changed != entry.position


def messages_for(
    timeline: Timeline,
    conference: Conference,
    entries: list[TimelineEntry],
    after: int,
    reached: int,
    cache: MessageCache | None = None,
) -> list[Message]:
    """One message per changed position, in position order; the conference's own last
    change (its closing: `live` turns false) is a message too, even with no entry.
    Messages found in `cache` are not rendered again."""
    from ..pages.updates import entry_updates

    live = conference.closed_at is None
    groups: dict[int, list[TimelineEntry]] = {}
    for entry in entries:
        groups.setdefault(entry.changed, []).append(entry)
    if after < conference.changed_position <= reached:
        groups.setdefault(conference.changed_position, [])
    found: dict[int, Message] = {}
    missing: list[TimelineEntry] = []
    keys = {
        p: (conference.slug, p, tuple(e.id for e in group), live) for p, group in groups.items()
    }
    for position, group in groups.items():
        cached = cache.get(keys[position]) if cache is not None else None
        if cached is not None:
            found[position] = cached
        else:
            missing.extend(group)
    updates = entry_updates(timeline, conference, missing) if missing else []
    rendered: dict[int, list[dict[str, Any]]] = {}
    for entry, update in zip(missing, updates, strict=True):
        rendered.setdefault(entry.changed, []).append(update)
    for position in groups:
        if position not in found:
            found[position] = encode(position, rendered.get(position, []), live)
            if cache is not None:
                cache.put(keys[position], found[position])
    return [found[position] for position in sorted(found)]


class Broadcaster:
    """Reads each change once and fans the same bytes out to every open stream."""

    def __init__(self, db_path: str, settings: StreamSettings, report: Report) -> None:
        self.settings = settings
        self.report = report
        self.reader = Reader(db_path, "stream")
        self.cache = MessageCache(settings.cache_bytes)
        self.subscribers: dict[str, set[Subscriber]] = {}
        self.count = 0
        self.per_client: dict[str, int] = {}  # open streams by client address
        # Every change up to it was broadcast (read and written in the thread only);
        # None until first read (a new database has no projection yet when serve starts).
        self.published: int | None = None
        self.closing = False
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._problem: str | None = None

    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._broadcasting()),
            asyncio.create_task(self._heartbeats()),
        ]

    def wake(self) -> None:
        """The timeline projection may have advanced (on the event loop's thread)."""
        self._wake.set()

    async def stop(self) -> None:
        """End every stream (each writer finishes its response), then the reading.

        The loops end on `closing` (each looks after every wait), not only on the
        cancellation: on Python 3.11 `asyncio.wait_for` drops a cancellation that comes
        as the awaited event is set (the scheduler wakes us after every catch-up, so
        under a stream of posts it often is), and `serve` then waited here for ever."""
        self.closing = True
        self.close_all()
        self._wake.set()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.reader.close()

    def close_all(self) -> None:
        for subscribers in list(self.subscribers.values()):
            for subscriber in list(subscribers):
                subscriber.close()

    # -- subscribers ------------------------------------------------------------------

    def subscribe(self, conference: str, after: int, client: str = "") -> Subscriber | str:
        """A new subscriber, queuing from now on; or why not (a cap is reached)."""
        if self.closing:
            return "shutting down"
        if self.count >= self.settings.max_streams:
            return f"{self.count} live streams open"
        if self.per_client.get(client, 0) >= self.settings.max_per_client:
            return f"{self.settings.max_per_client} live streams open from {client}"
        subscriber = Subscriber(conference, after, self.settings.queue_bytes, client)
        self.subscribers.setdefault(conference, set()).add(subscriber)
        self.count += 1
        self.per_client[client] = self.per_client.get(client, 0) + 1
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        subscribers = self.subscribers.get(subscriber.conference)
        if subscribers is None or subscriber not in subscribers:
            return
        subscribers.discard(subscriber)
        self.count -= 1
        if not subscribers:
            del self.subscribers[subscriber.conference]
        left = self.per_client[subscriber.client] - 1
        if left:
            self.per_client[subscriber.client] = left
        else:
            del self.per_client[subscriber.client]

    async def first_page(self, subscriber: Subscriber) -> Page | None:
        """The first catch-up page of a new subscriber; None: no such conference."""
        read = functools.partial(self._catch_up, subscriber, subscriber.after, check=True)
        return await self.reader.run(read, FIRST_PAGE, self._behind(subscriber.after))

    async def next_page(self, subscriber: Subscriber, after: int) -> Page | None:
        read = functools.partial(self._catch_up, subscriber, after, check=False)
        return await self.reader.run(read, NEXT_PAGE, self._behind(after))

    def _behind(self, after: int) -> int:
        """How much a catch-up from `after` may have to read, roughly (log positions)."""
        published = self.published  # written by the database thread: a hint only
        return max(0, published - after) if published is not None else 0

    def _catch_up(self, subscriber: Subscriber, after: int, *, check: bool) -> Page | None:
        if subscriber.closed:
            # Gone while queued (a flood of streams opened and dropped): nothing to read.
            return Page([], after, True)
        slug = subscriber.conference
        timeline = self.reader.timeline()
        with timeline.snapshot():
            conference = timeline.conference(slug)
            if conference is None:
                return None if check else Page([], after, True)
            if check and after > (head := timeline.head()):
                raise Ahead(head)
            # Up to `published`, read here on the broadcaster's own thread: what comes
            # after it reaches this subscriber as a broadcast.
            upto = self._published(timeline)
            return read_page(timeline, conference, after, upto, self.settings.batch, self.cache)

    # -- broadcasting -------------------------------------------------------------------

    async def _broadcasting(self) -> None:
        while not self.closing:
            await self._woken()
            if self.closing:
                return
            if not self.subscribers:
                # Nobody to tell: later subscribers catch up from their own position.
                with contextlib.suppress(LiveblogError):
                    await self.reader.run(self._skip, BROADCAST)
                continue
            watched = frozenset(self.subscribers)
            try:
                collect = functools.partial(self._collect, watched)
                found = await self.reader.run(collect, BROADCAST)
            except NotBuilt:
                continue  # the scheduler's first catch-up is under way: nothing to say
            except LiveblogError as exc:  # the database unreachable: try on the next wake
                self._warn(f"live stream: {exc}")
                continue
            self._warn(None)
            for slug, messages in found:
                for subscriber in list(self.subscribers.get(slug, ())):
                    if messages is None:
                        subscriber.close()  # too much at once: it resumes by catch-up
                        continue
                    for message in messages:
                        subscriber.push(message)

    async def _woken(self) -> None:
        """Until `wake` (or `poll` seconds). asyncio.timeout, not wait_for: a stop's
        cancellation is never lost (see `stop`)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.settings.poll):
                await self._wake.wait()
        self._wake.clear()

    def _published(self, timeline: Timeline) -> int:
        if self.published is None:
            self.published = timeline.projected()
        return self.published

    def _skip(self) -> None:
        timeline = self.reader.timeline()
        projected = timeline.projected()
        if projected > (self.published or 0):
            self.cache.clear()  # changes nobody read: what they changed is not known
        self.published = max(self.published or 0, projected)

    def _collect(self, watched: frozenset[str]) -> list[tuple[str, list[Message] | None]]:
        """The messages of every watched conference's changes since `published` (None
        for a conference with too many); then `published` moves to the projection's."""
        timeline = self.reader.timeline()
        found: list[tuple[str, list[Message] | None]] = []
        with timeline.snapshot():
            after = self._published(timeline)
            upto = timeline.projected()
            if upto <= after:
                return found
            for slug, _ in timeline.changed_after(after):
                if slug not in watched:
                    # Not read now: whatever changed there, its cached messages go.
                    self.cache.drop(slug)
                    continue
                conference = timeline.conference(slug)
                if conference is None:
                    continue
                found.append((slug, self._read(timeline, conference, after, upto)))
            self.published = upto
        return found

    def _read(
        self, timeline: Timeline, conference: Conference, after: int, upto: int
    ) -> list[Message] | None:
        messages: list[Message] = []
        for _ in range(MAX_BROADCAST_PAGES):
            page = read_page(
                timeline, conference, after, upto, self.settings.batch, self.cache, fresh=True
            )
            messages.extend(page.messages)
            if page.done:
                return messages
            after = page.reached
        return None

    async def _heartbeats(self) -> None:
        ping = Message(0, PING)
        while not self.closing:
            await asyncio.sleep(self.settings.heartbeat)
            for subscribers in list(self.subscribers.values()):
                for subscriber in list(subscribers):
                    subscriber.push(ping)

    def _warn(self, problem: str | None) -> None:
        if problem != self._problem:
            if problem is not None:
                self.report(f"Warning: {problem} (retrying)")
            elif self._problem is not None:
                self.report("live stream: working again")
            self._problem = problem

    # -- the endpoint -------------------------------------------------------------------

    async def handle(self, scope: Scope, receive: Receive, send: Send, slug: str) -> None:
        """GET /api/conferences/{slug}/stream."""
        if scope["method"] != "GET":
            await send_error(send, 405, "method not allowed: the stream is read with GET")
            return
        try:
            after, source = requested_position(scope)
        except ValueError as exc:
            await send_error(send, 400, str(exc))
            return
        if not _SLUG.match(slug):
            await send_error(send, 404, f"no conference {slug[:80]!r}")
            return
        client = scope.get("client")
        subscriber = self.subscribe(slug, after, str(client[0]) if client else "")
        if isinstance(subscriber, str):
            await send_error(
                send,
                503,
                f"server busy ({subscriber}): try again shortly",
                [(b"retry-after", b"5")],
            )
            return
        watcher: asyncio.Task[None] | None = None
        try:
            try:
                page = await self.first_page(subscriber)
            except LiveblogError as exc:
                retry = [(b"retry-after", b"2")]
                what = str(exc) if isinstance(exc, NotBuilt) else f"database unavailable: {exc}"
                await send_error(send, 503, what, retry)
                return
            except Ahead as exc:
                # Nothing would ever reach this reader (until the log grew past it): a
                # position no page or message of this log has given.
                await send_error(send, 400, f"{source} {after} is past the log's end ({exc})")
                return
            if page is None:
                await send_error(send, 404, f"no conference {slug!r}")
                return
            _become_stream(scope, subscriber)
            watcher = asyncio.create_task(_watch_disconnect(receive, subscriber))
            await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
            await self._write(send, subscriber, page, after)
        finally:
            self.unsubscribe(subscriber)
            if watcher is not None:
                watcher.cancel()

    async def _write(self, send: Send, subscriber: Subscriber, page: Page, after: int) -> None:
        await _bodies(send, [START, *(m.body for m in page.messages)])
        while not page.done and not subscriber.closed:
            try:
                found = await self.next_page(subscriber, page.reached)
            except LiveblogError:
                break  # the reader reconnects and resumes from what it was sent
            assert found is not None
            page = found
            await _bodies(send, [m.body for m in page.messages])
        last = max(after, page.reached)
        while True:
            await subscriber.wait()
            taken = subscriber.take()
            if subscriber.closed:
                # Disconnected, dropped as too slow, too much at once, or the server
                # stopping: the response ends, and a browser reconnects from its
                # Last-Event-ID (nothing it was not sent is lost).
                break
            fresh = [m for m in taken if m.position == 0 or m.position > last]
            if fresh:
                await _bodies(send, [m.body for m in fresh])
                last = max(last, *(m.position for m in fresh))
        await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _bodies(send: Send, bodies: list[bytes]) -> None:
    """Send `bodies` in chunks of about CHUNK bytes: `send` waits while the socket is
    full, so a reader that reads slowly (or not at all) holds at most one chunk of its
    own in our memory, besides the transport's buffer; the messages stay shared."""
    chunk: list[bytes] = []
    size = 0
    for body in bodies:
        chunk.append(body)
        size += len(body)
        if size >= CHUNK:
            await send({"type": "http.response.body", "body": b"".join(chunk), "more_body": True})
            chunk, size = [], 0
    if size:
        await send({"type": "http.response.body", "body": b"".join(chunk), "more_body": True})


async def _watch_disconnect(receive: Receive, subscriber: Subscriber) -> None:
    """Close the subscriber when its client goes away (uvicorn's `send` to a closed
    connection returns quietly: only `receive` tells)."""
    while (await receive())["type"] != "http.disconnect":
        pass
    subscriber.close()


def _become_stream(scope: Scope, subscriber: Subscriber) -> None:
    """Tell the connection layer this connection is a stream: it is counted apart from
    the request connections, and a server stop ends it (its writer finishes)."""
    from .connections import GuardedProtocol

    connection = scope.get("liveblog.connection")
    if isinstance(connection, GuardedProtocol):
        connection.become_stream(subscriber.close)
        subscriber.overflow = connection.reset


def requested_position(scope: Scope) -> tuple[int, str]:
    """Where the reader resumes, and what said so: `Last-Event-ID`, else `?since=`, else
    0 (everything). ValueError, in words, for anything but a position. An empty
    Last-Event-ID is no Last-Event-ID (what a browser sends after an event with no id)."""
    for name, value in scope["headers"]:
        if name == b"last-event-id" and value.strip():
            return _position(value.decode("latin-1"), "Last-Event-ID"), "Last-Event-ID"
    query = urllib.parse.parse_qs(scope.get("query_string", b"").decode("latin-1"))
    since = query.get("since")
    if since:
        return _position(since[-1], "since"), "since"
    return 0, "since"


def _position(text: str, what: str) -> int:
    text = text.strip()
    if not text.isascii() or not text.isdigit() or len(text) > 19 or int(text) > MAX_POSITION:
        shown = text[:40]
        raise ValueError(f"{what} must be a log position (0 or more), not {shown!r}")
    return int(text)
