"""Benchmarks: liveblog against a raw-SQLite baseline, measured in the same run.

`python -m bench` (or `make bench`) runs them all; `python -m bench NAME ...` runs some.
A benchmark is a function returning a `report.Outcome`; register a new one by adding a
line to BENCHMARKS. Missed targets are printed as MISSED and never fail the run.
"""

from __future__ import annotations

from . import (
    appends,
    big_feed,
    browser_latency,
    bulk_import,
    catch_up,
    cli_latency,
    conditional_get,
    flood,
    freshness,
    full_publish,
    pg_appends,
    pg_delivery,
    pg_freshness,
    pg_takeover,
    publish,
    rebuild,
    render,
    scheduler_tick,
    sse_fanout,
    sse_flood,
    webhooks,
)
from .report import Benchmark

BENCHMARKS: dict[str, Benchmark] = {
    "appends": Benchmark(
        "durable single-event appends/s: EventLog.append([event]) vs raw BEGIN/INSERT/COMMIT",
        appends.run,
    ),
    "bulk_import": Benchmark(
        "bulk import events/s: Liveblog.import_lines(jsonl) vs raw executemany",
        bulk_import.run,
    ),
    "cli_latency": Benchmark(
        "`liveblog note` wall time: console script vs `python -c` one raw insert",
        cli_latency.run,
    ),
    "rebuild": Benchmark(
        "rebuild events/s: Liveblog.rebuild() of a synthetic log vs raw SELECT data + json.loads",
        rebuild.run,
    ),
    "catch_up": Benchmark(
        "catch-up after one new event: 1M-event log vs 10k-event log (time ratio)",
        catch_up.run,
    ),
    "publish": Benchmark(
        "publish after one new event: 1,800 and 10,000 conferences vs 1 (in-process and "
        "`liveblog publish`), a 1M-event log vs a 1k-event one (time ratios)",
        publish.run,
    ),
    "full_publish": Benchmark(
        "first full publish of a big log, files/s: Liveblog.publish into an empty feeds/ "
        "vs rendering the same documents in a loop without writing",
        full_publish.run,
    ),
    "scheduler_tick": Benchmark(
        "scheduler tick (catch-up + deliver + publish), nothing new: 10,000 conferences and "
        "1,000 subscriptions vs 1 of each (time ratio)",
        scheduler_tick.run,
    ),
    "render": Benchmark(
        "ms to render one 50-entry feed document: Atom / RSS / JSON Feed vs raw lxml / json.dumps",
        render.run,
    ),
    "webhooks": Benchmark(
        "webhook deliveries/s to 100 local receivers: Deliverer.run_once() vs raw httpx loop",
        webhooks.run,
    ),
    "freshness": Benchmark(
        "append → feed file / webhook received, p50 and p99 ms over 200 events: "
        "`liveblog serve` vs a raw data_version poller",
        freshness.run,
    ),
    "browser_latency": Benchmark(
        "append → entry in an open browser page's DOM, p50 and p99 ms over 100 API posts: "
        "`liveblog serve` + its live page vs a bare SSE server + a one-line page",
        browser_latency.run,
    ),
    "conditional_get": Benchmark(
        "conditional GETs/s of live.atom (304s): `liveblog serve` vs a bare uvicorn app (200s)",
        conditional_get.run,
    ),
    "big_feed": Benchmark(
        "/healthz p99 while 4 clients fetch a 6.6 MB feed (plain, gzip; full speed, paced) vs idle",
        big_feed.run,
    ),
    "flood": Benchmark(
        "feed and /healthz p99 under a body flood and a slow-connection flood vs idle, "
        "and the server's peak memory: `liveblog serve`",
        flood.run,
    ),
    "pg_appends": Benchmark(
        "durable appends/s on PostgreSQL: PostgresEventStore.append([event]) vs raw psycopg "
        "LOG_LOCK + INSERT, one transaction each; 1 and 4 writers",
        pg_appends.run,
    ),
    "pg_freshness": Benchmark(
        "append → feed changed / webhook received with 3 `serve` nodes on PostgreSQL, "
        "p50 and p99 ms",
        pg_freshness.run,
    ),
    "pg_delivery": Benchmark(
        "webhook deliveries/s on PostgreSQL to 100 receivers: 3 `serve` nodes vs 1",
        pg_delivery.run,
    ),
    "pg_takeover": Benchmark(
        "3 `serve` nodes on PostgreSQL, the leader SIGKILLed: kill → lock taken, kill → a "
        "note posted after it in every survivor's live.json, p50 and max s",
        pg_takeover.run,
    ),
    "sse_fanout": Benchmark(
        "live readers: 5,000 SSE streams on one `liveblog serve`, one post fanned out to all "
        "(delivery p50/p99, memory per connection) vs a bare Starlette SSE app",
        sse_fanout.run,
    ),
    "sse_flood": Benchmark(
        "a live reader while 2,000 hostile SSE streams ask for a 3,000-note history and "
        "read nothing (delivery p50/p99, memory per flooding stream)",
        sse_flood.run,
    ),
}

__all__ = ["BENCHMARKS", "Benchmark"]
