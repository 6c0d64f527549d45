"""Webhook deliveries/s to 100 local receivers: `Deliverer.run_once()` against raw httpx.

The receivers (bench/receivers.py) are 100 HTTP/1.1 servers on 127.0.0.1, one port
each, in their own process so that they do not share the event loop being measured;
they answer every POST with 200 at once and count what arrived.

Set-up (untimed): an events.db with a conference, day 1 open and notes, EVENTS events
in all (LIVEBLOG_BENCH_WEBHOOK_EVENTS overrides it), its projections caught up, and 100
subscriptions (`allow_private=True`, `since=0`), one per receiver, so every subscriber
is owed every event. Each liveblog round opens a fresh copy of that database in a
`Deliverer` with the default `DeliveryOptions` and times `run_once()`: queueing (the
projections are already caught up), payloads, signing, sending, recording. Afterwards
every delivery must be `delivered`.

The raw side posts the same payload bytes (built from the log before the clock starts)
with one `httpx.AsyncClient` with the deliverer's pool limits and timeout: 100 tasks,
one per receiver, each posting its messages in log order, with Standard Webhooks
headers signed (HMAC-SHA256) per request, at most `concurrency` requests in flight
(an `asyncio.Semaphore`), as the deliverer does. Rounds alternate which side goes first.

After every round the receivers must have counted EVENTS requests per port; their
digest of message ids and bodies in arrival order must be the same for both sides
(same messages, same bytes, same per-subscriber order).

With the deliverer's default pool (2 x concurrency = 64 connections) shared by 100
receivers, almost every POST opens a new connection and httpcore's pool bookkeeping
dominates both sides, hiding liveblog's own cost. A second figure, with no target,
shows that cost: the same two loops with the network replaced by an in-process
transport answering 200 (`Deliverer(transport=...)`; the raw client gets the same one).
"""

from __future__ import annotations

import asyncio
import base64
import gc
import hashlib
import hmac
import importlib.util
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from liveblog.service.facade import Liveblog
from liveblog.store import EventLog
from liveblog.webhooks import Deliverer, DeliveryOptions
from liveblog.webhooks.payloads import encode
from liveblog.webhooks.secretkey import key_path
from liveblog.webhooks.signing import secret_key

from . import raw
from .report import Comparison, Outcome, number

RECEIVERS = 100
DEFAULT_EVENTS = 25
"""Events in the log, each owed to every receiver: 2,500 deliveries a round (about 10 s
a round at the ~250 deliveries/s a shared 64-connection pool reaches here)."""
EVENTS_ENV = "LIVEBLOG_BENCH_WEBHOOK_EVENTS"
ROUNDS = 2
"""Timed rounds per side, alternating which side goes first."""
TARGET = 0.7
CONFERENCE = "bench-webhooks"
AUTHOR = "ann"
RECEIVERS_SCRIPT = Path(__file__).with_name("receivers.py")
TEXT = (
    "The speaker walks through how the newsroom moved its live coverage onto shared "
    "services, and what broke on the first election night."
)

Message = tuple[str, bytes]
"""A message id and the exact bytes POSTed."""


@dataclass(frozen=True)
class Target:
    url: str
    key: bytes


@dataclass
class Side:
    seconds: list[float] = field(default_factory=list)
    connections: list[int] = field(default_factory=list)
    digests: list[dict[str, str]] = field(default_factory=list)

    def rate(self, per_round: int) -> float:
        if not self.seconds:
            return math.nan
        return per_round * len(self.seconds) / sum(self.seconds)


def events_wanted() -> int:
    value = os.environ.get(EVENTS_ENV, "").replace("_", "").replace(",", "")
    if not value:
        return DEFAULT_EVENTS
    n = int(value)
    if n < 10:
        raise ValueError(f"{EVENTS_ENV} must be at least 10, not {n}")
    return n


class Receivers:
    """The receiver process: its ports, and its per-port counts over stdin/stdout."""

    def __init__(self, count: int) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(RECEIVERS_SCRIPT), str(count)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.ports: list[int] = self._answer()["ports"]

    def _answer(self) -> Any:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the receivers exited (status {self.process.wait()})")
        return json.loads(line)

    def command(self, line: str) -> Any:
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()
        return self._answer()

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def make_log(path: Path, events: int, ports: list[int]) -> list[Target]:
    """The events.db every liveblog round copies; the receivers as subscribed."""
    targets = []
    with Liveblog(path, AUTHOR) as service:
        service.open_conference(CONFERENCE, title="Benchmark Conference")
        service.open_day(1)
        for i in range(events - 2):
            service.note(f"Note {i}: {TEXT}")
        service.catch_up()
        for port in ports:
            url = f"http://127.0.0.1:{port}/hooks/liveblog"
            subscription = service.add_webhook(url, allow_private=True, since=0)
            targets.append(Target(url, secret_key(subscription.secret)))
    return targets


