"""Pins and key moments through the real CLI: `liveblog pin|unpin|highlight|unhighlight`.

Each command appends one event and prints one line; each refusal is one `Error:` line,
exit 1, and appends nothing. The timeline projects what was appended, and `rebuild`
gives the same pinned entry and key moments back (the log is the only source of truth).
Run on SQLite (an events.db) and on PostgreSQL (`--db postgresql://…`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from servers import Proc, Workspace, assert_refused

SLUG = "demo"
EVENT_LINE = re.compile(r"^#(\d+) (\S+) ([0-9a-f]{8})\s+(.*)$")

# Entries with chosen ids (two share the prefix "abc"), imported in one process.
A1 = "abc1" + "0" * 28
A2 = "abc2" + "0" * 28
BOB = "b0b0" + "0" * 28
ANN_LAST = "f1f1" + "0" * 28
DAY_ID = "d0d0" + "0" * 28


def _line(id_: str, type_: str, at: str, data: dict[str, Any], author: str = "ann") -> str:
    return json.dumps(
        {
            "id": id_,
            "type": type_,
            "conference": SLUG,
            "occurred_at": f"2026-11-22T{at}:00+00:00",
            "author": author,
            "schema_version": 1,
            "data": data,
        }
    )


SETUP = "\n".join(
    [
        _line("c0c0" + "0" * 28, "conference.opened", "08:00", {"title": "Demo"}),
        _line(DAY_ID, "day.opened", "08:01", {"number": 1, "date": "2026-11-22"}),
        _line(A1, "note.posted", "09:00", {"day": 1, "text": "First"}),
        _line(A2, "note.posted", "09:01", {"day": 1, "text": "Second"}),
        _line(BOB, "note.posted", "09:02", {"day": 1, "text": "Bob's"}, author="bob"),
        _line(ANN_LAST, "note.posted", "09:03", {"day": 1, "text": "Ann's latest"}),
    ]
)


@dataclass
class Cli:
    """The CLI in real processes on one store: an events.db, or a PostgreSQL URL."""

    ws: Workspace
    db: str

    def run(self, *args: str, author: str = "ann") -> Proc:
        return self.ws.cli("--db", self.db, *args, author=author)

    def ok(self, *args: str) -> list[str]:
        proc = self.run(*args)
        assert proc.returncode == 0, (args, proc.stdout, proc.stderr)
        assert proc.stderr == "", proc.stderr
        return proc.out

    def event(self, *args: str) -> tuple[str, str]:
        """A command that appends one event: its (type, rest of the line)."""
        out = self.ok(*args)
        assert len(out) == 1, out
        match = EVENT_LINE.match(out[0])
        assert match, out
        return match.group(2), match.group(4)

    def exported(self) -> list[dict[str, Any]]:
        return [json.loads(x) for x in self.ok("export")]

    def marks(self) -> tuple[str | None, dict[str, str | None]]:
        """The projected pinned entry and key moments (label by id), read in this process
        from the store's timeline, caught up first (as every reader does)."""
        from liveblog.service.facade import Liveblog

        with Liveblog(self.db, "reader") as service:
            service.catch_up()
            timeline = service.stores.timeline
            pinned = timeline.pinned_entry(SLUG)
            moments = {e.id: e.highlight_label for e in timeline.key_moments(SLUG)}
        return (pinned.id if pinned else None), moments


@pytest.fixture(params=["sqlite", "postgres"])
def cli(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Cli]:
    ws = Workspace(tmp_path / "ws")
    db = str(ws.db) if request.param == "sqlite" else request.getfixturevalue("pg_url")
    out = Cli(ws, db)
    proc = ws.cli("--db", db, "import", "-", input=SETUP + "\n")
    assert proc.returncode == 0, proc.stderr
    yield out


def test_pin_unpin_highlight_unhighlight_append_one_event_each(cli: Cli) -> None:
    assert cli.event("pin", "--last") == ("entry.pinned", ANN_LAST[:8])
    assert cli.marks() == (ANN_LAST, {})
    # Pinning another (a unique prefix will do) replaces it: one event, no unpin written.
    assert cli.event("pin", "b0b") == ("entry.pinned", BOB[:8])
    assert cli.marks() == (BOB, {})
    # unpin takes no argument: the service finds the pinned entry.
    assert cli.event("unpin") == ("entry.unpinned", BOB[:8])
    assert cli.marks() == (None, {})
    assert cli.event("highlight", "abc1", "--label", "  The  opening ") == (
        "entry.highlighted",
        f"{A1[:8]}: The opening",
    )
    assert cli.event("highlight", "--last") == ("entry.highlighted", ANN_LAST[:8])
    # Highlighting a key moment again with another label relabels it.
    assert cli.event("highlight", "abc1", "--label", "Opening words") == (
        "entry.highlighted",
        f"{A1[:8]}: Opening words",
    )
    assert cli.event("unhighlight", "f1f1") == ("entry.unhighlighted", ANN_LAST[:8])
    assert cli.marks() == (None, {A1: "Opening words"})

    exported = cli.exported()
    marks = [(e["type"], e["data"]) for e in exported if e["type"].startswith("entry.")]
    assert marks == [
        ("entry.pinned", {"target": ANN_LAST}),
        ("entry.pinned", {"target": BOB}),
        ("entry.unpinned", {"target": BOB}),
        ("entry.highlighted", {"target": A1, "label": "The opening"}),
        ("entry.highlighted", {"target": ANN_LAST, "label": None}),
        ("entry.highlighted", {"target": A1, "label": "Opening words"}),
        ("entry.unhighlighted", {"target": ANN_LAST}),
    ]
    assert all(e["author"] == "ann" and e["conference"] == SLUG for e in exported[-7:])
    logged = cli.ok("log", "--since", str(exported[-8]["position"]))
    assert [line.split("  ")[4:] for line in logged] == [
        ["entry.pinned", exported[-7]["id"][:8], ANN_LAST[:8]],
        ["entry.pinned", exported[-6]["id"][:8], BOB[:8]],
        ["entry.unpinned", exported[-5]["id"][:8], BOB[:8]],
        ["entry.highlighted", exported[-4]["id"][:8], f"{A1[:8]}: The opening"],
        ["entry.highlighted", exported[-3]["id"][:8], ANN_LAST[:8]],
        ["entry.highlighted", exported[-2]["id"][:8], f"{A1[:8]}: Opening words"],
        ["entry.unhighlighted", exported[-1]["id"][:8], ANN_LAST[:8]],
    ]


