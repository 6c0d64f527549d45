"""Takeover with 3 `serve` nodes on PostgreSQL: the leader SIGKILLed, how long until a
survivor leads, and until a note posted right after the kill is in the JSON feed every
survivor serves. The issue's target: publishing moved to a surviving node within 5 s.

Setup: a durable throwaway cluster (bench.pg), one database; a conference with a day of
coverage (day 1 closed, day 2 open: sessions, talks, DEFAULT_COVERAGE entries in all, or
LIVEBLOG_BENCH_PG_TAKEOVER_ENTRIES; appended in this process through the event store),
an editor's token (CLI), then three `liveblog serve` nodes started together, each with
a feeds directory of its own (no shared disk, as in tests/test_pg_nodes.py). Once every
node serves the coverage, REPORTERS threads post a note every REPORTER_SECONDS each, to
the nodes in turn (the conference is live: the kill comes mid-run; a post to the dead
node fails, the next goes to the next node), and ROUNDS rounds are run:

1. the leader (the node whose latest role line is `leader:`) is SIGKILLed; the clock
   starts;
2. a note is POSTed to a survivor at once (`/api/events`, as a reporter's CLI does);
3. the bench polls, every POLL_SECONDS: the leadership's advisory lock (pg_locks: a
   session other than the dead leader's holds it), the survivors' output (a `leader:`
   line), and each survivor's `/feeds/<conf>/live.json` (with its ETag) for the note;
4. the killed node is started again on its old directory (which the other nodes' publishes
   left behind: a stale directory the next time it leads) and awaited as a standby, and
   ROUND_ENTRIES more entries are appended while it was down or standing by.

Figures: kill → lock taken and kill → the note in every survivor's feed, p50 and max over
the rounds. No raw baseline (ratios n/a). Each round's first survivor to serve the note
and the `leader:` line's time are in the notes.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import re
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .pg import PgServe, database, durable_cluster, liveblog, start_nodes
from .report import Limit, Outcome

NODES = 3
DEFAULT_ROUNDS = 5
ROUNDS_ENV = "LIVEBLOG_BENCH_PG_TAKEOVER_ROUNDS"
DEFAULT_COVERAGE = 400
COVERAGE_ENV = "LIVEBLOG_BENCH_PG_TAKEOVER_ENTRIES"
"""Entries of the conference before the first kill (days 1 and 2)."""
REPORTERS = 2
REPORTER_SECONDS = 0.5
"""Each reporter posts a note this often, to the next node, throughout the rounds."""
ROUND_ENTRIES = 20
"""Entries appended after each round, so the next leader's own directory is behind."""
POLL_SECONDS = 0.02
ROUND_TIMEOUT = 60.0
"""A takeover slower than this is broken, not slow: the bench stops."""
SETTLE_TIMEOUT = 120.0
TARGET_S = 5.0
CONFERENCE = "bench-pg-takeover"
AUTHOR = "bench"
TEXT = "the speaker explains how the newsroom moved its live coverage onto shared services."
_ROLE = re.compile(rb"^(leader|standby):", re.MULTILINE)
_LEADER = re.compile(rb"^leader:", re.MULTILINE)


def wanted(env: str, default: int, least: int) -> int:
    """A count from the environment variable `env` (underscores allowed), else `default`."""
    value = os.environ.get(env, "").replace("_", "")
    n = int(value) if value else default
    if n < least:
        raise ValueError(f"{env} must be at least {least}, not {n}")
    return n


def coverage(start: dt.datetime, first: int, count: int, day: int) -> list[Any]:
    """`count` entries of day `day` (numbered from `first`): sessions of talks with notes
    and quotes in them."""
    from liveblog.domain.envelope import make_event
    from liveblog.domain.events import (
        NotePosted,
        QuoteCaptured,
        SessionStarted,
        TalkStarted,
    )

    events = []
    session = talk = ""
    for i in range(first, first + count):
        at = start + dt.timedelta(seconds=20 * i)
        j = i - first  # each call begins a session, each ten entries a talk
        payload: Any
        if j % 50 == 0:
            session = f"s{i}"
            payload = SessionStarted(day=day, title=f"Session {i // 50}", kind="plenary")
            event_id = session
        elif j % 10 == 1:
            talk = f"t{i}"
            payload = TalkStarted(day=day, session=session, title=f"Talk {i}", speaker="A. Speaker")
            event_id = talk
        elif i % 7 == 0:
            payload = QuoteCaptured(
                day=day, session=session, talk=talk, text=f"Quote {i}.", speaker="A. Speaker"
            )
            event_id = uuid.uuid4().hex
        else:
            payload = NotePosted(day=day, session=session, talk=talk, text=f"Note {i}: {TEXT}")
            event_id = uuid.uuid4().hex
        events.append(
            make_event(
                id=event_id, conference=CONFERENCE, occurred_at=at, author=AUTHOR, data=payload
            )
        )
    return events


