"""Marks on archived entries reach the live feeds: a key moment (or its removal) on an
entry that sits in an archive page brings it back to live.atom / live.rss, as a
correction does, with its category (or without it).

The sample log imported into a real SQLite file, or a PostgreSQL database, marked and
published by the CLI, read back with our own checkers (tests/feedcheck); the fixtures
are tests/test_feeds.py's, on the backend of `invoke`'s `--db`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from feedcheck import atom_entries, rss_items
from test_feeds import event_of, feeds, folder, publish, run_ok, sample, snapshot, validate

from liveblog.cli.main import cli

__all__ = ["feeds", "folder", "publish", "sample"]  # fixtures, used by name

Invoke = Callable[..., Result]


@pytest.fixture(params=["sqlite", "postgresql"])
def invoke(request: pytest.FixtureRequest, db_path: Path) -> Invoke:
    """The CLI in-process as reporter `ann`, on an events.db or a PostgreSQL database."""
    db = str(db_path) if request.param == "sqlite" else request.getfixturevalue("pg_url")
    runner = CliRunner()

    def run(*args: str, author: str = "ann", input: str | None = None) -> Result:
        return runner.invoke(
            cli, ["--db", db, "--author", author, *args], input=input, catch_exceptions=False
        )

    return run


def live_categories(folder: Path) -> dict[str, dict[str, list[object]]]:
    """Each live Atom entry's and RSS item's categories, by event id."""
    atom = {
        event_of(str(e["id"])): list(e["categories"])
        for e in atom_entries((folder / "live.atom").read_bytes())
    }
    rss = {
        event_of(str(i["guid"])): list(i["categories"])
        for i in rss_items((folder / "live.rss").read_bytes())
    }
    return {"atom": atom, "rss": rss}


def test_a_key_moment_on_an_archived_entry_comes_back_to_the_live_feeds(
    sample: Invoke, publish: Callable[..., Result], folder: Path, tmp_path: Path
) -> None:
    publish("--page-size", "3")
    archive_2 = (folder / "archive" / "2.atom").read_bytes()
    assert "q-burns" in [event_of(str(e["id"])) for e in atom_entries(archive_2)]
    before = live_categories(folder)
    assert "q-burns" not in before["atom"] and "q-burns" not in before["rss"]

    run_ok(sample, "highlight", "q-burns", "--label", "Go it alone")
    publish("--page-size", "3")
    found = live_categories(folder)
    assert found["atom"]["q-burns"] == [("key-moment", "Go it alone")]
    assert found["rss"]["q-burns"] == ["key-moment"]
    # The archive shows the entry as it stood; only the live documents change.
    assert (folder / "archive" / "2.atom").read_bytes() == archive_2
    assert validate(folder) == []
    # What the incremental publish wrote is what a publish from nothing writes.
    fresh = tmp_path / "fresh"
    publish("--page-size", "3", to=fresh)
    assert snapshot(folder) == snapshot(fresh / folder.name)

    # Taken back: the entry stays live a while, without its category, so readers drop it.
    run_ok(sample, "unhighlight", "q-burns")
    publish("--page-size", "3")
    found = live_categories(folder)
    assert found["atom"]["q-burns"] == [] and found["rss"]["q-burns"] == []
    assert validate(folder) == []


def test_an_archived_entry_unpinned_by_a_new_pin_comes_back_without_its_category(
    sample: Invoke, publish: Callable[..., Result], folder: Path
) -> None:
    # --page-size 6: three archive blocks, two live entries, room for four more.
    publish("--page-size", "6")
    assert {"q-burns", "n-hall"}.isdisjoint(live_categories(folder)["atom"])
    run_ok(sample, "pin", "q-burns")
    publish("--page-size", "6")
    assert live_categories(folder)["rss"]["q-burns"] == ["pinned"]
    run_ok(sample, "pin", "n-hall")  # archived too: one event, both come back
    publish("--page-size", "6")
    found = live_categories(folder)
    assert found["rss"]["n-hall"] == ["pinned"] and found["rss"]["q-burns"] == []
    assert found["atom"]["n-hall"] == [("pinned", None)] and found["atom"]["q-burns"] == []
    assert validate(folder) == []
