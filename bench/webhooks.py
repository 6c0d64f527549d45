"""Webhook deliveries/s to 100 local receivers: `Deliverer.run_once()` against raw httpx,
on SQLite and on PostgreSQL.

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

The issue's target (>= 0.8) is against the raw loop with a client per receiver, over
the network, on both backends. The PostgreSQL rounds (when PostgreSQL is installed and
the store is there) run the same `Deliverer` on a durable throwaway cluster
(tests/postgres.py: initdb + pg_ctl, fsync on): the log built once in a template
database, each round on a fresh copy of it (CREATE DATABASE … TEMPLATE), compared with
the raw rounds of the same run.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
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
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from liveblog.service.facade import Liveblog
from liveblog.store.factory import open_stores
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
"""Against the raw loop with one shared client (a pool that reconnects for every POST)."""
TARGET_PER_RECEIVER = 0.8
"""The issue's: against the raw loop with a client per receiver, on both backends."""
SECRET_KEY_ENV = "LIVEBLOG_SECRET_KEY"  # a PostgreSQL store keeps no key file
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


def make_log(path: Path | str, events: int, ports: list[int]) -> list[Target]:
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


def messages(db: Path | str) -> list[Message]:
    """Every event's message id and body, as the deliverer sends them."""
    with open_stores(db) as stores:
        out = []
        for event in stores.events.read():
            exported = event.to_export()
            body = {"type": exported["type"], "timestamp": exported["recorded_at"]}
            out.append(("msg_" + event.id, encode({**body, "data": exported})))
        return out


def delivery_states(db: Path | str) -> dict[str, int]:
    if isinstance(db, Path):  # SQLite: read beside the store, on a raw connection
        conn = raw.connect(db)
        try:
            rows = conn.execute(
                "SELECT status, count(*) FROM webhook_deliveries GROUP BY status"
            ).fetchall()
            return {str(status): int(n) for status, n in rows}
        finally:
            conn.close()
    with open_stores(db) as stores:
        return {s: n for s, n in stores.webhooks.counts().items() if n}


PG_TEMPLATE = "bench_webhooks_template"
ROOT = Path(__file__).resolve().parent.parent


@contextlib.contextmanager
def postgres() -> Iterator[Any]:
    """A durable throwaway cluster (tests/postgres.py's), or why there is none (a str)."""
    missing = [
        name
        for name in ("liveblog.store.postgres.log", "liveblog.store.postgres.webhooks")
        if importlib.util.find_spec(name) is None
    ]
    if missing:
        yield f"the PostgreSQL store is not in this tree ({', '.join(missing)})"
        return
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))  # tests/ is not a package: its plugin, by path
    import tests.postgres as pg

    bin_dir = pg.find_binaries()
    if bin_dir is None:
        yield "PostgreSQL is not installed (no initdb)"
        return
    from liveblog.store.postgres.driver import close_pools

    cluster = pg.start_cluster(bin_dir, durable=True)
    before = os.environ.get(SECRET_KEY_ENV)
    # The nodes of a PostgreSQL store share a configured key (no key file beside it).
    os.environ[SECRET_KEY_ENV] = base64.b64encode(os.urandom(32)).decode()
    try:
        yield cluster
    finally:
        close_pools()
        pg.stop_cluster(cluster)
        if before is None:
            os.environ.pop(SECRET_KEY_ENV, None)
        else:
            os.environ[SECRET_KEY_ENV] = before


def pg_copy(cluster: Any, name: str) -> str:
    """A fresh copy of the template database (no session may be left on it)."""
    from liveblog.store.postgres.driver import close_pools

    close_pools()
    cluster.sql(f'DROP DATABASE IF EXISTS "{name}"')
    cluster.sql(f'CREATE DATABASE "{name}" TEMPLATE "{PG_TEMPLATE}"')
    return str(cluster.url(name))


