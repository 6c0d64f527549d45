"""The same day on PostgreSQL and on SQLite gives the same outputs, through the real CLI.

The SOCITM-style day of tests/golden/sample-day.jsonl is typed as a reporter types it —
`conference open`, `session start`, `quote`, `correct`, `retract`… as ann and bob, every
time given with `--at` — once against an events.db and once with `--db postgresql://…`,
each command a `python -m liveblog` process of its own. Then both backends must agree:
the export (but for `recorded_at`, each log's own clock), every day's summary in
markdown, html and json, and every byte of every feed file `publish` writes.

Event ids are random (uuid4) in a reporter's commands; to compare feeds byte for byte
(entry ids are in them) each process is started through a tiny launcher that hands out
the ids the test names (the sample's own), and nothing else differs from
`python -m liveblog`. As the typed day is the sample, the outputs are also the golden
files themselves: the same check as tests/test_summary_golden.py and test_feeds.py, now
on PostgreSQL.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

GOLDEN = Path(__file__).parent / "golden"
SAMPLE = GOLDEN / "sample-day.jsonl"
SLUG = "socitm-2011"
FEEDS_URL = "https://feeds.example.org/feeds"  # the golden feeds' (tests/test_feeds.py)
FORMATS = ("markdown", "html", "json")
DAYS = ("1", "2", "3")
CLI_SECONDS = 120.0  # a generous bound for one command on a loaded 2-core machine
IDS_ENV = "PARITY_EVENT_IDS"

# `python -m liveblog`, but the new events' ids are the ones in PARITY_EVENT_IDS
# (comma-separated, in order); a command that makes more events than it was given ids
# for, or fewer, fails, so a wrong script is caught here rather than as a diff later.
#
# About a hundred commands are typed, and most of each one's time was the interpreter
# starting and importing liveblog (~0.35 s quiet, far more under load). So one launcher
# per backend imports liveblog once and forks a child per command: each command is still
# a process of its own (own argv, environment, cwd, stdout/stderr, database
# connection, exit status), started from a parent that has run nothing but imports.
# A fresh `python -m liveblog` start-up is proven by tests/test_cli_subprocess.py.
LAUNCHER = f"""
import importlib, json, os, pkgutil, sys
import liveblog
import liveblog.service.reporting as reporting
from liveblog.cli.main import main

# Every liveblog module imported once, here: commands import their store, feeds and
# summaries lazily, which every child would otherwise pay for (as in tests/forkcli.py).
for module in pkgutil.walk_packages(liveblog.__path__, "liveblog."):
    if not module.name.endswith("__main__"):
        importlib.import_module(module.name)

def command(request):
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    for fd, name in ((1, "out"), (2, "err")):
        os.dup2(os.open(request[name], os.O_WRONLY | os.O_CREAT | os.O_TRUNC), fd)
    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
    ids = [i for i in os.environ.get({IDS_ENV!r}, "").split(",") if i]
    def fixed_id():
        if not ids:
            sys.stderr.write("launcher: more events than ids given\\n")
            sys.stderr.flush()
            os._exit(3)
        return ids.pop(0)
    reporting.new_event_id = fixed_id
    sys.argv = ["liveblog", *request["args"]]
    try:
        main()
        code = 0
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
    if ids:
        sys.stderr.write("launcher: ids left unused: " + ",".join(ids) + "\\n")
    sys.stdout.flush()
    sys.stderr.flush()
    return code

for line in sys.stdin:
    pid = os.fork()
    if pid == 0:
        try:
            status = command(json.loads(line))
        finally:
            os._exit(locals().get("status", 70))
    _, status = os.waitpid(pid, 0)
    print(json.dumps(os.waitstatus_to_exitcode(status)), flush=True)
