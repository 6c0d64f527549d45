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
"""

from __future__ import annotations

import asyncio
import base64
import gc
import hashlib
import hmac
import json
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

from liveblog.service import Liveblog
from liveblog.store import EventLog
from liveblog.webhooks import Deliverer, DeliveryOptions
from liveblog.webhooks.payloads import encode

from . import raw
from .report import Comparison, Outcome, number

RECEIVERS = 100
DEFAULT_EVENTS = 250
"""Events in the log, each owed to every receiver: 25,000 deliveries a round."""
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
    port: int


@dataclass
class Side:
    seconds: list[float] = field(default_factory=list)
    connections: list[int] = field(default_factory=list)
    digests: list[dict[str, str]] = field(default_factory=list)

    def rate(self, per_round: int) -> float:
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
            targets.append(Target(url, subscription.key, port))
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


async def liveblog_round(path: Path, options: DeliveryOptions) -> tuple[float, int]:
    async with Deliverer(str(path), options) as deliverer:
        start = time.perf_counter()
        tally = await deliverer.run_once()
        elapsed = time.perf_counter() - start
    return elapsed, tally.delivered


def signature(key: bytes, message_id: str, timestamp: int, body: bytes) -> str:
    content = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()


async def raw_round(
    targets: list[Target], payloads: list[Message], options: DeliveryOptions
) -> tuple[float, int]:
    pool = options.concurrency * 2
    async with httpx.AsyncClient(
        limits=httpx.Limits(max_connections=pool, max_keepalive_connections=pool),
        follow_redirects=False,
        timeout=httpx.Timeout(options.timeout),
        trust_env=False,
    ) as client:
        slots = asyncio.Semaphore(options.concurrency)

        async def subscriber(target: Target) -> int:
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
    sides = {"liveblog": Side(), "raw": Side()}
    problems: list[str] = []

    receivers = Receivers(RECEIVERS)
    try:
        with tempfile.TemporaryDirectory(prefix="liveblog-bench-") as tmp:
            template = Path(tmp) / "template.db"
            started = time.perf_counter()
            targets = make_log(template, events, receivers.ports)
            payloads = messages(template)
            set_up = time.perf_counter() - started
            if len(payloads) != events:
                problems.append(f"the log holds {len(payloads)} events, not {events}")

            for k in range(ROUNDS):
                order = ("liveblog", "raw") if k % 2 == 0 else ("raw", "liveblog")
                for side in order:
                    receivers.command("reset")
                    gc.collect()
                    if side == "liveblog":
                        path = Path(tmp) / f"round{k}.db"
                        shutil.copyfile(template, path)
                        elapsed, sent = asyncio.run(liveblog_round(path, options))
                        states = delivery_states(path)
                        if states != {"delivered": per_round}:
                            problems.append(f"liveblog round {k}: deliveries {states}")
                        path.unlink()
                    else:
                        elapsed, sent = asyncio.run(raw_round(targets, payloads, options))
                    if sent != per_round:
                        problems.append(f"{side} round {k}: {sent} sent, not {per_round}")
                    stats = receivers.command("stats")
                    short = {p: s["requests"] for p, s in stats.items() if s["requests"] != events}
                    if short:
                        problems.append(
                            f"{side} round {k}: {len(short)} receiver(s) did not get "
                            f"{events} requests, e.g. {next(iter(short.items()))}"
                        )
                    state = sides[side]
                    state.seconds.append(elapsed)
                    state.connections.append(sum(s["connections"] for s in stats.values()))
                    state.digests.append({p: s["digest"] for p, s in stats.items()})
                    print(
                        f"  round {k} {side}: {number(per_round / elapsed)} deliveries/s "
                        f"({elapsed:.2f} s)",
                        flush=True,
                    )
    finally:
        receivers.close()

    reference = sides["raw"].digests[0] if sides["raw"].digests else {}
    for side, state in sides.items():
        for k, digests in enumerate(state.digests):
            if digests != reference:
                problems.append(f"{side} round {k}: bodies or order differ from raw round 0")

    lb_rate = sides["liveblog"].rate(per_round)
    raw_rate = sides["raw"].rate(per_round)
    notes = [
        f"{events} events x {RECEIVERS} receivers = {per_round:,} deliveries per round, "
        f"{ROUNDS} rounds per side, alternating; set-up {set_up:.1f} s "
        f"({EVENTS_ENV} sets the events)",
        f"concurrency {options.concurrency} (DeliveryOptions default), pool "
        f"{options.concurrency * 2} connections, both sides",
        f"per delivery: liveblog {1e6 / lb_rate:.0f} us, raw {1e6 / raw_rate:.0f} us "
        f"(liveblog's own cost ~{1e6 / lb_rate - 1e6 / raw_rate:.0f} us)",
        "connections the receivers accepted per round: "
        + "; ".join(
            f"{side} {', '.join(f'{c:,}' for c in state.connections)}"
            for side, state in sides.items()
        ),
        "receivers (separate process): every port counted every message; same bytes, same "
        "order on both sides"
        if not problems
        else "receivers: see warnings",
    ]
    if events != DEFAULT_EVENTS:
        notes.append(f"SCALED: {EVENTS_ENV}={events} (default {DEFAULT_EVENTS})")
    notes += [f"WARNING: {problem}" for problem in problems[:5]]
    if len(problems) > 5:
        notes.append(f"WARNING: … and {len(problems) - 5} more")
    return Outcome(
        comparisons=[Comparison("deliveries/s", lb_rate, raw_rate, TARGET, higher_is_better=True)],
        notes=notes,
    )
