"""Issue 10, point 9: tokens have a role, against a real `liveblog serve`.

A reporter's token posts sessions, talks and entries, and corrects or retracts only its
own entries; an editor's token edits anyone's and opens and closes days and conferences.
Refusals are 403 `{"error": "one line"}` and write nothing (a batch is refused whole).
Tokens created before roles existed are editors after the upgrade. The local CLI, which
has the file itself, is not restricted.

Each test works in a conference of its own on one shared server.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from pysqlite3 import dbapi2 as sqlite3
from servers import Api, Proc, Service, Workspace, assert_refused, draft

from liveblog.store.sqlite.schema import LATEST

# Besides other reporters' entries, what a reporter's token may not post.
EDITORS_ONLY_TYPES = ("conference.opened", "conference.closed", "day.opened", "day.closed")


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


@dataclass
class Server:
    ws: Workspace
    service: Service
    api: dict[str, Api]  # ann and bob: reporters; ed: an editor
    tokens: dict[str, str]

    def open(self, conference: str) -> None:
        """A conference with day 1 open, by the editor."""
        answer = self.api["ed"].post(
            [
                draft(new_id("open"), "conference.opened", conference, title=conference),
                draft(new_id("day"), "day.opened", conference, number=1),
            ]
        )
        assert answer.status_code == 201, answer.text

    def note(self, who: str, conference: str, text: str) -> str:
        answer = self.api[who].post(draft(new_id("note"), "note.posted", conference, text=text))
        assert answer.status_code == 201, answer.text
        event_id: str = answer.json()["events"][-1]["id"]
        return event_id

    def log(self) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = self.api["ed"].events(limit=10_000)["events"]
        return events

    def of(self, conference: str) -> list[dict[str, Any]]:
        return [e for e in self.log() if e["conference"] == conference]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    ws = Workspace(tmp_path_factory.mktemp("roles-server"))
    tokens = {
        "ann": ws.token("ann", role="reporter"),
        "bob": ws.token("bob", role="reporter"),
        "ed": ws.token("ed", role="editor"),
    }
    with Service(ws) as service:
        apis = {name: Api(service.url, token) for name, token in tokens.items()}
        try:
            yield Server(ws, service, apis, tokens)
        finally:
            for api in apis.values():
                api.close()
        service.stop_cleanly()


def assert_forbidden(answer: httpx.Response) -> str:
    """403 with the documented one-line error; returns the message."""
    assert answer.status_code == 403, answer.text
    body = answer.json()
    assert list(body) == ["error"], body
    message: str = body["error"]
    assert message and "\n" not in message
    return message


def test_the_editors_only_commands_are_the_days_and_conferences() -> None:
    """The rule names service methods: each exists, and they are the drafts' open/close."""
    from liveblog.service.drafts import COMMANDS
    from liveblog.service.facade import Liveblog
    from liveblog.service.roles import EDITORS_ONLY

    assert all(callable(getattr(Liveblog, method, None)) for method in EDITORS_ONLY)
    by_method = {method: type_ for type_, (method, _) in COMMANDS.items()}
    assert {by_method[method] for method in EDITORS_ONLY} == set(EDITORS_ONLY_TYPES)


# -- the token commands -----------------------------------------------------------------------


