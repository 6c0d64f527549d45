"""ConcurrentWrites: many files written on threads, reported in order, errors not lost."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import pytest

from liveblog.feeds import files
from liveblog.feeds.files import ConcurrentWrites


@pytest.mark.parametrize("workers", [0, 1, 4])
def test_every_file_is_written_and_reported_in_order(tmp_path: Path, workers: int) -> None:
    (tmp_path / "same.atom").write_bytes(b"unchanged")
    seen: list[tuple[str, bool]] = []
    names = [f"{i}.atom" for i in range(100)]
    with ConcurrentWrites(lambda path, changed: seen.append((path.name, changed)), workers) as w:
        for name in names[:50]:
            w.write(tmp_path / "deep" / name, name.encode())
        w.write(tmp_path / "same.atom", b"unchanged")
        for name in names[50:]:
            w.write(tmp_path / "deep" / name, name.encode())
    expected = [(n, True) for n in names[:50]] + [("same.atom", False)]
    assert seen == expected + [(n, True) for n in names[50:]]
    for name in names:
        assert (tmp_path / "deep" / name).read_bytes() == name.encode()
    # Nothing left behind: no temporaries, no threads.
    assert sorted(p.name for p in (tmp_path / "deep").iterdir()) == sorted(names)
    assert not [t for t in threading.enumerate() if t.name.startswith("feeds-write")]


def test_a_failed_write_is_raised_after_the_ones_before_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = files.write_if_changed

    def failing(path: Path, data: bytes) -> bool:
        if path.name == "7.atom":
            raise OSError("disk full")
        return real(path, data)

    monkeypatch.setattr(files, "write_if_changed", failing)
    seen: list[str] = []
    with (
        pytest.raises(OSError, match="disk full"),
        ConcurrentWrites(lambda path, changed: seen.append(path.name), 4) as w,
    ):
        for i in range(40):
            w.write(tmp_path / f"{i}.atom", b"x")
    assert seen == [f"{i}.atom" for i in range(7)]
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".")]  # no temporaries
    assert not [t for t in threading.enumerate() if t.name.startswith("feeds-write")]


def test_an_error_while_rendering_waits_for_the_writes_in_flight(tmp_path: Path) -> None:
    with (
        pytest.raises(RuntimeError, match="render failed"),
        ConcurrentWrites(lambda path, changed: None, 4) as w,
    ):
        for i in range(10):
            w.write(tmp_path / f"{i}.atom", b"x")
        raise RuntimeError("render failed")
    assert sorted(os.listdir(tmp_path)) == sorted(f"{i}.atom" for i in range(10))


# -- the helper process ---------------------------------------------------------------

SAMPLE = Path(__file__).parent / "golden" / "sample-day.jsonl"


def publish_sample(
    folder: Path, monkeypatch: pytest.MonkeyPatch, *, helper: bool
) -> tuple[list[str], dict[str, bytes]]:
    """Publish the sample log with one-entry archive blocks (19 archives), read two at a
    time, and its 3 day pages one at a time: with the helper, it writes every other run
    of each (one helper for the archives, one for the days)."""
    from liveblog.feeds import PublishOptions, publisher
    from liveblog.feeds import helper as module
    from liveblog.service.facade import Liveblog

    started: list[str] = []

    class Counted(module.Helper):
        def __init__(self, *args: Any) -> None:
            started.append(args[3]["kind"])
            super().__init__(*args)

    monkeypatch.setattr(publisher, "Helper", Counted)
    monkeypatch.setattr(module, "HELPER_ENTRIES", 2 if helper else 10**9)
    monkeypatch.setattr(module, "DAYS_PER_RUN", 1)
    monkeypatch.setattr(publisher, "ARCHIVE_RUN_ENTRIES", 2)
    folder.mkdir()
    with Liveblog(folder / "events.db", "ann") as service:
        service.import_lines(SAMPLE.read_bytes().splitlines())
        feeds = folder / "feeds"
        result = service.publish(PublishOptions(feeds_dir=feeds, page_size=1))
    assert started == (["archives", "days"] if helper else [])
    # The marker holds a random id of its own: every other file must be the same.
    tree = {
        str(p.relative_to(feeds)): p.read_bytes()
        for p in feeds.rglob("*")
        if p.is_file() and p.name != publisher.MARKER_FILE
    }
    return [str(p.relative_to(feeds)) for p in result.changed], tree


def test_the_helper_writes_the_same_files_in_the_same_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    alone = publish_sample(tmp_path / "alone", monkeypatch, helper=False)
    shared = publish_sample(tmp_path / "shared", monkeypatch, helper=True)
    assert len([name for name in alone[0] if name.startswith("socitm-2011/archive/")]) == 19
    assert shared == alone


def test_a_failing_helper_fails_the_publish(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from liveblog.feeds import helper

    monkeypatch.setattr(helper, "_START", "import sys; sys.stdin.readline(); sys.exit(3)")
    with pytest.raises(RuntimeError, match="publish helper process failed: it stopped"):
        publish_sample(tmp_path / "failing", monkeypatch, helper=True)