"""


@dataclass(frozen=True)
class Step:
    author: str
    args: tuple[str, ...]
    ids: tuple[str, ...]  # the ids of the events the command appends, in order


def step(author: str, ids: str, *args: str) -> Step:
    return Step(author, args, tuple(ids.split()))


# The sample day, as ann and bob type it (ids and times as in sample-day.jsonl).
DAY: list[Step] = [
    step("ann", "conf-socitm-2011",
         "conference", "open", SLUG, "--title", "SOCITM 2011", "--venue", "Birmingham ICC",
         "--timezone", "Europe/London", "--url", "https://blog.example.org/socitm-2011",
         "--at", "2011-06-08T08:30"),
    step("ann", "day-1", "day", "open", "1", "--at", "2011-06-08T09:00"),
    step("ann", "d1-note", "note", "Registration queues stretched past the cloakroom.",
         "--at", "2011-06-08T09:30"),
    step("ann", "day-1-closed", "day", "close", "--at", "2011-06-08T17:30"),
    step("ann", "day-2", "day", "open", "2", "--at", "2011-06-09T08:45"),
    step("ann", "s-plenary", "session", "start", "Opening plenary", "--kind", "plenary",
         "--room", "Hall 1", "--host", "Jos Creese", "--at", "2011-06-09T09:00"),
    step("ann", "t-burns", "talk", "start", "Sharing services, sharing risk",
         "--speaker", "Andy Burns", "--role", "Director of Resources",
         "--org", "Warwickshire County Council", "--at", "2011-06-09T09:05"),
    step("ann", "q-burns", "quote", "We cannot afford to do this alone any more.",
         "--at", "2011-06-09T09:10"),
    step("ann", "n-hall", "note",
         "Around 400 delegates in the hall; the Q&A queue formed before he had finished.",
         "--at", "2011-06-09T09:12"),
    step("ann", "p-burns", "photo", "https://photos.example.org/socitm-2011/burns.jpg",
         "--caption", "Andy Burns on stage", "--at", "2011-06-09T09:14"),
    step("bob", "s-round", "session", "start", "Data sharing across boundaries",
         "--kind", "roundtable", "--room", "Room 2", "--host", "Martin Ferguson",
         "--host", "Liz Harding", "--at", "2011-06-09T09:15"),
    step("ann", "c-photo", "correct", "p-burns", "--caption",
         "Andy Burns on the main stage, Hall 1", "--at", "2011-06-09T09:20"),
    step("bob", "n-consent", "note", "Consensus that consent models need to be simpler.",
         "--at", "2011-06-09T09:25"),
    # A talk started while one is open ends it first: two events.
    step("ann", "t-burns-end t-smith", "talk", "start", "Cloud first? Not yet",
         "--speaker", "Bea Smith", "--role", "CIO", "--org", "Kent County Council",
         "--at", "2011-06-09T09:30"),
    step("bob", "q-ferguson", "quote",
         "Information governance is the new excuse for doing nothing.",
         "--speaker", "Martin Fergusson", "--at", "2011-06-09T09:35"),
    step("ann", "q-smith", "quote",
         "The cloud is someone else's computer — and someone else's contrakt.",
         "--at", "2011-06-09T09:40"),
    step("bob", "c-ferguson", "correct", "--last", "--speaker", "Martin Ferguson",
         "--at", "2011-06-09T09:41"),
    step("ann", "c-smith", "correct", "q-smith",
         "The cloud is someone else's computer — and someone else's contract.",
         "--at", "2011-06-09T09:42"),
    step("ann", "n-tests", "note",
         "Smith's three tests before moving a service:\n\ncost, control, and an <exit> plan.",
         "--at", "2011-06-09T09:45"),
    step("bob", "p-round", "photo", "https://photos.example.org/socitm-2011/roundtable.jpg",
         "--caption", "Round the table in Room 2", "--at", "2011-06-09T09:50"),
    step("ann", "t-smith-end", "talk", "end", "--at", "2011-06-09T09:55"),
    step("ann", "t-jones", "talk", "start", "Agile, in practice", "--speaker", "Cy Jones",
         "--role", "Head of Digital", "--org", "Leeds City Council",
         "--at", "2011-06-09T10:00"),
    step("ann", "n-demo", "note", "A live demo of the bin-collection app.",
         "--at", "2011-06-09T10:10"),
    step("ann", "q-jones", "quote", "Ship small, ship often.", "--at", "2011-06-09T10:15"),
    step("bob", "s-round-end", "session", "end", "--at", "2011-06-09T10:20"),
    step("ann", "r-demo", "retract", "n-demo", "--reason", "The demo was cancelled.",
         "--at", "2011-06-09T10:22"),
    step("ann", "t-jones-end", "talk", "end", "--at", "2011-06-09T10:25"),
    step("ann", "s-plenary-end", "session", "end", "--at", "2011-06-09T10:30"),
    step("ann", "s-keynote", "session", "start", "Closing keynote", "--kind", "keynote",
         "--room", "Hall 1", "--at", "2011-06-09T11:00"),
    step("ann", "t-patel", "talk", "start", "What next for local public services",
         "--speaker", "Dee Patel", "--role", "Chief Executive", "--org", "Socitm",
         "--at", "2011-06-09T11:05"),
    step("ann", "q-patel", "quote", "Digital is not a project; it is how we work now.",
         "--at", "2011-06-09T11:20"),
    step("ann", "t-patel-end", "talk", "end", "--at", "2011-06-09T11:40"),
    step("ann", "s-keynote-end", "session", "end", "--at", "2011-06-09T11:45"),
    step("ann", "day-2-closed", "day", "close", "--at", "2011-06-09T17:00"),
    step("ann", "day-3", "day", "open", "3", "--at", "2011-06-10T09:00"),
    step("ann", "d3-note", "note", "Day three opened with a fire drill.",
         "--at", "2011-06-10T09:10"),
]  # fmt: skip


def clean_env(**values: str) -> dict[str, str]:
    """This process's environment without any LIVEBLOG_* variable, plus `values`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIVEBLOG_")}
    env.update(values)
    return env


