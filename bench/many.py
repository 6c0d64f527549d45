"""Synthetic logs of many conferences, each a SOCITM-sized day, cached between runs.

A newsroom keeps every conference it ever covered in one log. `log_with(n)` is such a
log: `n` conferences, one a day (the newest on OPEN_DATE, the others on the days before
it, oldest first), each exactly EVENTS_PER_CONFERENCE = 54 events of the same shape:
conference.opened, day.opened (day 1), three sessions (a plenary with two talks, a
parallel breakout run by a second reporter, a keynote), four talks, 34 quotes and notes
(inside talks, or at day level by the reporter covering no room), a photo, a correction
of an earlier quote, a retraction of a note, and day.closed. The newest conference,
OPEN_CONFERENCE, is the live one: its last event is one more day-level note instead of
day.closed, so its day is open and a note can be posted into it (by AUTHOR: her
session and talk are ended, so a note lands in the day). No conference is closed.

Slugs and titles are distinct (a series name and the date, `govtech-2011-06-08`, "GovTech
Forum 8 June 2011"), except OPEN_CONFERENCE, which is `socitm-2011` whatever `n` is; its
54 events are the same in every log (its texts and ids come from a PRNG seeded by its
slug, as every conference's do), so logs of different sizes differ only in how many
finished conferences precede it. Positions run 1..54n, and each conference's versions
1..54.

As in bench.synthetic, the rows go in with one `executemany` inside BEGIN IMMEDIATE (the
table's triggers check every row), the data of every type is exactly what liveblog's
models write (every row of the first and last conference and a sample of the others are
parsed and re-encoded through them), and the result is cached under
`<tmp>/liveblog-bench-cache/`, keyed by n, GENERATOR_VERSION and the schema version.
10,000 conferences (540,000 events) take about 15 s to generate on the bench machine.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import tempfile
import time
import zoneinfo
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from liveblog.domain.events import EVENT_TYPES
from liveblog.store import EventLog
from liveblog.store.sqlite.schema import LATEST, log_objects

from . import synthetic
from .synthetic import (
    CACHE_DIR,
    CAPTIONS,
    HOSTS,
    NOTE_PARTS,
    QUOTE_PARTS,
    REASONS,
    ROOMS,
    SESSION_TITLES,
    SPEAKERS,
    TALK_OPENINGS,
    TOPICS,
    CachedLog,
    Row,
    capitalised,
    check_row,
    dumps,
)

GENERATOR_VERSION = 1
"""Bump when the generated rows change: cached logs of other versions are ignored."""
EVENTS_PER_CONFERENCE = 54
OPEN_CONFERENCE = synthetic.CONFERENCE
"""The slug of the newest conference, whose day is left open: socitm-2011, as in the
one-conference logs of bench.synthetic."""
OPEN_DATE = dt.date(2011, 6, 9)
AUTHOR = synthetic.AUTHORS[0]
"""ann: runs every conference's structure; her note goes into the open conference's day."""
AUTHORS = ("ann", "bob", "carol")
SEED = 20110609
VALIDATE_EVERY = 97
"""Besides the first and last conference, every 97th row is checked against the models
(a prime: it walks through every slot of the template)."""

SERIES = (
    ("socitm", "Socitm Spring Conference", "Manchester Central", "Europe/London"),
    ("govtech", "GovTech Forum", "ExCeL London", "Europe/London"),
    ("localgov-digital", "LocalGov Digital Summit", "Birmingham ICC", "Europe/London"),
    ("eu-eservices", "European eServices Days", "Square, Brussels", "Europe/Brussels"),
    ("data-dublin", "Open Data Dublin", "Croke Park", "Europe/Dublin"),
    ("civic-tech-nyc", "Civic Tech New York", "Javits Center", "America/New_York"),
    ("smart-cities", "Smart Cities Expo", "Fira Gran Via", "Europe/Madrid"),
    ("nordic-digital", "Nordic Digital Government", "Bella Center", "Europe/Copenhagen"),
)

# The day's shape: (kind, author, where). `where` is the talk an entry or a talk's end
# belongs to ("T1".."T4"), a session ("S1".."S3") for its start and end, "-" for an
# entry made at day level (its reporter covers no room), or an index into this
# template for a correction or a retraction's target. Talks T1, T2, T4 are ann's in
# sessions S1, S1, S3; T3 is bob's in S2; carol only posts at day level.
TEMPLATE: tuple[tuple[str, str, Any], ...] = (
    ("conference", "ann", "-"),
    ("day", "ann", "-"),
    ("session", "ann", "S1"),
    ("talk", "ann", "T1"),
    ("quote", "ann", "T1"),  # 4: corrected below
    ("note", "ann", "T1"),
    ("photo", "ann", "T1"),
    ("quote", "ann", "T1"),
    ("note", "ann", "T1"),
    ("note", "carol", "-"),
    ("note", "ann", "T1"),
    ("quote", "ann", "T1"),
    ("note", "ann", "T1"),
    ("talk.end", "ann", "T1"),
    ("talk", "ann", "T2"),
    ("session", "bob", "S2"),
    ("talk", "bob", "T3"),
    ("quote", "ann", "T2"),
    ("quote", "bob", "T3"),
    ("note", "ann", "T2"),
    ("note", "bob", "T3"),  # 20: retracted below
    ("correct", "ann", 4),
    ("quote", "ann", "T2"),
    ("note", "bob", "T3"),
    ("quote", "ann", "T2"),
    ("note", "bob", "T3"),
    ("quote", "bob", "T3"),
    ("note", "carol", "-"),
    ("note", "ann", "T2"),
    ("quote", "bob", "T3"),
    ("quote", "ann", "T2"),
    ("note", "bob", "T3"),
    ("note", "ann", "T2"),
    ("talk.end", "bob", "T3"),
    ("session.end", "bob", "S2"),
    ("retract", "bob", 20),
    ("talk.end", "ann", "T2"),
    ("session.end", "ann", "S1"),
    ("session", "ann", "S3"),
    ("talk", "ann", "T4"),
    ("quote", "ann", "T4"),
    ("note", "bob", "-"),
    ("note", "ann", "T4"),
    ("quote", "ann", "T4"),
    ("quote", "ann", "T4"),
    ("note", "carol", "-"),
    ("note", "ann", "T4"),
    ("quote", "bob", "-"),
    ("quote", "ann", "T4"),
    ("note", "ann", "T4"),
    ("note", "ann", "T4"),
    ("talk.end", "ann", "T4"),
    ("session.end", "ann", "S3"),
    ("day.end", "ann", "-"),  # the open conference: one more day-level note instead
)
SESSION_OF = {"T1": "S1", "T2": "S1", "T3": "S2", "T4": "S3"}
SESSION_KIND = {"S1": "plenary", "S2": "breakout", "S3": "keynote"}
if len(TEMPLATE) != EVENTS_PER_CONFERENCE:
    raise AssertionError(f"the template has {len(TEMPLATE)} events, not {EVENTS_PER_CONFERENCE}")


def log_with(conferences: int, directory: Path | None = None) -> Path:
    """A fresh copy of the cached log of `conferences` conferences (generated if needed).

    The copy is `directory/events.db`, in a new temporary directory if none is given
    (the caller removes it).
    """
    if directory is None:
        directory = Path(tempfile.mkdtemp(prefix="liveblog-bench-"))
    return cached(conferences).copy_to(directory)


def events_in(conferences: int) -> int:
    return conferences * EVENTS_PER_CONFERENCE


def cached(conferences: int) -> CachedLog:
    """The cached log, generating it (and printing how long it took) if needed."""
    if conferences < 1:
        raise ValueError(f"a log needs at least one conference, not {conferences}")
    n = events_in(conferences)
    path = CACHE_DIR / f"many-{conferences}-g{GENERATOR_VERSION}-s{LATEST}.db"
    if path.exists():
        return CachedLog(path, n, None)
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    print(f"  generating a log of {conferences:,} conferences (cached for later runs) ...")
    partial = CACHE_DIR / f".{path.name}.{os.getpid()}.partial"
    start = time.perf_counter()
    try:
        write_log(partial, conferences)
        os.replace(partial, path)
    finally:
        for leftover in (partial, *(Path(f"{partial}{s}") for s in ("-wal", "-shm"))):
            leftover.unlink(missing_ok=True)
    elapsed = time.perf_counter() - start
    print(f"  generated {conferences:,} conferences ({n:,} events) in {elapsed:.1f} s", flush=True)
    return CachedLog(path, n, elapsed)


def write_log(path: Path, conferences: int) -> None:
    """Create `path` with liveblog's schema and the generated events, in one transaction.

    For speed the log's secondary indexes and its two INSERT triggers are dropped for the
    bulk insert and created again afterwards from liveblog's own statements (building an
    index once costs a fraction of keeping it up to date row by row); what the triggers
    would have checked of every row is then checked of all rows at once: positions 1..N
    without a gap, every conference's versions 1..its count, no id twice (the table's
    own UNIQUE constraints stay in force throughout).
    """
    rebuilt = [
        (kind, name, sql)
        for name, (kind, sql) in log_objects().items()
        if kind == "index" or name in ("events_no_overwrite", "events_gap_free")
    ]
    log = EventLog(path)
    try:
        conn = log.conn
        # Generation only: the file is a cache, written under a temporary name and renamed
        # when complete, so it needs neither a journal nor fsyncs until then.
        conn.execute("PRAGMA cache_size = -262144")
        conn.execute("PRAGMA journal_mode = OFF")
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute("BEGIN IMMEDIATE")
        try:
            for kind, name, _ in rebuilt:
                conn.execute(f"DROP {kind.upper()} {name}")
            conn.executemany(synthetic.INSERT_SQL, validated(generate(conferences), conferences))
            for _, _, sql in rebuilt:
                conn.execute(sql)
            check_invariants(conn, conferences)
            conn.execute("COMMIT")
            conn.execute("PRAGMA journal_mode = WAL")  # as liveblog leaves its files
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    finally:
        log.close()


def check_invariants(conn: Any, conferences: int) -> None:
    """What the log's INSERT triggers check of each row, checked of the whole table."""
    n = events_in(conferences)
    count, first, last = conn.execute(
        "SELECT count(*), min(position), max(position) FROM events"
    ).fetchone()
    if (count, first, last) != (n, 1, n):
        raise RuntimeError(f"positions: {count} events from {first} to {last}, wanted 1..{n}")
    bad = conn.execute(
        "SELECT conference, count(*), min(version), max(version) FROM events "
        "GROUP BY conference HAVING count(*) <> ? OR min(version) <> 1 OR max(version) <> ? "
        "LIMIT 1",
        (EVENTS_PER_CONFERENCE, EVENTS_PER_CONFERENCE),
    ).fetchone()
    if bad is not None:
        raise RuntimeError(f"conference {bad[0]}: {bad[1]} events, versions {bad[2]}..{bad[3]}")
    slugs = conn.execute("SELECT count(DISTINCT conference) FROM events").fetchone()[0]
    if slugs != conferences:
        raise RuntimeError(f"{slugs} conferences, wanted {conferences}")


