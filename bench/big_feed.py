"""/healthz while big feed files are fetched: `liveblog serve`, loaded against idle.

Set-up (untimed): an events.db with one conference, published in this process, and a
~6.6 MB `feeds/big/reflections.atom` written beside it (a folder no conference owns, so
the scheduler never rewrites it); then a real `liveblog serve` subprocess (scheduler
running) on a port the system picks. One untimed fetch of the big file, plain and
gzipped, lets the server meet it once.

The probe is this process: one keep-alive connection sending GET /healthz back to back
(a minimal HTTP/1.1 client on asyncio streams) for SECONDS, every latency recorded.
It runs in three phases: idle, then while LOADERS clients fetch the big file in a loop
without gzip, then with `Accept-Encoding: gzip`; ROUNDS rounds repeat the three in turn
and each phase's latencies are pooled. The loaders run in a process of their
own (python -c LOADER: asyncio streams, one keep-alive connection each, every body read
in full and its length checked), so reading 6.6 MB bodies does not slow this process's
loop and pass for server latency. The figure is each loaded p99 over the idle p99
(target <= 2): a server doing per-request work proportional to the file on its event
loop makes every /healthz wait behind it. LIVEBLOG_BENCH_BIG_SECONDS overrides the
total duration of each phase.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from liveblog.feeds import PublishOptions
from liveblog.service import Liveblog

from .report import Comparison, Outcome, number
from .serving import Serve, clean_env, stop

SIZE = 6_600_000
LOADERS = 4
SECONDS = 9.0  # per phase, split over ROUNDS
ROUNDS = 3
SECONDS_ENV = "LIVEBLOG_BENCH_BIG_SECONDS"
TARGET = 2.0
CONFERENCE = "bench-big"
BIG_PATH = "/feeds/big/reflections.atom"

LOADER = """\
import asyncio, sys, time
port, path, encoding, clients, seconds = (
    int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5])
)
request = (
    f"GET {path} HTTP/1.1\\r\\nHost: 127.0.0.1:{port}\\r\\nAccept-Encoding: {encoding}\\r\\n\\r\\n"
).encode()
done, wrong = 0, 0
async def client(deadline):
    global done, wrong
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    while time.perf_counter() < deadline:
        writer.write(request)
        head = await reader.readuntil(b"\\r\\n\\r\\n")
        length = 0
        for line in head.split(b"\\r\\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        body = await reader.readexactly(length)
        done += 1
        wrong += head[9:12] != b"200" or not body
    writer.close()
async def main():
    deadline = time.perf_counter() + seconds
    await asyncio.gather(*(client(deadline) for _ in range(clients)))
asyncio.run(main())
print(done, wrong, flush=True)
"""


def big_document(size: int = SIZE) -> bytes:
    """An Atom document of about `size` bytes, varied enough that gzip has work to do."""
    parts = [
        b'<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">\n'
    ]
    total = len(parts[0])
    count = 0
    while total < size:
        entry = (
            f"<entry><id>tag:example.org,2026:day-{count}</id><title>Day {count % 9} "
            f'reflections {count * 7919 % 104729}</title><content type="html">The '
            f"speaker {count * 31 % 997} explained how room {count % 17} handled "
            f"{count * 13} questions about consensus and latency.</content></entry>\n"
        ).encode()
        parts.append(entry)
        total += len(entry)
        count += 1
    parts.append(b"</feed>\n")
    return b"".join(parts)


def prepare(db: Path, feeds: Path) -> Path:
    with Liveblog(db, "bench") as service:
        service.open_conference(CONFERENCE, title="Big Feed Benchmark")
        service.open_day(1)
        service.note("The one note of the day")
        service.publish(PublishOptions(feeds_dir=feeds))
    big = feeds / "big" / "reflections.atom"
    big.parent.mkdir(parents=True)
    big.write_bytes(big_document())
    return big


async def probe_healthz(port: int, seconds: float) -> list[float]:
    """Latencies (s) of back-to-back GET /healthz on one keep-alive connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    request = f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds
    try:
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - start)
            if head[9:12] != b"200":
                raise RuntimeError(f"/healthz answered {head[:12]!r}")
    finally:
        writer.close()
    return latencies


