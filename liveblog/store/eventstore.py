"""The event store: what the rest of liveblog needs from wherever events are kept.

Code outside `liveblog/store/` sees these protocols only, and gets a store from
`liveblog.store.factory.open_store`. SQLite (`store/sqlite/log.py`, `EventLog`) is
today's one implementation; a second backend implements the same protocols and passes
the same contract suite (`tests/contract/test_eventstore.py`).

The ordering contract, which projection and webhook cursors depend on:

* **Positions are gap-free**: the n-th event ever stored has position n (1, 2, 3, …);
  a failed or rolled-back append consumes no position.
* **Commit order equals position order**: once a reader has seen position n, every
  event at a lower position is committed and visible too, and no event will ever be
  stored below n. A cursor "everything up to n is done" therefore never skips an event,
  whatever the number of concurrent writers. (A backend whose sequences may commit out
  of order, such as a plain SERIAL column, must serialise appends to keep this.)
* A conference's version is the number of its events; each append of a conference's
  events moves it by one per event, in position order.

Errors: a store raises only the `StoreError` branch of `liveblog.errors` for what goes
wrong in it (its driver's exceptions are mapped inside it), plus `NotFound` and
`AmbiguousId` from `resolve` and `InvalidEvent` for an unusable batch.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Iterator
from contextlib import AbstractContextManager
from typing import Protocol, runtime_checkable

from ..domain.envelope import Event
from .records import Appended, Record


@runtime_checkable
class UnitOfWork(Protocol):
    """Transactions spanning several calls, on one store object.

    `writing()` is one write transaction: every `append` (and every write of a sub-store
    built on this store: timeline, webhooks, tokens) inside it commits together when the
    block ends, or not at all when it raises. Reads inside it see the transaction's own
    writes and no one else's, so "read the context, then append" is atomic: another
    writer waits for the block to end. Nested `writing()` blocks join the outer one.
    On a read-only store `writing()` raises ReadOnlyDatabase before anything happens.

    `snapshot()` holds one consistent view across several reads (another writer's
    commits made meanwhile are not seen until it ends); it joins an open transaction.
    """

    def writing(self) -> AbstractContextManager[object]: ...

    def snapshot(self) -> AbstractContextManager[object]: ...


@runtime_checkable
class ChangeSignal(Protocol):
    """A cheap way to watch the store without reading it.

    `change_mark()` returns a value that differs from the previous one whenever another
    store object (another connection, thread or process) has committed since. Equal
    values mean "nothing committed by anyone else"; a different value does not promise
    that events were appended (any commit moves it: a token, a delivery). One indexed
    lookup at most: the scheduler and `log --follow` call it several times a second.
    """

    def change_mark(self) -> int: ...


@runtime_checkable
class ContextQueries(Protocol):
    """The typed queries the reporter's context (`liveblog.domain.context`) and the commands
    ask, each answered by one indexed lookup: their cost does not grow with the log.

    "Latest" means highest position; a type is a wire name (`"day.opened"`).
    """

    def first_opening(self, conference: str) -> Event | None:
        """The conference's first `conference.opened` (an import may carry a second)."""
        ...

    def is_closed(self, conference: str) -> bool:
        """Whether a `conference.closed` of the conference is stored."""
        ...

    def open_conferences(self) -> list[str]:
        """The slug of each `conference.opened` whose conference was never closed, in
        position order: one per opening (a slug opened twice appears twice, and the
        context then asks for --conference, as it always has)."""
        ...

    def opened_conferences(self, limit: int) -> list[str]:
        """The slugs of up to `limit` `conference.opened` events, in no defined order (a
        slug opened twice counts twice): callers ask "is there exactly one?"."""
        ...

    def last_conference_of(self, author: str) -> str | None:
        """The conference of this author's latest event of any type."""
        ...

    def latest_of(
        self, event_type: str, conference: str, author: str | None = None
    ) -> Event | None:
        """The latest event of `event_type` in the conference (by `author` if given)."""
        ...

    def ended_after(
        self, end_type: str, conference: str, after: int, field: str, value: object
    ) -> bool:
        """Whether an event of `end_type` in the conference, at a position above `after`,
        has `value` in its data's `field` (a day closed by number, a talk by id)."""
        ...

    def has_day(self, conference: str, number: int) -> bool:
        """Whether day `number` of the conference was ever opened."""
        ...

    def last_entry_of(self, author: str, conference: str | None = None) -> Event | None:
        """This author's latest entry (any type with an entry kind), in `conference` if
        given."""
        ...

    def corrections_of(self, target: str) -> list[Event]:
        """The corrections and retractions of entry `target`, in position order."""
        ...

    def marks_of(self, conference: str) -> list[Event]:
        """The conference's pins, unpins, highlights and unhighlights (`MARK_TYPES`), in
        position order: one index range per type, as many as people typed."""
        ...