def validated(rows: Iterator[Row], conferences: int) -> Iterator[Row]:
    """Pass rows through, checking the first and last conference and a sample."""
    last = events_in(conferences - 1)
    for row in rows:
        position = row[0]
        if position <= EVENTS_PER_CONFERENCE or position > last or position % VALIDATE_EVERY == 0:
            check_row(row)
        yield row


def slug_and_title(k: int, date: dt.date, newest: bool) -> tuple[str, str, str, str]:
    """Slug, title, venue and timezone of the conference numbered k (0 = oldest)."""
    if newest:
        return OPEN_CONFERENCE, "Socitm Spring Conference 2011", SERIES[0][2], SERIES[0][3]
    series, name, venue, tz = SERIES[k % len(SERIES)]
    return f"{series}-{date.isoformat()}", f"{name} {date.day} {date:%B %Y}", venue, tz


def generate(conferences: int) -> Iterator[Row]:
    """Every row of the log, in position order."""
    position = 0
    for k in range(conferences):
        newest = k == conferences - 1
        date = OPEN_DATE - dt.timedelta(days=conferences - 1 - k)
        slug, title, venue, tz = slug_and_title(k, date, newest)
        yield from conference_rows(slug, title, venue, tz, date, position, newest=newest)
        position += EVENTS_PER_CONFERENCE