def p99_ms(latencies: list[float]) -> float:
    if len(latencies) < 100:
        return max(latencies, default=float("nan")) * 1000
    return statistics.quantiles(latencies, n=100)[98] * 1000


def loaded(port: int, encoding: str, seconds: float) -> tuple[list[float], int, int]:
    """The probe's latencies while LOADERS clients fetch the big file; (fetches, wrong)."""
    loader = subprocess.Popen(
        [sys.executable, "-c", LOADER, str(port), BIG_PATH, encoding, str(LOADERS), str(seconds)],
        stdout=subprocess.PIPE,
        env=clean_env(),
    )
    try:
        latencies = asyncio.run(probe_healthz(port, seconds))
        out, _ = loader.communicate(timeout=seconds + 120)
    finally:
        if loader.poll() is None:
            stop(loader)
    fields = out.split()
    if len(fields) != 2:
        raise RuntimeError(f"the loader exited {loader.returncode} without its counts")
    return latencies, int(fields[0]), int(fields[1])


def run() -> Outcome:
    value = os.environ.get(SECONDS_ENV, "").strip()
    seconds = float(value) if value else SECONDS
    notes: list[str] = []
    server: Serve | None = None
    try:
        with tempfile.TemporaryDirectory(prefix="liveblog-bench-") as tmp:
            root = Path(tmp)
            big = prepare(root / "events.db", root / "feeds")
            server = Serve(root / "events.db", root / "feeds", root / "serve.log")
            port = int(server.base.rsplit(":", 1)[1])
            with httpx.Client(base_url=server.base, timeout=120, trust_env=False) as client:
                for encoding in ("identity", "gzip"):
                    response = client.get(BIG_PATH, headers={"accept-encoding": encoding})
                    if response.status_code != 200 or response.content != big.read_bytes():
                        raise RuntimeError(f"the big file was not served ({encoding})")
            # Rounds interleave the phases, so that the machine's other load (it is shared)
            # falls on all three alike rather than on whichever ran at a busy moment.
            idle: list[float] = []
            phases: dict[str, tuple[list[float], int, int]] = {
                enc: ([], 0, 0) for enc in ("identity", "gzip")
            }
            for _ in range(ROUNDS):
                idle += asyncio.run(probe_healthz(port, seconds / ROUNDS))
                for encoding, (latencies, fetches, wrong) in phases.items():
                    more, done, bad = loaded(port, encoding, seconds / ROUNDS)
                    phases[encoding] = (latencies + more, fetches + done, wrong + bad)
            if server.process.poll() is not None:
                notes.append(f"WARNING: liveblog serve exited early: {server.tail()}")
            size = big.stat().st_size
    finally:
        if server is not None:
            server.close()
    comparisons: list[Comparison] = []
    idle_p99 = p99_ms(idle)
    for encoding, (latencies, fetches, wrong) in phases.items():
        comparisons.append(
            Comparison(
                f"/healthz p99 ms, {LOADERS} clients fetching {size / 1e6:.1f} MB "
                f"({encoding}) vs idle",
                p99_ms(latencies),
                idle_p99,
                TARGET,
                higher_is_better=False,
            )
        )
        notes.append(
            f"{encoding}: {fetches} fetches of the big file in {seconds:g} s "
            f"({number(fetches / seconds)}/s), {len(latencies)} /healthz probes, "
            f"median {number(statistics.median(latencies) * 1000)} ms"
            + (f"; WARNING: {wrong} wrong answers" if wrong else "")
        )
    notes.insert(
        0,
        f"idle: {len(idle)} /healthz probes, median "
        f"{number(statistics.median(idle) * 1000)} ms, p99 {number(idle_p99)} ms; "
        f"{os.cpu_count()} CPU(s) shared by the server, the loaders and the probe",
    )
    if seconds != SECONDS:
        notes.append(f"SCALED: {SECONDS_ENV}={seconds:g} (default {SECONDS:g})")
    return Outcome(comparisons=comparisons, notes=notes)
