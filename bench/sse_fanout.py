"""Live readers held by one `liveblog serve`: STREAMS SSE connections open, one post
fanned out to all of them; against a bare Starlette SSE app under uvicorn in the same run.

Set-up (untimed): an events.db with a conference and a day, a real `liveblog serve`
subprocess (defaults: scheduler running, as in production), and CLIENT_PROCESSES reader
processes (`python -m bench.sse_clients`, asyncio raw sockets) that open STREAMS streams
between them to /api/conferences/<slug>/stream?since=<head>, and wait.

Timed: POSTS notes, each appended by this process to the same events.db (another
process's append, as `liveblog note` makes it), POST_GAP seconds apart. A note's delivery
time to a stream is its arrival there (the readers' clock is CLOCK_MONOTONIC, shared by
every process of the machine) minus the moment just before the append began: append →
commit → the scheduler's catch-up → the broadcast → every socket. Figures: the p50 and
p99 over every (note, stream) pair (target p99 <= 1 s), the streams that got every note,
and memory per connection: the server's RSS with the streams open minus before, / STREAMS.

The raw baseline: `python -m bench.sse_raw` (Starlette StreamingResponse, a queue per
client, no database), the same readers, each post a POST /publish that puts the message
in every queue (timed from just before the POST). The ratios are liveblog / raw.

LIVEBLOG_BENCH_SSE_STREAMS overrides STREAMS (e.g. 500 for a quick look).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from liveblog.service.facade import Liveblog

from .flood import memory_kib
from .report import Comparison, Limit, Outcome
from .serving import clean_env, output_tail, serving_address, spawn_serve, stop

STREAMS = 5000
STREAMS_ENV = "LIVEBLOG_BENCH_SSE_STREAMS"
CLIENT_PROCESSES = 2
POSTS = 10
POST_GAP = 1.0
DELIVERY_TIMEOUT = 20.0
OPEN_TIMEOUT = 300.0
TARGET_P99_MS = 1000.0
CONFERENCE = "bench-sse"
AUTHOR = "bench"
TEXT = "A note long enough to look like one a reporter types during a busy session."


@dataclass
class Run:
    """What one server (liveblog or raw) did for the readers."""

    opened: int = 0
    refused: int = 0
    delays: list[float] = field(default_factory=list)  # seconds, every (post, stream)
    complete: int = 0  # posts that reached every open stream
    rss_before_kib: float = math.nan
    rss_after_kib: float = math.nan

    def p(self, quantile: float) -> float:
        if not self.delays:
            return math.nan
        found = sorted(self.delays)
        return found[min(len(found) - 1, int(quantile * len(found)))] * 1000

    @property
    def kib_per_stream(self) -> float:
        return (self.rss_after_kib - self.rss_before_kib) / self.opened if self.opened else math.nan


class Readers:
    """CLIENT_PROCESSES reader processes holding `count` streams between them."""

    def __init__(self, port: int, path: str, count: int) -> None:
        share = [count // CLIENT_PROCESSES] * CLIENT_PROCESSES
        share[0] += count - sum(share)
        self.processes = [
            subprocess.Popen(
                [sys.executable, "-m", "bench.sse_clients", str(port), path, str(n)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                cwd=Path(__file__).resolve().parent.parent,
            )
            for n in share
        ]

    def wait_ready(self) -> tuple[int, int]:
        opened = refused = 0
        for process in self.processes:
            assert process.stdout is not None
            line = process.stdout.readline().split()
            if not line or line[0] != "ready":
                raise RuntimeError(f"a reader process did not get ready: {line}")
            opened += int(line[1])
            refused += int(line[2])
        return opened, refused

    def arrivals(self) -> dict[int, list[float]]:
        found: dict[int, list[float]] = {}
        for process in self.processes:
            assert process.stdin is not None and process.stdout is not None
            process.stdin.write("report\n")
            process.stdin.flush()
            report = json.loads(process.stdout.readline())
            for key, times in report["arrivals"].items():
                found.setdefault(int(key), []).extend(times)
        return found

    def close(self) -> None:
        for process in self.processes:
            if process.stdin is not None:
                try:
                    process.stdin.write("stop\n")
                    process.stdin.close()
                except (BrokenPipeError, ValueError):
                    pass
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def measure(pid: int, port: int, path: str, count: int, post: object) -> Run:
    """Open the readers on `port`, then `POSTS` times: post(i) -> (t0, id); wait for it."""
    run = Run(rss_before_kib=memory_kib(pid, "VmRSS"))
    readers = Readers(port, path, count)
    try:
        run.opened, run.refused = readers.wait_ready()
        run.rss_after_kib = memory_kib(pid, "VmRSS")
        sent: list[tuple[int, float]] = []
        for i in range(POSTS):
            t0, position = post(i)  # type: ignore[operator]
            sent.append((position, t0))
            deadline = time.monotonic() + DELIVERY_TIMEOUT
            while True:
                got = readers.arrivals().get(position, [])
                if len(got) >= run.opened or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            time.sleep(POST_GAP)
        arrivals = readers.arrivals()
        for position, t0 in sent:
            times = arrivals.get(position, [])
            run.delays.extend(t - t0 for t in times)
            run.complete += len(times) >= run.opened
    finally:
        readers.close()
    return run


def wait_ok(url: str, timeout: float, headers: dict[str, str] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, headers=headers, timeout=5, trust_env=False).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} never answered 200")


def liveblog_run(root: Path, count: int) -> Run:
    db, feeds, output = root / "events.db", root / "feeds", root / "serve.log"
    with Liveblog(db, AUTHOR) as service:
        service.open_conference(CONFERENCE, title="Fan-out Benchmark")
        service.open_day(1)
        head = service.log.head()
    # Every reader of the bench comes from 127.0.0.1: the per-client cap is lifted to
    # all of them (a real audience comes from many addresses).
    env = {**clean_env(), "LIVEBLOG_MAX_STREAMS_PER_CLIENT": str(max(count, 1))}
    process = spawn_serve(str(db), feeds, output, root, (), env)
    try:
        base = serving_address(output, process, 30)
        if base is None:
            raise RuntimeError(f"`liveblog serve` did not start: {output_tail(output)}")
        wait_ok(f"{base}/", 60, {"accept": "application/json"})  # the timeline is built
        port = int(base.rsplit(":", 1)[1])
        with Liveblog(db, AUTHOR) as writer:

            def post(i: int) -> tuple[float, int]:
                t0 = time.monotonic()
                events = writer.note(f"Note {i}: {TEXT}", conference=CONFERENCE)
                return t0, int(events[-1].position)

            path = f"/api/conferences/{CONFERENCE}/stream?since={head}"
            return measure(process.pid, port, path, count, post)
    finally:
        stop(process)


def raw_run(count: int) -> Run:
    with tempfile.TemporaryDirectory() as tmp:
        import socket

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        log = open(Path(tmp) / "raw.log", "wb")  # noqa: SIM115 (closed below)
        process = subprocess.Popen(
            [sys.executable, "-m", "bench.sse_raw", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=Path(__file__).resolve().parent.parent,
        )
        try:
            wait_ok(f"http://127.0.0.1:{port}/healthz", 30)
            client = httpx.Client(base_url=f"http://127.0.0.1:{port}", trust_env=False)

            def post(i: int) -> tuple[float, int]:
                t0 = time.monotonic()
                client.post("/publish", params={"id": str(1000 + i)})
                return t0, 1000 + i

            try:
                return measure(process.pid, port, "/stream", count, post)
            finally:
                client.close()
        finally:
            stop(process)
            log.close()


def run() -> Outcome:
    count = int(os.environ.get(STREAMS_ENV) or STREAMS)
    with tempfile.TemporaryDirectory() as tmp:
        lb = liveblog_run(Path(tmp), count)
    raw = raw_run(count)
    outcome = Outcome()
    outcome.comparisons += [
        Limit(f"SSE delivery p50 ms, {count} streams", lb.p(0.5), raw.p(0.5), None, False, "ms"),
        Limit(
            f"SSE delivery p99 ms, {count} streams",
            lb.p(0.99),
            raw.p(0.99),
            TARGET_P99_MS,
            False,
            "ms",
        ),
        Comparison(
            "memory KiB per SSE connection", lb.kib_per_stream, raw.kib_per_stream, None, False
        ),
    ]
    for name, r in (("liveblog", lb), ("raw", raw)):
        outcome.notes.append(
            f"{name}: {r.opened} streams open ({r.refused} refused or cut), "
            f"{r.complete}/{POSTS} posts reached every stream, {len(r.delays)} deliveries, "
            f"p50 {r.p(0.5):.0f} ms p99 {r.p(0.99):.0f} ms max {r.p(1.0):.0f} ms, RSS "
            f"{r.rss_before_kib / 1024:.0f} → {r.rss_after_kib / 1024:.0f} MiB"
        )
    return outcome
