"""ConcurrentWrites: many files written on threads, reported in order, errors not lost."""

from __future__ import annotations

import os
import threading
from pathlib import Path

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
