"""Durable appends/s on PostgreSQL: `PostgresEventStore.append([event])` against a raw
psycopg INSERT under the same lock, one transaction each; then 4 concurrent writers.

Both sides run on one durable throwaway cluster (bench.pg), each in its own database
with liveblog's schema (the raw one gets it by opening a liveblog store on it once, so
its triggers, indexes and constraints are the same). A raw append is what the log's
append must do at the least: BEGIN; the log's lock (`driver.LOG_LOCK`, the statement
the store itself runs: what makes positions commit-ordered); the next position and the
conference's next version in one SELECT; one INSERT; COMMIT. liveblog adds the
idempotence check by id and building the row from an Event. The events (and raw rows)
are built before the clock starts; the sides alternate in rounds so drift in fsync
latency hits both.

With 4 writers (threads, each with its own connection; psycopg waits without the
GIL) every writer appends its share; the lock serialises them, so the figure shows
what the lock costs when writers queue behind it (group commit can still help).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from liveblog.domain.envelope import Event

from .appends import AUTHOR, CONFERENCE, make_notes, timed_rounds, to_row
from .pg import database, durable_cluster, settings
from .raw import insert_next
from .report import Comparison, Outcome

APPENDS = 600
"""Timed single-writer appends per side."""
WARMUP = 20
ROUNDS = 6
WRITERS = 4
CONCURRENT = 400
"""Timed appends per side with WRITERS writers (CONCURRENT // WRITERS each)."""
TARGET = 0.5

NEXT_SQL = (
    "SELECT coalesce(max(position), 0) + 1, "
    "(SELECT coalesce(max(version), 0) + 1 FROM events WHERE conference = %s) FROM events"
)
INSERT_SQL = (
    "INSERT INTO events (position, id, type, conference, occurred_at, recorded_at, author, "
    "version, schema_version, data) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
)


def raw_append(conn: Any, row: tuple[Any, ...]) -> None:
    """One durable raw append in its own transaction, under the log's lock."""
    from liveblog.store.postgres.driver import LOG_LOCK

    with conn.transaction():
        conn.execute(LOG_LOCK)  # the very statement the log's append takes
        insert_next(conn, NEXT_SQL, INSERT_SQL, row)


def concurrently(work: list[Callable[[], None]]) -> float:
    """Run each callable in its own thread, all released at once; the wall time."""
    ready = threading.Barrier(len(work) + 1)
    errors: list[BaseException] = []

    def runner(job: Callable[[], None]) -> None:
        ready.wait()
        try:
            job()
        except BaseException as exc:  # reported below, after every thread ended
            errors.append(exc)

    threads = [threading.Thread(target=runner, args=(job,)) for job in work]
    for thread in threads:
        thread.start()
    ready.wait()
    start = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise errors[0]
    return elapsed


def run() -> Outcome:
    import psycopg

    from liveblog.store.factory import open_store

    single = make_notes(WARMUP + APPENDS)
    # Concurrent writers append to conferences of their own (per-conference versions
    # never clash); the log's positions are shared, which is what the lock is for.
    multi = [
        [e.model_copy(update={"conference": f"{CONFERENCE}-{w}"}) for e in make_notes(count)]
        for w, count in enumerate([CONCURRENT // WRITERS] * WRITERS)
    ]
    per_round = APPENDS // ROUNDS

    with durable_cluster() as cluster:
        lb_url = database(cluster, "bench_liveblog")
        raw_url = database(cluster, "bench_raw")
        open_store(raw_url).close()  # the same schema, then only raw SQL touches it
        store = open_store(lb_url)
        conn = psycopg.connect(raw_url, autocommit=True)
        rows = [to_row(e) for e in single]
        try:

            def liveblog_side(lo: int, hi: int) -> float:
                start = time.perf_counter()
                for event in single[lo:hi]:
                    store.append([event])
                return time.perf_counter() - start

            def raw_side(lo: int, hi: int) -> float:
                start = time.perf_counter()
                for row in rows[lo:hi]:
                    raw_append(conn, row)
                return time.perf_counter() - start

            timed = timed_rounds(liveblog_side, raw_side, WARMUP, ROUNDS, per_round)

            def lb_writer(events: list[Event]) -> Callable[[], None]:
                def job() -> None:
                    own = open_store(lb_url)
                    try:
                        for event in events:
                            own.append([event])
                    finally:
                        own.close()

                return job

            def raw_writer(events: list[Event]) -> Callable[[], None]:
                def job() -> None:
                    with psycopg.connect(raw_url, autocommit=True) as own:
                        for event in events:
                            raw_append(own, to_row(event))

                return job

            raw_many = concurrently([raw_writer(events) for events in multi])
            lb_many = concurrently([lb_writer(events) for events in multi])
            stored = {"liveblog": store.head(), "raw": _count(conn)}
            server = settings(lb_url)
        finally:
            store.close()
            conn.close()

    n = per_round * ROUNDS
    lb_rate, raw_rate = n / timed["liveblog"], n / timed["raw"]
    m = sum(len(events) for events in multi)
    notes = [
        f"{n} timed appends per side (+{WARMUP} warm-up), {ROUNDS} alternating rounds, "
        f"then {m} by {WRITERS} concurrent writers per side; durable cluster: {server}",
        f"per append: liveblog {1e6 / lb_rate:.0f} us, raw {1e6 / raw_rate:.0f} us "
        f"(liveblog's own cost ~{1e6 / lb_rate - 1e6 / raw_rate:.0f} us)",
        f"{WRITERS} writers: liveblog {m / lb_many:.0f}/s, raw {m / raw_many:.0f}/s "
        f"(1 writer: liveblog {lb_rate:.0f}/s)",
    ]
    expected = WARMUP + n + m
    if stored["liveblog"] != expected or stored["raw"] != expected:
        notes.append(
            f"WARNING: expected {expected} rows per database, found "
            f"liveblog {stored['liveblog']}, raw {stored['raw']}"
        )
    return Outcome(
        comparisons=[
            Comparison("pg appends/s", lb_rate, raw_rate, TARGET, higher_is_better=True),
            Comparison(
                f"pg appends/s, {WRITERS} writers",
                m / lb_many,
                m / raw_many,
                TARGET,
                higher_is_better=True,
            ),
        ],
        notes=notes,
    )


def _count(conn: Any) -> int:
    return int(conn.execute("SELECT count(*) FROM events").fetchone()[0])


__all__ = ["AUTHOR", "run"]