def offset_of(tz_name: str, date: dt.date) -> int:
    """The UTC offset of `tz_name` at noon on `date`, in seconds."""
    noon = dt.datetime.combine(date, dt.time(12), zoneinfo.ZoneInfo(tz_name))
    offset = noon.utcoffset()
    assert offset is not None
    return int(offset.total_seconds())


def conference_rows(
    slug: str,
    title: str,
    venue: str,
    tz_name: str,
    date: dt.date,
    offset: int,
    *,
    newest: bool,
) -> Iterator[Row]:
    """One conference's 54 rows, at positions offset+1.., versions 1..54."""
    rng = random.Random(f"{SEED}:{slug}")
    rand = rng.random
    choice = rng.choice
    # Timestamps are written by hand (isoformat's own layout): a conference's events all
    # fall between 09:00 and 20:00 local time, where no timezone changes its offset.
    offset_seconds = offset_of(tz_name, date)
    sign = "-" if offset_seconds < 0 else "+"
    zone = f"{sign}{abs(offset_seconds) // 3600:02d}:{abs(offset_seconds) // 60 % 60:02d}"
    local_date = date.isoformat()
    utc_dates = {d: (date + dt.timedelta(days=d)).isoformat() for d in (-1, 0, 1)}
    clock = 9 * 3600  # seconds since local midnight
    ids = [f"{rng.getrandbits(128):032x}" for _ in TEMPLATE]
    slot_of: dict[str, int] = {}  # "S1", "T3" -> template index of its start
    talk_info: dict[str, tuple[str, str]] = {}  # "T1" -> (speaker, topic)
    topic = choice(TOPICS)
    schema = {name: model.SCHEMA_VERSION for name, model in EVENT_TYPES.items()}

    def text(parts: tuple[str, ...], speaker: str, topic: str) -> str:
        out = choice(parts).format(speaker=speaker, topic=topic)
        while len(out) < 60:
            out += " " + choice(parts).format(speaker=speaker, topic=topic)
        if len(out) > 120:
            out = out[:119].rsplit(" ", 1)[0].rstrip(",;:") + "…"
        return out

    for i, (kind, author, where) in enumerate(TEMPLATE):
        if kind == "day.end" and newest:
            kind = "note"
        placed: dict[str, Any] = {"day": 1, "session": None, "talk": None}
        speaker, subject = talk_info.get(where, (choice(SPEAKERS)[0], topic))
        if isinstance(where, str) and where.startswith("T") and kind not in ("talk", "talk.end"):
            placed = {
                "day": 1,
                "session": ids[slot_of[SESSION_OF[where]]],
                "talk": ids[slot_of[where]],
            }
        data: dict[str, Any]
        if kind == "conference":
            type_ = "conference.opened"
            data = {
                "title": title,
                "venue": venue,
                "timezone": tz_name,
                "url": f"https://conferences.example.org/{slug}",
                "language": "en",
            }
        elif kind == "day":
            type_ = "day.opened"
            data = {"number": 1, "date": date.isoformat(), "title": f"Day 1: {topic}"}
        elif kind == "day.end":
            type_ = "day.closed"
            data = {"number": 1}
        elif kind == "session":
            slot_of[where] = i
            type_ = "session.started"
            session_topic = topic if where == "S1" else choice(TOPICS)
            data = {
                "day": 1,
                "title": choice(SESSION_TITLES).format(topic=session_topic),
                "kind": SESSION_KIND[where],
                "room": choice(ROOMS) if where != "S3" else "Main Hall",
                "hosts": rng.sample(HOSTS, 1 + (where == "S1")),
            }
        elif kind == "session.end":
            type_ = "session.ended"
            data = {"session": ids[slot_of[where]]}
        elif kind == "talk":
            slot_of[where] = i
            name, role, organisation = choice(SPEAKERS)
            talk_topic = choice(TOPICS)
            talk_info[where] = (name, talk_topic)
            type_ = "talk.started"
            data = {
                "day": 1,
                "session": ids[slot_of[SESSION_OF[where]]],
                "title": capitalised(choice(TALK_OPENINGS).format(topic=talk_topic)),
                "speaker": name,
                "role": role,
                "organisation": organisation,
            }
        elif kind == "talk.end":
            type_ = "talk.ended"
            data = {"talk": ids[slot_of[where]]}
        elif kind == "quote":
            type_ = "quote.captured"
            data = {**placed, "text": text(QUOTE_PARTS, speaker, subject), "speaker": speaker}
        elif kind == "note":
            type_ = "note.posted"
            data = {**placed, "text": text(NOTE_PARTS, speaker, subject)}
        elif kind == "photo":
            type_ = "photo.posted"
            data = {
                **placed,
                "url": f"https://photos.example.org/{slug}/{ids[i][:12]}.jpg",
                "caption": text(CAPTIONS, speaker, subject),
            }
        elif kind == "correct":
            type_ = "entry.corrected"
            data = {
                "target": ids[where],
                "text": text(QUOTE_PARTS, speaker, subject),
                "speaker": None,
                "caption": None,
            }
        elif kind == "retract":
            type_ = "entry.retracted"
            data = {"target": ids[where], "reason": choice(REASONS)}
        else:  # pragma: no cover - the template names only the kinds above
            raise AssertionError(kind)
        clock += 180 + int(rand() * 540)
        occurred = f"{local_date}T{clock // 3600:02d}:{clock // 60 % 60:02d}:{clock % 60:02d}{zone}"
        # Recorded a moment later (the reporter's network), in UTC.
        delay = 200_000 + int(rand() * 2_800_000)
        days, us = divmod((clock - offset_seconds) * 1_000_000 + delay, 86_400_000_000)
        seconds, us = divmod(us, 1_000_000)
        recorded = (
            f"{utc_dates[days]}T{seconds // 3600:02d}:{seconds // 60 % 60:02d}:"
            f"{seconds % 60:02d}.{us:06d}+00:00"
        )
        yield (
            offset + i + 1,
            ids[i],
            type_,
            slug,
            occurred,
            recorded,
            author,
            i + 1,
            schema[type_],
            dumps(data),
        )
