"""First full publish of a big log, in files/s, against rendering its documents in a loop.

A first full publish is what a restore, a new server or a moved `feeds/` costs: every
archive document, every day page, the live and reflections feeds and the index, each
written atomically (temporary file, fsync, rename). The log is bench.synthetic's (one
long conference covered live; cached): DEFAULT_EVENTS events, or LIVEBLOG_BENCH_EVENTS
(1000000 for the issue's big log: 18,809 files). It is copied to a fresh file and
fully caught up before anything is timed.

liveblog: `Liveblog.publish` into an empty feeds directory, timed from the call to its
return; files/s = the files it wrote / those seconds.

raw: the same documents rendered in a loop, without writing them. An untimed second
publish (into another empty directory) records every document the publish hands to a
renderer (the `Document`s of the Atom, RSS and JSON Feed files, the
day summaries of the day pages); the loop then renders each of them again, to bytes,
and nothing else: no queries, no files, one process. The ratio (publish / raw) is the
share of the renderers' own speed that the publish keeps (above 1: the publish's helper
process renders on the second CPU); the notes split the loop's time by kind of document
and the publish's CPU time between its two processes. The issue sets no target: the
figures are reported, not judged.
"""

from __future__ import annotations

import gc
import os
import resource
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from liveblog.feeds import PublishOptions, publisher
from liveblog.service.facade import Liveblog

from . import synthetic
from .catch_up import short
from .report import Comparison, Outcome

DEFAULT_EVENTS = 100_000
"""Without LIVEBLOG_BENCH_EVENTS: 1,949 files, a few minutes with set-up on 2 CPUs."""
AUTHOR = synthetic.AUTHORS[0]
RENDERERS = ("render_atom", "render_rss", "render_json", "render_day_html", "render")
"""The renderers the publisher calls for its files, by their names in
liveblog.feeds.publisher (`render`: the day pages' renderer before render_day_html)."""
DAY_PAGES = ("render_day_html", "render")

Recorded = list[tuple[str, Callable[..., Any], tuple[Any, ...]]]


def events_wanted() -> int:
    return synthetic.events_wanted() if os.environ.get(synthetic.EVENTS_ENV) else DEFAULT_EVENTS


def kind_of(name: str, arguments: tuple[Any, ...]) -> str:
    if name in DAY_PAGES:
        return "day pages"
    if name == "render_atom" and arguments[0].archive:
        return "archive documents"
    return "live and reflections feeds"


@contextmanager
def recording(into: Recorded) -> Iterator[None]:
    """While active, the publisher's renderers note what they render, all of it in this
    process (no helper process: what it rendered would not be seen)."""
    saved = {name: getattr(publisher, name) for name in RENDERERS if hasattr(publisher, name)}
    helper = getattr(publisher, "helper", None)
    entries = getattr(helper, "HELPER_ENTRIES", None)

    def recorder(name: str, render: Callable[..., Any]) -> Callable[..., Any]:
        def record(*arguments: Any) -> Any:
            into.append((name, render, arguments))
            return render(*arguments)

        return record

    try:
        for name, render in saved.items():
            setattr(publisher, name, recorder(name, render))
        if entries is not None:
            helper.HELPER_ENTRIES = sys.maxsize
        yield
    finally:
        for name, render in saved.items():
            setattr(publisher, name, render)
        if entries is not None:
            helper.HELPER_ENTRIES = entries


def children_cpu() -> float:
    """CPU seconds of this process's finished children (the publish helper)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def render_loop(recorded: Recorded) -> tuple[float, dict[str, float], int]:
    """Seconds to render every recorded document to bytes, the split by kind, and bytes."""
    by_kind: dict[str, float] = defaultdict(float)
    size = 0
    gc.collect()
    start = time.perf_counter()
    for name, render, arguments in recorded:
        began = time.perf_counter()
        data = render(*arguments)
        if name == "render_day_html":
            data = data[0]  # the page (the article also goes to the reflections feeds)
        if isinstance(data, str):
            data = data.encode()  # as the publisher writes it
        size += len(data)
        by_kind[kind_of(name, arguments)] += time.perf_counter() - began
    return time.perf_counter() - start, dict(by_kind), size


def run() -> Outcome:
    n = events_wanted()
    log = synthetic.cached_log(n)
    with tempfile.TemporaryDirectory(prefix="liveblog-bench-") as tmp:
        folder = Path(tmp)
        path = log.copy_to(folder)
        with Liveblog(path, AUTHOR) as service:
            start = time.perf_counter()
            service.catch_up()
            catch_up = time.perf_counter() - start
            options = PublishOptions(feeds_dir=folder / "feeds")
            gc.collect()
            cpu, helper = time.process_time(), children_cpu()
            start = time.perf_counter()
            result = service.publish(options)
            seconds = time.perf_counter() - start
            cpu, helper = time.process_time() - cpu, children_cpu() - helper
            files = len(result.changed)
            written = sum(p.stat().st_size for p in result.changed)
            print(
                f"  publish: {files:,} files in {seconds:.1f} s ({files / seconds:.0f} files/s)",
                flush=True,
            )
            recorded: Recorded = []
            with recording(recorded):
                service.publish(PublishOptions(feeds_dir=folder / "recorded"))
        raw_seconds, by_kind, rendered = render_loop(recorded)
        documents = len(recorded)
        del recorded
    problems = []
    indexes = sum(1 for p in result.changed if p.name == "index.html")
    if documents != files - indexes:
        problems.append(
            f"the loop rendered {documents:,} documents, the publish wrote {files:,} files "
            f"of which {indexes} index pages (expected documents = files - index pages)"
        )
    rate, raw_rate = files / seconds, documents / raw_seconds
    notes = [
        log.describe(),
        f"set-up (untimed): full catch-up {catch_up:.1f} s",
        f"publish: {files:,} files ({written / 1e6:.0f} MB) in {seconds:.1f} s; CPU "
        f"{cpu:.1f} s in the publishing process (rendering, queries, writer threads) and "
        f"{helper:.1f} s in its helper (every other run of archives and day pages)",
        f"raw loop: {documents:,} documents ({rendered / 1e6:.0f} MB) rendered in "
        f"{raw_seconds:.1f} s: "
        + ", ".join(
            f"{kind} {t:.1f} s" for kind, t in sorted(by_kind.items(), key=lambda kv: -kv[1])
        ),
        f"the publish runs at {rate / raw_rate:.0%} of the loop's speed: besides rendering it "
        "reads the timeline, builds the documents and writes the files, and its helper "
        "process renders on the second CPU",
    ]
    if n != synthetic.DEFAULT_EVENTS:
        notes.append(
            f"SCALED: {n:,} events; LIVEBLOG_BENCH_EVENTS=1000000 publishes the issue's "
            "1,000,000-event log (18,809 files)"
        )
    notes += [f"WARNING: {problem}" for problem in problems]
    return Outcome(
        comparisons=[
            Comparison(
                f"first full publish files/s {short(n)}",
                rate,
                raw_rate,
                None,
                higher_is_better=True,
            )
        ],
        notes=notes,
    )
