"""Synthetic coverage logs of any size, written straight into `events`, cached between runs.

A log looks like one long conference covered live: a conference.opened, then days
(opened, closed), each with sessions of about 100 events, each with talks of about 20;
inside a talk mostly quotes and notes of 60-120 characters, a few photos, corrections
and retractions of recent entries, by three reporters. The data of every type is exactly
what liveblog's models write (field order and nulls included; a sample is checked by
parsing and re-encoding it through them). The tail is left as live coverage: the
conference, its day, a session and a talk may still be open when the log ends.

Building a million events through the validated API would take minutes, so the rows go
in with one `executemany` inside BEGIN IMMEDIATE on an `EventLog`'s connection: positions
and versions 1..N, increasing recorded_at, fresh ids; the table's triggers check every
row as usual. Generation is deterministic (a seeded PRNG) and the result is cached under
`<tmp>/liveblog-bench-cache/`, keyed by N, GENERATOR_VERSION and the schema version;
benchmarks copy the cached file to a fresh path before using it.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import random
import shutil
import tempfile
import time
import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from liveblog.domain.envelope import make_event, parse_data
from liveblog.domain.events import ENTRY_TYPES, EVENT_TYPES
from liveblog.store import EventLog
from liveblog.store.sqlite.log import encode_data
from liveblog.store.sqlite.schema import LATEST

from . import raw

GENERATOR_VERSION = 1
"""Bump when the generated rows change: cached logs of other versions are ignored."""
CACHE_DIR = Path(tempfile.gettempdir()) / "liveblog-bench-cache"
EVENTS_ENV = "LIVEBLOG_BENCH_EVENTS"
DEFAULT_EVENTS = 1_000_000

CONFERENCE = "socitm-2011"
TIMEZONE = "Europe/London"
AUTHORS = ("ann", "bob", "carol")
"""`ann` runs the structure (days, sessions, talks) and posts the most; all three post."""
ENTRY_AUTHOR_WEIGHTS = (5, 3, 2)
FIRST_DAY = dt.date(2011, 6, 9)
MAX_DAY = 366
"""DayOpened.number is at most 366: a very long log gets longer days, not more of them."""
EVENTS_PER_DAY = 1_000
EVENTS_PER_SESSION = 100
EVENTS_PER_TALK = 20
SEED = 20110609
VALIDATE_FIRST = 5_000
VALIDATE_EVERY = 250
"""Rows checked against the models while generating: the first few thousand, then a sample."""

SPEAKERS = (
    ("Andy Burns", "Chief Information Officer", "Coventry City Council"),
    ("Jos Creese", "Head of IT", "Hampshire County Council"),
    ("Helen Williams", "Director of Digital", "Local Government Association"),
    ("Martin Ferguson", "Director of Policy", "Socitm"),
    ("Zoë Hartley", "Service Design Lead", "Bristol City Council"),
    ("José Ángel Moreno", None, "Ayuntamiento de Madrid"),
    ("Priya Natarajan", "Head of Data", None),
    ("Tom Okafor", "Programme Manager", "Cabinet Office"),
    ("Mairi MacLeod", "Enterprise Architect", "Highland Council"),
    ("Dave Whitworth", None, None),
)
HOSTS = ("Ann Carter", "Bill Marsh", "Carol Dean", "Derek Ng", "Eve Salter", "Fiona Bright")
ROOMS = ("Main Hall", "Room 2", "Room 3", "Exchange Suite", "Charter 1", "Charter 2")
SESSION_KINDS = ("session", "plenary", "keynote", "breakout", "panel", "workshop", "demo")
TOPICS = (
    "shared services",
    "channel shift",
    "open data",
    "cloud procurement",
    "digital inclusion",
    "cyber security",
    "the PSN",
    "agile delivery",
    "citizen accounts",
    "data sharing",
    "the G-Cloud framework",
    "assisted digital",
)
TALK_OPENINGS = (
    "Why {topic} is harder than it looks",
    "Lessons from three years of {topic}",
    "{topic}: what councils can learn from each other",
    "Making {topic} pay for itself",
    "A practical guide to {topic}",
    "Beyond the hype: {topic} in the real world",
)
SESSION_TITLES = (
    "Morning plenary: {topic}",
    "Breakout: {topic} in practice",
    "Panel: the future of {topic}",
    "Workshop — getting started with {topic}",
    "Keynote and questions: {topic}",
)
QUOTE_PARTS = (
    "We must share services, or we will not have services left to share.",
    "Nobody ever got thanked for a project that quietly saved money.",
    "The citizen does not care which department owns the form.",
    "If you can't measure it, you can't argue for it at budget time.",
    "Most of our data problems are really people problems.",
    "We spent two years procuring what took two weeks to build.",
    "Digital by default does not mean digital only.",
    "The hardest conversation was with our own finance team.",
    "Security is a board-level risk, not an IT line item.",
    "Start small, publish early, and let people tell you what's wrong.",
    "Frankly, the framework saved us eighteen months.",
    "Don't let the perfect become the enemy of the shipped.",
)
NOTE_PARTS = (
    "The room fills up as {speaker} turns to {topic}.",
    "{speaker} shows a slide of savings across four councils.",
    "Questions from the floor focus on {topic} and who pays.",
    "A show of hands: about a third of the room already does {topic}.",
    "{speaker} admits the first pilot failed, then explains why.",
    "Lively exchange about {topic} and the role of suppliers.",
    "The chair cuts questions short; coffee is running late.",
    "Slides will be on the conference site later, says {speaker}.",
    "Interesting point on {topic}: governance first, technology second.",
    "{speaker} cites a 40% drop in calls after moving forms online.",
)
CAPTIONS = (
    "{speaker} on stage during the {topic} session.",
    "A packed room for the talk on {topic}.",
    "The slide everyone photographed: costs of {topic} over five years.",
    "Delegates queueing for coffee between sessions.",
)
REASONS = (
    "Posted to the wrong session.",
    "Duplicate of an earlier entry.",
    "Speaker asked for this to be withdrawn.",
    None,
)

INSERT_SQL = raw.INSERT_SQL
Row = tuple[Any, ...]
"""One row of `events`, in raw.COLUMNS order."""


def events_wanted() -> int:
    """N: LIVEBLOG_BENCH_EVENTS if set (for quick runs), else one million."""
    value = os.environ.get(EVENTS_ENV, "").replace("_", "").replace(",", "")
    if not value:
        return DEFAULT_EVENTS
    n = int(value)
    if n < 100:
        raise ValueError(f"{EVENTS_ENV} must be at least 100, not {n}")
    return n


@dataclass(frozen=True)
class CachedLog:
    """A generated log in the cache, and how it was obtained in this run."""

    path: Path
    events: int
    generated_seconds: float | None
    """Seconds spent generating it now; None when it came from the cache."""

    def describe(self) -> str:
        size = self.path.stat().st_size / 1e6
        if self.generated_seconds is None:
            return f"{self.events:,}-event log from the cache ({size:.0f} MB, {self.path})"
        rate = self.events / self.generated_seconds
        return (
            f"{self.events:,}-event log generated in {self.generated_seconds:.1f} s "
            f"({rate:,.0f} events/s, {size:.0f} MB), cached at {self.path}"
        )

    def copy_to(self, directory: Path, name: str = "events.db") -> Path:
        """A fresh copy of the log, so every run starts from the same file.

        The copy is flushed to disk before it is used: writing back hundreds of dirty
        megabytes in the background would otherwise slow whichever side runs first.
        """
        target = directory / name
        shutil.copyfile(self.path, target)
        with target.open("rb") as copy:
            os.fsync(copy.fileno())
        return target


def cached_log(n: int) -> CachedLog:
    """The cached log of `n` events, generating (and printing how long it took) if needed."""
    path = CACHE_DIR / f"events-{n}-g{GENERATOR_VERSION}-s{LATEST}.db"
    if path.exists():
        return CachedLog(path, n, None)
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    print(f"  generating a {n:,}-event log (cached for later runs) ...", flush=True)
    partial = CACHE_DIR / f".{path.name}.{os.getpid()}.partial"
    start = time.perf_counter()
    try:
        write_log(partial, n)
        os.replace(partial, path)
    finally:
        for leftover in (partial, *(Path(f"{partial}{s}") for s in ("-wal", "-shm"))):
            leftover.unlink(missing_ok=True)
    elapsed = time.perf_counter() - start
    print(f"  generated {n:,} events in {elapsed:.1f} s", flush=True)
    return CachedLog(path, n, elapsed)


def write_log(path: Path, n: int) -> None:
    """Create `path` with liveblog's schema and `n` generated events, in one transaction."""
    log = EventLog(path)
    try:
        conn = log.conn
        # Generation only: a big page cache keeps the random-id index inserts in memory.
        conn.execute("PRAGMA cache_size = -262144")
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany(INSERT_SQL, validated(generate(n)))
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        stored = log.head()
    finally:
        log.close()  # the last connection: checkpoints and removes the WAL
    if stored != n:
        raise RuntimeError(f"generated {stored} events, wanted {n}")


