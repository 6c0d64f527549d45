"""`publish` renders only what changed (issue 11): real files, real SQLite, the real CLI.

A publish renders the conferences with events after the feeds directory's high-water
mark, the conferences whose folder is gone, and those whose files the rotating audit
finds deleted or edited; everything when the marker is missing, the options changed, or
with --all. `PublishResult.rendered` says which conferences were rendered: the tests
count renders through it, and check the files of the others by inode and mtime.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from terminals import run_on_a_terminal

from liveblog.feeds import PublishOptions, PublishResult
from liveblog.feeds import publisher as publisher_module
from liveblog.service.facade import Liveblog
from liveblog.store.sqlite.driver import open_raw

Invoke = Callable[..., Result]

FEEDS_URL = "https://feeds.example.org/feeds"
SLUGS = ("conf-a", "conf-b", "conf-c")
PAGE = "3"  # small pages: each conference has archives


@pytest.fixture
def feeds(tmp_path: Path) -> Path:
    return tmp_path / "feeds"


def ok(invoke: Invoke, *args: str) -> Result:
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    return result


def open_conference(invoke: Invoke, slug: str, notes: int = 7) -> None:
    ok(invoke, "conference", "open", slug, "--title", f"Conference {slug}",
       "--timezone", "Europe/London", "--at", "2011-06-09T08:30")  # fmt: skip
    ok(invoke, "day", "open", "1", "--conference", slug, "--at", "2011-06-09T09:00")
    for n in range(notes):
        ok(
            invoke,
            "note",
            f"{slug} note {n}",
            "--conference",
            slug,
            "--at",
            f"2011-06-09T10:{n:02d}",
        )


@pytest.fixture
def three(invoke: Invoke) -> None:
    """Three conferences of seven notes each (two archives each at page size 3)."""
    for slug in SLUGS:
        open_conference(invoke, slug)


def publish_cli(invoke: Invoke, feeds: Path, *options: str, url: str = FEEDS_URL) -> Result:
    args = ("--feeds", str(feeds), "publish", "--feeds-url", url, "--page-size", PAGE, *options)
    return ok(invoke, *args)


def publish(db_path: Path, feeds: Path, *, url: str = FEEDS_URL, **kw: Any) -> PublishResult:
    with Liveblog(str(db_path), "ann") as blog:
        options = PublishOptions(feeds_dir=feeds, feeds_url=url, page_size=int(PAGE))
        return blog.publish(options, **kw)


def contents(root: Path) -> dict[str, bytes]:
    """Every published file under `root`, by relative path: not the hidden ones (the
    marker holds a random id, `.state.json` the log's head when it was written)."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.name.startswith(".")
    }