def day_event(at: dt.datetime, payload: Any) -> Any:
    from liveblog.domain.envelope import make_event

    return make_event(
        id=uuid.uuid4().hex, conference=CONFERENCE, occurred_at=at, author=AUTHOR, data=payload
    )


def append(url: str, events: list[Any]) -> None:
    from liveblog.store.factory import open_store

    with open_store(url) as store:
        store.append(events)


def lock_holders(conn: Any) -> set[int]:
    """Backend pids holding the leadership "scheduler" (its two-key advisory lock)."""
    from liveblog.store.postgres.leadership import lock_key

    namespace, key = (k & 0xFFFFFFFF for k in lock_key("scheduler"))
    rows = conn.execute(
        "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 2 "
        "AND classid = %s::oid AND objid = %s::oid",
        (namespace, key),
    ).fetchall()
    return {int(pid) for (pid,) in rows}


def role(node: PgServe) -> str:
    """The node's latest role line: "leader", "standby" or "" (none yet)."""
    try:
        found = _ROLE.findall(node.output.read_bytes())
    except OSError:
        return ""
    return found[-1].decode() if found else ""


def leader_lines(node: PgServe) -> int:
    """How many `leader:` lines the node has written (one more: it took the lead)."""
    try:
        return len(_LEADER.findall(node.output.read_bytes()))
    except OSError:
        return 0


class Reporters:
    """REPORTERS threads posting notes to the nodes in turn until `stop` (a post that
    fails, its node dead, is counted; the next goes to the next node)."""

    def __init__(self, bases: Callable[[], list[str]], token: str) -> None:
        self.bases = bases
        self.token = token
        self.posted = 0
        self.failed = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._run, args=(k,), daemon=True) for k in range(REPORTERS)
        ]
        for thread in self._threads:
            thread.start()

    def _run(self, k: int) -> None:
        import httpx

        with httpx.Client(timeout=10, trust_env=False) as client:
            turn = k
            while not self._stop.wait(REPORTER_SECONDS):
                turn += 1
                bases = self.bases()
                base = bases[turn % len(bases)]
                try:
                    answer = client.post(
                        f"{base}/api/events",
                        json={
                            "id": uuid.uuid4().hex,
                            "type": "note.posted",
                            "conference": CONFERENCE,
                            "data": {"text": f"Reporter {k}, note {turn}: {TEXT}"},
                        },
                        headers={"authorization": f"Bearer {self.token}"},
                    )
                    ok = answer.status_code == 201
                except httpx.TransportError:
                    ok = False
                with self._lock:
                    self.posted += ok
                    self.failed += not ok

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()


class Feeds:
    """Each node's live.json, polled with its ETag (304 until it changes)."""

    def __init__(self) -> None:
        import httpx

        self.client = httpx.Client(timeout=10, trust_env=False)
        self.etags: dict[str, str] = {}
        self.bodies: dict[str, str] = {}

    def has(self, base: str, text: str) -> bool:
        import httpx

        headers = {"if-none-match": self.etags[base]} if base in self.etags else {}
        try:
            answer = self.client.get(f"{base}/feeds/{CONFERENCE}/live.json", headers=headers)
        except httpx.TransportError:
            return False
        if answer.status_code == 200:
            self.etags[base] = answer.headers.get("etag", "")
            self.bodies[base] = answer.text
        return text in self.bodies.get(base, "")

    def post(self, base: str, token: str, text: str) -> None:
        answer = self.client.post(
            f"{base}/api/events",
            json={
                "id": uuid.uuid4().hex,
                "type": "note.posted",
                "conference": CONFERENCE,
                "data": {"text": text},
            },
            headers={"authorization": f"Bearer {token}"},
        )
        if answer.status_code != 201:
            raise RuntimeError(f"POST /api/events: HTTP {answer.status_code} {answer.text}")

    def close(self) -> None:
        self.client.close()


def wait(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"not within {timeout:g} s: {what}")
        time.sleep(POLL_SECONDS)


