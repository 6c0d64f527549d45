"""Freshness: append → feed file changed, append → webhook received (p50, p99), 200 events.

The issue's words: "within 1 s, median ≤ 300 ms". Both targets bound liveblog's own
latencies (p50 ≤ 300 ms, p99 ≤ 1000 ms); the raw baseline and the ratio are printed
for context.

liveblog side: a temporary events.db with an open conference, day and session; a real
`liveblog serve` subprocess on a port the system picks, default --retry-schedule; one
webhook subscription made with `liveblog webhook add URL --allow-private`. The receiver
is a small HTTP/1.1 server in a thread of this process, which records when each
`webhook-id` first arrives. Each probe appends one note with `Liveblog(db,
"bench").note(...)` in this process (its own connection, so the server sees the log
change from outside, as it does for the CLI), takes the clock when the append has
returned (committed), then polls every POLL_SECONDS until `feeds/<conf>/live.json`
(stat, then read on change) holds the note's id and the receiver has `msg_<event id>`.

raw side: the minimum that does the same job, a subprocess (python -c RAW_WATCHER) on
its own copy of the database: every 0.1 s (the scheduler's tick) it reads
`PRAGMA data_version`; when it changed it selects the new events, rewrites one JSON
file of the newest 50 events (temp file, fsync, rename: how liveblog writes feeds) and
POSTs each new event to the same receiver with an httpx keep-alive client, webhook-id
`msg_<event id>`. No projections, rendering, queue or signing: what is left is the
polling interval, one fsync, one POST.

Both processes run throughout; probes go in blocks that alternate between the sides.
Before each probe a random pause (uniform in 0–TICK_SECONDS, the same sequence for both
sides) puts the append at a random phase of the 0.1 s polling tick, as a reporter's
typing would; without it every append would follow just after a tick and wait the
longest. LIVEBLOG_BENCH_FRESHNESS_EVENTS sets the probes per side.
"""

from __future__ import annotations

import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from liveblog.service.facade import Liveblog

from . import raw
from .report import Limit, Outcome, number
from .serving import Serve, clean_env, cpu_seconds, liveblog_command, stop

DEFAULT_EVENTS = 200
EVENTS_ENV = "LIVEBLOG_BENCH_FRESHNESS_EVENTS"
WARMUP = 3
"""Untimed probes per side first (imports, first renders, first connections)."""
BLOCKS = 4
POLL_SECONDS = 0.002
TICK_SECONDS = 0.1
PROBE_TIMEOUT = 10.0
P50_TARGET_MS = 300.0
P99_TARGET_MS = 1000.0
CONFERENCE = "bench-fresh"
AUTHOR = "bench"
SEED = 2011
LATEST = 50
TEXT = "the speaker explains how the newsroom moved its live coverage onto shared services."

RAW_WATCHER = f"""\
import json, os, sys, tempfile, time
import httpx
from pysqlite3 import dbapi2 as sqlite3
db, out, url = sys.argv[1], sys.argv[2], sys.argv[3]
conn = sqlite3.connect(db, isolation_level=None, timeout={raw.BUSY_TIMEOUT_MS / 1000})
for pragma in {raw.PRAGMAS!r}:
    conn.execute(pragma)
last = conn.execute("SELECT ifnull(max(position), 0) FROM events").fetchone()[0]
seen = conn.execute("PRAGMA data_version").fetchone()[0]
client = httpx.Client(timeout=15, trust_env=False)
print("ready", flush=True)
while True:
    time.sleep({TICK_SECONDS})
    version = conn.execute("PRAGMA data_version").fetchone()[0]
    if version == seen:
        continue
    seen = version
    new = conn.execute(
        "SELECT position, id, type, recorded_at, data FROM events WHERE position > ? "
        "ORDER BY position", (last,)
    ).fetchall()
    if not new:
        continue
    last = new[-1][0]
    latest = conn.execute(
        "SELECT id, type, recorded_at, data FROM events ORDER BY position DESC LIMIT {LATEST}"
    ).fetchall()
    doc = json.dumps(
        {{"items": [{{"id": i, "type": t, "date": r, "data": json.loads(d)}}
                    for i, t, r, d in latest]}},
        ensure_ascii=False,
    ).encode()
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(out))
    with os.fdopen(fd, "wb") as handle:
        handle.write(doc)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, out)
    for position, id_, type_, recorded_at, data in new:
        body = json.dumps(
            {{"type": type_, "timestamp": recorded_at, "data": json.loads(data)}}
        ).encode()
        client.post(url, content=body, headers={{
            "content-type": "application/json", "webhook-id": "msg_" + id_,
        }})
"""