def test_a_new_token_is_a_reporters_and_the_list_shows_each_role(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    created = ws.cli("token", "create", "ann")  # no --role: a reporter's
    assert created.returncode == 0, created.stderr
    assert created.out[0].startswith("lbt_")
    assert "(reporter)" in created.stderr
    ws.token("ed", role="editor")
    listing = ws.ok("token", "list")
    assert [line.split()[:2] for line in listing] == [["ann", "reporter"], ["ed", "editor"]]
    assert all("created" in line for line in listing)

    wrong = ws.cli("token", "create", "zed", "--role", "admin")
    assert wrong.returncode == 2, wrong.stderr  # a usage error, nothing created
    assert "Traceback" not in wrong.stderr
    assert [line.split()[0] for line in ws.ok("token", "list")] == ["ann", "ed"]


# -- editing entries --------------------------------------------------------------------------


def test_a_reporter_cannot_correct_or_retract_another_reporters_entry(server: Server) -> None:
    conf = "roles-others"
    server.open(conf)
    bobs = server.note("bob", conf, "Bob's words")
    before = server.log()

    ann = server.api["ann"]
    tries = [
        draft(new_id("fix"), "entry.corrected", conf, target=bobs, text="Ann's words"),
        draft(new_id("fix"), "entry.corrected", conf, target=bobs[:8], text="by a prefix"),
        draft(new_id("gone"), "entry.retracted", conf, target=bobs, reason="not mine"),
    ]
    for attempt in tries:
        message = assert_forbidden(ann.post(attempt))
        assert bobs in message and "bob" in message, message
        assert "own" in message, message
    assert server.log() == before  # nothing written


def test_a_reporter_corrects_and_retracts_its_own_entries(server: Server) -> None:
    conf = "roles-own"
    server.open(conf)
    anns = server.note("ann", conf, "Ann's first")
    ann = server.api["ann"]

    fixed = ann.post(draft(new_id("fix"), "entry.corrected", conf, target=anns, text="Fixed"))
    assert fixed.status_code == 201, fixed.text
    assert fixed.json()["events"][0]["data"]["target"] == anns

    # --last is this reporter's latest entry, even when another reporter posted since.
    latest = server.note("ann", conf, "Ann's second")
    server.note("bob", conf, "Bob posts after Ann")
    retracted = ann.post(draft(new_id("gone"), "entry.retracted", conf, last=True))
    assert retracted.status_code == 201, retracted.text
    assert retracted.json()["events"][0]["data"]["target"] == latest


def test_an_editor_corrects_and_retracts_anyones_entries(server: Server) -> None:
    conf = "roles-editor-edits"
    server.open(conf)
    anns = server.note("ann", conf, "Ann's words")
    bobs = server.note("bob", conf, "Bob's words")
    ed = server.api["ed"]
    fixed = ed.post(draft(new_id("fix"), "entry.corrected", conf, target=anns, text="Better"))
    assert fixed.status_code == 201, fixed.text
    gone = ed.post(draft(new_id("gone"), "entry.retracted", conf, target=bobs, reason="dup"))
    assert gone.status_code == 201, gone.text
    edits = [(e["type"], e["author"], e["data"]["target"]) for e in server.of(conf)[-2:]]
    assert edits == [("entry.corrected", "ed", anns), ("entry.retracted", "ed", bobs)]


# -- days and conferences ---------------------------------------------------------------------


def test_a_reporter_cannot_open_or_close_days_or_conferences(server: Server) -> None:
    conf = "roles-days"
    server.open(conf)
    ann = server.api["ann"]
    # What a reporter may post in the open day: sessions, talks, entries.
    allowed = ann.post(
        [
            draft(new_id("s"), "session.started", conf, title="Keynote"),
            draft(new_id("t"), "talk.started", conf, title="Opening", speaker="Ada"),
            draft(new_id("q"), "quote.captured", conf, text="Welcome"),
            draft(new_id("p"), "photo.posted", conf, url="https://x.test/a.jpg", caption="Ada"),
            draft(new_id("te"), "talk.ended", conf),
            draft(new_id("se"), "session.ended", conf),
        ]
    )
    assert allowed.status_code == 201, allowed.text
    before = server.log()

    forbidden = {
        "day.closed": draft(new_id("dc"), "day.closed", conf),
        "day.opened": draft(new_id("do"), "day.opened", conf, number=2),
        "conference.closed": draft(new_id("cc"), "conference.closed", conf),
        "conference.opened": draft(new_id("co"), "conference.opened", new_id("c"), title="New"),
    }
    assert set(forbidden) == set(EDITORS_ONLY_TYPES)
    for type_, attempt in forbidden.items():
        message = assert_forbidden(ann.post(attempt))
        assert "editor" in message, (type_, message)
    assert server.log() == before


def test_an_editor_opens_and_closes_days_and_conferences(server: Server) -> None:
    conf = "roles-editor-days"
    server.open(conf)
    ed = server.api["ed"]
    steps = [
        draft(new_id("dc"), "day.closed", conf),
        draft(new_id("do"), "day.opened", conf, number=2),
        draft(new_id("cc"), "conference.closed", conf),
    ]
    for step in steps:
        answer = ed.post(step)
        assert answer.status_code == 201, answer.text
    types = [e["type"] for e in server.of(conf)]
    assert types == [
        "conference.opened",
        "day.opened",
        "day.closed",
        "day.opened",
        "day.closed",
        "conference.closed",
    ]


def test_a_batch_with_one_forbidden_draft_is_refused_whole(server: Server) -> None:
    conf = "roles-batch"
    server.open(conf)
    bobs = server.note("bob", conf, "Bob's words")
    before = server.log()
    ann = server.api["ann"]
    fine = draft(new_id("note"), "note.posted", conf, text="would be fine alone")
    for forbidden in (
        draft(new_id("fix"), "entry.corrected", conf, target=bobs, text="Ann's"),
        draft(new_id("dc"), "day.closed", conf),
    ):
        message = assert_forbidden(ann.post([fine, forbidden]))
        assert message.startswith("draft 2 "), message
    assert server.log() == before
    assert fine["id"] not in {e["id"] for e in server.log()}


# -- the CLIs ---------------------------------------------------------------------------------


def remote_cli(server: Server, root: Path, who: str, *args: str) -> tuple[Proc, Workspace]:
    laptop = Workspace(root)
    proc = laptop.cli(*args, server=server.service.url, token=server.tokens[who], author=who)
    return proc, laptop


def test_the_remote_cli_says_a_refusal_in_one_line_and_queues_nothing(
    server: Server, tmp_path: Path
) -> None:
    conf = "roles-remote"
    server.open(conf)
    bobs = server.note("bob", conf, "Bob's words")
    before = server.log()
    attempts = [
        ("correct", bobs[:8], "Ann's words", "--conference", conf),
        ("retract", bobs, "--conference", conf),
        ("day", "close", "--conference", conf),
        ("conference", "close", "--conference", conf),
    ]
    for n, args in enumerate(attempts):
        proc, laptop = remote_cli(server, tmp_path / f"laptop-{n}", "ann", *args)
        message = assert_refused(proc)  # exit 1, one `Error:` line, no traceback
        assert server.service.url in message
        assert "reporter" in message, message
        assert laptop.outbox() == []  # the API's own refusal: not queued as if offline
        assert not list(laptop.state_dir.glob("rejected-*"))
        assert not laptop.db.exists()
    assert server.log() == before

    # Its own entry, by --last: corrected.
    proc, _ = remote_cli(
        server, tmp_path / "laptop-own", "ann", "note", "Ann", "--conference", conf
    )
    assert proc.returncode == 0, proc.stderr
    proc, laptop = remote_cli(
        server, tmp_path / "laptop-own", "ann", "correct", "--last", "Ann, fixed"
    )
    assert proc.returncode == 0, proc.stderr
    assert "entry.corrected" in proc.stdout
    assert laptop.outbox() == []


def test_the_local_cli_is_not_restricted(server: Server) -> None:
    """The local CLI has the file: any author may edit anyone's entry and close the day."""
    conf = "roles-local"
    server.open(conf)
    bobs = server.note("bob", conf, "Bob's words")
    ws = server.ws
    ws.ok("correct", bobs, "Ann's version", "--conference", conf, author="ann")
    ws.ok("retract", bobs, "--conference", conf, author="ann")
    ws.ok("day", "close", "--conference", conf, author="ann")
    ws.ok("conference", "close", "--conference", conf, author="ann")
    types = [(e["type"], e["author"]) for e in server.of(conf)[-4:]]
    assert types == [
        ("entry.corrected", "ann"),
        ("entry.retracted", "ann"),
        ("day.closed", "ann"),
        ("conference.closed", "ann"),
    ]


# -- upgrading ---------------------------------------------------------------------------------

OLD_TOKENS_DDL = """
CREATE TABLE api_tokens (
    name TEXT PRIMARY KEY,
    digest TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
)
"""


def make_pre_roles_database(ws: Workspace, name: str, token: str) -> None:
    """events.db as the release before roles left it: the api_tokens table without a
    role column, holding `name`'s token, and the roles migration not applied."""
    ws.ok("conference", "open", "upgraded", "--title", "Upgraded", author="ed")
    ws.ok("day", "open", "1", author="ed")
    conn = sqlite3.connect(str(ws.db), isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("DROP TABLE api_tokens")
        conn.execute(OLD_TOKENS_DDL)
        conn.execute(
            "INSERT INTO api_tokens (name, digest, created_at) VALUES (?, ?, ?)",
            (name, hashlib.sha256(token.encode()).hexdigest(), "2026-01-01T00:00:00+00:00"),
        )
        conn.execute("DELETE FROM _sqlite_migrations WHERE name = 'm004_token_roles'")
        conn.execute(f"PRAGMA user_version = {LATEST - 1}")
        conn.execute("COMMIT")
        columns = [row[1] for row in conn.execute("PRAGMA table_info(api_tokens)")]
        assert columns == ["name", "digest", "created_at"]
    finally:
        conn.close()


def test_a_token_from_before_roles_acts_as_an_editor(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "server")
    old_token = "lbt_" + "o" * 43
    make_pre_roles_database(ws, "olga", old_token)

    # Any command migrates the file; the old token is listed as an editor's.
    listing = ws.ok("token", "list")
    assert [line.split()[:2] for line in listing] == [["olga", "editor"]]
    conn = sqlite3.connect(str(ws.db))
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == LATEST
    finally:
        conn.close()
    rita_token = ws.token("rita", role="reporter")  # made after the upgrade

    with Service(ws) as service:
        olga, rita = Api(service.url, old_token), Api(service.url, rita_token)
        try:
            ritas = rita.post(draft(new_id("n"), "note.posted", "upgraded", text="Rita's"))
            assert ritas.status_code == 201, ritas.text
            target = ritas.json()["events"][0]["id"]
            fixed = olga.post(
                draft(new_id("fix"), "entry.corrected", "upgraded", target=target, text="Better")
            )
            assert fixed.status_code == 201, fixed.text
            closed = olga.post(draft(new_id("dc"), "day.closed", "upgraded"))
            assert closed.status_code == 201, closed.text
            # A reporter's token made after the upgrade is held to its role.
            assert_forbidden(rita.post(draft(new_id("do"), "day.opened", "upgraded", number=2)))
        finally:
            olga.close()
            rita.close()
        service.stop_cleanly()
    authored = [(e["type"], e["author"]) for e in ws.exported()][-3:]
    assert authored == [
        ("note.posted", "rita"),
        ("entry.corrected", "olga"),
        ("day.closed", "olga"),
    ]


def test_the_upgrade_runs_once_and_keeps_roles_set_since(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    make_pre_roles_database(ws, "olga", "lbt_" + "p" * 43)
    ws.token("rita", role="reporter")  # the first command migrates
    listing = ws.ok("token", "list")  # the second finds nothing to do
    assert [line.split()[:2] for line in listing] == [["olga", "editor"], ["rita", "reporter"]]
    conn = sqlite3.connect(str(ws.db))
    try:
        names = [r[0] for r in conn.execute("SELECT name FROM _sqlite_migrations")]
    finally:
        conn.close()
    assert names.count("m004_token_roles") == 1
