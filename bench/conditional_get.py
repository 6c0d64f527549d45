"""Conditional GETs/s of a feed: `liveblog serve` against a bare uvicorn app, same run.

Set-up (untimed): an events.db with a conference, day and session open and ENTRIES
notes, published in this process (live.atom holds the newest page of them); then a real
`liveblog serve` subprocess (scheduler running, as in production) and a bare uvicorn
subprocess (python -c BARE_APP: one ASGI callable answering every request with status
200 and the bytes of that same live.atom, read once at start), each on a port the
system picks, with the same uvicorn settings `liveblog serve` uses (asyncio loop, h11,
access log off, lifespan off).

The load generator is this process, with two clients, each run against both servers
with exactly the same settings and request loop: CONCURRENCY keep-alive connections
and as many tasks, each GETting /feeds/<conf>/live.atom in a loop for SECONDS (after
WARMUP_SECONDS untimed). "httpx" is one `httpx.AsyncClient` with a pool of CONCURRENCY
connections; "lean" is a minimal HTTP/1.1 client on asyncio streams (one request in
flight per connection, status line and Content-Length parsed by hand) sending the same
request headers httpx sends, so that it is the server, not the client, that runs out
of CPU first. liveblog is sent `If-None-Match: <its ETag>` and must answer 304 every
time (what a polling feed reader gets while nothing changed); the bare app gets plain
GETs and must answer 200 with the whole document. Any other status, or a body of the
wrong length, is counted and reported: the figure is only honest if every answer was
the expected one. Rounds alternate which server goes first; requests/s are totals over
all rounds.

The machine has few cores: client and server compete for them. httpx is pure Python and
costs more CPU per request than either server (more still with many connections in
one pool), so with it the client is the bottleneck for both sides, which pulls the
ratio towards 1; the lean client's figure is the one that follows the servers. The
notes also give each server's own CPU time per request (from /proc), what the server
costs independent of any client. LIVEBLOG_BENCH_CGET_SECONDS and
LIVEBLOG_BENCH_CGET_CONCURRENCY override the duration and the connections.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from liveblog.feeds import PublishOptions
from liveblog.service.facade import Liveblog

from .report import Comparison, Outcome, number
from .serving import Serve, clean_env, cpu_seconds, stop

ENTRIES = 300
SECONDS = 3.0
SECONDS_ENV = "LIVEBLOG_BENCH_CGET_SECONDS"
CONCURRENCY = 16
CONCURRENCY_ENV = "LIVEBLOG_BENCH_CGET_CONCURRENCY"
WARMUP_SECONDS = 0.5
ROUNDS = 3
TARGET = 0.5
CLIENTS = ("httpx", "lean")
CONFERENCE = "bench-cget"
AUTHOR = "bench"
TEXT = (
    "The speaker walks through how the newsroom moved its live coverage onto shared "
    "services, and what broke on the first election night."
)

BARE_APP = """\
import asyncio, sys
import uvicorn
body = open(sys.argv[1], "rb").read()
headers = [
    (b"content-type", b"application/atom+xml; charset=utf-8"),
    (b"content-length", str(len(body)).encode()),
]
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})
server = uvicorn.Server(uvicorn.Config(
    app, host="127.0.0.1", port=0, log_level="warning", access_log=False, lifespan="off"
))
async def main():
    serving = asyncio.create_task(server.serve())
    while not server.started and not serving.done():
        await asyncio.sleep(0.01)
    if server.started:
        print(server.servers[0].sockets[0].getsockname()[1], flush=True)
    await serving