@runtime_checkable
class EventStore(UnitOfWork, ChangeSignal, ContextQueries, Protocol):
    """An append-only log of events, gap-free and idempotent by event id.

    See the module docstring for the ordering contract. One store object is used by one
    thread at a time (a server opens one per worker thread); several store objects,
    threads or processes may append to the same store concurrently.
    """

    readonly: bool
    """Opened for reading only: every write raises ReadOnlyDatabase."""

    def require_writable(self) -> None:
        """Raise ReadOnlyDatabase now if this store may not be written."""
        ...

    def close(self) -> None: ...

    def __enter__(self) -> EventStore: ...

    def __exit__(self, *exc: object) -> None: ...

    # -- writing -----------------------------------------------------------------------

    def append(
        self, events: Iterable[Event], expected_version: int | None = None
    ) -> list[Appended]:
        """Append `events` atomically, in order, at the next positions (one `Appended`
        per event given, in the same order).

        Idempotent by id: an event whose id is stored with the same content
        (`Event.same_content`) is returned as stored, `created=False`, and not written
        again (so a retried batch is harmless); the same id with other content raises
        ConflictingEvent and nothing of the batch is written. `expected_version`, when
        given, is the conference's version before this batch (the batch must then be of
        one conference, else InvalidEvent); a mismatch raises VersionConflict naming the
        actual version, and nothing is written. It is not checked when every event of
        the batch is already stored.
        """
        ...

    # -- reading -----------------------------------------------------------------------

    def head(self) -> int:
        """The position of the last event (0 for an empty store)."""
        ...

    def version(self, conference: str) -> int:
        """The conference's version: how many of its events are stored."""
        ...

    def read(self, after: int = 0, *, limit: int | None = None) -> Iterator[Event]:
        """Events with position > `after`, in position order (at most `limit`)."""
        ...

    def records(
        self,
        after: int = 0,
        *,
        until: int | None = None,
        conference: str | None = None,
        chunk: int = 1_000,
        lazy: Collection[str] = (),
    ) -> Iterator[list[Record]]:
        """Chunks of at most `chunk` records with `after` < position <= `until` (of one
        conference if given), in position order, for replays (no validation).

        Types in `lazy` may come without their `raw` data when stored under the
        current schema (`Record.data` loads it on first use): for projections that map
        those rows inside the store.
        """
        ...

    def get(self, event_id: str) -> Event | None:
        """The event with this exact id, or None."""
        ...

    def at(self, position: int) -> Event | None:
        """The event at this position, or None."""
        ...

    def resolve(self, prefix: str) -> Event:
        """The one event whose id starts with `prefix`; a whole id always matches, even
        when it is also the prefix of another id. NotFound for none (or an empty
        prefix), AmbiguousId naming some of them for several."""
        ...

    def position_at(self, moment: dt.datetime) -> int:
        """The last position recorded at or before `moment` (0 if none): the store's
        state as it stood then (`summary --as-of`). Recording times grow with position."""
        ...


__all__ = ["ChangeSignal", "ContextQueries", "EventStore", "UnitOfWork"]
