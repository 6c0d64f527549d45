"""/healthz while big feed files are fetched: `liveblog serve`, loaded against idle.

Set-up (untimed): an events.db with one conference, published in this process, and a
~6.6 MB `feeds/big/reflections.atom` written beside it (a folder no conference owns, so
the scheduler never rewrites it); then a real `liveblog serve` subprocess (scheduler
running) on a port the system picks. One untimed fetch of the big file, plain and
gzipped, lets the server meet it once.

The probe is this process: one keep-alive connection sending GET /healthz back to back
(a minimal HTTP/1.1 client on asyncio streams), every latency recorded. The phases:
idle, then while LOADERS clients fetch the big file in a loop, without gzip and with
`Accept-Encoding: gzip`, each at full speed and paced at PACED_RATE per client. ROUNDS
rounds repeat the phases in turn (the machine is shared: its other load then falls on
all of them alike) and each phase's latencies are pooled. The loaders run in a process
of their own (python -c LOADER: a thread and a keep-alive connection per client,
niced, each body read with recv_into), so reading the bodies neither slows this
process's loop nor costs much more CPU than the kernel's copy. At full speed they fetch
as fast as the server can send, far faster than any feed reader on a network, and keep
the server's CPU busy with sending alone; paced, they read as a fast client on a real
network would. The figure is each loaded p99 over the idle p99 (target <= 2): a server
doing per-request work proportional to the file on its event loop makes every /healthz
wait behind it. LIVEBLOG_BENCH_BIG_SECONDS overrides each phase's total duration.
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
from liveblog.service.facade import Liveblog

from .report import Comparison, Outcome, number
from .serving import Serve, clean_env, stop

SIZE = 6_600_000
LOADERS = 4
SECONDS = 6.0  # per phase, split over ROUNDS
ROUNDS = 3
PACED_RATE = 8e6  # bytes/s per paced client: a fast reader on a real network
SECONDS_ENV = "LIVEBLOG_BENCH_BIG_SECONDS"
TARGET = 2.0
CONFERENCE = "bench-big"
BIG_PATH = "/feeds/big/reflections.atom"

LOADER = """\
import os, socket, sys, threading, time
os.nice(10)  # the load generator yields the CPU to the server it loads (and to the probe)
port, path, encoding, clients, seconds, rate = (
    int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5]),
    float(sys.argv[6]),
)
request = (
    f"GET {path} HTTP/1.1\\r\\nHost: 127.0.0.1:{port}\\r\\nAccept-Encoding: {encoding}\\r\\n\\r\\n"
).encode()
counts = []
def client(deadline):
    done = wrong = 0
    buffer = memoryview(bytearray(1 << 20 if not rate else 1 << 16))
    start, total = time.perf_counter(), 0
    with socket.create_connection(("127.0.0.1", port)) as sock:
        while time.perf_counter() < deadline:
            sock.sendall(request)
            head = b""
            while b"\\r\\n\\r\\n" not in head:
                head += sock.recv(4096)
            head, _, rest = head.partition(b"\\r\\n\\r\\n")
            length = 0
            for line in head.split(b"\\r\\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            left = length - len(rest)
            while left > 0:
                got = sock.recv_into(buffer, min(left, len(buffer)))
                if not got:
                    raise SystemExit("connection closed mid-body")
                left -= got
                total += got
                ahead = total / rate - (time.perf_counter() - start) if rate else 0
                if ahead > 0:
                    time.sleep(ahead)  # a reader on a network: RATE bytes/s at most
            done += 1
            wrong += head[9:12] != b"200" or length == 0
    counts.append((done, wrong))
deadline = time.perf_counter() + seconds
threads = [threading.Thread(target=client, args=(deadline,)) for _ in range(clients)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(sum(c[0] for c in counts), sum(c[1] for c in counts), flush=True)
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


def loaded(port: int, encoding: str, rate: float, seconds: float) -> tuple[list[float], int, int]:
    """The probe's latencies while LOADERS clients fetch the big file; (fetches, wrong)."""
    loader = subprocess.Popen(
        [
            sys.executable,
            "-c",
            LOADER,
            str(port),
            BIG_PATH,
            encoding,
            str(LOADERS),
            str(seconds),
            str(rate),
        ],
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


def peak_rss_mib(pid: int) -> float:
    """The most memory process `pid` has held at once (VmHWM), in MiB; NaN if unknown."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return float("nan")


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
            phases: dict[tuple[str, float], tuple[list[float], int, int]] = {
                (encoding, rate): ([], 0, 0)
                for rate in (0.0, PACED_RATE)
                for encoding in ("identity", "gzip")
            }
            for _ in range(ROUNDS):
                idle += asyncio.run(probe_healthz(port, seconds / ROUNDS))
                for (encoding, rate), (latencies, fetches, wrong) in phases.items():
                    more, done, bad = loaded(port, encoding, rate, seconds / ROUNDS)
                    phases[encoding, rate] = (latencies + more, fetches + done, wrong + bad)
            if server.process.poll() is not None:
                notes.append(f"WARNING: liveblog serve exited early: {server.tail()}")
            size = big.stat().st_size
            peak = peak_rss_mib(server.process.pid)
    finally:
        if server is not None:
            server.close()
    comparisons: list[Comparison] = []
    idle_p99 = p99_ms(idle)
    for (encoding, rate), (latencies, fetches, wrong) in phases.items():
        pace = f"{rate / 1e6:g} MB/s each" if rate else "full speed"
        comparisons.append(
            Comparison(
                f"/healthz p99 ms, {LOADERS} clients fetching {size / 1e6:.1f} MB "
                f"({encoding}, {pace}) vs idle",
                p99_ms(latencies),
                idle_p99,
                TARGET,
                higher_is_better=False,
            )
        )
        notes.append(
            f"{encoding}, {pace}: {fetches} fetches of the big file in {seconds:g} s "
            f"({number(fetches / seconds)}/s), {len(latencies)} /healthz probes, "
            f"median {number(statistics.median(latencies) * 1000)} ms"
            + (f"; WARNING: {wrong} wrong answers" if wrong else "")
        )
    notes.insert(
        0,
        f"idle: {len(idle)} /healthz probes, median "
        f"{number(statistics.median(idle) * 1000)} ms, p99 {number(idle_p99)} ms; "
        f"{os.cpu_count()} CPU(s) shared by the server, the loaders and the probe; "
        f"server peak RSS {number(peak)} MiB",
    )
    if seconds != SECONDS:
        notes.append(f"SCALED: {SECONDS_ENV}={seconds:g} (default {SECONDS:g})")
    return Outcome(comparisons=comparisons, notes=notes)
