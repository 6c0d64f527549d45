"""The database side of the live stream (liveblog.http.stream): one reading thread per
use, its jobs run by priority, and the cache of encoded messages its readers share.

SQLite connections stay in the thread that opened them, and one thread reading for every
stream is what lets the broadcaster read each change once. Its jobs are not equal: a
broadcast (every open stream waits for it) goes first, then the first catch-up pages of
new readers, the cheapest first, then later pages; so a flood of readers asking for the
whole history delays nobody but themselves.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import queue
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from ..errors import LiveblogError

if TYPE_CHECKING:
    from ..store.stores import Stores
    from ..store.timeline import Timeline

T = TypeVar("T")


@dataclass(frozen=True)
class Message:
    """Bytes ready for the wire, for the log position they are about (0: a heartbeat)."""

    position: int
    body: bytes


class NotBuilt(LiveblogError):
    """The timeline projection has not been built yet (a new database, just started)."""

    def __init__(self) -> None:
        super().__init__("the timeline is being built: try again in a moment")


# What the one database thread of a Reader does first (lowest first): a broadcast never
# waits behind a flood of catch-ups (a thousand readers opening `?since=0` at once), and a
# new reader's first page comes before the later pages of readers already served. Within
# a level the job thought cheaper goes first (`cost`: how far behind the reader is), so
# a page just loaded, a few positions behind, is not queued behind a flood from 0.
BROADCAST = 0
FIRST_PAGE = 1
NEXT_PAGE = 2
_CLOSE = 9  # after whatever is queued (each skips fast once its stream is closed)


# (priority, cost, order, the job: False when the thread is to end)
Job = tuple[int, int, int, Callable[[], bool]]


class Ahead(Exception):
    """A reader asked to resume after a position the log has not reached."""

    def __init__(self, head: int) -> None:
        super().__init__(f"the log's last position is {head}")


class Reader:
    """One database thread with its own store (SQLite connections stay in their thread),
    running the jobs given to it one at a time, by priority, then in order."""

    def __init__(self, db_path: str, name: str) -> None:
        self.db_path = db_path
        self._jobs: queue.PriorityQueue[Job] = queue.PriorityQueue()
        self._order = itertools.count()
        self._closed = False
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)
        self._thread.start()
        self._stores: Stores | None = None
        self._built = False

    def timeline(self) -> Timeline:
        """The timeline (in the reader's thread only); NotBuilt until the scheduler's
        first catch-up has made it (serve answers before that)."""
        if self._stores is None:
            from ..store.factory import open_stores

            self._stores = open_stores(self.db_path, readonly=True)
        timeline = self._stores.timeline
        if not self._built:
            state = self._stores.projection_state
            if not state.exists() or (timeline.projected() == 0 and timeline.head() > 0):
                raise NotBuilt
            self._built = True
        return timeline

    async def run(self, fn: Callable[[], T], priority: int = FIRST_PAGE, cost: int = 0) -> T:
        """`fn()` on the database thread, after the jobs queued with a lower (priority,
        cost); RuntimeError once the reader is closed."""
        if self._closed:
            raise RuntimeError("the reader is closed")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()

        def job() -> bool:
            try:
                result = fn()
            except BaseException as exc:  # handed to the awaiting task, raised there
                _settle(loop, future, None, exc)
            else:
                _settle(loop, future, result, None)
            return True

        self._jobs.put((priority, cost, next(self._order), job))
        return await future

    def _work(self) -> None:
        while self._jobs.get()[3]():
            pass

    def _close(self) -> bool:
        if self._stores is not None:
            self._stores.events.close()
            self._stores = None
        return False  # the thread ends

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()

        def close() -> bool:
            try:
                return self._close()
            finally:
                _settle(loop, done, None, None)

        self._jobs.put((_CLOSE, 0, next(self._order), close))
        await done


def _settle(
    loop: asyncio.AbstractEventLoop,
    future: asyncio.Future[T],
    result: T | None,
    error: BaseException | None,
) -> None:
    """Resolve `future` from the database thread (nothing if its waiter has gone)."""

    def settle() -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)  # type: ignore[arg-type]

    with contextlib.suppress(RuntimeError):  # the event loop has closed
        loop.call_soon_threadsafe(settle)


Key = tuple[str, int, tuple[str, ...], bool]  # (conference, position, entry ids, live)
# Entries whose wording other entries show (the talk and session an entry sits in).
CONTAINERS = frozenset({"talk", "session"})


class MessageCache:
    """Encoded messages by what they say: (conference, position, the entries changed at
    it, live).

    A catch-up page's position groups are whole (read_page never cuts one), and an entry
    changed at position P reads the same until a later change moves it to a later
    position, so a key names one message, except for what an entry shows of others (its
    talk's and session's titles): a change to a talk or session drops its conference's
    messages (`drop`). A thousand readers catching up on the same history then cost one
    rendering, and share the bytes while their sockets drain. Least recently used first
    out, at most `limit` bytes of bodies; used on the database thread only."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.size = 0
        self._messages: OrderedDict[Key, Message] = OrderedDict()
        self._by_conference: dict[str, set[Key]] = {}

    def get(self, key: Key) -> Message | None:
        message = self._messages.get(key)
        if message is not None:
            self._messages.move_to_end(key)
        return message

    def put(self, key: Key, message: Message) -> None:
        if len(message.body) > self.limit or key in self._messages:
            return
        self._messages[key] = message
        self._by_conference.setdefault(key[0], set()).add(key)
        self.size += len(message.body)
        while self.size > self.limit:
            self._forget(next(iter(self._messages)))

    def drop(self, conference: str) -> None:
        for key in self._by_conference.pop(conference, ()):
            self.size -= len(self._messages.pop(key).body)

    def clear(self) -> None:
        self._messages.clear()
        self._by_conference.clear()
        self.size = 0

    def _forget(self, key: Key) -> None:
        self.size -= len(self._messages.pop(key).body)
        keys = self._by_conference[key[0]]
        keys.discard(key)
        if not keys:
            del self._by_conference[key[0]]
