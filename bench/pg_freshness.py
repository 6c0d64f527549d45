"""Freshness with 3 `serve` nodes on PostgreSQL: append → feed changed, append →
webhook received, p50 and p99 ms.

The issue's targets bound liveblog's own latencies (p50 ≤ 300 ms, p99 ≤ 1000 ms); there
is no raw baseline here (the SQLite `freshness` bench has one), so ratios print n/a.

Setup: a durable throwaway cluster (bench.pg), one database; a conference, day and
session opened and an editor's token made with the CLI; one webhook subscription
(`webhook add URL --allow-private`) to a receiver in a thread of this process (it
records when each `webhook-id` first arrives); then three `liveblog serve` nodes on the
database, with one LIVEBLOG_SECRET_KEY between them.

Each probe POSTs one note to the next node in turn (`/api/events`, as a reporter's
CLI does), takes the clock when the 201 has arrived (committed), then polls another
node's `/feeds/<conf>/live.json` every POLL_SECONDS (with its ETag: 304 until it
changes) until it holds the note's id, and the receiver until it has `msg_<event id>`.
A random pause before each probe puts it at a random phase of the nodes' ticks. Only
one node runs the projections and the publisher at a time; the others must answer from
the database with what it wrote.
"""

from __future__ import annotations

import math
import os
import random
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from .freshness import Receiver
from .pg import PgServe, database, durable_cluster, liveblog, start_nodes
from .report import Limit, Outcome, number

NODES = 3
DEFAULT_PROBES = 100
PROBES_ENV = "LIVEBLOG_BENCH_PG_FRESHNESS_EVENTS"
WARMUP = 3
POLL_SECONDS = 0.01
TICK_SECONDS = 0.1
PROBE_TIMEOUT = 5.0
GIVE_UP = 5
"""Stop probing after this many timed-out probes: the path is broken, not slow."""
P50_TARGET_MS = 300.0
P99_TARGET_MS = 1000.0
CONFERENCE = "bench-pg-fresh"
SEED = 2013
TEXT = "the speaker explains how the newsroom moved its live coverage onto shared services."


def probes_wanted() -> int:
    value = os.environ.get(PROBES_ENV, "").replace("_", "")
    n = int(value) if value else DEFAULT_PROBES
    if n < 10:
        raise ValueError(f"{PROBES_ENV} must be at least 10, not {n}")
    return n


def p99(values: list[float]) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(0.99 * len(ordered)) - 1)]


def run() -> Outcome:
    import httpx

    from liveblog.webhooks.secretkey import new_key

    probes = probes_wanted()
    key = new_key()
    feed_ms: list[float] = []
    hook_ms: list[float] = []
    post_ms: list[float] = []
    missed = {"feed": 0, "hook": 0}
    rng = random.Random(SEED)
    receiver = Receiver()
    nodes: list[PgServe] = []
    with durable_cluster() as cluster, tempfile.TemporaryDirectory(prefix="lb-pgf-") as tmp:
        url = database(cluster, "bench_fresh")
        liveblog(url, "conference", "open", CONFERENCE, "--title", "PG freshness")
        liveblog(url, "day", "open", "1", "--conference", CONFERENCE)
        liveblog(url, "session", "start", "Opening plenary", "--conference", CONFERENCE)
        liveblog(url, "webhook", "add", receiver.url("/hook"), "--allow-private", secret_key=key)
        token = liveblog(url, "token", "create", "bench", "--role", "editor").split()[0]
        try:
            nodes = start_nodes(url, Path(tmp), NODES, {"LIVEBLOG_SECRET_KEY": key})
            client = httpx.Client(timeout=15, trust_env=False)
            etags: dict[str, str] = {}

            def feed_has(base: str, event_id: str) -> bool:
                headers = {"if-none-match": etags[base]} if base in etags else {}
                answer = client.get(f"{base}/feeds/{CONFERENCE}/live.json", headers=headers)
                if answer.status_code == 200:
                    etags[base] = answer.headers.get("etag", "")
                    return event_id in answer.text
                return False

            for i in range(WARMUP + probes):
                time.sleep(rng.uniform(0, TICK_SECONDS))
                poster, reader = nodes[i % NODES].base, nodes[(i + 1) % NODES].base
                draft_id = uuid.uuid4().hex
                start = time.perf_counter()
                answer = client.post(
                    f"{poster}/api/events",
                    json={
                        "id": draft_id,
                        "type": "note.posted",
                        "conference": CONFERENCE,
                        "data": {"text": f"Note {i}: {TEXT}"},
                    },
                    headers={"authorization": f"Bearer {token}"},
                )
                if answer.status_code != 201:
                    raise RuntimeError(f"POST /api/events: HTTP {answer.status_code} {answer.text}")
                event_id = answer.json()["events"][-1]["id"]
                committed = time.perf_counter()
                seen_feed = seen_hook = None
                deadline = committed + PROBE_TIMEOUT
                while (seen_feed is None or seen_hook is None) and time.perf_counter() < deadline:
                    if seen_feed is None and feed_has(reader, event_id):
                        seen_feed = time.perf_counter()
                    if seen_hook is None:
                        seen_hook = receiver.received.get(f"msg_{event_id}")
                    if seen_feed is None or seen_hook is None:
                        time.sleep(POLL_SECONDS)
                if i < WARMUP:
                    continue
                post_ms.append((committed - start) * 1000)
                if seen_feed is None:
                    missed["feed"] += 1
                else:
                    feed_ms.append((seen_feed - committed) * 1000)
                if seen_hook is None:
                    missed["hook"] += 1
                else:
                    hook_ms.append((seen_hook - committed) * 1000)
                if max(missed.values()) >= GIVE_UP:
                    break
            client.close()
        finally:
            for node in nodes:
                node.close()
            receiver.close()

    # A probe that timed out counts as slower than every other one.
    feed_all = feed_ms + [math.inf] * missed["feed"]
    hook_all = hook_ms + [math.inf] * missed["hook"]
    nan = math.nan
    done = len(post_ms)
    notes = [
        f"{done} probes (+{WARMUP} warm-up), POSTed to {NODES} nodes in turn, each feed "
        f"read from the next node, polled every {POLL_SECONDS * 1000:.0f} ms",
        f"POST /api/events answered in p50 {number(statistics.median(post_ms))} ms",
        "no raw baseline: ratios n/a (the SQLite `freshness` bench has one)",
    ]
    if missed["feed"] or missed["hook"]:
        notes.append(
            f"WARNING: not seen within {PROBE_TIMEOUT:g} s: feed {missed['feed']}, "
            f"webhook {missed['hook']} probe(s)"
            + (f"; gave up after {done} of {probes} probes" if done < probes else "")
        )
    return Outcome(
        comparisons=[
            Limit("pg feed p50 ms", statistics.median(feed_all), nan, P50_TARGET_MS, False, "ms"),
            Limit("pg feed p99 ms", p99(feed_all), nan, P99_TARGET_MS, False, "ms"),
            Limit("pg hook p50 ms", statistics.median(hook_all), nan, P50_TARGET_MS, False, "ms"),
            Limit("pg hook p99 ms", p99(hook_all), nan, P99_TARGET_MS, False, "ms"),
        ],
        notes=notes,
    )
