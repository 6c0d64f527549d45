"""Reporting: the commands a reporter types, behind one protocol for every front end.

`Reporter` is what the CLI's reporting commands, the API's drafts and the remote CLI
need: `submit(event_type, fields)` appends (or sends) the event of any type that has a
reporting command in the registry (`liveblog.domain.events`), and the named methods
(`quote`, `link`, `start_talk`…) are typed conveniences over it. Two implementations:
`ReportingService` here, on the local log, and `liveblog.cli.remote.RemoteReporter`, which
sends drafts to `liveblog serve` (and queues them while it is away).

Event ids are explicit: every method takes an optional `event_id=` for the command's own
event (a client's choice: drafts keep the id they were typed with). Each local method
reads the reporter's context and appends under one BEGIN IMMEDIATE transaction, so two
terminals of the same reporter cannot both close the same session, and a refused command
writes nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any, Protocol, TypeVar, cast

from ..domain import context as ctx
from ..domain.clock import now, parse_at, zone
from ..domain.envelope import Event, make_event
from ..domain.events import (
    CORRECTION_FIELDS,
    ENTRY_KINDS,
    ENTRY_TYPES,
    REGISTRY,
    Command,
    ConferenceClosed,
    ConferenceOpened,
    DayClosed,
    DayOpened,
    EntryCorrected,
    EntryHighlighted,
    EntryPinned,
    EntryRetracted,
    EntryUnhighlighted,
    EntryUnpinned,
    EventData,
    QuoteCaptured,
    SessionEnded,
    SessionStarted,
    TalkEnded,
    TalkStarted,
    entry_kind,
)
from ..errors import ContextError, InvalidEvent, NotFound, RefusedCommand
from . import marks, roles
from .base import ServicePart, build, new_event_id

R_co = TypeVar("R_co", covariant=True)
"""What a reporting command returns: the events appended (or, remotely, a queued draft)."""


def command_of(event_type: str) -> tuple[type[EventData], Command]:
    """The model and reporting command of `event_type`; a type without one is refused."""
    model = REGISTRY.get(event_type)
    if model is None or model.COMMAND is None:
        known = ", ".join(t for t, m in REGISTRY.items() if m.COMMAND is not None)
        raise InvalidEvent(f"no reporting command appends {event_type!r}: one of {known}")
    return model, model.COMMAND


def correction_options(fields: Iterable[str] = CORRECTION_FIELDS) -> str:
    """`new TEXT, --speaker or --caption`: correction fields as the CLI spells them."""
    spelled = ["new TEXT" if f == "text" else f"--{f}" for f in fields]
    return spelled[0] if len(spelled) == 1 else f"{', '.join(spelled[:-1])} or {spelled[-1]}"


class Reporter(Protocol[R_co]):
    """The reporting commands, whichever log or server they go to.

    Only `submit` (and `close`) need implementing; the named methods call it. An
    implementation may override a named method with its own logic (the local service
    does for the structural commands, then `submit` dispatches to it by the command's
    `method`), but must keep its signature.
    """

    def submit(
        self,
        event_type: str,
        fields: Mapping[str, Any],
        *,
        event_id: str | None = None,
        conference: str | None = None,
        at: str | None = None,
    ) -> R_co:
        """Append the event of `event_type` from the command's `fields` (the names of
        its `Command.arguments`); `conference` and `at` as every command takes them."""
        ...

    def close(self) -> None: ...

    # -- the conference and its days -------------------------------------------------

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
        event_id: str | None = None,
    ) -> R_co:
        fields = {"title": title, "venue": venue, "timezone": timezone, "url": url}
        return self.submit(
            "conference.opened",
            {**fields, "language": language},
            event_id=event_id,
            conference=slug,
            at=at,
        )

    def close_conference(
        self, *, conference: str | None = None, at: str | None = None, event_id: str | None = None
    ) -> R_co:
        return self.submit("conference.closed", {}, event_id=event_id, conference=conference, at=at)

    def open_day(
        self,
        number: int,
        *,
        date: str | None = None,
        title: str | None = None,
        conference: str | None = None,
        at: str | None = None,
        event_id: str | None = None,
    ) -> R_co:
        fields = {"number": number, "date": date, "title": title}
        return self.submit("day.opened", fields, event_id=event_id, conference=conference, at=at)

    def close_day(
        self, *, conference: str | None = None, at: str | None = None, event_id: str | None = None
    ) -> R_co:
        return self.submit("day.closed", {}, event_id=event_id, conference=conference, at=at)

    # -- sessions and talks ----------------------------------------------------------

    def start_session(
        self,
        title: str,
        *,
        kind: str | None = None,
        room: str | None = None,
        hosts: Iterable[str] = (),
        conference: str | None = None,
        at: str | None = None,
        event_id: str | None = None,
    ) -> R_co:
        fields = {"title": title, "kind": kind, "room": room, "hosts": tuple(hosts)}
        return self.submit(
            "session.started", fields, event_id=event_id, conference=conference, at=at
        )

    def end_session(
        self, *, conference: str | None = None, at: str | None = None, event_id: str | None = None
    ) -> R_co:
        return self.submit("session.ended", {}, event_id=event_id, conference=conference, at=at)

    def start_talk(
        self,
        title: str,
        *,
        speaker: str,
        role: str | None = None,
        organisation: str | None = None,
        conference: str | None = None,
        at: str | None = None,
        event_id: str | None = None,
    ) -> R_co:
        fields = {"title": title, "speaker": speaker, "role": role, "organisation": organisation}
        return self.submit("talk.started", fields, event_id=event_id, conference=conference, at=at)

    def end_talk(
        self, *, conference: str | None = None, at: str | None = None, event_id: str | None = None
    ) -> R_co:
        return self.submit("talk.ended", {}, event_id=event_id, conference=conference, at=at)

    # -- entries (any other kind: `submit` with its type) ------------------------------

    def quote(
        self,
        text: str,
        *,
        speaker: str | None = None,
        conference: str | None = None,
        at: str | None = None,
        event_id: str | None = None,
    ) -> R_co:
        fields = {"text": text, "speaker": speaker}
        return self.submit(
            "quote.captured", fields, event_id=event_id, conference=conference, at=at
        )

    def note(
        self,
        text: str,
        *,
        conference: str | None = None,
        at: str | None = None,
        event_id: str | None = None,
    ) -> R_co:
        fields = {"text": text}
        return self.submit("note.posted", fields, event_id=event_id, conference=conference, at=at)

    def photo(
        self,
        url: str,
        *,
        caption: str,
        conference: str | None = None,
        at: str | None = None,
        event_id: str | None = None,
    ) -> R_co:
        fields = {"url": url, "caption": caption}
        return self.submit("photo.posted", fields, event_id=event_id, conference=conference, at=at)

    def link(
        self,
        url: str,
        *,
        title: str,
        description: str | None = None,
        conference: str | None = None,
        at: str | None = None,
        event_id: str | None = None,
    ) -> R_co:
        fields = {"url": url, "title": title, "description": description}
        return self.submit("link.posted", fields, event_id=event_id, conference=conference, at=at)

    # -- editing ---------------------------------------------------------------------

    def correct(
        self,
        ref: str | None = None,
        *,
        last: bool = False,
        conference: str | None = None,
        at: str | None = None,
        event_id: str | None = None,
        **changes: str | None,
    ) -> R_co:
        """New values for an entry's fields: `text`, `speaker`, `caption`, `description`
        (`CORRECTION_FIELDS`; which ones an entry accepts is its kind's `correctable`)."""
        fields = {"target": ref, "last": last, **changes}
        return self.submit(
            "entry.corrected", fields, event_id=event_id, conference=conference, at=at
        )

    def retract(
        self,
        ref: str | None = None,
        *,
        last: bool = False,
        reason: str | None = None,
        conference: str | None = None,
        at: str | None = None,
        event_id: str | None = None,
    ) -> R_co:
        fields = {"target": ref, "last": last, "reason": reason}
        return self.submit(
            "entry.retracted", fields, event_id=event_id, conference=conference, at=at
        )

    # -- the reader's page: the pinned entry and key moments ---------------------------

    def pin(
        self,
        ref: str | None = None,
        *,
        last: bool = False,
        conference: str | None = None,
        at: str | None = None,
        event_id: str | None = None,
    ) -> R_co:
        fields = {"target": ref, "last": last}
        return self.submit("entry.pinned", fields, event_id=event_id, conference=conference, at=at)

    def unpin(
        self, *, conference: str | None = None, at: str | None = None, event_id: str | None = None
    ) -> R_co:
        """Unpin the conference's pinned entry (the service finds it)."""
        return self.submit("entry.unpinned", {}, event_id=event_id, conference=conference, at=at)

    def highlight(
        self,
        ref: str | None = None,
        *,
        last: bool = False,
        label: str | None = None,
        conference: str | None = None,
        at: str | None = None,
        event_id: str | None = None,
    ) -> R_co:
        fields = {"target": ref, "last": last, "label": label}
        return self.submit(
            "entry.highlighted", fields, event_id=event_id, conference=conference, at=at
        )

    def unhighlight(
        self,
        ref: str,
        *,
        conference: str | None = None,
        at: str | None = None,
        event_id: str | None = None,
    ) -> R_co:
        fields = {"target": ref}
        return self.submit(
            "entry.unhighlighted", fields, event_id=event_id, conference=conference, at=at
        )


class ReportingService(ServicePart, Reporter[list[Event]]):
    """The reporting commands on the local log, as `author` (with `role`, from the API)."""

    def submit(
        self,
        event_type: str,
        fields: Mapping[str, Any],
        *,
        event_id: str | None = None,
        conference: str | None = None,
        at: str | None = None,
    ) -> list[Event]:
        model, command = command_of(event_type)
        known = {a.name for a in command.arguments}
        for name in fields:
            if name not in known:
                raise InvalidEvent(f"a {event_type} command has no field {name!r}")
        values = {k: v for k, v in fields.items() if v is not None}
        if command.placed:
            return self._entry(model, values, event_id=event_id, conference=conference, at=at)
        method = getattr(self, command.method)
        if command.names_conference:
            values.pop("conference", None)
            return cast(list[Event], method(conference, **values, at=at, event_id=event_id))
        if "target" in values:  # a command's target is the method's `ref`
            values["ref"] = values.pop("target")
        return cast(list[Event], method(**values, conference=conference, at=at, event_id=event_id))

    # -- helpers ---------------------------------------------------------------------

    def _when(self, at: str | None, tz_name: str, day: DayOpened | None = None) -> dt.datetime:
        """`--at`, or now; a bare HH:MM is on the open day's date, else today's."""
        tz = zone(tz_name)
        return now(tz) if at is None else parse_at(at, tz, today=day.date if day else None)

    def _context_when(self, context: ctx.Context, at: str | None) -> dt.datetime:
        return self._when(at, context.conference.opened.timezone, context.day)

    def _event(
        self,
        conference: str,
        occurred_at: dt.datetime,
        data: EventData,
        event_id: str | None = None,
    ) -> Event:
        return make_event(
            id=event_id or new_event_id(),
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

    def _append(self, events: list[Event], event_id: str | None = None) -> list[Event]:
        """Append `events`; the command's own event, always the last (closings come
        first), takes `event_id` when the caller chose one."""
        if event_id is not None and events:
            events[-1] = events[-1].model_copy(update={"id": event_id})
        return [a.event for a in self.log.append(events)]

    # -- the conference and its days -------------------------------------------------

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
        event_id: str | None = None,
    ) -> list[Event]:
        roles.check_editors_only(self.role, self.author, "open_conference")
        data = build(
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
            return self._append([event], event_id)

    def close_conference(
        self, *, conference: str | None = None, at: str | None = None, event_id: str | None = None
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
            return self._append(events, event_id)

    def open_day(
        self,
        number: int,
        *,
        date: str | None = None,
        title: str | None = None,
        conference: str | None = None,
        at: str | None = None,
        event_id: str | None = None,
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
            data = build(DayOpened, number=number, date=day_date, title=title)
            return self._append([self._event(slug, when, data)], event_id)

    def close_day(
        self, *, conference: str | None = None, at: str | None = None, event_id: str | None = None
    ) -> list[Event]:
        roles.check_editors_only(self.role, self.author, "close_day")
        with self.log.writing():
            context = self._context(conference)
            day = self._need_day(context)
            when = self._context_when(context, at)
            events = self._closing(context, when, session=True)
            events.append(self._event(context.conference.slug, when, DayClosed(number=day.number)))
            return self._append(events, event_id)

    # -- sessions and talks ----------------------------------------------------------

    def start_session(
        self,
        title: str,
        *,
        kind: str | None = None,
        room: str | None = None,
        hosts: Iterable[str] = (),
        conference: str | None = None,
        at: str | None = None,
        event_id: str | None = None,
    ) -> list[Event]:
        with self.log.writing():
            context = self._context(conference)
            day = self._need_day(context)
            when = self._context_when(context, at)
            data = build(
                SessionStarted,
                day=day.number,
                title=title,
                kind=kind,
                room=room,
                hosts=tuple(hosts),
            )
            events = self._closing(context, when, session=True)
            events.append(self._event(context.conference.slug, when, data))
            return self._append(events, event_id)

    def end_session(
        self, *, conference: str | None = None, at: str | None = None, event_id: str | None = None
    ) -> list[Event]:
        with self.log.writing():
            context = self._context(conference)
            if context.session is None:
                raise ContextError("you have no open session: nothing to end")
            when = self._context_when(context, at)
            return self._append(self._closing(context, when, session=True), event_id)

    def start_talk(
        self,
        title: str,
        *,
        speaker: str,
        role: str | None = None,
        organisation: str | None = None,
        conference: str | None = None,
        at: str | None = None,
        event_id: str | None = None,
    ) -> list[Event]:
        with self.log.writing():
            context = self._context(conference)
            day = self._need_day(context)
            if context.session is None:
                raise ContextError(
                    "a talk happens inside a session: run `liveblog session start TITLE` first"
                )
            when = self._context_when(context, at)
            data = build(
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
            return self._append(events, event_id)

    def end_talk(
        self, *, conference: str | None = None, at: str | None = None, event_id: str | None = None
    ) -> list[Event]:
        with self.log.writing():
            context = self._context(conference)
            if context.talk is None:
                raise ContextError("you have no open talk: nothing to end")
            when = self._context_when(context, at)
            return self._append(self._closing(context, when, session=False), event_id)

    # -- entries ---------------------------------------------------------------------

    def _entry(
        self,
        model: type[EventData],
        fields: Mapping[str, Any],
        *,
        event_id: str | None,
        conference: str | None,
        at: str | None,
    ) -> list[Event]:
        """The one path for an entry of any kind posted in the reporter's context: the
        open day, session and talk are filled in from the log."""
        values = dict(fields)
        with self.log.writing():
            context = self._context(conference)
            day = self._need_day(context)
            when = self._context_when(context, at)
            if model is QuoteCaptured and values.get("speaker") is None:
                talk = context.talk_data
                if talk is None or context.talk is None:
                    raise ContextError(
                        "whose words? pass --speaker NAME, or start a talk with "
                        "`liveblog talk start TITLE --speaker NAME`"
                    )
                values["speaker"] = self._current_speaker(context.talk.id, talk.speaker)
            data = build(
                model,
                **values,
                day=day.number,
                session=context.session.id if context.session else None,
                talk=context.talk.id if context.talk else None,
            )
            return self._append([self._event(context.conference.slug, when, data)], event_id)

    def _current_speaker(self, talk_id: str, speaker: str) -> str:
        """The talk's speaker as the log now says it: corrections included."""
        for change in ctx.corrections_of(self.log, talk_id):
            if isinstance(change.data, EntryCorrected) and change.data.speaker is not None:
                speaker = change.data.speaker
        return speaker

    # -- editing ---------------------------------------------------------------------

    def _target(
        self,
        ref: str | None,
        last: bool,
        conference: str | None,
        what: str = "corrected or retracted",
    ) -> Event:
        """The entry `ref` (a unique prefix) or, with `last`, this reporter's latest one:
        an entry (of `conference` if given), not retracted, that this caller may edit.
        `what` names the command in a refusal ("corrected", "pinned"…)."""
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
                f"{target.id} is {_article(target.type)} {target.type} event; only entries "
                f"({', '.join(ENTRY_KINDS)}) can be {what}"
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
        conference: str | None = None,
        at: str | None = None,
        event_id: str | None = None,
        **changes: str | None,
    ) -> list[Event]:
        unknown = [name for name in changes if name not in CORRECTION_FIELDS]
        if unknown:
            raise InvalidEvent(f"a correction has no field {unknown[0]!r}")
        given = {name: value for name, value in changes.items() if value is not None}
        with self.log.writing():
            target = self._target(ref, last, conference)
            if not given:
                raise InvalidEvent(f"say what to correct: {correction_options()}")
            wrong = set(given) - set(entry_kind(target.type).correctable)
            if wrong:
                what = ", ".join("TEXT" if w == "text" else f"--{w}" for w in sorted(wrong))
                raise InvalidEvent(f"a {target.type} entry has no {what} to correct")
            data = build(EntryCorrected, target=target.id, **given)
            event = self._event(target.conference, self._edit_when(target, at), data)
            return self._append([event], event_id)

    def retract(
        self,
        ref: str | None = None,
        *,
        last: bool = False,
        reason: str | None = None,
        conference: str | None = None,
        at: str | None = None,
        event_id: str | None = None,
    ) -> list[Event]:
        with self.log.writing():
            target = self._target(ref, last, conference)
            data = build(EntryRetracted, target=target.id, reason=reason)
            event = self._event(target.conference, self._edit_when(target, at), data)
            return self._append([event], event_id)

    # -- the reader's page: the pinned entry and key moments ---------------------------

    def _mark(
        self, target: Event, data: EventData, at: str | None, event_id: str | None
    ) -> list[Event]:
        event = self._event(target.conference, self._edit_when(target, at), data)
        return self._append([event], event_id)

    def pin(
        self,
        ref: str | None = None,
        *,
        last: bool = False,
        conference: str | None = None,
        at: str | None = None,
        event_id: str | None = None,
    ) -> list[Event]:
        with self.log.writing():
            target = self._target(ref, last, conference, "pinned")
            if marks.pinned(self.log, target.conference) == target.id:
                raise RefusedCommand(f"{target.id} is already pinned in {target.conference}")
            return self._mark(target, build(EntryPinned, target=target.id), at, event_id)

    def unpin(
        self, *, conference: str | None = None, at: str | None = None, event_id: str | None = None
    ) -> list[Event]:
        with self.log.writing():
            slug = ctx.reading_conference(self.log, self.author, conference).slug
            pinned = marks.pinned(self.log, slug)
            if pinned is None:
                raise RefusedCommand(f"nothing is pinned in {slug}")
            target = self._target(pinned, False, slug, "unpinned")
            return self._mark(target, build(EntryUnpinned, target=target.id), at, event_id)

    def highlight(
        self,
        ref: str | None = None,
        *,
        last: bool = False,
        label: str | None = None,
        conference: str | None = None,
        at: str | None = None,
        event_id: str | None = None,
    ) -> list[Event]:
        if label is not None:
            label = marks.check_label(label)
        with self.log.writing():
            target = self._target(ref, last, conference, "highlighted")
            if marks.key_moment(self.log, target.conference, target.id) == (True, label):
                said = f" with the label {label!r}" if label else " (no label)"
                raise RefusedCommand(f"{target.id} is already a key moment{said}")
            data = build(EntryHighlighted, target=target.id, label=label)
            return self._mark(target, data, at, event_id)

    def unhighlight(
        self,
        ref: str,
        *,
        conference: str | None = None,
        at: str | None = None,
        event_id: str | None = None,
    ) -> list[Event]:
        with self.log.writing():
            target = self._target(ref, False, conference, "unhighlighted")
            if not marks.key_moment(self.log, target.conference, target.id)[0]:
                raise RefusedCommand(f"{target.id} is not a key moment")
            return self._mark(target, build(EntryUnhighlighted, target=target.id), at, event_id)


def _article(word: str) -> str:
    """The article before an event type: a day.opened event, an entry.pinned event."""
    return "an" if word[:1] in "aeiou" else "a"