class Receiver:
    """HTTP/1.1 on 127.0.0.1 in a thread: 200 to every POST; first arrival per webhook-id."""

    def __init__(self) -> None:
        self.received: dict[str, float] = {}
        self.requests = 0
        lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length") or 0))
                now = time.perf_counter()
                with lock:
                    outer.requests += 1
                    outer.received.setdefault(self.headers.get("webhook-id", ""), now)
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Side:
    """One side under test: where it appends, the file to watch, what was measured."""

    service: Liveblog
    feed: Path
    pid: int
    rng: random.Random
    feed_ms: list[float] = field(default_factory=list)
    hook_ms: list[float] = field(default_factory=list)
    append_ms: list[float] = field(default_factory=list)
    cpu: float = 0.0
    probes: int = 0


def events_wanted() -> int:
    value = os.environ.get(EVENTS_ENV, "").replace("_", "").replace(",", "")
    n = int(value) if value else DEFAULT_EVENTS
    if n < 10:
        raise ValueError(f"{EVENTS_ENV} must be at least 10, not {n}")
    return n


def prepare(path: Path) -> None:
    with Liveblog(path, AUTHOR) as service:
        service.open_conference(CONFERENCE, title="Freshness Benchmark")
        service.open_day(1)
        service.start_session("Opening plenary", room="Main hall")


def subscribe(db: Path, url: str) -> None:
    done = subprocess.run(
        [*liveblog_command(), "--db", str(db), "webhook", "add", url, "--allow-private"],
        capture_output=True,
        text=True,
        env=clean_env(),
    )
    if done.returncode != 0:
        raise RuntimeError(f"liveblog webhook add failed: {done.stderr.strip()}")


def wait_for(path: Path, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{path} did not appear within {seconds:g} s")
        time.sleep(0.01)


def probe(side: Side, receiver: Receiver, label: str) -> tuple[float, float, float] | None:
    """One note; seconds from its commit to the feed file and to the webhook (None: lost)."""
    time.sleep(side.rng.uniform(0, TICK_SECONDS))
    started = time.perf_counter()
    event = side.service.note(f"{label}: {TEXT}")[-1]
    appended = time.perf_counter()
    needle = event.id.encode()
    message = "msg_" + event.id
    feed_at: float | None = None
    hook_at: float | None = None
    seen: tuple[int, int, int] | None = None
    deadline = appended + PROBE_TIMEOUT
    while feed_at is None or hook_at is None:
        now = time.perf_counter()
        if feed_at is None:
            try:
                st = os.stat(side.feed)
                key = (st.st_ino, st.st_mtime_ns, st.st_size)
            except FileNotFoundError:
                key = None
            if key is not None and key != seen:
                seen = key
                if needle in side.feed.read_bytes():
                    feed_at = now
        if hook_at is None:
            hook_at = receiver.received.get(message)
        if now > deadline:
            return None
        time.sleep(POLL_SECONDS)
    return feed_at - appended, hook_at - appended, appended - started


def quantile(values: list[float], q: float) -> float:
    """The q-quantile (0..1), linear between order statistics; NaN for no values."""
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1]