@dataclass
class Backend:
    """One log (an events.db path or a PostgreSQL URL) and the CLI run against it."""

    name: str
    db: str
    root: Path
    launcher: subprocess.Popen[str] | None = None
    runs: int = 0

    def run(
        self, *args: str, author: str = "ann", ids: tuple[str, ...] = (), quiet: bool = True
    ) -> str:
        """`liveblog --db DB ARGS` in a process of its own (forked by this backend's
        launcher); must succeed (with nothing on stderr if `quiet`). Returns stdout."""
        if self.launcher is None:
            self.launcher = subprocess.Popen(
                [sys.executable, "-c", LAUNCHER],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                env=clean_env(),
                cwd=self.root,
            )
        assert self.launcher.stdin is not None and self.launcher.stdout is not None
        self.runs += 1
        out, err = (self.root.parent / f"{self.name}-{self.runs}.{n}" for n in ("out", "err"))
        request = {
            "args": ["--db", self.db, *args],
            "env": clean_env(LIVEBLOG_AUTHOR=author, **{IDS_ENV: ",".join(ids)}),
            "cwd": str(self.root),
            "out": str(out),
            "err": str(err),
        }
        self.launcher.stdin.write(json.dumps(request) + "\n")
        self.launcher.stdin.flush()
        ready, _, _ = select.select([self.launcher.stdout], [], [], CLI_SECONDS)
        assert ready, (self.name, args, "no exit status within", CLI_SECONDS)
        line = self.launcher.stdout.readline()
        assert line, (self.name, args, "the launcher died")
        returncode = json.loads(line)
        stdout, stderr = out.read_text(encoding="utf-8"), err.read_text(encoding="utf-8")
        assert returncode == 0, (self.name, args, stdout, stderr)
        if quiet:
            assert stderr == "", (self.name, args, stderr)
        assert "Traceback" not in stderr
        return stdout

    def close(self) -> None:
        if self.launcher is not None:
            assert self.launcher.stdin is not None
            self.launcher.stdin.close()
            self.launcher.wait(timeout=CLI_SECONDS)

    def type_the_day(self) -> None:
        for item in DAY:
            out = self.run(*item.args, author=item.author, ids=item.ids)
            # One line per appended event, naming it (`#N type id…`).
            assert len(out.splitlines()) == len(item.ids), (self.name, item.args, out)

    def export(self) -> list[dict[str, Any]]:
        return parse(self.run("export"))

    def summary(self, day: str, fmt: str) -> str:
        return self.run("summary", day, "--conference", SLUG, "--format", fmt)

    def publish(self, feeds: Path) -> dict[str, bytes]:
        # Its stderr is a timing line ("wrote 16 files in 0.34 s…"): not compared.
        args = ("--feeds", str(feeds), "publish", "--feeds-url", FEEDS_URL, "--page-size", "3")
        self.run(*args, quiet=False)
        return snapshot(feeds)


