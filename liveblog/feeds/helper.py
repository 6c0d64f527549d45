"""A second process for a first full publish: half the archive documents and day pages.

Archive documents and day pages are nearly all of a first full publish of a big log,
and each depends only on its own part of the log: an archive on its block (its entries,
and their edits before the block's end, all already in the log whatever is appended
meanwhile), a day page on its day. So when a publish has many of them to write, the
publisher hands every other run of them to one helper process (a new Python process:
no fork of one with threads and open databases) and renders the others itself. Two
CPUs render, and the bytes are the ones the publisher would have written: the same
functions write them, and the publisher takes the files back in their place in order.

The helper (`main`, started with `python -c`) reads one JSON request on stdin: the
database (the timeline's `location()`: a SQLite file, or a PostgreSQL URL, which goes
through the pipe, never the command line where `ps` would show its password), the
publish options, the conference and the job: "archives" (how many there will be, and
runs of [number, first, last, following]) or "days" (runs of day numbers). For each
run, in order, it renders and writes the files (atomically, as every feed file) and
prints one JSON line, a list with one item per file: [path, changed] for an archive,
[path, changed, article, title, reporters] for a day page (the reflections feeds are
made of the articles). On failure it prints {"error": "..."} and exits 1.

A day page rendered here reads the log as it is when the helper reads it, which may be
a little newer than the publisher's snapshot if a reporter posts meanwhile; the next
publish renders that day again anyway (its conference has a newer event).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

HELPER_ENTRIES = 40_000
"""A conference whose archives (or day pages) to write hold this many entries, or more,
shares them with a helper process. Starting one costs about 0.6 s of CPU (importing
liveblog) and its first answer waits for that; 40,000 entries are several seconds of
rendering."""
DAYS_PER_RUN = 4

# The helper imports this very liveblog, wherever this one was imported from (a source
# checkout first on sys.path; an installed one, already there, stays where it is).
_START = (
    "import sys; here = sys.argv[1]; "
    "sys.path.insert(0, here) if here not in sys.path else None; "
    "from liveblog.feeds.helper import main; sys.exit(main())"
)


class Helper:
    """The publishing side: starts the helper, hands it its job, reads each run's files."""

    def __init__(self, database: str, options: Any, slug: str, job: dict[str, Any]) -> None:
        request = {
            "database": database,
            "feeds_dir": str(options.feeds_dir),
            "feeds_url": options.feeds_url,
            "page_size": options.page_size,
            "hub": options.hub,
            "slug": slug,
            "job": job,
        }
        self._stderr = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 (closed by close)
        self._process = subprocess.Popen(
            [sys.executable, "-c", _START, str(Path(__file__).resolve().parents[2])],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
        )
        assert self._process.stdin is not None and self._process.stdout is not None
        self._stdout: IO[str] = self._process.stdout
        self._process.stdin.write(json.dumps(request) + "\n")
        self._process.stdin.close()

    def next_run(self) -> list[list[Any]]:
        """The files of the helper's next run, once it has written them."""
        line = self._stdout.readline()
        answer = json.loads(line) if line.strip() else {"error": "it stopped"}
        if isinstance(answer, dict):
            self._process.wait()
            detail = self._stderr_tail()
            self.close()
            raise RuntimeError(
                f"the publish helper process failed: {answer.get('error')}"
                + (f" ({detail})" if detail else "")
            )
        return list(answer)

    def _stderr_tail(self) -> str:
        try:
            self._stderr.seek(0)
            lines = self._stderr.read().strip().splitlines()
        except (OSError, ValueError):
            return ""
        return lines[-1] if lines else ""

    def close(self) -> None:
        """Stop the helper if it is still running (a failure on the publishing side)."""
        if self._process.poll() is None:
            self._process.kill()
        self._process.wait()
        self._stdout.close()
        self._stderr.close()

    def __enter__(self) -> Helper:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _open(location: str) -> tuple[Any, Callable[[], None]]:
    """The timeline at `location` (the publisher's `Timeline.location()`), read-only, on a
    connection of this process, and how to close it: a PostgreSQL URL, or a SQLite file."""
    if location.split("://", 1)[0].lower() in ("postgresql", "postgres"):
        from ..store.postgres import timeline as postgres

        found: Any = postgres.open_timeline(location)
        return found, lambda: postgres.close_timeline(found)
    from ..store.sqlite import timeline as sqlite

    opened = sqlite.open_timeline(os.path.abspath(location))
    return opened, lambda: sqlite.close_timeline(opened)


def _serve(request: dict[str, Any], out: IO[str]) -> None:
    from ..summary import build_day_summary
    from ..summary.render import render_day_html
    from .atom import render_atom
    from .files import ConcurrentWrites
    from .model import archive_contents, load_conference
    from .publisher import PublishOptions, _Site, archive_document

    timeline, close_timeline = _open(request["database"])
    try:
        slug, job = request["slug"], request["job"]
        conference = load_conference(timeline, slug)
        if conference is None:
            raise LookupError(f"no conference {slug!r}")
        options = PublishOptions(
            feeds_dir=Path(request["feeds_dir"]),
            feeds_url=request["feeds_url"],
            page_size=request["page_size"],
            hub=request["hub"],
        )
        site = _Site(conference, options)
        folder = options.feeds_dir / slug
        files: list[list[Any]] = []
        with ConcurrentWrites(lambda path, changed: files.append([str(path), changed])) as w:
            for run in job["runs"]:
                extra: list[list[Any]] = []
                if job["kind"] == "archives":
                    blocks = [(first, last, following) for _, first, last, following in run]
                    contents = archive_contents(timeline, slug, blocks)
                    for (number, *_), (entries, gone) in zip(run, contents, strict=True):
                        doc = archive_document(site, number, entries, gone, job["total"])
                        w.write(folder / "archive" / f"{number}.atom", render_atom(doc))
                else:
                    for number in run:
                        summary = build_day_summary(timeline, slug, number)
                        page, article = render_day_html(summary)
                        w.write(folder / f"day-{number}.html", page.encode())
                        extra.append([article, summary["title"], summary["reporters"]])
                w.flush()
                if extra:
                    files[:] = [f + e for f, e in zip(files, extra, strict=True)]
                out.write(json.dumps(files) + "\n")
                out.flush()
                files.clear()
    finally:
        close_timeline()


def main() -> int:
    try:
        _serve(json.loads(sys.stdin.readline()), sys.stdout)
    except BaseException as exc:  # everything goes back to the publisher, as one line
        sys.stdout.write(json.dumps({"error": f"{type(exc).__name__}: {exc}"}) + "\n")
        sys.stdout.flush()
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