asyncio.run(main())
"""


@dataclass
class Tally:
    """What one client measured against one server, over all rounds."""

    requests: int = 0
    seconds: float = 0.0
    server_cpu: float = 0.0
    client_cpu: float = 0.0
    statuses: Counter[int] = field(default_factory=Counter)
    wrong_length: int = 0
    rates: list[float] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else float("nan")


@dataclass
class Side:
    """One server: how to ask it, what it must answer, and the tallies per client."""

    port: int
    headers: dict[str, str]
    expected_status: int
    expected_length: int
    pid: int
    tallies: dict[str, Tally] = field(default_factory=lambda: {c: Tally() for c in CLIENTS})


@dataclass
class Load:
    """One timed burst: responses, statuses, bodies of the wrong length."""

    statuses: Counter[int] = field(default_factory=Counter)
    wrong_length: int = 0

    def count(self, status: int, length: int, expected: int) -> None:
        self.statuses[status] += 1
        if length != expected:
            self.wrong_length += 1


def setting(name: str, default: float) -> float:
    value = os.environ.get(name, "").strip()
    return float(value) if value else default


def prepare(db: Path, feeds: Path) -> None:
    with Liveblog(db, AUTHOR) as service:
        service.open_conference(CONFERENCE, title="Conditional GET Benchmark")
        service.open_day(1)
        service.start_session("Opening plenary", room="Main hall")
        for i in range(ENTRIES):
            service.note(f"Note {i}: {TEXT}")
        service.publish(PublishOptions(feeds_dir=feeds))


def httpx_client(concurrency: int) -> httpx.AsyncClient:
    """The one httpx configuration both sides get."""
    return httpx.AsyncClient(
        limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
        timeout=httpx.Timeout(30.0),
        trust_env=False,
    )


async def httpx_load(
    http: httpx.AsyncClient, url: str, side: Side, seconds: float, concurrency: int
) -> Load:
    load = Load()
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        while time.perf_counter() < deadline:
            response = await http.get(url, headers=side.headers)
            load.count(response.status_code, len(response.content), side.expected_length)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return load


def lean_request(path: str, port: int, headers: dict[str, str]) -> bytes:
    """The request bytes: httpx's default headers, then the side's own."""
    with httpx.Client(trust_env=False) as defaults:
        fields = {"host": f"127.0.0.1:{port}", **defaults.headers, **headers}
    lines = [f"GET {path} HTTP/1.1", *(f"{k}: {v}" for k, v in fields.items()), "", ""]
    return "\r\n".join(lines).encode("latin-1")


async def lean_load(request: bytes, side: Side, seconds: float, concurrency: int) -> Load:
    load = Load()
    streams = [await asyncio.open_connection("127.0.0.1", side.port) for _ in range(concurrency)]
    deadline = time.perf_counter() + seconds

    async def worker(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while time.perf_counter() < deadline:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            if length:
                await reader.readexactly(length)
            load.count(int(head[9:12]), length, side.expected_length)

    try:
        await asyncio.gather(*(worker(r, w) for r, w in streams))
    finally:
        for _, writer in streams:
            writer.close()
    return load


async def one_round(
    client: str, side: Side, path: str, request: bytes, seconds: float, concurrency: int
) -> None:
    url = f"http://127.0.0.1:{side.port}{path}"
    tally = side.tallies[client]
    async with httpx_client(concurrency) as http:

        async def burst(length: float) -> Load:
            if client == "httpx":
                return await httpx_load(http, url, side, length, concurrency)
            return await lean_load(request, side, length, concurrency)

        await burst(WARMUP_SECONDS)
        server_before, client_before = cpu_seconds(side.pid), time.process_time()
        start = time.perf_counter()
        load = await burst(seconds)
        elapsed = time.perf_counter() - start
        tally.server_cpu += cpu_seconds(side.pid) - server_before
        tally.client_cpu += time.process_time() - client_before
    n = sum(load.statuses.values())
    tally.requests += n
    tally.seconds += elapsed
    tally.statuses.update(load.statuses)
    tally.wrong_length += load.wrong_length
    tally.rates.append(n / elapsed)


def start_bare(document: Path) -> tuple[subprocess.Popen[bytes], int]:
    process = subprocess.Popen(
        [sys.executable, "-c", BARE_APP, str(document)], stdout=subprocess.PIPE, env=clean_env()
    )
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    if not line.isdigit():
        stop(process)
        raise RuntimeError(f"the bare uvicorn app did not start (status {process.poll()})")
    return process, int(line)


def run() -> Outcome:
    seconds = setting(SECONDS_ENV, SECONDS)
    concurrency = int(setting(CONCURRENCY_ENV, CONCURRENCY))
    problems: list[str] = []
    path = f"/feeds/{CONFERENCE}/live.atom"
    server: Serve | None = None
    bare: subprocess.Popen[bytes] | None = None
    try:
        with tempfile.TemporaryDirectory(prefix="liveblog-bench-") as tmp:
            root = Path(tmp)
            db, feeds = root / "events.db", root / "feeds"
            prepare(db, feeds)
            server = Serve(db, feeds, root / "serve.log")
            # Let the scheduler's first tick (catch-up, a publish that changes nothing) pass.
            time.sleep(0.5)
            document = feeds / CONFERENCE / "live.atom"
            body = document.read_bytes()
            bare, bare_port = start_bare(document)
            lb_port = int(server.base.rsplit(":", 1)[1])

            # The same default headers (accept-encoding: gzip, …) as the load's clients.
            with httpx.Client(trust_env=False) as probe:
                first = probe.get(f"http://127.0.0.1:{lb_port}{path}")
                same = probe.get(f"http://127.0.0.1:{bare_port}{path}")
            etag = first.headers.get("etag", "")
            if first.status_code != 200 or not etag:
                raise RuntimeError(f"liveblog answered {first.status_code}, etag {etag!r}")
            if same.content != body:
                raise RuntimeError("the bare app does not serve live.atom's bytes")
            sides = {
                "liveblog": Side(lb_port, {"if-none-match": etag}, 304, 0, server.process.pid),
                "bare": Side(bare_port, {}, 200, len(body), bare.pid),
            }
            requests = {
                name: lean_request(path, side.port, side.headers) for name, side in sides.items()
            }
            for k in range(ROUNDS):
                order = ("liveblog", "bare") if k % 2 == 0 else ("bare", "liveblog")
                for client in CLIENTS:
                    for name in order:
                        side = sides[name]
                        asyncio.run(
                            one_round(client, side, path, requests[name], seconds, concurrency)
                        )
                print(
                    f"  round {k + 1}/{ROUNDS}: "
                    + "; ".join(
                        f"{client} "
                        + ", ".join(
                            f"{n} {number(s.tallies[client].rates[-1])}/s" for n, s in sides.items()
                        )
                        for client in CLIENTS
                    ),
                    flush=True,
                )
            if server.process.poll() is not None:
                problems.append(f"liveblog serve exited early: {server.tail()}")
            changed = document.read_bytes() != body
    finally:
        if bare is not None:
            stop(bare, signal.SIGTERM)
        if server is not None:
            server.close()

    for name, side in sides.items():
        for client, tally in side.tallies.items():
            wrong = {s: n for s, n in tally.statuses.items() if s != side.expected_status}
            if wrong:
                problems.append(
                    f"{name} ({client}): expected only {side.expected_status}, got {wrong}"
                )
            if tally.wrong_length:
                problems.append(
                    f"{name} ({client}): {tally.wrong_length} bodies not "
                    f"{side.expected_length} bytes"
                )
    if changed:
        problems.append("live.atom changed during the run")
    lb, bare_side = sides["liveblog"], sides["bare"]
    notes = [
        f"{ROUNDS} alternating rounds of {seconds:g} s (+{WARMUP_SECONDS:g} s warm-up) per "
        f"side and client; {concurrency} keep-alive connections and tasks",
        "responses: liveblog "
        + ", ".join(f"{c} {dict(t.statuses)}" for c, t in lb.tallies.items())
        + f" to If-None-Match {etag}; bare "
        + ", ".join(f"{c} {dict(t.statuses)}" for c, t in bare_side.tallies.items())
        + f", {len(body):,} bytes each (live.atom of a {ENTRIES}-note day)",
        "per round (req/s): "
        + "; ".join(
            f"{c} {n} {', '.join(number(r) for r in s.tallies[c].rates)}"
            for c in CLIENTS
            for n, s in sides.items()
        ),
        "server CPU per request: "
        + "; ".join(
            f"{c} "
            + ", ".join(
                f"{n} {number(s.tallies[c].server_cpu / s.tallies[c].requests * 1e6)} us"
                for n, s in sides.items()
            )
            for c in CLIENTS
        ),
        "client (this process) CPU per request: "
        + "; ".join(
            f"{c} "
            + ", ".join(
                f"{n} {number(s.tallies[c].client_cpu / s.tallies[c].requests * 1e6)} us"
                for n, s in sides.items()
            )
            for c in CLIENTS
        ),
        f"{os.cpu_count()} CPU(s): the load generator competes with the server for them; "
        "uvicorn on asyncio + h11 (no uvloop / httptools installed) on both sides",
    ]
    if seconds != SECONDS or concurrency != CONCURRENCY:
        notes.append(
            f"SCALED: {SECONDS_ENV}={seconds:g}, {CONCURRENCY_ENV}={concurrency} "
            f"(defaults {SECONDS:g}, {CONCURRENCY})"
        )
    notes += [f"WARNING: {problem}" for problem in problems]
    return Outcome(
        comparisons=[
            Comparison(
                f"conditional GETs/s ({client})",
                lb.tallies[client].rate,
                bare_side.tallies[client].rate,
                TARGET,
                higher_is_better=True,
            )
            for client in CLIENTS
        ],
        notes=notes,
    )