def messages(path: Path) -> list[Message]:
    """Every event's message id and body, as the deliverer sends them."""
    log = EventLog(path)
    try:
        out = []
        for event in log.read():
            exported = event.to_export()
            body = {"type": exported["type"], "timestamp": exported["recorded_at"]}
            out.append(("msg_" + event.id, encode({**body, "data": exported})))
        return out
    finally:
        log.close()


def delivery_states(path: Path) -> dict[str, int]:
    conn = raw.connect(path)
    try:
        rows = conn.execute(
            "SELECT status, count(*) FROM webhook_deliveries GROUP BY status"
        ).fetchall()
        return {str(status): int(n) for status, n in rows}
    finally:
        conn.close()


class Answer200(httpx.AsyncBaseTransport):
    """The in-process "network": reads the request, answers 200 with an empty body."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        return httpx.Response(200, stream=httpx.ByteStream(b""))


async def liveblog_round(
    path: Path, options: DeliveryOptions, transport: httpx.AsyncBaseTransport | None = None
) -> tuple[float, int]:
    async with Deliverer(str(path), options, transport=transport) as deliverer:
        start = time.perf_counter()
        tally = await deliverer.run_once()
        elapsed = time.perf_counter() - start
    return elapsed, tally.delivered


def signature(key: bytes, message_id: str, timestamp: int, body: bytes) -> str:
    content = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()


_VERIFY = httpx.create_ssl_context()  # loaded once: ~25 ms a client otherwise


def raw_client(
    options: DeliveryOptions, transport: httpx.AsyncBaseTransport | None, pool: int
) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=transport,
        verify=_VERIFY,
        limits=httpx.Limits(max_connections=pool, max_keepalive_connections=pool),
        follow_redirects=False,
        timeout=httpx.Timeout(options.timeout),
        trust_env=False,
    )


async def raw_round(
    targets: list[Target],
    payloads: list[Message],
    options: DeliveryOptions,
    transport: httpx.AsyncBaseTransport | None = None,
    per_receiver: bool = False,
) -> tuple[float, int]:
    """The issue's raw loop: one shared client. `per_receiver`: a client per receiver
    instead (what liveblog's transport does inside its one client), for comparison."""
    async with raw_client(options, transport, options.concurrency * 2) as shared:
        slots = asyncio.Semaphore(options.concurrency)

        async def subscriber(target: Target) -> int:
            if per_receiver:
                async with raw_client(options, transport, 4) as own:
                    return await post_all(own, target)
            return await post_all(shared, target)

        async def post_all(client: httpx.AsyncClient, target: Target) -> int:
            sent = 0
            for message_id, body in payloads:
                async with slots:
                    timestamp = int(time.time())
                    headers = {
                        "content-type": "application/json",
                        "user-agent": "bench-raw/1",
                        "webhook-id": message_id,
                        "webhook-timestamp": str(timestamp),
                        "webhook-signature": signature(target.key, message_id, timestamp, body),
                    }
                    response = await client.post(target.url, content=body, headers=headers)
                if response.status_code != 200:
                    raise RuntimeError(f"{target.url} answered {response.status_code}")
                sent += 1
            return sent

        start = time.perf_counter()
        sent = await asyncio.gather(*(subscriber(t) for t in targets))
        elapsed = time.perf_counter() - start
    return elapsed, sum(sent)


def run() -> Outcome:
    events = events_wanted()
    options = DeliveryOptions()
    per_round = events * RECEIVERS
    network = {"liveblog": Side(), "raw": Side(), "raw per receiver": Side()}
    local = {"liveblog": Side(), "raw": Side()}
    problems: list[str] = []

    receivers = Receivers(RECEIVERS)
    try:
        with tempfile.TemporaryDirectory(prefix="liveblog-bench-") as tmp:
            folder = Path(tmp)
            template = folder / "template.db"
            started = time.perf_counter()
            targets = make_log(template, events, receivers.ports)
            payloads = messages(template)
            set_up = time.perf_counter() - started
            if len(payloads) != events:
                problems.append(f"the log holds {len(payloads)} events, not {events}")

            def one_round(
                side: str, name: str, transport: httpx.AsyncBaseTransport | None
            ) -> float:
                gc.collect()
                if side == "liveblog":
                    path = folder / f"{name}.db"
                    shutil.copyfile(template, path)
                    # The secrets are encrypted under the key beside the database.
                    shutil.copy2(key_path(template), key_path(path))
                    elapsed, sent = asyncio.run(liveblog_round(path, options, transport))
                    states = delivery_states(path)
                    if states != {"delivered": per_round}:
                        problems.append(f"liveblog {name}: deliveries {states}")
                else:
                    elapsed, sent = asyncio.run(
                        raw_round(targets, payloads, options, transport, side == "raw per receiver")
                    )
                if sent != per_round:
                    problems.append(f"{side} {name}: {sent} sent, not {per_round}")
                print(
                    f"  {name} {side}: {number(per_round / elapsed)} deliveries/s "
                    f"({elapsed:.2f} s)",
                    flush=True,
                )
                return elapsed

            sides = ("liveblog", "raw", "raw per receiver")
            for k in range(ROUNDS):
                for side in sides if k % 2 == 0 else sides[::-1]:
                    receivers.command("reset")
                    elapsed = one_round(side, f"round {k}", None)
                    stats = receivers.command("stats")
                    short = {p: s["requests"] for p, s in stats.items() if s["requests"] != events}
                    if short:
                        problems.append(
                            f"{side} round {k}: {len(short)} receiver(s) did not get "
                            f"{events} requests, e.g. {next(iter(short.items()))}"
                        )
                    state = network[side]
                    state.seconds.append(elapsed)
                    state.connections.append(sum(s["connections"] for s in stats.values()))
                    state.digests.append({p: s["digest"] for p, s in stats.items()})

            for k in range(ROUNDS):
                for side in ("liveblog", "raw") if k % 2 == 0 else ("raw", "liveblog"):
                    local[side].seconds.append(one_round(side, f"in-process {k}", Answer200()))
    finally:
        receivers.close()

    reference = network["raw"].digests[0] if network["raw"].digests else {}
    for side, state in network.items():
        for k, digests in enumerate(state.digests):
            if digests != reference:
                problems.append(f"{side} round {k}: bodies or order differ from raw round 0")

    lb_rate, raw_rate, own_rate = (
        network[side].rate(per_round) for side in ("liveblog", "raw", "raw per receiver")
    )
    lb_local, raw_local = (local[side].rate(per_round) for side in ("liveblog", "raw"))
    notes = [
        f"{events} events x {RECEIVERS} receivers = {per_round:,} deliveries per round, "
        f"{ROUNDS} rounds per side, alternating; set-up {set_up:.1f} s "
        f"({EVENTS_ENV} sets the events)",
        f"concurrency {options.concurrency} (the DeliveryOptions default) and a pool of "
        f"{options.concurrency * 2} connections on both sides",
        f"per delivery: liveblog {1e6 / lb_rate:.0f} us, raw {1e6 / raw_rate:.0f} us "
        f"(liveblog's own cost ~{1e6 / lb_rate - 1e6 / raw_rate:.0f} us)",
        "connections the receivers accepted per round: "
        + "; ".join(
            f"{side} {', '.join(f'{c:,}' for c in state.connections)}"
            for side, state in network.items()
        )
        + f" (one pool shared by {RECEIVERS} receivers reconnects for almost every POST; "
        "liveblog's transport keeps a small pool per receiver, as 'raw per receiver' does)",
        f"in-process transport (no network, no target): per delivery liveblog "
        f"{1e6 / lb_local:.0f} us, raw {1e6 / raw_local:.0f} us",
    ]
    if not problems:
        notes.append(
            "receivers (separate process): every port counted every message, with the "
            "same bytes in the same order on both sides; every delivery recorded delivered"
        )
    if importlib.util.find_spec("sniffio") is None:
        notes.append(
            "sniffio is not installed: httpcore 1.0.9 tries `import sniffio` several times "
            "per request, each a failed search of sys.path (both sides pay it)"
        )
    if events != DEFAULT_EVENTS:
        notes.append(f"SCALED: {EVENTS_ENV}={events} (default {DEFAULT_EVENTS})")
    notes += [f"WARNING: {problem}" for problem in problems[:5]]
    if len(problems) > 5:
        notes.append(f"WARNING: … and {len(problems) - 5} more")
    return Outcome(
        comparisons=[
            Comparison("deliveries/s", lb_rate, raw_rate, TARGET, higher_is_better=True),
            Comparison(
                "deliveries/s vs a client per receiver",
                lb_rate,
                own_rate,
                None,
                higher_is_better=True,
            ),
            Comparison("deliveries/s in-process", lb_local, raw_local, None, higher_is_better=True),
        ],
        notes=notes,
    )
