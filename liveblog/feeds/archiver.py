"""A second process for the archive documents of a first full publish.

Archive documents are most of a first full publish of a big log, and each depends only
on its own block of the log (its entries, and their edits before the block's end: all
of it already in the log, whatever is appended meanwhile). So when a publish has many
to write, the publisher hands every other run of blocks to one helper process (a new
Python process: no fork of one with threads and open databases) and renders the others
itself. Two CPUs render, and the bytes are the ones the publisher would have written:
the same functions write them.

The helper (`main`, started with `python -c`) reads one JSON request on stdin: the
database, the publish options, the conference, how many archives it will have, and
its runs, each a list of [number, first, last, following]. For each run, in order, it
renders and writes the documents (atomically, as every feed file) and prints one JSON
line: the files, each [path, changed]. On failure it prints {"error": "..."}, exits 1.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

HELPER_FROM = 400
"""A publish with this many archive documents to write, or more, shares them with a
helper process (starting one costs about as much as rendering a few dozen)."""

Run = list[tuple[int, int, int, int]]  # (number, first, last, following) per block

# The helper imports this very liveblog, wherever this one was imported from (a source
# checkout first on sys.path; an installed one, already there, stays where it is).
_START = (
    "import sys; here = sys.argv[1]; "
    "sys.path.insert(0, here) if here not in sys.path else None; "
    "from liveblog.feeds.archiver import main; sys.exit(main())"
)


class ArchiveHelper:
    """The publishing side: starts the helper, hands it its runs, reads their files."""

    def __init__(self, database: str, options: Any, slug: str, total: int, runs: list[Run]) -> None:
        request = {
            "database": database,
            "feeds_dir": str(options.feeds_dir),
            "feeds_url": options.feeds_url,
            "page_size": options.page_size,
            "hub": options.hub,
            "slug": slug,
            "total": total,
            "runs": runs,
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

    def next_run(self) -> list[tuple[Path, bool]]:
        """The files of the helper's next run, once it has written them."""
        line = self._stdout.readline()
        answer = json.loads(line) if line.strip() else {"error": "it stopped"}
        if isinstance(answer, dict):
            self._process.wait()
            detail = self._stderr_tail()
            self.close()
            raise RuntimeError(
                f"the archive helper process failed: {answer.get('error')}"
                + (f" ({detail})" if detail else "")
            )
        return [(Path(path), bool(changed)) for path, changed in answer]

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

    def __enter__(self) -> ArchiveHelper:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def database_path(conn: Any) -> str | None:
    """The file `conn` reads (None for a database in memory or a temporary one)."""
    for _, name, file in conn.execute("PRAGMA database_list"):
        if name == "main":
            return str(file) if file else None
    return None


def _serve(request: dict[str, Any], out: IO[str]) -> None:
    from ..store.sqlite import open_raw
    from .atom import render_atom
    from .files import ConcurrentWrites
    from .model import archive_contents, load_conference
    from .publisher import PublishOptions, _Site, archive_document

    path = os.path.abspath(request["database"])
    conn = open_raw(f"file:{quote(path)}?mode=ro", uri=True)
    try:
        slug, total = request["slug"], request["total"]
        conference = load_conference(conn, slug)
        if conference is None:
            raise LookupError(f"no conference {slug!r}")
        options = PublishOptions(
            feeds_dir=Path(request["feeds_dir"]),
            feeds_url=request["feeds_url"],
            page_size=request["page_size"],
            hub=request["hub"],
        )
        site = _Site(conference, options)
        folder = options.feeds_dir / slug / "archive"
        files: list[tuple[str, bool]] = []
        with ConcurrentWrites(lambda path, changed: files.append((str(path), changed))) as w:
            for run in request["runs"]:
                blocks = [(first, last, following) for _, first, last, following in run]
                contents = archive_contents(conn, slug, blocks)
                for (number, *_), (entries, gone) in zip(run, contents, strict=True):
                    doc = archive_document(site, number, entries, gone, total)
                    w.write(folder / f"{number}.atom", render_atom(doc))
                w.flush()
                out.write(json.dumps(files) + "\n")
                out.flush()
                files.clear()
    finally:
        conn.close()


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