def validated(rows: Iterator[Row]) -> Iterator[Row]:
    """Pass rows through, checking a sample against liveblog's models.

    A checked row must parse (envelope and data) and re-encode to the very same JSON,
    so the generator cannot drift from what `EventLog.append` would have stored.
    """
    for row in rows:
        position = row[0]
        if position <= VALIDATE_FIRST or position % VALIDATE_EVERY == 0:
            check_row(row)
        yield row


def check_row(row: Row) -> None:
    position, id_, type_, conference, occurred_at, recorded_at, author, _, sv, data = row
    if sv != EVENT_TYPES[type_].SCHEMA_VERSION:
        raise RuntimeError(f"position {position}: {type_} written with schema version {sv}")
    parsed = parse_data(type_, json.loads(data), sv)
    if encode_data(parsed) != data:
        raise RuntimeError(
            f"position {position}: {type_} data differs from what liveblog writes:\n"
            f"  generated {data}\n  liveblog  {encode_data(parsed)}"
        )
    make_event(
        id=id_,
        conference=conference,
        occurred_at=dt.datetime.fromisoformat(occurred_at),
        author=author,
        data=parsed,
    )
    if dt.datetime.fromisoformat(recorded_at).tzinfo is None:
        raise RuntimeError(f"position {position}: recorded_at without an offset")


def capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]


dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
"""JSON as pydantic's model_dump_json writes it: compact, UTF-8 text."""


@dataclass
class _Entry:
    id: str
    kind: str
    author: str


class _Generator:
    """The state of one generated log: the clock, the open day/session/talk, recent entries."""

    def __init__(self, n: int) -> None:
        self.rng = random.Random(SEED)
        self.n = n
        self.position = 0
        self.tz = zoneinfo.ZoneInfo(TIMEZONE)
        self.clock = dt.datetime.combine(FIRST_DAY, dt.time(8, 0), self.tz)
        self.day_length = max(EVENTS_PER_DAY, math.ceil(n / (MAX_DAY - 6)))
        self.recent: list[_Entry] = []
        self.talks: list[_Entry] = []
        self.sessions: list[_Entry] = []

    def new_id(self) -> str:
        return f"{self.rng.getrandbits(128):032x}"

    def row(self, type_: str, data: dict[str, Any], author: str, id_: str | None = None) -> Row:
        self.position += 1
        random = self.rng.random
        self.clock += dt.timedelta(seconds=4 + int(random() * 13))
        # Recorded a moment later (the reporter's network), before the next event occurs.
        recorded = self.clock.astimezone(dt.UTC) + dt.timedelta(seconds=0.2 + random() * 2.8)
        return (
            self.position,
            id_ or self.new_id(),
            type_,
            CONFERENCE,
            self.clock.isoformat(),
            recorded.isoformat(timespec="microseconds"),
            author,
            self.position,  # one conference: its version is the position
            EVENT_TYPES[type_].SCHEMA_VERSION,
            dumps(data),
        )

    def text(self, parts: tuple[str, ...], speaker: str, topic: str) -> str:
        """60-120 characters: one or two sentences from `parts`."""
        rng = self.rng
        text = rng.choice(parts).format(speaker=speaker, topic=topic)
        while len(text) < 60:
            text += " " + rng.choice(parts).format(speaker=speaker, topic=topic)
        if len(text) > 120:
            text = text[:119].rsplit(" ", 1)[0].rstrip(",;:") + "…"
        return text

    def rows(self) -> Iterator[Row]:
        rng = self.rng
        lead = AUTHORS[0]
        yield self.row(
            "conference.opened",
            {
                "title": "Socitm Spring Conference 2011",
                "venue": "Manchester Central",
                "timezone": TIMEZONE,
                "url": "https://socitm.example.org/spring-2011",
                "language": "en",
            },
            lead,
        )
        for day in range(1, MAX_DAY + 1):
            date = FIRST_DAY + dt.timedelta(days=day - 1)
            self.clock = max(self.clock, dt.datetime.combine(date, dt.time(8, 30), self.tz))
            title = f"Day {day}: {rng.choice(TOPICS)}" if rng.random() < 0.7 else None
            yield self.row(
                "day.opened", {"number": day, "date": date.isoformat(), "title": title}, lead
            )
            day_end = self.position + self.day_length + rng.randint(-50, 50)
            while self.position < day_end - 10:
                yield from self.session(day, day_end)
            yield self.row("day.closed", {"number": day}, lead)
        raise RuntimeError("the generator ran out of days")  # never: days grow with N

    def session(self, day: int, day_end: int) -> Iterator[Row]:
        rng = self.rng
        lead = AUTHORS[0]
        topic = rng.choice(TOPICS)
        sid = self.new_id()
        hosts = rng.sample(HOSTS, rng.choice((0, 1, 1, 2)))
        yield self.row(
            "session.started",
            {
                "day": day,
                "title": rng.choice(SESSION_TITLES).format(topic=topic),
                "kind": rng.choice(SESSION_KINDS),
                "room": rng.choice(ROOMS) if rng.random() < 0.8 else None,
                "hosts": hosts,
            },
            lead,
            sid,
        )
        self.sessions = [*self.sessions[-3:], _Entry(sid, "session", lead)]
        session_end = min(self.position + EVENTS_PER_SESSION + rng.randint(-20, 20), day_end)
        while self.position < session_end - 5:
            yield from self.talk(day, sid, topic, session_end)
        yield self.row("session.ended", {"session": sid}, lead)

    def talk(self, day: int, sid: str, topic: str, session_end: int) -> Iterator[Row]:
        rng = self.rng
        lead = AUTHORS[0]
        name, role, organisation = rng.choice(SPEAKERS)
        tid = self.new_id()
        yield self.row(
            "talk.started",
            {
                "day": day,
                "session": sid,
                "title": capitalised(rng.choice(TALK_OPENINGS).format(topic=topic)),
                "speaker": name,
                "role": role,
                "organisation": organisation,
            },
            lead,
            tid,
        )
        self.talks = [*self.talks[-3:], _Entry(tid, "talk", lead)]
        talk_end = min(self.position + EVENTS_PER_TALK + rng.randint(-6, 6), session_end)
        placed = {"day": day, "session": sid, "talk": tid}
        while self.position < talk_end - 1:
            yield self.entry(placed, name, topic)
        yield self.row("talk.ended", {"talk": tid}, lead)

    def entry(self, placed: dict[str, Any], speaker: str, topic: str) -> Row:
        """One event inside a talk: mostly quotes and notes, a few photos and edits."""
        rng = self.rng
        author = rng.choices(AUTHORS, ENTRY_AUTHOR_WEIGHTS)[0]
        roll = rng.random()
        if roll < 0.015 and self.recent:
            return self.correction(speaker, topic)
        if roll < 0.02 and self.recent:
            return self.retraction()
        eid = self.new_id()
        if roll < 0.05:
            kind = "photo"
            data = {
                **placed,
                "url": f"https://photos.example.org/socitm-2011/{eid[:12]}.jpg",
                "caption": self.text(CAPTIONS, speaker, topic),
            }
            row = self.row("photo.posted", data, author, eid)
        elif roll < 0.52:
            kind = "quote"
            data = {**placed, "text": self.text(QUOTE_PARTS, speaker, topic), "speaker": speaker}
            row = self.row("quote.captured", data, author, eid)
        else:
            kind = "note"
            data = {**placed, "text": self.text(NOTE_PARTS, speaker, topic)}
            row = self.row("note.posted", data, author, eid)
        self.recent.append(_Entry(eid, kind, author))
        if len(self.recent) > 60:
            del self.recent[:20]
        return row

    def correction(self, speaker: str, topic: str) -> Row:
        """Mostly a recent quote, note or photo; now and then a talk or a session."""
        rng = self.rng
        roll = rng.random()
        pool = self.talks if roll < 0.08 else self.sessions if roll < 0.12 else self.recent
        target = rng.choice(pool or self.recent)
        fields: dict[str, Any] = {"text": None, "speaker": None, "caption": None}
        if target.kind == "photo":
            fields["caption"] = self.text(CAPTIONS, speaker, topic)
        elif target.kind in ("quote", "talk") and rng.random() < 0.3:
            fields["speaker"] = rng.choice(SPEAKERS)[0]
        elif target.kind in ("talk", "session"):
            fields["text"] = rng.choice(TALK_OPENINGS).format(topic=topic)
        else:
            fields["text"] = self.text(
                QUOTE_PARTS if target.kind == "quote" else NOTE_PARTS, speaker, topic
            )
        return self.row("entry.corrected", {"target": target.id, **fields}, target.author)

    def retraction(self) -> Row:
        """A recent quote, note or photo, retracted once (and never edited again)."""
        target = self.recent.pop(self.rng.randrange(len(self.recent)))
        reason = self.rng.choice(REASONS)
        return self.row("entry.retracted", {"target": target.id, "reason": reason}, target.author)


def generate(n: int) -> Iterator[Row]:
    """The first `n` rows of the synthetic log, in position order."""
    rows = _Generator(n).rows()
    for _ in range(n):
        yield next(rows)


def entry_events(conn: Any) -> int:
    """How many events of the log become timeline entries (retracted ones included)."""
    marks = ", ".join("?" * len(ENTRY_TYPES))
    sql = f"SELECT count(*) FROM events WHERE type IN ({marks})"
    return int(conn.execute(sql, sorted(ENTRY_TYPES)).fetchone()[0])
