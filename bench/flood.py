"""Feed and /healthz latency under floods, against the same server idle, in one run.

Set-up (untimed): an events.db with a conference, a day, a session and ENTRIES notes,
published (live.atom), and a real `liveblog serve` subprocess with its default limits
(scheduler running, as in production), probed untimed for WARMUP seconds.

The server starts with a soft file limit of 1,024 (what most systems give a service).
The probe is this process: one keep-alive httpx client per path, GETting
/feeds/<conf>/live.atom and /healthz in turn, PAUSE seconds apart (a reader, not a
load); its p99 per path is the figure. Every FRESH_EVERY seconds it also GETs /healthz
on a new connection (FRESH_TIMEOUT), as a reader arriving then would: the notes say how
many of those were served. ROUNDS rounds of four phases, each with the same probe:

- idle (PROBE_SECONDS): nothing else;
- body flood (PROBE_SECONDS, after FLOOD_WARMUP): a flooder process (`python -m
  bench.flooders body PORT SECONDS`) with 3 threads looping POSTs of a 20 MiB JSON
  body to /api/events without a token, and one more thread sending one 77 MiB POST (the
  issue's attack);
- idle again;
- slow flood (PROBE_SECONDS * SLOW_FACTOR, longer than the server's head deadline):
  a flooder process (`python -m bench.flooders slow PORT SECONDS`) holding 2,000
  sockets, half silent, half trickling a header line every 0.5 s, reopening every one
  the server closes.

The phases of a kind are pooled over the rounds: interleaving them spreads the drifting
load of a shared machine over both sides of each ratio.

Figures: each path's p99 under each flood against its idle p99 (target <= 2), and the
server's peak resident memory (VmHWM from /proc, the high-water mark over its whole
life, so it includes both floods) against its resident memory after the warm-up,
with an absolute limit of PEAK_MIB. The notes give the p50s, the probe's errors and
what each flooder managed. LIVEBLOG_BENCH_FLOOD_SECONDS overrides PROBE_SECONDS.
"""

from __future__ import annotations

import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from liveblog.feeds import PublishOptions
from liveblog.service.facade import Liveblog

from .report import Comparison, Limit, Outcome
from .serving import Serve, clean_env

ENTRIES = 100
PROBE_SECONDS = 3.0
ROUNDS = 2
# The slow flood lasts longer than the server's 5 s head deadline, so that closing and
# reopening the sockets is part of what is measured.
SLOW_FACTOR = 2.5
SECONDS_ENV = "LIVEBLOG_BENCH_FLOOD_SECONDS"
FLOOD_WARMUP = 1.0
WARMUP = 2.0
PAUSE = 0.005
TARGET = 2.0
PEAK_MIB = 150.0
USUAL_FILE_LIMIT = 1024
PROBE_TIMEOUT = 10.0
FRESH_EVERY = 0.5
FRESH_TIMEOUT = 5.0
CONFERENCE = "bench-flood"
AUTHOR = "bench"
TEXT = "A note long enough to look like one a reporter types during a busy session."


@dataclass
class Probe:
    """Latencies (seconds) per path, and the requests that did not answer 200."""

    latencies: dict[str, list[float]] = field(default_factory=dict)
    errors: int = 0
    fresh_tried: int = 0
    fresh_served: int = 0

    @classmethod
    def empty(cls, paths: list[str]) -> Probe:
        return cls(latencies={path: [] for path in paths})

    def add(self, other: Probe) -> None:
        for path, found in other.latencies.items():
            self.latencies.setdefault(path, []).extend(found)
        self.errors += other.errors
        self.fresh_tried += other.fresh_tried
        self.fresh_served += other.fresh_served

    def p(self, path: str, quantile: float) -> float:
        found = sorted(self.latencies.get(path, []))
        if not found:
            return math.nan
        return found[min(len(found) - 1, int(quantile * len(found)))] * 1000


def probe(base: str, paths: list[str], seconds: float) -> Probe:
    result = Probe(latencies={path: [] for path in paths})
    clients = {
        path: httpx.Client(base_url=base, timeout=PROBE_TIMEOUT, trust_env=False) for path in paths
    }
    deadline = time.perf_counter() + seconds
    next_fresh = time.perf_counter()
    try:
        while time.perf_counter() < deadline:
            if time.perf_counter() >= next_fresh:
                # A reader arriving now, on a connection of its own (a locked-out server
                # still answers the probe's old keep-alive connections).
                next_fresh = time.perf_counter() + FRESH_EVERY
                result.fresh_tried += 1
                try:
                    fresh = httpx.get(f"{base}/healthz", timeout=FRESH_TIMEOUT, trust_env=False)
                    result.fresh_served += fresh.status_code == 200
                except httpx.HTTPError:
                    pass
            for path, client in clients.items():
                start = time.perf_counter()
                try:
                    ok = client.get(path).status_code == 200
                except httpx.HTTPError:
                    ok = False
                elapsed = time.perf_counter() - start
                if ok:
                    result.latencies[path].append(elapsed)
                else:
                    result.errors += 1
                time.sleep(PAUSE)
    finally:
        for client in clients.values():
            client.close()
    return result


