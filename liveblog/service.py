"""The application facade: what the CLI (and later the HTTP API) call.

Each reporting method reads the reporter's context and appends under one
BEGIN IMMEDIATE transaction, so two terminals of the same reporter cannot both close
the same session, and a refused command writes nothing.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import context as ctx
from . import roles
from .clock import now, parse_at, zone
from .envelope import Event, from_export_line, make_event
from .errors import (
    ConflictingEvent,
    ContextError,
    InvalidEvent,
    LiveblogError,
    NotFound,
    RefusedCommand,
)
from .events import (
    ENTRY_TYPES,
    ConferenceClosed,
    ConferenceOpened,
    DayClosed,
    DayOpened,
    EntryCorrected,
    EntryRetracted,
    EventData,
    NotePosted,
    PhotoPosted,
    QuoteCaptured,
    SessionEnded,
    SessionStarted,
    TalkEnded,
    TalkStarted,
)
from .store import Appended
from .store.factory import open_sqlite
from .store.sqlite.log import EventLog
from .text import clean_line

if TYPE_CHECKING:
    from .feeds import PublishOptions, PublishResult
    from .projections import ProjectionRunner
    from .tokens import TokenInfo
    from .webhooks import Delivery, Subscription


def new_event_id() -> str:
    """A random, URL-safe id: unique prefixes stay short for `correct` / `retract`."""
    return uuid.uuid4().hex


@dataclass(frozen=True)
class ImportResult:
    added: int
    skipped: int


@dataclass(frozen=True)
class ParsedImport:
    """A JSON Lines file read and validated, not yet appended."""

    source: str
    events: list[Event]
    line_of: dict[str, int]  # event id -> its line, to name a clash


def parse_import(lines: Iterable[str | bytes], *, source: str = "input") -> ParsedImport:
    """Read every line first: a bad one refuses the file before the log is even opened."""
    events = []
    line_of: dict[str, int] = {}
    for number, line in enumerate(lines, start=1):
        try:
            if isinstance(line, bytes):
                line = line.decode("utf-8")
            if not line.strip():
                continue
            event = from_export_line(line)
        except UnicodeDecodeError:
            raise InvalidEvent(f"{source}:{number}: not UTF-8 text") from None
        except RecursionError:
            # json (and pydantic) recurse once per level: a hostile line exhausts the stack.
            raise InvalidEvent(f"{source}:{number}: JSON nested too deeply for an event") from None
        except LiveblogError as exc:
            exc.args = (f"{source}:{number}: {exc}",)
            raise
        events.append(event)
        line_of[event.id] = number  # a clash within the file is its later line
    return ParsedImport(source, events, line_of)


def _build(cls: type[EventData], **fields: Any) -> EventData:
    """Construct event data, turning pydantic's errors into one-line InvalidEvent."""
    from pydantic import ValidationError

    from .envelope import describe

    try:
        return cls(**{k: v for k, v in fields.items() if v is not None})
    except ValidationError as exc:
        raise InvalidEvent(f"invalid {cls.model_fields['type'].default}: {describe(exc)}") from None


def _author(name: str) -> str:
    """The author as the log will store it: looked up exactly as stored."""
    cleaned = clean_line(name)
    if not isinstance(cleaned, str) or not cleaned:
        raise InvalidEvent("the author name must not be empty (--author or LIVEBLOG_AUTHOR)")
    if len(cleaned) > 200:
        raise InvalidEvent("the author name is longer than 200 characters")
    return cleaned