def identities(folder: Path) -> dict[str, tuple[int, int]]:
    """(inode, mtime_ns) of every file under `folder`: a rewrite (by rename) changes both."""
    return {
        p.relative_to(folder).as_posix(): (p.stat().st_ino, p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def fresh_copy(db_path: Path, tmp_path: Path, name: str, url: str = FEEDS_URL) -> dict[str, bytes]:
    """What one publish of the whole log into an empty directory writes."""
    place = tmp_path / name
    publish(db_path, place, url=url)
    return contents(place)


def data_version_watcher(db_path: Path) -> Callable[[], int]:
    """`PRAGMA data_version` seen from another connection: changes when anything commits."""
    conn = open_raw(db_path)
    return lambda: int(conn.execute("PRAGMA data_version").fetchone()[0])


# -- what changed is what is rendered -------------------------------------------------------


@pytest.mark.usefixtures("three")
def test_one_new_note_renders_only_its_conference(
    invoke: Invoke, db_path: Path, feeds: Path, tmp_path: Path
) -> None:
    first = publish(db_path, feeds)
    assert sorted(first.rendered) == list(SLUGS)
    others = {slug: identities(feeds / slug) for slug in ("conf-a", "conf-b")}
    ok(invoke, "note", "one more", "--conference", "conf-c", "--at", "2011-06-09T11:00")

    result = publish(db_path, feeds)
    assert result.rendered == ["conf-c"]
    assert {p.relative_to(feeds).parts[0] for p in result.changed} == {"conf-c"}
    assert any(p.name == "live.atom" for p in result.changed)
    for slug, before in others.items():
        assert identities(feeds / slug) == before, f"{slug} was rewritten"
    assert contents(feeds) == fresh_copy(db_path, tmp_path, "once")

    # Any event counts, not only entries: a day opened shows in that conference's pages.
    ok(invoke, "day", "close", "--conference", "conf-a", "--at", "2011-06-09T18:00")
    assert publish(db_path, feeds).rendered == ["conf-a"]
    assert "Day 1" in (feeds / "conf-a" / "reflections.atom").read_text()
    ok(invoke, "day", "open", "2", "--conference", "conf-a", "--at", "2011-06-10T09:00")
    assert publish(db_path, feeds).rendered == ["conf-a"]
    assert (feeds / "conf-a" / "day-2.html").is_file()

    # Nothing new: nothing rendered, and nothing written to the database either (a
    # write would wake every process watching it, the scheduler included).
    version = data_version_watcher(db_path)
    seen = version()
    idle = publish(db_path, feeds)
    assert (idle.rendered, idle.changed) == ([], [])
    assert version() == seen


@pytest.mark.usefixtures("three")
def test_the_cli_says_what_it_wrote_and_how_fast(
    invoke: Invoke, db_path: Path, feeds: Path
) -> None:
    result = publish_cli(invoke, feeds)
    listed = result.stdout.splitlines()
    assert listed and all(Path(line).is_file() for line in listed)
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith(f"wrote {len(listed)} files in ") and "files/s" in line
    assert line.endswith("rendered 3 conferences"), line
    ok(invoke, "note", "one more", "--conference", "conf-b", "--at", "2011-06-09T11:00")
    again = publish_cli(invoke, feeds)
    assert all(line.startswith(str(feeds / "conf-b")) for line in again.stdout.splitlines())
    assert again.stderr.strip().endswith("rendered 1 conference")
    assert publish_cli(invoke, feeds).stderr.strip() == "no changes"


@pytest.mark.usefixtures("three")
def test_a_correction_of_an_archived_entry_renders_its_conference(
    invoke: Invoke, db_path: Path, feeds: Path, tmp_path: Path
) -> None:
    publish(db_path, feeds)
    archived = json.loads(ok(invoke, "export").stdout.splitlines()[2])  # conf-a's first note
    assert archived["type"] == "note.posted" and archived["conference"] == "conf-a"
    others = {slug: identities(feeds / slug) for slug in ("conf-b", "conf-c")}
    ok(invoke, "correct", archived["id"], "corrected words", "--at", "2011-06-09T12:00")

    result = publish(db_path, feeds)
    assert result.rendered == ["conf-a"]
    live = (feeds / "conf-a" / "live.atom").read_text()
    assert "corrected words" in live  # the archived entry comes back to the live feed
    assert "corrected words" in (feeds / "conf-a" / "day-1.html").read_text()
    for slug, before in others.items():
        assert identities(feeds / slug) == before
    assert contents(feeds) == fresh_copy(db_path, tmp_path, "once")

    # A retraction, too (it names an entry, not only a conference).
    ok(invoke, "retract", archived["id"], "--at", "2011-06-09T12:30")
    assert publish(db_path, feeds).rendered == ["conf-a"]
    assert contents(feeds) == fresh_copy(db_path, tmp_path, "twice")


@pytest.mark.usefixtures("three")
def test_changed_options_render_everything_archives_included(
    invoke: Invoke, db_path: Path, feeds: Path, tmp_path: Path
) -> None:
    publish(db_path, feeds)
    other = "https://elsewhere.example.net/f"
    result = publish(db_path, feeds, url=other)
    assert sorted(result.rendered) == list(SLUGS)
    assert (feeds / "conf-a" / "archive" / "1.atom").read_text().count(other) > 0
    assert contents(feeds) == fresh_copy(db_path, tmp_path, "fresh", url=other)
    # And through the CLI: back to the first URL, every conference again.
    line = publish_cli(invoke, feeds).stderr.strip().splitlines()[-1]
    assert line.endswith("rendered 3 conferences")
    assert contents(feeds) == fresh_copy(db_path, tmp_path, "first")


# -- lost and damaged files -----------------------------------------------------------------


@pytest.mark.usefixtures("three")
def test_deleting_feeds_republishes_byte_identical_files(
    invoke: Invoke, db_path: Path, feeds: Path
) -> None:
    publish_cli(invoke, feeds)
    before = contents(feeds)
    shutil.rmtree(feeds)
    result = publish(db_path, feeds)
    assert sorted(result.rendered) == list(SLUGS) and result.everything
    assert contents(feeds) == before
    assert (feeds / ".published").is_file()


@pytest.mark.usefixtures("three")
def test_a_deleted_conference_folder_is_restored_alone(
    db_path: Path, feeds: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    publish(db_path, feeds)
    monkeypatch.setattr(publisher_module, "AUDIT_FILES", 0)  # found by feeds/'s mtime alone
    before = contents(feeds)
    others = {slug: identities(feeds / slug) for slug in ("conf-a", "conf-c")}
    shutil.rmtree(feeds / "conf-b")
    result = publish(db_path, feeds)
    assert result.rendered == ["conf-b"] and result.repaired == ["conf-b"]
    assert contents(feeds) == before
    for slug, identity in others.items():
        assert identities(feeds / slug) == identity


@pytest.mark.usefixtures("three")
def test_the_audit_restores_files_deleted_or_edited_by_hand(db_path: Path, feeds: Path) -> None:
    """Files no ordinary publish would rewrite: an old archive, an old day page."""
    publish(db_path, feeds)
    before = contents(feeds)
    (feeds / "conf-a" / "archive" / "1.atom").unlink()
    day = feeds / "conf-c" / "day-1.html"
    day.write_bytes(day.read_bytes().replace(b"note", b"NOTE"))
    result = publish(db_path, feeds)  # every file fits in one audit window here
    assert result.audited > 0
    assert result.repaired == ["conf-a", "conf-c"] == result.rendered
    assert contents(feeds) == before
    again = publish(db_path, feeds)
    assert (again.rendered, again.changed) == ([], [])


@pytest.mark.usefixtures("three")
def test_the_audit_is_bounded_and_goes_round(
    db_path: Path, feeds: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    publish(db_path, feeds)
    files = sum(1 for p in feeds.rglob("*") if p.is_file() and p.name != ".published")
    monkeypatch.setattr(publisher_module, "AUDIT_FILES", 4)
    (feeds / "conf-b" / "archive" / "2.atom").unlink()
    rounds = 0
    while not (feeds / "conf-b" / "archive" / "2.atom").exists():
        result = publish(db_path, feeds)
        assert result.audited == 4
        rounds += 1
        assert rounds <= -(-files // 4), "the audit did not reach the file in one round"
    assert result.rendered == ["conf-b"]


@pytest.mark.usefixtures("three")
def test_publish_all_repairs_what_the_audit_has_not_reached(
    invoke: Invoke, db_path: Path, feeds: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    publish_cli(invoke, feeds)
    before = contents(feeds)
    monkeypatch.setattr(publisher_module, "AUDIT_FILES", 0)
    (feeds / "conf-b" / "archive" / "1.atom").unlink()
    (feeds / "conf-a" / "index.html").write_text("defaced")
    assert publish_cli(invoke, feeds).stderr.strip() == "no changes"  # nothing seen
    result = publish_cli(invoke, feeds, "--all")
    assert result.stderr.strip().endswith("rendered 3 conferences")
    assert sorted(result.stdout.split()) == sorted(
        [str(feeds / "conf-a" / "index.html"), str(feeds / "conf-b" / "archive" / "1.atom")]
    )
    assert contents(feeds) == before


# -- a publish that dies midway ------------------------------------------------------------

KILLED_PUBLISH = """
import os, signal, sys
from pathlib import Path
from typing import Any
from liveblog.feeds import PublishOptions
from liveblog.feeds import publisher
from liveblog.service.facade import Liveblog

db, feeds, url, page = sys.argv[1:]
original = publisher.Publisher._conference

def dying(self, conference, result, **kw):
    if conference.slug == "conf-c":  # conf-a and conf-b are written: die, unrecorded
        os.kill(os.getpid(), signal.SIGKILL)
    return original(self, conference, result, **kw)

publisher.Publisher._conference = dying
with Liveblog(db, "ann") as blog:
    blog.publish(PublishOptions(feeds_dir=Path(feeds), feeds_url=url, page_size=int(page)))
"""


@pytest.mark.usefixtures("three")
def test_a_publish_killed_midway_leaves_nothing_stale(
    invoke: Invoke, db_path: Path, feeds: Path, tmp_path: Path
) -> None:
    publish(db_path, feeds)
    for slug in SLUGS:
        ok(invoke, "note", f"late in {slug}", "--conference", slug, "--at", "2011-06-09T11:00")
    done = subprocess.run(
        [sys.executable, "-c", KILLED_PUBLISH, str(db_path), str(feeds), FEEDS_URL, PAGE],
        capture_output=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)},
    )
    assert done.returncode == -9, done.stderr.decode()
    assert "late in conf-a" in (feeds / "conf-a" / "live.atom").read_text()
    assert "late in conf-c" not in (feeds / "conf-c" / "live.atom").read_text()
    report = json.loads(ok(invoke, "--feeds", str(feeds), "status", "--json").stdout)
    assert report["feeds"]["lagging"] == 3  # nothing of the killed publish was recorded

    result = publish(db_path, feeds)
    assert sorted(result.rendered) == list(SLUGS)
    assert contents(feeds) == fresh_copy(db_path, tmp_path, "once")
    report = json.loads(ok(invoke, "--feeds", str(feeds), "status", "--json").stdout)
    assert (report["feeds"]["lag"], report["feeds"]["lagging"]) == (0, 0)


@pytest.mark.usefixtures("three")
def test_a_publish_that_fails_midway_records_nothing(
    invoke: Invoke, db_path: Path, feeds: Path, tmp_path: Path
) -> None:
    publish(db_path, feeds)
    for slug in SLUGS:
        ok(invoke, "note", f"late in {slug}", "--conference", slug, "--at", "2011-06-09T11:00")
    # A directory where conf-b's live feed goes: its write fails after conf-a's.
    live = feeds / "conf-b" / "live.atom"
    live.unlink()
    live.mkdir()
    with pytest.raises(OSError):
        publish(db_path, feeds)
    live.rmdir()
    result = publish(db_path, feeds)
    assert sorted(result.rendered) == list(SLUGS)
    assert contents(feeds) == fresh_copy(db_path, tmp_path, "once")


# -- progress --------------------------------------------------------------------------------


def test_progress_is_reported_for_large_plans_only(
    invoke: Invoke, db_path: Path, feeds: Path
) -> None:
    for n in range(publisher_module.PROGRESS_CONFERENCES):
        open_conference(invoke, f"c{n:02d}", notes=4)
    calls: list[tuple[int, int]] = []
    publish(db_path, feeds, progress=lambda done, total: calls.append((done, total)))
    totals = {total for _, total in calls}
    assert len(totals) == 1 and calls[0][0] == 0 and calls[-1][0] == totals.pop()
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)
    assert len(calls) > publisher_module.PROGRESS_CONFERENCES  # it moves within them, too
    calls.clear()
    ok(invoke, "note", "late", "--conference", "c03", "--at", "2011-06-09T11:00")
    assert publish(db_path, feeds, progress=lambda d, t: calls.append((d, t))).rendered == ["c03"]
    assert calls == []  # one conference: no bar


@pytest.mark.slow
def test_cli_publish_shows_a_progress_bar_on_a_terminal(
    invoke: Invoke, db_path: Path, feeds: Path, tmp_path: Path
) -> None:
    for n in range(publisher_module.PROGRESS_CONFERENCES):
        open_conference(invoke, f"c{n:02d}", notes=1)
    env = {**os.environ, "LIVEBLOG_DB": str(db_path), "LIVEBLOG_FEEDS": str(feeds)}
    env["PYTHONPATH"] = str(Path(__file__).parent.parent)
    done, terminal = run_on_a_terminal(["publish"], env, tmp_path)
    assert done.returncode == 0
    listed = done.stdout.splitlines()
    assert len(listed) == 11 * publisher_module.PROGRESS_CONFERENCES  # stdout: the paths only
    assert "publishing" in terminal and "100%" in terminal
    assert f"wrote {len(listed)} files in " in terminal


# -- status ---------------------------------------------------------------------------------


def test_status_reads_the_publisher_state_with_bounded_output(
    invoke: Invoke, db_path: Path, feeds: Path
) -> None:
    for n in range(13):
        open_conference(invoke, f"c{n:02d}", notes=0)
    report = json.loads(ok(invoke, "--feeds", str(feeds), "status", "--json").stdout)
    assert report["feeds"]["published"] is False
    publish(db_path, feeds)
    head = report["head"]
    human = ok(invoke, "--feeds", str(feeds), "status").stdout
    assert f"published at position {head}, lag 0" in human
    for n in range(12):
        ok(invoke, "note", "late", "--conference", f"c{n:02d}", "--at", "2011-06-09T11:00")
    with Liveblog(str(db_path), "ann") as blog:
        blog.catch_up()  # `status` reads: the conferences lagging are those projected
    report = json.loads(ok(invoke, "--feeds", str(feeds), "status", "--json").stdout)
    feeds_report = report["feeds"]
    assert (feeds_report["position"], feeds_report["lag"]) == (head, 12)
    assert feeds_report["lagging"] == 12
    shown = feeds_report["lagging_conferences"]
    assert [c["conference"] for c in shown] == [f"c{n:02d}" for n in range(10)]
    assert all(c["newest"] > c["position"] > 0 for c in shown)
    human = ok(invoke, "--feeds", str(feeds), "status").stdout
    assert human.count("not published yet\n") == 10 and "2 more conferences" in human


# -- the scheduler repairs by itself -----------------------------------------------------------


@pytest.mark.usefixtures("three")
def test_the_scheduler_audits_when_idle(
    db_path: Path, feeds: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from liveblog.scheduler import main as scheduler
    from liveblog.webhooks import DeliveryOptions

    monkeypatch.setattr(scheduler, "AUDIT_SECONDS", 0.3)
    options = scheduler.RunOptions(
        db_path=str(db_path),
        feeds=PublishOptions(feeds_dir=feeds, feeds_url=FEEDS_URL, page_size=int(PAGE)),
        delivery=DeliveryOptions(),
    )
    archive = feeds / "conf-a" / "archive" / "1.atom"
    lines: list[str] = []

    async def until(condition: Callable[[], bool], seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while not condition():
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.05)
        return True

    async def main() -> None:
        runner = scheduler.Scheduler(options, lines.append)
        await runner.start()
        try:
            assert await until(lambda: (feeds / "conf-c" / ".state.json").exists(), 20)
            assert await until(lambda: any(str(archive) in line for line in lines), 20)
            await asyncio.sleep(1.0)  # the publish after the first one's record, too
            original = archive.read_bytes()
            archive.unlink()  # nothing new in the log: only the idle audit can see it
            assert await until(archive.exists, 20), lines
            assert archive.read_bytes() == original
        finally:
            await runner.stop()

    asyncio.run(main())