def run() -> Outcome:
    events = events_wanted()
    problems: list[str] = []
    receiver = Receiver()
    processes: list[subprocess.Popen[bytes]] = []
    server: Serve | None = None
    services: list[Liveblog] = []
    try:
        with tempfile.TemporaryDirectory(prefix="liveblog-bench-") as tmp:
            root = Path(tmp)
            lb_db, raw_db = root / "liveblog.db", root / "raw.db"
            prepare(lb_db)
            prepare(raw_db)
            subscribe(lb_db, receiver.url("/hooks/liveblog"))

            started = time.perf_counter()
            server = Serve(lb_db, root / "feeds", root / "serve.log")
            lb_feed = root / "feeds" / CONFERENCE / "live.json"
            wait_for(lb_feed, 30)
            server_start = time.perf_counter() - started

            raw_feed = root / "raw-feed" / "live.json"
            raw_feed.parent.mkdir()
            hook = receiver.url("/hooks/raw")
            watcher = subprocess.Popen(
                [sys.executable, "-c", RAW_WATCHER, str(raw_db), str(raw_feed), hook],
                stdout=subprocess.PIPE,
                env=clean_env(),
            )
            processes.append(watcher)
            assert watcher.stdout is not None
            if watcher.stdout.readline().strip() != b"ready":
                raise RuntimeError(f"the raw watcher exited (status {watcher.wait()})")

            sides = {
                "liveblog": Side(
                    Liveblog(lb_db, AUTHOR), lb_feed, server.process.pid, random.Random(SEED)
                ),
                "raw": Side(Liveblog(raw_db, AUTHOR), raw_feed, watcher.pid, random.Random(SEED)),
            }
            services.extend(side.service for side in sides.values())

            for name, side in sides.items():
                for k in range(WARMUP):
                    if probe(side, receiver, f"{name} warm-up {k}") is None:
                        problems.append(f"{name} warm-up probe {k} timed out")

            per_block = [events // BLOCKS + (b < events % BLOCKS) for b in range(BLOCKS)]
            for block, count in enumerate(per_block):
                order = ("liveblog", "raw") if block % 2 == 0 else ("raw", "liveblog")
                for name in order:
                    side = sides[name]
                    cpu_before = cpu_seconds(side.pid)
                    for _ in range(count):
                        side.probes += 1
                        got = probe(side, receiver, f"{name} probe {side.probes}")
                        if got is None:
                            problems.append(f"{name} probe {side.probes}: not seen in time")
                            continue
                        side.feed_ms.append(got[0] * 1000)
                        side.hook_ms.append(got[1] * 1000)
                        side.append_ms.append(got[2] * 1000)
                    side.cpu += cpu_seconds(side.pid) - cpu_before
                print(
                    f"  block {block + 1}/{BLOCKS}: "
                    + "; ".join(
                        f"{n} feed p50 {number(quantile(s.feed_ms, 0.5))} ms, "
                        f"webhook p50 {number(quantile(s.hook_ms, 0.5))} ms"
                        for n, s in sides.items()
                    ),
                    flush=True,
                )
            if server.process.poll() is not None:
                problems.append(f"liveblog serve exited early: {server.tail()}")
            server.close()
            server = None
            log_tail = (root / "serve.log").read_text(errors="replace").splitlines()
            warnings = [line for line in log_tail if "Warning" in line or "Error" in line]
            problems += [f"serve: {line}" for line in warnings[:3]]
    finally:
        for service in services:
            service.close()
        if server is not None:
            server.close()
        for process in processes:
            stop(process, signal.SIGTERM)
        receiver.close()

    lb, rw = sides["liveblog"], sides["raw"]
    comparisons = [
        Limit(
            f"{label} {q} ms",
            quantile(getattr(lb, attr), p),
            quantile(getattr(rw, attr), p),
            target,
            higher_is_better=False,
            unit="ms",
        )
        for label, attr in (("append→feed", "feed_ms"), ("append→webhook", "hook_ms"))
        for q, p, target in (("p50", 0.5, P50_TARGET_MS), ("p99", 0.99, P99_TARGET_MS))
    ]
    notes = [
        f"{len(lb.feed_ms)} + {len(rw.feed_ms)} timed probes (liveblog + raw, +{WARMUP} "
        f"warm-up each) in {BLOCKS} alternating blocks; `liveblog serve` up and first "
        f"publish in {server_start:.1f} s",
        "latency from the note's committed append (Liveblog.note returned) to: live.json "
        f"holding its id (stat/read every {POLL_SECONDS * 1000:g} ms), and the receiver "
        f"getting msg_<id>; random 0–{TICK_SECONDS * 1000:g} ms pause before each append",
        "spread (min / median / max ms): "
        + "; ".join(
            f"{n} feed {number(min(s.feed_ms))} / {number(statistics.median(s.feed_ms))} / "
            f"{number(max(s.feed_ms))}, webhook {number(min(s.hook_ms))} / "
            f"{number(statistics.median(s.hook_ms))} / {number(max(s.hook_ms))}"
            for n, s in sides.items()
            if s.feed_ms
        ),
        f"append (Liveblog.note, untimed part of neither figure): median "
        f"{number(statistics.median(lb.append_ms + rw.append_ms))} ms",
        "CPU of the watching process per probe: "
        + ", ".join(f"{n} {number(s.cpu * 1000 / max(1, s.probes))} ms" for n, s in sides.items())
        + " (liveblog serve: scheduler, projections, publish, deliverer; raw: poll, one "
        "query, one file, one POST)",
        f"receiver got {receiver.requests} POSTs for {len(receiver.received)} distinct ids",
    ]
    if events != DEFAULT_EVENTS:
        notes.append(f"SCALED: {EVENTS_ENV}={events} (default {DEFAULT_EVENTS})")
    notes += [f"WARNING: {problem}" for problem in problems[:5]]
    if len(problems) > 5:
        notes.append(f"WARNING: … and {len(problems) - 5} more")
    return Outcome(comparisons=comparisons, notes=notes)