class Liveblog:
    """One events.db, used by one author (the reporter typing, or the API's caller)."""

    def __init__(
        self,
        db_path: str | Path,
        author: str,
        *,
        log: EventLog | None = None,
        role: roles.Role | None = None,
    ) -> None:
        """`log` shares an open log (the API: one connection per thread, many authors).
        `role` is the API caller's token's (liveblog.roles); None, the local CLI's, may
        do everything."""
        self.author = _author(author)
        self.role = role
        self._owns_log = log is None
        # The SQLite store itself while the publisher, webhooks and tokens still take its
        # connection; `open_store` (an EventStore) once they are sub-stores.
        self.log = log if log is not None else open_sqlite(db_path)
        self._projections: ProjectionRunner | None = None
        self._webhook_tables = False
        self._given_id: str | None = None

    def close(self) -> None:
        if self._owns_log:
            self.log.close()

    def __enter__(self) -> Liveblog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- helpers ---------------------------------------------------------------------

    def _when(self, at: str | None, tz_name: str, day: DayOpened | None = None) -> dt.datetime:
        """`--at`, or now; a bare HH:MM is on the open day's date, else today's."""
        tz = zone(tz_name)
        return now(tz) if at is None else parse_at(at, tz, today=day.date if day else None)

    def _context_when(self, context: ctx.Context, at: str | None) -> dt.datetime:
        return self._when(at, context.conference.opened.timezone, context.day)

    def _event(self, conference: str, occurred_at: dt.datetime, data: EventData) -> Event:
        return make_event(
            id=new_event_id(),
            conference=conference,
            occurred_at=occurred_at,
            author=self.author,
            data=data,
        )

    def _context(self, conference: str | None) -> ctx.Context:
        context = ctx.current(self.log, self.author, conference)
        if context.conference.closed:
            raise RefusedCommand(f"conference {context.conference.slug!r} is closed")
        return context

    def _need_day(self, context: ctx.Context) -> DayOpened:
        if context.day is None:
            raise ContextError(
                f"no day is open in {context.conference.slug}: run `liveblog day open N`"
            )
        return context.day

    def _closing(self, context: ctx.Context, when: dt.datetime, *, session: bool) -> list[Event]:
        """End this reporter's open talk (and session): what a new start implies."""
        slug = context.conference.slug
        out = []
        if context.talk is not None:
            out.append(self._event(slug, when, TalkEnded(talk=context.talk.id)))
        if session and context.session is not None:
            out.append(self._event(slug, when, SessionEnded(session=context.session.id)))
        return out

    def _append(self, events: list[Event]) -> list[Event]:
        if self._given_id is not None and events:
            # The command's own event is always its last (closings come first).
            events[-1] = events[-1].model_copy(update={"id": self._given_id})
            self._given_id = None
        return [a.event for a in self.log.append(events)]

    @contextmanager
    def giving_id(self, event_id: str) -> Iterator[None]:
        """The next command's own event takes `event_id` (a client's choice: drafts)."""
        self._given_id = event_id
        try:
            yield
        finally:
            self._given_id = None

    # -- reporting -------------------------------------------------------------------

    def open_conference(
        self,
        slug: str,
        *,
        title: str,
        venue: str | None = None,
        timezone: str = "UTC",
        url: str | None = None,
        language: str = "en",
        at: str | None = None,
    ) -> list[Event]:
        roles.check_editors_only(self.role, self.author, "open_conference")
        data = _build(
            ConferenceOpened,
            title=title,
            venue=venue,
            timezone=timezone,
            url=url,
            language=language,
        )
        assert isinstance(data, ConferenceOpened)
        event = self._event(slug, self._when(at, data.timezone), data)
        with self.log.writing():
            if ctx.find_conference(self.log, slug) is not None:
                raise RefusedCommand(f"conference {slug!r} was already opened")
            return self._append([event])

    def close_conference(
        self, *, conference: str | None = None, at: str | None = None
    ) -> list[Event]:
        roles.check_editors_only(self.role, self.author, "close_conference")
        with self.log.writing():
            context = self._context(conference)
            slug = context.conference.slug
            when = self._context_when(context, at)
            events = self._closing(context, when, session=True)
            if context.day is not None:
                events.append(self._event(slug, when, DayClosed(number=context.day.number)))
            events.append(self._event(slug, when, ConferenceClosed()))
            return self._append(events)

    def open_day(
        self,
        number: int,
        *,
        date: str | None = None,
        title: str | None = None,
        conference: str | None = None,
        at: str | None = None,
    ) -> list[Event]:
        roles.check_editors_only(self.role, self.author, "open_day")
        if isinstance(number, bool) or not isinstance(number, int) or not 1 <= number <= 366:
            raise InvalidEvent(f"invalid day.opened: number {number!r} is not a day (1–366)")
        with self.log.writing():
            context = self._context(conference)
            slug = context.conference.slug
            when = self._context_when(context, at)
            if context.day is not None:
                raise RefusedCommand(
                    f"day {context.day.number} of {slug} is still open: run `liveblog day close`"
                )
            if self.log.has_day(slug, number):
                raise RefusedCommand(f"day {number} of {slug} was already opened")
            try:
                day_date = dt.date.fromisoformat(date) if date else when.date()
            except ValueError:
                raise InvalidEvent(f"--date {date!r} is not a date: use YYYY-MM-DD") from None
            data = _build(DayOpened, number=number, date=day_date, title=title)
            return self._append([self._event(slug, when, data)])

    def close_day(self, *, conference: str | None = None, at: str | None = None) -> list[Event]:
        roles.check_editors_only(self.role, self.author, "close_day")
        with self.log.writing():
            context = self._context(conference)
            day = self._need_day(context)
            when = self._context_when(context, at)
            events = self._closing(context, when, session=True)
            events.append(self._event(context.conference.slug, when, DayClosed(number=day.number)))
            return self._append(events)

    def start_session(
        self,
        title: str,
        *,
        kind: str | None = None,
        room: str | None = None,
        hosts: Iterable[str] = (),
        conference: str | None = None,
        at: str | None = None,
    ) -> list[Event]:
        with self.log.writing():
            context = self._context(conference)
            day = self._need_day(context)
            when = self._context_when(context, at)
            data = _build(
                SessionStarted,
                day=day.number,
                title=title,
                kind=kind,
                room=room,
                hosts=tuple(hosts),
            )
            events = self._closing(context, when, session=True)
            events.append(self._event(context.conference.slug, when, data))
            return self._append(events)

    def end_session(self, *, conference: str | None = None, at: str | None = None) -> list[Event]:
        with self.log.writing():
            context = self._context(conference)
            if context.session is None:
                raise ContextError("you have no open session: nothing to end")
            when = self._context_when(context, at)
            return self._append(self._closing(context, when, session=True))

    def start_talk(
        self,
        title: str,
        *,
        speaker: str,
        role: str | None = None,
        organisation: str | None = None,
        conference: str | None = None,
        at: str | None = None,
    ) -> list[Event]:
        with self.log.writing():
            context = self._context(conference)
            day = self._need_day(context)
            if context.session is None:
                raise ContextError(
                    "a talk happens inside a session: run `liveblog session start TITLE` first"
                )
            when = self._context_when(context, at)
            data = _build(
                TalkStarted,
                day=day.number,
                session=context.session.id,
                title=title,
                speaker=speaker,
                role=role,
                organisation=organisation,
            )
            events = self._closing(context, when, session=False)
            events.append(self._event(context.conference.slug, when, data))
            return self._append(events)

    def end_talk(self, *, conference: str | None = None, at: str | None = None) -> list[Event]:
        with self.log.writing():
            context = self._context(conference)
            if context.talk is None:
                raise ContextError("you have no open talk: nothing to end")
            when = self._context_when(context, at)
            return self._append(self._closing(context, when, session=False))

    def _entry(
        self, cls: type[EventData], conference: str | None, at: str | None, **fields: Any
    ) -> list[Event]:
        with self.log.writing():
            context = self._context(conference)
            day = self._need_day(context)
            when = self._context_when(context, at)
            if cls is QuoteCaptured and fields.get("speaker") is None:
                talk = context.talk_data
                if talk is None or context.talk is None:
                    raise ContextError(
                        "whose words? pass --speaker NAME, or start a talk with "
                        "`liveblog talk start TITLE --speaker NAME`"
                    )
                fields["speaker"] = self._current_speaker(context.talk.id, talk.speaker)
            data = _build(
                cls,
                day=day.number,
                session=context.session.id if context.session else None,
                talk=context.talk.id if context.talk else None,
                **fields,
            )
            return self._append([self._event(context.conference.slug, when, data)])

    def _current_speaker(self, talk_id: str, speaker: str) -> str:
        """The talk's speaker as the log now says it: corrections included."""
        for change in ctx.corrections_of(self.log, talk_id):
            if isinstance(change.data, EntryCorrected) and change.data.speaker is not None:
                speaker = change.data.speaker
        return speaker

    def quote(
        self,
        text: str,
        *,
        speaker: str | None = None,
        conference: str | None = None,
        at: str | None = None,
    ) -> list[Event]:
        return self._entry(QuoteCaptured, conference, at, text=text, speaker=speaker)

    def note(
        self, text: str, *, conference: str | None = None, at: str | None = None
    ) -> list[Event]:
        return self._entry(NotePosted, conference, at, text=text)

    def photo(
        self, url: str, *, caption: str, conference: str | None = None, at: str | None = None
    ) -> list[Event]:
        return self._entry(PhotoPosted, conference, at, url=url, caption=caption)

    # -- editing ---------------------------------------------------------------------

    def _target(self, ref: str | None, last: bool, conference: str | None) -> Event:
        if last == (ref is not None):
            raise InvalidEvent("name one entry: an EVENT_ID (or a prefix of it), or --last")
        if last:
            target = ctx.last_entry(self.log, self.author, conference)
        else:
            target = self.log.resolve(ref or "")
            if conference is not None and target.conference != conference:
                raise NotFound(f"{target.id} belongs to {target.conference}, not {conference}")
        if target.type not in ENTRY_TYPES:
            raise RefusedCommand(
                f"{target.id} is a {target.type} event; only entries "
                "(session, talk, quote, note, photo) can be corrected or retracted"
            )
        roles.check_edit(self.role, self.author, target.id, target.author)
        for change in ctx.corrections_of(self.log, target.id):
            if change.type == "entry.retracted":
                raise RefusedCommand(f"{target.id} was retracted at position {change.position}")
        return target

    def _edit_when(self, target: Event, at: str | None) -> dt.datetime:
        opened = ctx.find_conference(self.log, target.conference)
        tz = opened.opened.timezone if opened else "UTC"
        return self._when(at, tz)

    def correct(
        self,
        ref: str | None = None,
        *,
        last: bool = False,
        text: str | None = None,
        speaker: str | None = None,
        caption: str | None = None,
        conference: str | None = None,
        at: str | None = None,
    ) -> list[Event]:
        with self.log.writing():
            target = self._target(ref, last, conference)
            applicable = {
                "quote.captured": {"text", "speaker"},
                "note.posted": {"text"},
                "photo.posted": {"caption"},
                "talk.started": {"text", "speaker"},
                "session.started": {"text"},
            }[target.type]
            given = {
                name
                for name, value in (("text", text), ("speaker", speaker), ("caption", caption))
                if value is not None
            }
            if not given:
                raise InvalidEvent("say what to correct: new TEXT, --speaker or --caption")
            wrong = given - applicable
            if wrong:
                what = ", ".join("TEXT" if w == "text" else f"--{w}" for w in sorted(wrong))
                raise InvalidEvent(f"a {target.type} entry has no {what} to correct")
            data = _build(
                EntryCorrected, target=target.id, text=text, speaker=speaker, caption=caption
            )
            return self._append([self._event(target.conference, self._edit_when(target, at), data)])

    def retract(
        self,
        ref: str | None = None,
        *,
        last: bool = False,
        reason: str | None = None,
        conference: str | None = None,
        at: str | None = None,
    ) -> list[Event]:
        with self.log.writing():
            target = self._target(ref, last, conference)
            data = _build(EntryRetracted, target=target.id, reason=reason)
            return self._append([self._event(target.conference, self._edit_when(target, at), data)])

    # -- bulk ------------------------------------------------------------------------

    def import_lines(self, lines: Iterable[str | bytes], *, source: str = "input") -> ImportResult:
        """Import JSON Lines atomically: one bad line refuses the whole file."""
        return self.import_parsed(parse_import(lines, source=source))

    def import_parsed(self, parsed: ParsedImport) -> ImportResult:
        """Append what `parse_import` read, atomically."""
        source, line_of = parsed.source, parsed.line_of
        try:
            results: list[Appended] = self.log.append(parsed.events)
        except ConflictingEvent as exc:
            exc.args = (f"{source}:{line_of.get(exc.event_id, '?')}: {exc}",)
            raise
        except LiveblogError as exc:
            exc.args = (f"{source}: {exc}",)
            raise
        added = sum(1 for r in results if r.created)
        return ImportResult(added=added, skipped=len(results) - added)

    def export(self, since: int = 0) -> Iterator[dict[str, Any]]:
        for event in self.log.read(after=since):
            yield event.to_export()

    # -- projections and summaries ---------------------------------------------------

    @property
    def projections(self) -> ProjectionRunner:
        if self._projections is None:
            from .projections import runner_for

            self._projections = runner_for(self.log)
        return self._projections

    def catch_up(self, progress: Callable[[int], None] | None = None) -> dict[str, int]:
        if self.log.readonly:
            return {}  # nothing can be written: readers replay privately instead (summary)
        return self.projections.catch_up(progress)

    def rebuild(self, progress: Callable[[int], None] | None = None) -> dict[str, int]:
        from .store.sqlite.driver import write_transaction
        from .store.sqlite.schema import refill_queue_state

        self.log.require_writable()
        self._webhook_tables = False  # tables dropped by hand come back (empty)
        with write_transaction(self._hooks):
            # Derived from the deliveries like a projection from the log: again.
            refill_queue_state(self._hooks)
        return self.projections.rebuild(progress)

    def status(self) -> dict[str, Any]:
        from .webhooks.queue import backlog
        from .webhooks.subscriptions import totals

        head = self.log.head()
        return {
            "head": head,
            "projections": [
                {"name": s.name, "version": s.version, "position": s.position, "lag": s.lag}
                for s in self.projections.status()
            ],
            # Counts kept as deliveries change, and one pass over the subscriptions in SQL:
            # never a count of the delivery history.
            "webhooks": {**totals(self._hooks, head), **backlog(self._hooks)},
        }

    def publish(
        self,
        options: PublishOptions,
        *,
        everything: bool = False,
        progress: Callable[[int, int], None] | None = None,
    ) -> PublishResult:
        """Catch the projections up, then render the conferences that changed since the
        feeds directory was last published (every one with `everything`) and write the
        files whose bytes change. The publisher reads one snapshot of its own."""
        from .feeds import Publisher

        self.log.require_writable()
        self.catch_up()
        from .store.sqlite.published import SqlitePublished
        from .store.sqlite.timeline import SqliteTimeline

        reading = SqliteTimeline(self.log.conn), SqlitePublished(self.log.conn)
        return Publisher(*reading, options).publish(everything=everything, progress=progress)

    # -- webhooks --------------------------------------------------------------------

    @property
    def _hooks(self) -> Any:
        """The connection, with the configuration tables (webhooks, tokens) present:
        recreated, empty, if dropped by hand."""
        if not self._webhook_tables:
            from .store.sqlite.schema import ensure_config_tables

            if not self.log.readonly:  # read-only: read what is there
                ensure_config_tables(self.log.conn)
            self._webhook_tables = True
        return self.log.conn

    @property
    def _writable_hooks(self) -> Any:
        """`_hooks` for a command that changes configuration: refused on a read-only log."""
        self.log.require_writable()
        return self._hooks

    # -- tokens for remote reporters --------------------------------------------------

    def create_token(self, name: str, role: roles.Role = roles.REPORTER) -> str:
        """A new bearer token posting as reporter `name` with `role` (shown once: only
        its digest is kept)."""
        from . import tokens

        return tokens.create(self._writable_hooks, _author(name), role)

    def tokens(self) -> list[TokenInfo]:
        from . import tokens

        return tokens.listing(self._hooks)

    def revoke_token(self, name: str) -> None:
        from . import tokens

        tokens.revoke(self._writable_hooks, _author(name))

    def add_webhook(
        self,
        url: str,
        *,
        events: Iterable[str] = (),
        conference: str | None = None,
        secret: str | None = None,
        allow_private: bool = False,
        since: int | None = None,
    ) -> Subscription:
        """Subscribe `url`; its address must be public unless `allow_private`."""
        import asyncio

        from .secretkey import Keyring
        from .webhooks import parse_url, pin_address
        from .webhooks.subscriptions import add, check

        check(url, events, conference, secret, since)
        self.log.require_writable()
        asyncio.run(pin_address(parse_url(url), allow_private))
        return add(
            self._writable_hooks,
            url,
            events=events,
            conference=conference,
            secret=secret,
            allow_private=allow_private,
            since=since,
            keyring=Keyring(self.log.path),
        )

    def check_webhook_secrets(self) -> int:
        """Refuse (one line naming the key file or LIVEBLOG_SECRET_KEY) unless every
        active subscription's secret decrypts: `run` and `serve` check before starting."""
        from .secretkey import Keyring
        from .webhooks.subscriptions import check_secrets

        return check_secrets(self._hooks, Keyring(self.log.path))

    def rotate_secret_key(self) -> tuple[int, str]:
        """Re-encrypt every webhook secret under a new key: (how many, its key id)."""
        from .secretkey import Keyring
        from .webhooks.subscriptions import rotate_key

        return rotate_key(self._writable_hooks, Keyring(self.log.path))

    def webhooks(self) -> list[Subscription]:
        from .webhooks.subscriptions import all_subscriptions

        return all_subscriptions(self._hooks)

    def remove_webhook(self, ref: str) -> Subscription:
        from .webhooks.subscriptions import remove

        return remove(self._writable_hooks, ref)

    def enable_webhook(self, ref: str) -> Subscription:
        from .webhooks.subscriptions import set_status

        return set_status(self._writable_hooks, ref, "active")

    def disable_webhook(self, ref: str) -> Subscription:
        from .webhooks.subscriptions import set_status

        return set_status(self._writable_hooks, ref, "disabled", "disabled by hand")

    def deliveries(
        self, subscription: str | None = None, *, status: str | None = None, limit: int = 50
    ) -> list[Delivery]:
        from .webhooks.queue import listing

        return listing(self._hooks, subscription, status=status, limit=limit)

    def redeliver(self, delivery_id: int) -> Delivery:
        import time

        from .webhooks.queue import redeliver_one

        return redeliver_one(self._writable_hooks, delivery_id, time.time())

    def redeliver_since(self, position: int, subscription: str | None = None) -> list[Subscription]:
        from .webhooks.queue import redeliver_since

        return redeliver_since(self._writable_hooks, position, subscription)

    def summary_conference(self, conference: str | None) -> ctx.Conference:
        """--conference, else the reporter's context, else the log's only conference."""
        return ctx.reading_conference(self.log, self.author, conference)

    def summary(
        self,
        day: int,
        *,
        conference: str | None = None,
        fmt: str = "markdown",
        as_of: str | None = None,
        template: Path | None = None,
    ) -> str:
        """Day `day`'s summary, now or `as_of` a past moment, in `fmt` or a template."""
        from .store.sqlite.timeline import SqliteTimeline
        from .summary import build_day_summary, render
        from .summary.history import summary_as_of, summary_replayed

        found = self.summary_conference(conference)
        if as_of is not None:
            moment = parse_at(as_of, zone(found.opened.timezone))
            data = summary_as_of(self.log, SqliteTimeline(self.log.conn), found.slug, day, moment)
        elif self.log.readonly and not self.projections.current():
            # The projection cannot be brought up to date here: replay the log privately.
            data = summary_replayed(self.log, found.slug, day)
        else:
            self.catch_up()
            data = build_day_summary(SqliteTimeline(self.log.conn), found.slug, day)
        return render(data, fmt, template)