def parse(text: str) -> list[dict[str, Any]]:
    # Only "\n" ends a line: text fields may hold U+2028 and the like.
    return [json.loads(line) for line in text.split("\n") if line]


def without(events: list[dict[str, Any]], *keys: str) -> list[dict[str, Any]]:
    return [{k: v for k, v in e.items() if k not in keys} for e in events]


def snapshot(root: Path) -> dict[str, bytes]:
    """Every published file under `root` (not hidden state files), by relative path."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)
    }


def differing(a: dict[str, bytes], b: dict[str, bytes]) -> list[str]:
    return sorted(name for name in a.keys() | b.keys() if a.get(name) != b.get(name))


def golden_differences(published: dict[str, bytes]) -> list[str]:
    """Files that differ from the golden feeds; the live page's script and stylesheet are
    not golden files but copies of the package's own (checked as such)."""
    from liveblog.pages.assets import ASSETS, asset

    rest = dict(published)
    wrong = [
        path
        for path in [p for p in rest if Path(p).name in ASSETS]
        if rest.pop(path) != asset(Path(path).name)
    ]
    return wrong + differing(rest, snapshot(GOLDEN / "feeds"))


def sample_events() -> list[dict[str, Any]]:
    return parse(SAMPLE.read_text(encoding="utf-8"))


