"""Webhook deliveries/s on PostgreSQL, 3 `serve` nodes delivering against 1, to 100
receivers. The issue's words: the three should not be slower than one (ratio ≥ 1).

The receivers are bench.webhooks' (bench/receivers.py: 100 HTTP/1.1 ports in their own
process, 200 at once, counting per port). For each configuration, on a fresh database
of one durable throwaway cluster (bench.pg): a conference and day 1 opened (CLI), 100
subscriptions, one per receiver, from position 0 (made in this process through the
webhook store, sealed under the LIVEBLOG_SECRET_KEY the nodes share), then N `liveblog
serve` nodes, started together. Once every receiver has the opening messages and
nothing more arrives, the counts are reset, EVENTS notes are appended in one batch (in
this process, through the event store) and the clock runs until every receiver has
counted EVENTS requests: queueing from the log (on the leader), claims, payloads,
signing, sending and recording, shared by the nodes.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from .pg import database, durable_cluster, liveblog, start_nodes
from .report import Comparison, Outcome, number
from .webhooks import Receivers

RECEIVERS = 100
DEFAULT_EVENTS = 10
"""Each owed to every receiver: 1,000 deliveries per configuration."""
EVENTS_ENV = "LIVEBLOG_BENCH_PG_DELIVERY_EVENTS"
CONFIGURATIONS = (1, 3)
TARGET = 1.0
SETTLE_TIMEOUT = 60.0
RUN_TIMEOUT = 300.0
CONFERENCE = "bench-pg-hooks"
AUTHOR = "bench"
TEXT = "the speaker explains how the newsroom moved its live coverage onto shared services."


def events_wanted() -> int:
    value = os.environ.get(EVENTS_ENV, "").replace("_", "")
    n = int(value) if value else DEFAULT_EVENTS
    if n < 5:
        raise ValueError(f"{EVENTS_ENV} must be at least 5, not {n}")
    return n


def subscribe(url: str, ports: list[int], key: str) -> None:
    from liveblog.store.factory import open_stores
    from liveblog.webhooks.secretkey import ENV, Keyring
    from liveblog.webhooks.subscriptions import add

    keyring = Keyring(url, environ={ENV: key})
    with open_stores(url) as stores:
        for port in ports:
            add(
                stores.webhooks,
                f"http://127.0.0.1:{port}/hooks/liveblog",
                allow_private=True,
                since=0,
                keyring=keyring,
            )


def append_notes(url: str, count: int) -> None:
    from liveblog.domain.envelope import make_event
    from liveblog.domain.events import NotePosted
    from liveblog.store.factory import open_store

    start = dt.datetime.now(dt.UTC)
    notes = [
        make_event(
            id=uuid.uuid4().hex,
            conference=CONFERENCE,
            occurred_at=start + dt.timedelta(milliseconds=i),
            author=AUTHOR,
            data=NotePosted(day=1, text=f"Note {i}: {TEXT}"),
        )
        for i in range(count)
    ]
    with open_store(url) as store:
        store.append(notes)


def wait_counts(receivers: Receivers, each: int, timeout: float) -> dict[str, Any]:
    """Poll the receivers until every port counted `each` requests; their stats."""
    deadline = time.monotonic() + timeout
    while True:
        stats: dict[str, Any] = receivers.command("stats")
        if all(s["requests"] >= each for s in stats.values()):
            return stats
        if time.monotonic() > deadline:
            short = sum(1 for s in stats.values() if s["requests"] < each)
            raise RuntimeError(f"{short} receivers short of {each} requests after {timeout:g} s")
        time.sleep(0.05)


def settle(receivers: Receivers, quiet: float = 2.0) -> None:
    """Wait until every receiver has the opening messages and nothing more arrives."""
    wait_counts(receivers, 2, SETTLE_TIMEOUT)
    deadline = time.monotonic() + SETTLE_TIMEOUT
    last, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        total = sum(int(s["requests"]) for s in receivers.command("stats").values())
        if total != last:
            last, since = total, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return
        time.sleep(0.1)
    raise RuntimeError(f"deliveries still arriving after {SETTLE_TIMEOUT:g} s")


def one_configuration(
    cluster: Any, nodes: int, events: int, receivers: Receivers, key: str, tmp: Path
) -> tuple[float, int]:
    """Deliveries/s with `nodes` nodes; and the requests counted (duplicates included)."""
    url = database(cluster, f"bench_hooks_{nodes}")
    liveblog(url, "conference", "open", CONFERENCE, "--title", "PG delivery")
    liveblog(url, "day", "open", "1", "--conference", CONFERENCE)
    subscribe(url, receivers.ports, key)
    servers = start_nodes(url, tmp / f"nodes{nodes}", nodes, {"LIVEBLOG_SECRET_KEY": key})
    try:
        settle(receivers)  # what the opening events owe, everywhere, before the clock
        receivers.command("reset")
        start = time.perf_counter()
        append_notes(url, events)
        stats = wait_counts(receivers, events, RUN_TIMEOUT)
        elapsed = time.perf_counter() - start
    finally:
        for server in servers:
            server.close()
    requests = sum(int(s["requests"]) for s in stats.values())
    receivers.command("reset")
    return events * RECEIVERS / elapsed, requests


def run() -> Outcome:
    from liveblog.webhooks.secretkey import new_key

    events = events_wanted()
    key = new_key()
    rates: dict[int, float] = {}
    sent: dict[int, int] = {}
    receivers = Receivers(RECEIVERS)
    try:
        with durable_cluster() as cluster, tempfile.TemporaryDirectory(prefix="lb-pgd-") as tmp:
            for nodes in CONFIGURATIONS:
                rates[nodes], sent[nodes] = one_configuration(
                    cluster, nodes, events, receivers, key, Path(tmp)
                )
    finally:
        receivers.close()
    one, three = rates[1], rates[3]
    per = events * RECEIVERS
    notes = [
        f"{events} events x {RECEIVERS} receivers = {per:,} deliveries per configuration, "
        "each on a fresh database of one durable cluster, default retry schedule",
        f"1 node {number(one)}/s, 3 nodes {number(three)}/s (the 'raw' column is 1 node)",
        "requests the receivers counted (duplicates included): "
        + ", ".join(f"{n} node(s) {sent[n]:,}" for n in CONFIGURATIONS),
        f"{os.cpu_count()} CPU(s): the nodes, the cluster and the receivers share them",
    ]
    return Outcome(
        comparisons=[
            Comparison("pg deliveries/s, 3 nodes vs 1", three, one, TARGET, higher_is_better=True)
        ],
        notes=notes,
    )