class Answer200(httpx.AsyncBaseTransport):
    """The in-process "network": reads the request, answers 200 with an empty body."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        return httpx.Response(200, stream=httpx.ByteStream(b""))


async def liveblog_round(
    db: Path | str, options: DeliveryOptions, transport: httpx.AsyncBaseTransport | None = None
) -> tuple[float, int]:
    async with Deliverer(str(db), options, transport=transport) as deliverer:
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
    with postgres() as pg:
        return _run(None if isinstance(pg, str) else pg, pg if isinstance(pg, str) else None)


def _run(cluster: Any, no_pg: str | None) -> Outcome:
    events = events_wanted()
    options = DeliveryOptions()
    per_round = events * RECEIVERS
    network = {"liveblog": Side(), "raw": Side(), "raw per receiver": Side()}
    local = {"liveblog": Side(), "raw": Side()}
    if cluster is not None:
        network["liveblog postgres"] = Side()
        local["liveblog postgres"] = Side()
    problems: list[str] = []

    receivers = Receivers(RECEIVERS)
    try:
        with tempfile.TemporaryDirectory(prefix="liveblog-bench-") as tmp:
            folder = Path(tmp)
            template = folder / "template.db"
            started = time.perf_counter()
            targets = make_log(template, events, receivers.ports)
            payloads = messages(template)
            if cluster is not None:
                cluster.sql(f'CREATE DATABASE "{PG_TEMPLATE}" TEMPLATE template0')
                pg_template = str(cluster.url(PG_TEMPLATE))
                make_log(pg_template, events, receivers.ports)
                if len(messages(pg_template)) != events:
                    problems.append("the PostgreSQL log does not hold the events")
            set_up = time.perf_counter() - started
            if len(payloads) != events:
                problems.append(f"the log holds {len(payloads)} events, not {events}")

            def one_round(
                side: str, name: str, transport: httpx.AsyncBaseTransport | None
            ) -> float:
                gc.collect()
                if side.startswith("liveblog"):
                    db: Path | str
                    if side == "liveblog postgres":
                        db = pg_copy(cluster, "bench_webhooks_round")
                    else:
                        db = folder / f"{name}.db"
                        shutil.copyfile(template, db)
                        # The secrets are sealed under the key beside the database (or
                        # under LIVEBLOG_SECRET_KEY, set for the PostgreSQL rounds).
                        if key_path(template).exists():
                            shutil.copy2(key_path(template), key_path(db))
                    elapsed, sent = asyncio.run(liveblog_round(db, options, transport))
                    states = delivery_states(db)
                    if states != {"delivered": per_round}:
                        problems.append(f"{side} {name}: deliveries {states}")
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

            sides = tuple(network)
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
                for side in tuple(local) if k % 2 == 0 else tuple(local)[::-1]:
                    local[side].seconds.append(one_round(side, f"in-process {k}", Answer200()))
    finally:
        receivers.close()

    reference = network["raw"].digests[0] if network["raw"].digests else {}
    for side, state in network.items():
        # PostgreSQL's log has events of its own (other ids): its rounds agree together.
        own = side == "liveblog postgres"
        expected = state.digests[0] if own and state.digests else reference
        for k, digests in enumerate(state.digests):
            if digests != expected:
                problems.append(
                    f"{side} round {k}: bodies or order differ from "
                    f"{'its round 0' if own else 'raw round 0'}"
                )

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
    comparisons = [
        Comparison("deliveries/s", lb_rate, raw_rate, TARGET, higher_is_better=True),
        Comparison(
            "deliveries/s vs a client per receiver",
            lb_rate,
            own_rate,
            TARGET_PER_RECEIVER,
            higher_is_better=True,
        ),
        Comparison("deliveries/s in-process", lb_local, raw_local, None, higher_is_better=True),
    ]
    if "liveblog postgres" in network:
        pg_rate = network["liveblog postgres"].rate(per_round)
        pg_local = local["liveblog postgres"].rate(per_round)
        comparisons += [
            Comparison(
                "PostgreSQL deliveries/s vs a client per receiver",
                pg_rate,
                own_rate,
                TARGET_PER_RECEIVER,
                higher_is_better=True,
            ),
            Comparison(
                "PostgreSQL deliveries/s in-process",
                pg_local,
                raw_local,
                None,
                higher_is_better=True,
            ),
        ]
        notes.append(
            "PostgreSQL: a durable throwaway cluster (fsync on); each round on a fresh copy "
            f"of the template database; per delivery {1e6 / pg_rate:.0f} us over the "
            f"network, {1e6 / pg_local:.0f} us in-process"
        )
    else:
        notes.append(f"PostgreSQL: not run ({no_pg})")
    return Outcome(comparisons=comparisons, notes=notes)
