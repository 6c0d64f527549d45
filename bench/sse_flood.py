"""A live reader while a flood of hostile readers asks for the whole history: FLOOD SSE
streams on `?since=0` of a conference of NOTES notes, each reading nothing (a small
receive window), then one reader at the head; POSTS notes appended by this process, each
timed from just before the append to its arrival at that reader.

Before the stream's database thread ran broadcasts ahead of catch-ups (and the rendered
messages were shared), 1,000 such readers held a new note back ~49 s from every reader
behind them. Figures: that reader's delivery p50/p99 (target p99 <= 1 s, as for the
fan-out), and serve's RSS growth per flooding stream. No raw baseline (NaN): a bare
Starlette app has no history to catch up on.

LIVEBLOG_BENCH_SSE_FLOOD overrides FLOOD.
"""

from __future__ import annotations

import asyncio
import math
import os
import socket
import tempfile
import time
from pathlib import Path

from liveblog.service.facade import Liveblog

from .flood import memory_kib
from .report import Comparison, Limit, Outcome
from .serving import clean_env, output_tail, serving_address, spawn_serve, stop
from .sse_fanout import wait_ok

FLOOD = 2000
FLOOD_ENV = "LIVEBLOG_BENCH_SSE_FLOOD"
NOTES = 3000
POSTS = 5
DELIVERY_TIMEOUT = 60.0
TARGET_P99_MS = 1000.0
CONFERENCE = "bench-flood"
TEXT = "A note long enough to look like one a reporter types during a busy session. " * 3


async def hostile(port: int, path: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    reader, writer = await asyncio.open_connection(sock=sock)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode())
    await writer.drain()
    return reader, writer


async def live_reader(port: int, path: str, arrivals: dict[str, float]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode())
    await writer.drain()
    seen = b""
    while chunk := await reader.read(65536):
        seen = seen[-200:] + chunk
        for n in range(POSTS):
            marker = f"flood-marker-{n}-".encode()
            if marker in seen and str(n) not in arrivals:
                arrivals[str(n)] = time.monotonic()
    writer.close()


async def measure(
    db: Path, port: int, pid: int, head: int, flood: int
) -> tuple[list[float], float]:
    rss_before = memory_kib(pid, "VmRSS")
    held = await asyncio.gather(
        *(hostile(port, f"/api/conferences/{CONFERENCE}/stream?since=0") for _ in range(flood))
    )
    arrivals: dict[str, float] = {}
    live = asyncio.create_task(
        live_reader(port, f"/api/conferences/{CONFERENCE}/stream?since={head}", arrivals)
    )
    delays: list[float] = []
    with Liveblog(db, "bench") as writer:
        for n in range(POSTS):
            t0 = time.monotonic()
            # On the loop's thread (the store stays in the thread that opened it): the
            # append takes milliseconds, the delivery far longer.
            writer.note(f"flood-marker-{n}- {TEXT}", conference=CONFERENCE)
            deadline = t0 + DELIVERY_TIMEOUT
            while str(n) not in arrivals and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            if str(n) in arrivals:
                delays.append(arrivals[str(n)] - t0)
            await asyncio.sleep(0.5)
    rss_after = memory_kib(pid, "VmRSS")
    live.cancel()
    for _, w in held:
        w.close()
    return delays, (rss_after - rss_before) / flood if flood else math.nan


def run() -> Outcome:
    flood = int(os.environ.get(FLOOD_ENV) or FLOOD)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        db, output = root / "events.db", root / "serve.log"
        with Liveblog(db, "bench") as service:
            service.open_conference(CONFERENCE, title="Flood Benchmark")
            service.open_day(1)
            for n in range(NOTES):
                service.note(f"history {n}: {TEXT}", conference=CONFERENCE)
            head = service.log.head()
        # Every stream comes from 127.0.0.1: the per-client cap is lifted for the bench.
        env = {**clean_env(), "LIVEBLOG_MAX_STREAMS_PER_CLIENT": str(flood + 10)}
        process = spawn_serve(str(db), root / "feeds", output, root, ("--no-feeds",), env)
        try:
            base = serving_address(output, process, 60)
            if base is None:
                raise RuntimeError(f"`liveblog serve` did not start: {output_tail(output)}")
            wait_ok(f"{base}/", 120, {"accept": "application/json"})
            port = int(base.rsplit(":", 1)[1])
            delays, kib = asyncio.run(measure(db, port, process.pid, head, flood))
        finally:
            stop(process)
    found = sorted(delays)

    def p(quantile: float) -> float:
        if not found:
            return math.nan
        return found[min(len(found) - 1, int(quantile * len(found)))] * 1000

    outcome = Outcome()
    outcome.comparisons += [
        Limit(
            f"live delivery p50 ms, {flood} flooding streams", p(0.5), math.nan, None, False, "ms"
        ),
        Limit(
            f"live delivery p99 ms, {flood} flooding streams",
            p(0.99),
            math.nan,
            TARGET_P99_MS,
            False,
            "ms",
        ),
        Comparison("memory KiB per flooding stream", kib, math.nan, None, False),
    ]
    outcome.notes.append(
        f"{len(delays)}/{POSTS} posts reached the live reader; {flood} streams on since=0 "
        f"of {NOTES} notes, none reading"
    )
    return outcome