def memory_kib(pid: int, field_name: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return float(line.split()[1])
    return math.nan


def prepare(db: Path, feeds: Path) -> None:
    with Liveblog(db, AUTHOR) as service:
        service.open_conference(CONFERENCE, title="Flood Benchmark")
        service.open_day(1)
        service.start_session("Opening plenary", room="Main hall")
        for i in range(ENTRIES):
            service.note(f"Note {i}: {TEXT}")
        service.publish(PublishOptions(feeds_dir=feeds))


def flooder(kind: str, port: int, seconds: float) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "bench.flooders", kind, str(port), f"{seconds:g}"],
        stdout=subprocess.PIPE,
        text=True,
        env=clean_env(),
        cwd=Path(__file__).resolve().parent.parent,
    )


def finished(process: subprocess.Popen[str]) -> str:
    out, _ = process.communicate(timeout=120)
    return out.strip() or f"exited {process.returncode}"


def run() -> Outcome:
    seconds = float(os.environ.get(SECONDS_ENV, "").strip() or PROBE_SECONDS)
    feed = f"/feeds/{CONFERENCE}/live.atom"
    paths = [feed, "/healthz"]
    names = {feed: "feed", "/healthz": "/healthz"}
    with tempfile.TemporaryDirectory(prefix="liveblog-bench-flood-") as tmp:
        root = Path(tmp)
        prepare(root / "events.db", root / "feeds")
        # Started with the soft file limit most systems give, as a service manager
        # would start it (the flooders raise their own).
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(soft, USUAL_FILE_LIMIT), hard))
        try:
            serve = Serve(root / "events.db", root / "feeds", root / "serve.log")
        finally:
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        port = int(serve.base.rsplit(":", 1)[1])
        try:
            probe(serve.base, paths, WARMUP)  # imports, first publish, first connections
            idle_rss = memory_kib(serve.process.pid, "VmRSS")
            idle = Probe.empty(paths)
            floods: dict[str, tuple[Probe, list[str]]] = {
                "body": (Probe.empty(paths), []),
                "slow": (Probe.empty(paths), []),
            }
            # Rounds of idle, flood, idle, flood: on a shared machine the load drifts, and
            # interleaving spreads it over both sides of each ratio.
            for _ in range(ROUNDS):
                for kind, length in (("body", seconds), ("slow", seconds * SLOW_FACTOR)):
                    idle.add(probe(serve.base, paths, seconds))
                    process = flooder(kind, port, length + FLOOD_WARMUP + 1)
                    time.sleep(FLOOD_WARMUP)  # let the flood build up before measuring
                    measured, reports = floods[kind]
                    measured.add(probe(serve.base, paths, length))
                    reports.append(finished(process))
                    time.sleep(1.0)  # the flooder's sockets close
            peak = memory_kib(serve.process.pid, "VmHWM")
            alive = serve.process.poll() is None
        finally:
            serve.close()

    comparisons: list[Comparison] = []
    for kind, (measured, _) in floods.items():
        for path in paths:
            comparisons.append(
                Comparison(
                    f"{names[path]} p99 ms, {kind} flood / idle",
                    measured.p(path, 0.99),
                    idle.p(path, 0.99),
                    TARGET,
                    higher_is_better=False,
                )
            )
    comparisons.append(
        Comparison("server peak RSS MiB / idle RSS", peak / 1024, idle_rss / 1024, None, False)
    )
    comparisons.append(
        Limit("server peak RSS MiB", peak / 1024, math.nan, PEAK_MIB, False, unit="MiB")
    )
    notes = [
        "p50 ms idle: "
        + ", ".join(f"{names[p]} {idle.p(p, 0.5):.2f}" for p in paths)
        + f"; probe errors idle {idle.errors}, new connections served "
        + f"{idle.fresh_served}/{idle.fresh_tried}"
    ]
    for kind, (measured, reports) in floods.items():
        notes.append(
            f"{kind} flood: p50 ms "
            + ", ".join(f"{names[p]} {measured.p(p, 0.5):.2f}" for p in paths)
            + f"; probe errors {measured.errors}; new connections served "
            + f"{measured.fresh_served}/{measured.fresh_tried}; flooder: {'; '.join(reports)}"
        )
    if not alive:
        notes.append("WARNING: the server died during the floods")
    if seconds != PROBE_SECONDS:
        notes.append(f"SCALED: {SECONDS_ENV}={seconds:g} (default {PROBE_SECONDS:g})")
    return Outcome(comparisons=comparisons, notes=notes)
