"""Every error liveblog raises on purpose.

The CLI and the API turn these into a one-line message (exit 1 / HTTP 4xx); anything
else reaching the edge is a bug.

    LiveblogError
    ├── InvalidEvent          an event failed validation (field, length, timezone, …)
    ├── UnknownEventType      a `type` this release does not know
    ├── NewerSchemaVersion    an event written by a newer release
    ├── ContextError          no open conference / day / session / talk for a command
    │   └── UnknownConference a --conference that was never opened (also a NotFound)
    ├── NotFound              no event with that id or prefix
    ├── AmbiguousId           a prefix matching more than one event
    ├── RefusedCommand        a well-formed command that the log's state refuses
    ├── Forbidden             a command the token's role may not run (liveblog.roles)
    ├── InvalidWebhook        a webhook subscription's URL, filter or secret is unusable
    │   └── RefusedAddress    its host resolves to a private, loopback or metadata address
    ├── SecretKeyError        the key for secrets at rest is missing, wrong or unreadable
    └── StoreError
        ├── UnreadableEvent   a row of the log that no longer parses (edited by hand?)
        ├── ConflictingEvent  the same id appended with different content
        ├── VersionConflict   `expected_version` differs from the conference's version
        └── SchemaTooNew      events.db was written by a newer release
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
