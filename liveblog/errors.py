"""Every error liveblog raises on purpose.

The CLI and the API turn these into a one-line message (exit 1 / HTTP 4xx); anything
else reaching the edge is a bug. Storage drivers' own exceptions never leave the store:
its implementation maps them into the `StoreError` branch (`DriverError` and below).

    LiveblogError
    ├── InvalidEvent            an event failed validation (field, length, timezone, …)
    │   ├── UnknownEventType    a `type` this release does not know
    │   └── NewerSchemaVersion  an event written by a newer release
    ├── ContextError            no open conference / day / session / talk for a command
    │   └── UnknownConference   a --conference that was never opened (also a NotFound)
    ├── NotFound                no event with that id or prefix
    ├── AmbiguousId             a prefix matching more than one event
    ├── RefusedCommand          a well-formed command that the log's state refuses
    ├── Forbidden               a command the token's role may not run (liveblog.service.roles)
    ├── InvalidWebhook          a webhook subscription's URL, filter or secret is unusable
    │   └── RefusedAddress      its host resolves to a private, loopback or metadata address
    ├── SecretKeyError          the key for secrets at rest is missing, wrong or unreadable
    ├── ServerRefused           the liveblog server answered no (4xx) to the remote CLI
    ├── FeedsDirError           the feeds directory (or a folder in it) is unusable
    └── StoreError              the store refused or failed
        ├── UnreadableEvent     a stored event that no longer parses (edited by hand?)
        ├── ConflictingEvent    the same id appended with different content
        ├── VersionConflict     `expected_version` differs from the conference's version
        ├── SchemaTooNew        the database was written by a newer release
        ├── UnsupportedStore    a --db / LIVEBLOG_DB naming a backend this release lacks
        ├── NotOurDatabase      not a database, or another program's: refused, untouched
        ├── UnopenableDatabase  no permission, no such directory, a log to recover first
        ├── ReadOnlyDatabase    a command that writes, on a database this user may only read
        ├── MissingLog          our database, but its events table is gone
        └── DriverError         the database driver failed (the message is the driver's)
            ├── StoreUnavailable  the database cannot serve now (worth retrying later)
            │   ├── StoreBusy     locked by another writer beyond the busy timeout
            │   ├── StoreFull     the disk (or the database's size limit) is full
            │   └── StoreIOFailed the operating system failed a read or a write
            ├── StoreDamaged      the file is corrupt or not a database (any more)
            ├── StoreRefused      a constraint or trigger refused a write (append-only, …)
            └── StoreMisused      the driver was used wrongly (a closed connection: a bug)

Not errors of this tree: `remote.Unreachable` (control flow inside the remote CLI: the
draft is queued, nothing is shown as an error) subclasses `Exception` and lives here
too so that the whole set is in one place.
"""

from __future__ import annotations


class LiveblogError(Exception):
    """Base class: the message is meant for a user and fits on one line."""


class InvalidEvent(LiveblogError):
    pass


class UnknownEventType(InvalidEvent):
    pass


class NewerSchemaVersion(InvalidEvent):
    pass


class ContextError(LiveblogError):
    pass


class NotFound(LiveblogError):
    pass


class UnknownConference(ContextError, NotFound):
    pass


class AmbiguousId(LiveblogError):
    pass


class RefusedCommand(LiveblogError):
    pass


class Forbidden(LiveblogError):
    pass


class InvalidWebhook(LiveblogError):
    pass


class RefusedAddress(InvalidWebhook):
    pass


class SecretKeyError(LiveblogError):
    pass


class StoreError(LiveblogError):
    pass


class UnreadableEvent(StoreError):
    pass


class ConflictingEvent(StoreError):
    def __init__(self, event_id: str) -> None:
        super().__init__(f"event {event_id} is already in the log with different content")
        self.event_id = event_id


class VersionConflict(StoreError):
    def __init__(self, conference: str, expected: int, actual: int) -> None:
        super().__init__(
            f"version conflict on conference {conference!r}: "
            f"expected version {expected}, the log is at version {actual}"
        )
        self.conference = conference
        self.expected = expected
        self.actual = actual


class SchemaTooNew(StoreError):
    pass


class UnsupportedStore(StoreError):
    pass


class NotOurDatabase(StoreError):
    """Not SQLite, or another program's database: refused, untouched."""


class UnopenableDatabase(StoreError):
    """The environment stops us: no permission, no such directory, a log to recover."""


class ReadOnlyDatabase(StoreError):
    """A command that writes, on a database this user can only read."""


class MissingLog(StoreError):
    """Our database, but its `events` table is gone (dropped by another program)."""


class DriverError(StoreError):
    """The database driver failed; `str()` is the driver's own message.

    `code` is the driver's name for the failure when it has one (SQLite's
    `SQLITE_BUSY`, …), for callers that must tell two failures of one class apart.
    """

    def __init__(self, message: str, code: str = "") -> None:
        super().__init__(message)
        self.code = code


class StoreUnavailable(DriverError):
    pass


class StoreBusy(StoreUnavailable):
    pass


class StoreFull(StoreUnavailable):
    pass


class StoreIOFailed(StoreUnavailable):
    pass


class StoreDamaged(DriverError):
    pass


class StoreRefused(DriverError):
    pass


class StoreMisused(DriverError):
    pass


class ServerRefused(LiveblogError):
    """The server answered no (4xx): the draft is wrong, retrying will not help."""


class FeedsDirError(LiveblogError):
    """The feeds directory (or a folder in it) cannot be used: a file is in the way."""


class Unreachable(Exception):
    """The server did not answer usefully: the draft is queued (not a LiveblogError:
    the remote CLI handles it, a user never sees it as an error)."""
