"""Leadership: one process at a time among every node on a store.

The scheduler's leader ("scheduler") catches the projections up, queues webhooks and
publishes; the others stand by. A leadership is never a lock a dead process keeps: on
SQLite it is a `flock` (the kernel drops it when the holder exits, even on SIGKILL), on
PostgreSQL a session advisory lock (the server drops it when the session ends: a killed
node's connection closes, or TCP keepalives find it dead).

    lead = stores.leadership("scheduler", "liveblog serve (pid 42)")
    if lead.try_acquire():
        ...              # check lead.held() before each round of leader-only work
    lead.release()
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from ..errors import LiveblogError


@runtime_checkable
class Leadership(Protocol):
    """A named lock among processes; non-blocking, never left behind by a dead holder."""

    @property
    def name(self) -> str:
        """What is led ("scheduler")."""
        ...

    standby: bool
    """True where several nodes share the store and one that does not lead stands by
    (PostgreSQL); False where a second process is refused (SQLite: one scheduler per
    events.db, `refusal()` says why)."""

    def refusal(self) -> LiveblogError:
        """The one-line error for a process that did not get the lead and may not wait."""
        ...

    def try_acquire(self) -> bool:
        """Take the lead if no one holds it; True if we hold it now (already held by
        us: True). Never waits."""
        ...

    def held(self) -> bool:
        """Whether we still hold it. On a backend whose lock lives in a session, this
        checks the session is alive: False once it is gone, so a leader steps down."""
        ...

    def holder(self) -> str | None:
        """Who holds it, in words for a message (None if no one, or unknown)."""
        ...

    def release(self) -> None:
        """Give it up (idempotent); the process exiting gives it up too."""
        ...

    def __enter__(self) -> Leadership: ...

    def __exit__(self, *exc: object) -> None: ...


__all__ = ["Leadership"]