def as_typed(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Events as content: what the log assigns dropped (recorded_at, position, version,
    the schema version it wrote), and unset fields (None, no hosts) as if absent, as
    the sample file leaves them out."""
    return [
        {
            **without([e], "recorded_at", "position", "version", "schema_version")[0],
            "data": {k: v for k, v in e["data"].items() if v is not None and v != []},
        }
        for e in events
    ]


@pytest.fixture
def backends(tmp_path: Path, pg_url: str) -> Iterator[tuple[Backend, Backend]]:
    (tmp_path / "sqlite").mkdir()
    (tmp_path / "pg").mkdir()
    pair = (
        Backend("sqlite", str(tmp_path / "sqlite" / "events.db"), tmp_path / "sqlite"),
        Backend("postgresql", pg_url, tmp_path / "pg"),
    )
    yield pair
    for backend in pair:
        backend.close()


def both(backends: tuple[Backend, Backend], job: Any) -> tuple[Any, Any]:
    """`job(backend)` on both backends at once (each its own processes)."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        first, second = (pool.submit(job, b) for b in backends)
        return first.result(), second.result()


def test_the_day_typed_on_postgresql_gives_what_it_gives_on_sqlite(
    backends: tuple[Backend, Backend], tmp_path: Path
) -> None:
    both(backends, Backend.type_the_day)

    # The export: the same events, in the same positions, but for the log's own clock.
    lite_events, pg_events = both(backends, Backend.export)
    assert len(pg_events) == len(sample_events())
    assert [e["position"] for e in pg_events] == list(range(1, len(pg_events) + 1))
    assert without(pg_events, "recorded_at") == without(lite_events, "recorded_at")
    assert all(e["recorded_at"] for e in pg_events)
    # … and what was typed is the sample itself (so the golden files apply below).
    assert as_typed(pg_events) == as_typed(sample_events())

    # Every day's summary, in every format.
    pg_summaries = {}
    for day in DAYS:
        for fmt in FORMATS:
            lite_text, pg_text = both(backends, lambda b, d=day, f=fmt: b.summary(d, f))
            assert pg_text == lite_text, (day, fmt)
            pg_summaries[day, fmt] = pg_text
    for fmt, ext in zip(FORMATS, ("md", "html", "json"), strict=True):
        golden = (GOLDEN / f"day-2.{ext}").read_text(encoding="utf-8")
        assert pg_summaries["2", fmt] == golden, fmt

    # The feeds: every file, byte for byte (archives, pages and the index too).
    lite_feeds, pg_feeds = both(backends, lambda b: b.publish(tmp_path / f"feeds-{b.name}"))
    assert f"{SLUG}/live.atom" in pg_feeds
    assert differing(pg_feeds, lite_feeds) == []
    assert golden_differences(pg_feeds) == []


def test_the_imported_sample_gives_the_golden_files_on_postgresql(
    backends: tuple[Backend, Backend], tmp_path: Path
) -> None:
    """The same through `import` (ids and times from the file): export, summaries and
    feeds as on SQLite, and as the golden files."""
    both(backends, lambda b: b.run("import", str(SAMPLE)))
    pg = backends[1]
    lite_events, pg_events = both(backends, Backend.export)
    assert without(pg_events, "recorded_at") == without(lite_events, "recorded_at")
    assert as_typed(pg_events) == as_typed(sample_events())
    for fmt, ext in zip(FORMATS, ("md", "html", "json"), strict=True):
        golden = (GOLDEN / f"day-2.{ext}").read_text(encoding="utf-8")
        assert pg.summary("2", fmt) == golden, fmt
    pg_feeds = pg.publish(tmp_path / "feeds-pg")
    assert golden_differences(pg_feeds) == []
    # Publishing again with nothing new changes no file.
    assert pg.publish(tmp_path / "feeds-pg") == pg_feeds


def test_key_moments_and_a_pin_give_the_same_files_on_postgresql(
    backends: tuple[Backend, Backend], tmp_path: Path
) -> None:
    """The sample with key moments and a pin (tests/golden/key-moments.jsonl): the day
    summary (as its golden files) and every published file, byte for byte, on both."""
    marks = GOLDEN / "key-moments.jsonl"
    both(backends, lambda b: b.run("import", str(SAMPLE)))
    both(backends, lambda b: b.run("import", str(marks)))
    for fmt, ext in zip(FORMATS, ("md", "html", "json"), strict=True):
        lite_text, pg_text = both(backends, lambda b, f=fmt: b.summary("2", f))
        assert pg_text == lite_text, fmt
        golden = (GOLDEN / f"day-2-key-moments.{ext}").read_text(encoding="utf-8")
        assert pg_text == golden, fmt
    lite_feeds, pg_feeds = both(backends, lambda b: b.publish(tmp_path / f"marked-{b.name}"))
    assert differing(pg_feeds, lite_feeds) == []
    # The marks are in what was compared: the pin in the live feed (page size 3: the
    # key moments' entries are archived, and the latest mark's entry took the live slot),
    # the key moments on the day page.
    assert b'<category term="pinned"/>' in pg_feeds[f"{SLUG}/live.atom"]
    day_page = pg_feeds[f"{SLUG}/day-2.html"]
    assert b'<section class="key-moments">' in day_page
    assert b"Cloud [contract] &amp; &lt;risk&gt;</a>" in day_page
