"""A reporter's context, derived from the log on every command (no hidden state file).

* conference: `--conference`, else the open one this reporter last posted to, else the
  only open conference;
* day: that conference's open day (shared by all its reporters);
* session and talk: this reporter's own open ones, so reporters cover parallel rooms.

Every lookup is one of the event store's typed queries (`store.eventstore.ContextQueries`),
an indexed lookup, so the cost does not grow with the log.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import ContextError, UnknownConference
from .envelope import Event
from .events import ConferenceOpened, DayOpened, SessionStarted, TalkStarted

if TYPE_CHECKING:  # annotations only: the CLI's start-up need not import the protocols
    from ..store.eventstore import EventStore


@dataclass(frozen=True)
class Conference:
    slug: str
    opened: ConferenceOpened
    closed: bool


@dataclass(frozen=True)
class Context:
    """Where a reporter's next entry goes. Day, session and talk may be absent."""

    conference: Conference
    day: DayOpened | None
    session: Event | None
    talk: Event | None

    @property
    def talk_data(self) -> TalkStarted | None:
        return self.talk.data if self.talk else None  # type: ignore[return-value]


def find_conference(log: EventStore, slug: str) -> Conference | None:
    # The first opening counts (an import may carry a second one): the same rule as
    # the timeline projection's, so the CLI and the summaries agree on the timezone.
    opened = log.first_opening(slug)
    if opened is None:
        return None
    return Conference(slug, opened.data, log.is_closed(slug))  # type: ignore[arg-type]


def open_conferences(log: EventStore) -> list[str]:
    return log.open_conferences()


def last_conference(log: EventStore, author: str) -> str | None:
    """The conference this reporter last posted to."""
    return log.last_conference_of(author)


def reading_conference(log: EventStore, author: str, slug: str | None) -> Conference:
    """For reading (a summary): as `resolve_conference`, but a closed conference will do —
    the reporter's last one, else the log's only conference."""
    try:
        return resolve_conference(log, author, slug)
    except ContextError:
        if slug is not None:
            raise
        last = last_conference(log, author)
        if last is None:
            # Only whether there is exactly one: never every conference the log holds.
            every = log.opened_conferences(limit=2)
            last = every[0] if len(every) == 1 else None
        found = find_conference(log, last) if last else None
        if found is None:
            raise
        return found


def resolve_conference(log: EventStore, author: str, slug: str | None) -> Conference:
    """The conference a command applies to, or a ContextError saying what to run."""
    if slug is not None:
        found = find_conference(log, slug)
        if found is None:
            raise UnknownConference(
                f"no conference {slug!r}: open it with `liveblog conference open {slug} "
                "--title TITLE`"
            )
        return found
    last = last_conference(log, author)
    if last is not None:
        found = find_conference(log, last)
        if found is not None and not found.closed:
            return found
    candidates = open_conferences(log)
    if len(candidates) == 1:
        found = find_conference(log, candidates[0])
        assert found is not None
        return found
    if not candidates:
        raise ContextError(
            "no conference is open: run `liveblog conference open SLUG --title TITLE`"
        )
    raise ContextError(
        f"several conferences are open ({', '.join(candidates)}): pass --conference SLUG"
    )


def open_day(log: EventStore, conference: str) -> DayOpened | None:
    opened = log.latest_of("day.opened", conference)
    if opened is None:
        return None
    day: DayOpened = opened.data  # type: ignore[assignment]
    closed = log.ended_after("day.closed", conference, opened.position or 0, "number", day.number)
    return None if closed else day


def _open_unless_ended(
    log: EventStore, started: Event | None, end_type: str, field: str
) -> Event | None:
    if started is None:
        return None
    ended = log.ended_after(end_type, started.conference, started.position or 0, field, started.id)
    return None if ended else started


def open_session(log: EventStore, conference: str, author: str, day: int) -> Event | None:
    started = log.latest_of("session.started", conference, author)
    if started is None or not isinstance(started.data, SessionStarted):
        return None
    if started.data.day != day:
        return None
    return _open_unless_ended(log, started, "session.ended", "session")


def open_talk(log: EventStore, conference: str, author: str, session: Event) -> Event | None:
    started = log.latest_of("talk.started", conference, author)
    if started is None or not isinstance(started.data, TalkStarted):
        return None
    if started.data.session != session.id:
        return None
    return _open_unless_ended(log, started, "talk.ended", "talk")


def current(log: EventStore, author: str, slug: str | None) -> Context:
    conference = resolve_conference(log, author, slug)
    day = None if conference.closed else open_day(log, conference.slug)
    session = open_session(log, conference.slug, author, day.number) if day else None
    talk = open_talk(log, conference.slug, author, session) if session else None
    return Context(conference, day, session, talk)


def last_entry(log: EventStore, author: str, conference: str | None = None) -> Event:
    """This reporter's latest entry (what `--last` means), in `conference` if given."""
    found = log.last_entry_of(author, conference)
    if found is None:
        scope = f" in {conference}" if conference else ""
        raise ContextError(f"{author} has no entry{scope} to apply --last to")
    return found


def corrections_of(log: EventStore, target: str) -> list[Event]:
    """Corrections and retractions of one entry, in log order."""
    return log.corrections_of(target)


__all__ = ["Conference", "Context", "current", "last_entry", "resolve_conference"]