REFUSALS = [
    # (command, what the one line says)
    (("pin", "b0b0"), f"{BOB} is already pinned in {SLUG}"),
    (("pin", "abc"), "abc"),  # ambiguous: two entries start with it
    # The marks appended here get random uuid4 ids, whose 13th hex digit is always 4:
    # a prefix with another digit there can never start one of them by chance.
    (("pin", "fffffffffffff"), "no event with an id starting 'fffffffffffff'"),
    (("pin", "d0d0"), "only entries"),  # a day is no entry
    (("pin",), "name one entry"),
    (("pin", "abc1", "--last"), "name one entry"),
    (("pin", "abc2"), "was retracted"),
    (("highlight", "abc2"), "was retracted"),
    (("highlight", "abc1", "--label", "Open"), f"{A1} is already a key moment"),
    (("highlight", "b0b0", "--label", "x" * 81), "at most 80"),
    (("highlight", "b0b0", "--label", "two\nlines"), "one line"),
    (("highlight", "b0b0", "--label", "   "), "must not be empty"),
    (("unhighlight", "b0b0"), f"{BOB} is not a key moment"),
    (("unhighlight", "abc2"), "was retracted"),
    (("pin", "--last", "--conference", "nope"), "nope"),
]


def test_each_refusal_is_one_line_exit_1_and_appends_nothing(cli: Cli) -> None:
    cli.event("pin", "b0b0")
    cli.event("highlight", "abc1", "--label", "Open")
    cli.event("retract", "abc2")
    before = cli.exported()
    for args, words in REFUSALS:
        message = assert_refused(cli.run(*args))
        assert words in message, (args, message)
    cli.event("unpin")
    message = assert_refused(cli.run("unpin"))
    assert message == f"Error: nothing is pinned in {SLUG}"
    after = cli.exported()
    assert after[: len(before)] == before
    assert [e["type"] for e in after[len(before) :]] == ["entry.unpinned"]


def test_a_retracted_entry_loses_its_pin_and_key_moment(cli: Cli) -> None:
    cli.event("pin", "abc1")
    cli.event("highlight", "abc1")
    cli.event("highlight", "b0b0", "--label", "Bob")
    assert cli.marks() == (A1, {A1: None, BOB: "Bob"})
    cli.event("retract", "abc1", "--reason", "wrong")
    assert cli.marks() == (None, {BOB: "Bob"})
    assert assert_refused(cli.run("unpin")) == f"Error: nothing is pinned in {SLUG}"


def test_rebuild_gives_the_same_pinned_entry_and_key_moments(cli: Cli) -> None:
    cli.event("pin", "abc1")
    cli.event("highlight", "abc1", "--label", "One")
    cli.event("highlight", "--last")
    cli.event("pin", "b0b0")
    cli.event("unhighlight", "abc1")
    projected = cli.marks()
    assert projected == (BOB, {ANN_LAST: None})
    # On SQLite, verify compares each projection (caught up event by event here) with a
    # rebuild of it, row for row.
    checked = cli.ok("verify")
    if not cli.db.startswith("postgresql"):
        assert "ok: projection timeline: equals a rebuild at position 11" in checked, checked
    cli.ok("rebuild")
    assert cli.marks() == projected


def test_a_reporter_may_pin_another_reporters_entry_locally(cli: Cli) -> None:
    """The local CLI has the store itself: no role applies (over the API, a reporter's
    token marks only its own entries, as it corrects only its own)."""
    assert cli.event("pin", "abc1") == ("entry.pinned", A1[:8])
    proc = cli.run("pin", "b0b0", author="carol")
    assert proc.returncode == 0, proc.stderr
    assert cli.marks()[0] == BOB


def test_two_reporters_pinning_the_same_entry_at_once_append_one_pin(cli: Cli) -> None:
    """Reading the marks and appending is one write transaction: whichever command comes
    second sees the first one's pin and is refused, however the two interleave."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        procs = list(pool.map(lambda who: cli.run("pin", "b0b0", author=who), ["ann", "carol"]))
    assert sorted(p.returncode for p in procs) == [0, 1], [p.stderr for p in procs]
    refused = next(p for p in procs if p.returncode == 1)
    assert assert_refused(refused) == f"Error: {BOB} is already pinned in {SLUG}"
    pins = [e for e in cli.exported() if e["type"] == "entry.pinned"]
    assert [e["data"] for e in pins] == [{"target": BOB}]