def run() -> Outcome:
    import psycopg

    from liveblog.domain.events import DayClosed, DayOpened
    from liveblog.webhooks.secretkey import new_key

    rounds = wanted(ROUNDS_ENV, DEFAULT_ROUNDS, 1)
    entries = wanted(COVERAGE_ENV, DEFAULT_COVERAGE, 100)
    key = new_key()
    env = {"LIVEBLOG_SECRET_KEY": key}
    lock_s: list[float] = []
    line_s: list[float] = []
    first_s: list[float] = []
    feed_s: list[float] = []
    details: list[str] = []
    nodes: list[PgServe] = []
    feeds = Feeds()
    reporters: Reporters | None = None
    posted = failed = 0
    with durable_cluster() as cluster, tempfile.TemporaryDirectory(prefix="lb-pgt-") as tmp:
        url = database(cluster, "bench_takeover")
        liveblog(url, "conference", "open", CONFERENCE, "--title", "PG takeover")
        token = liveblog(url, "token", "create", "bench", "--role", "editor").split()[0]
        start = dt.datetime(2026, 6, 8, 8, 0, tzinfo=dt.UTC)
        half = entries // 2
        second = start + dt.timedelta(days=1)
        append(
            url,
            [
                day_event(start, DayOpened(number=1, date=start.date())),
                *coverage(start, 0, half, 1),
                day_event(start + dt.timedelta(hours=10), DayClosed(number=1)),
                day_event(second, DayOpened(number=2, date=second.date())),
                *coverage(second, half, entries - half, 2),
            ],
        )
        first_entries = entries
        try:
            nodes = start_nodes(url, Path(tmp), NODES, env)
            with psycopg.connect(url, autocommit=True) as conn:
                settled = f"settled {uuid.uuid4().hex}"
                feeds.post(nodes[0].base, token, settled)
                wait(
                    lambda: all(feeds.has(n.base, settled) for n in nodes),
                    SETTLE_TIMEOUT,
                    "the coverage in every node's feed",
                )
                reporters = Reporters(lambda: [n.base for n in nodes if n.base], token)
                for number_ in range(1, rounds + 1):
                    wait(
                        lambda: (
                            [role(n) for n in nodes].count("leader") == 1
                            and len(lock_holders(conn)) == 1
                        ),
                        SETTLE_TIMEOUT,
                        "one leader",
                    )
                    [leader] = [n for n in nodes if role(n) == "leader"]
                    survivors = [n for n in nodes if n is not leader]
                    dead = lock_holders(conn)
                    lines = {id(n): leader_lines(n) for n in survivors}
                    text = f"posted after the kill, round {number_} {uuid.uuid4().hex}"
                    killed = time.perf_counter()
                    leader.process.kill()
                    feeds.post(survivors[0].base, token, text)
                    took = line = first = None
                    seen: dict[int, float] = {}
                    deadline = killed + ROUND_TIMEOUT
                    while len(seen) < len(survivors) or took is None or line is None:
                        now = time.perf_counter()
                        if now > deadline:
                            raise RuntimeError(
                                f"round {number_}: no takeover within {ROUND_TIMEOUT:g} s: "
                                + "; ".join(n.tail() for n in survivors)
                            )
                        if took is None and lock_holders(conn) - dead:
                            took = now - killed
                        if line is None and any(leader_lines(n) > lines[id(n)] for n in survivors):
                            line = now - killed
                        for n in survivors:
                            if id(n) not in seen and feeds.has(n.base, text):
                                seen[id(n)] = time.perf_counter() - killed
                                first = first if first is not None else seen[id(n)]
                        time.sleep(POLL_SECONDS)
                    leader.process.wait()
                    lock_s.append(took)
                    line_s.append(line)
                    first_s.append(first if first is not None else math.nan)
                    feed_s.append(max(seen.values()))
                    details.append(
                        f"round {number_}: lock {took:.2f} s, leader line {line:.2f} s, "
                        f"note first served {first_s[-1]:.2f} s, by every survivor "
                        f"{feed_s[-1]:.2f} s"
                    )
                    # Back on its old directory, standing by; more coverage meanwhile.
                    nodes[nodes.index(leader)] = PgServe(
                        url, leader.output.parent, env=env, wait=False
                    )
                    append(
                        url,
                        coverage(second, entries, ROUND_ENTRIES, 2),
                    )
                    entries += ROUND_ENTRIES
                    for n in nodes:
                        n.ready()
                    wait(
                        lambda: all(role(n) for n in nodes),
                        SETTLE_TIMEOUT,
                        "the restarted node's role line",
                    )
        finally:
            if reporters is not None:
                reporters.stop()
                posted, failed = reporters.posted, reporters.failed
            feeds.close()
            for node in nodes:
                node.close()

    nan = math.nan
    notes = [
        f"{len(feed_s)} round(s): {NODES} nodes, each with its own feeds directory; "
        f"{first_entries} entries (day 1 closed, day 2 open) before the first kill, "
        f"+{ROUND_ENTRIES} per round; the killed node restarted each round",
        f"meanwhile {REPORTERS} reporters posted a note every {REPORTER_SECONDS:g} s each "
        f"to the nodes in turn: {posted} acknowledged, {failed} failed (a node down)",
        "kill → note served: the note is POSTed to a survivor right after the SIGKILL; "
        f"live.json of every survivor polled every {POLL_SECONDS * 1000:.0f} ms",
        *details,
        f"{os.cpu_count()} CPU(s): the nodes, the cluster and this poller share them",
    ]
    return Outcome(
        comparisons=[
            Limit("pg takeover lock p50 s", statistics.median(lock_s), nan, None, False, "s"),
            Limit("pg takeover lock max s", max(lock_s), nan, None, False, "s"),
            Limit("pg takeover feed p50 s", statistics.median(feed_s), nan, TARGET_S, False, "s"),
            Limit("pg takeover feed max s", max(feed_s), nan, TARGET_S, False, "s"),
        ],
        notes=notes,
    )
