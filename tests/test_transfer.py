"""`liveblog config export` / `config import` (liveblog.cli.transfer), in-process on
SQLite files: what moves, what never does, the file's mode, re-imports, refusals.

The move to PostgreSQL, with real processes (`serve` on the target), is in
test_transfer_pg.py.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from liveblog.cli.main import cli
from liveblog.service.facade import Liveblog
from liveblog.store.factory import open_stores
from liveblog.webhooks.secretkey import key_path
from liveblog.webhooks.subscriptions import keyring_for

HOOK = "http://127.0.0.1:9/hooks/liveblog"


def run(db: Path, *args: str, input: bytes | None = None) -> Result:
    return CliRunner().invoke(cli, ["--db", str(db), "--author", "ann", *args], input=input)


def ok(db: Path, *args: str, input: bytes | None = None) -> Result:
    result = run(db, *args, input=input)
    assert result.exit_code == 0, (args, result.output)
    return result


def refused(result: Result) -> str:
    """Exit 1 and one `Error:` line, no traceback; that line."""
    assert result.exit_code == 1, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert "Traceback" not in result.output
    return lines[0]


def make_source(db: Path, notes: int = 3) -> dict[str, Any]:
    """A log with events, two tokens and two webhooks (one disabled, one from position 2)."""
    with Liveblog(db, "ann") as blog:
        blog.open_conference("socitm-2011", title="SOCITM 2011")
        blog.open_day(1)
        for i in range(notes):
            blog.note(f"note {i}")
        reporter = blog.create_token("ann")
        editor = blog.create_token("ed", role="editor")
        every = blog.add_webhook(HOOK, allow_private=True, since=0)
        later = blog.add_webhook(
            HOOK + "/quotes",
            events=["quote.*"],
            conference="socitm-2011",
            since=2,
            allow_private=True,
        )
        blog.disable_webhook(later.id)
    return {"tokens": {"ann": reporter, "ed": editor}, "hooks": [every, later]}


def export(db: Path, out: Path) -> dict[str, Any]:
    ok(db, "config", "export", str(out))
    doc: dict[str, Any] = json.loads(out.read_text())
    return doc


def move_events(source: Path, target: Path) -> None:
    ok(target, "import", "-", input=ok(source, "export").stdout_bytes)


def test_export_holds_digests_and_secrets_in_a_private_new_file(tmp_path: Path) -> None:
    source = tmp_path / "a.db"
    made = make_source(source)
    out = tmp_path / "config.json"
    result = ok(source, "config", "export", str(out))
    assert "holds the webhook secrets" in result.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    text = out.read_text()
    doc = json.loads(text)
    assert [t["name"] for t in doc["tokens"]] == ["ann", "ed"]
    assert [t["role"] for t in doc["tokens"]] == ["reporter", "editor"]
    for token in made["tokens"].values():
        assert token not in text  # a clear token is never written (nor kept)
    assert {h["secret"] for h in doc["webhooks"]} == {s.secret for s in made["hooks"]}
    # The export never overwrites a file (a secret-holding file must be made fresh).
    out.write_text("keep me")
    assert "never overwrites" in refused(run(source, "config", "export", str(out)))
    assert out.read_text() == "keep me"


def test_everything_moves_and_secrets_are_sealed_under_the_target_key(tmp_path: Path) -> None:
    source, target = tmp_path / "a.db", tmp_path / "b.db"
    made = make_source(source)
    move_events(source, target)
    doc = export(source, tmp_path / "config.json")
    result = ok(target, "config", "import", str(tmp_path / "config.json"))
    assert result.stdout == "imported 2 tokens (0 already there), 2 webhooks (0 already there)\n"

    assert key_path(target).read_bytes() != key_path(source).read_bytes()
    with open_stores(source) as a, open_stores(target) as b:
        assert b.tokens.stored() == a.tokens.stored()
        keyring = keyring_for(b.webhooks)
        moved = {s.id: s for s in b.webhooks.subscriptions()}
        assert set(moved) == {s.id for s in made["hooks"]}
        for original in made["hooks"]:
            sub = moved[original.id]
            assert keyring.open(sub.sealed_secret, sub.id) == original.secret
            assert (sub.url, sub.events, sub.conference, sub.allow_private) == (
                original.url,
                original.events,
                original.conference,
                original.allow_private,
            )
            assert sub.sealed_secret != original.sealed_secret
        every, later = (moved[s.id] for s in made["hooks"])
        assert (every.status, every.cursor) == ("active", 0)
        assert later.status == "disabled" and later.cursor == 2
        anchors = {h["id"]: h["cursor_event"] for h in doc["webhooks"]}
        at_two = a.events.at(2)
        assert at_two is not None
        assert anchors == {every.id: None, later.id: at_two.id}
        # The tokens still say who holds them.
        from liveblog.service.tokens import holder_of

        held = holder_of(b.tokens, made["tokens"]["ed"])
        assert held is not None and (held.name, held.role) == ("ed", "editor")


def test_a_second_import_changes_nothing(tmp_path: Path) -> None:
    source, target = tmp_path / "a.db", tmp_path / "b.db"
    make_source(source)
    move_events(source, target)
    export(source, tmp_path / "config.json")
    ok(target, "config", "import", str(tmp_path / "config.json"))
    with open_stores(target) as b:
        before = (b.tokens.stored(), b.webhooks.subscriptions())
    again = ok(target, "config", "import", str(tmp_path / "config.json"))
    assert again.stdout == "imported 0 tokens (2 already there), 0 webhooks (2 already there)\n"
    with open_stores(target) as b:
        assert (b.tokens.stored(), b.webhooks.subscriptions()) == before


def test_a_cursor_follows_its_event_to_its_position_in_the_target(tmp_path: Path) -> None:
    source, target = tmp_path / "a.db", tmp_path / "b.db"
    make_source(source)
    with Liveblog(target, "bo") as blog:  # the target's log already has an event
        blog.open_conference("other", title="Other")
    move_events(source, target)
    ok(source, "config", "export", str(tmp_path / "config.json"))
    ok(target, "config", "import", str(tmp_path / "config.json"))
    with open_stores(source) as a, open_stores(target) as b:
        source_event = a.events.at(2)
        assert source_event is not None
        moved = {s.url: s.cursor for s in b.webhooks.subscriptions()}
        target_event = b.events.get(source_event.id)
        assert target_event is not None and target_event.position == 3
        assert moved[HOOK + "/quotes"] == 3


def test_without_the_events_nothing_is_imported(tmp_path: Path) -> None:
    source, target = tmp_path / "a.db", tmp_path / "b.db"
    make_source(source)
    ok(source, "config", "export", str(tmp_path / "config.json"))
    line = refused(run(target, "config", "import", str(tmp_path / "config.json")))
    assert "move the events first" in line and "nothing imported" in line
    with open_stores(target) as b:
        assert b.tokens.stored() == [] and b.webhooks.subscriptions() == []


def test_a_clash_refuses_the_whole_file(tmp_path: Path) -> None:
    source, target = tmp_path / "a.db", tmp_path / "b.db"
    make_source(source)
    move_events(source, target)
    with Liveblog(target, "ann") as blog:
        blog.create_token("ed")  # another token under a name the file brings
    ok(source, "config", "export", str(tmp_path / "config.json"))
    line = refused(run(target, "config", "import", str(tmp_path / "config.json")))
    assert "token 'ed'" in line and "nothing imported" in line
    with open_stores(target) as b:
        assert [t.name for t in b.tokens.stored()] == ["ed"]  # ann's was rolled back
        assert b.webhooks.subscriptions() == []


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"not json", "not JSON"),
        (b'{"format": "something else"}', "not a liveblog configuration export"),
        (b'{"format": "liveblog-config", "version": 99}', "version 99"),
        (
            b'{"format": "liveblog-config", "version": 1, "tokens": [{"name": "x"}], '
            b'"webhooks": []}',
            "token 1: 'digest' is missing",
        ),
        (
            b'{"format": "liveblog-config", "version": 1, "tokens": [], "webhooks": [{"id": '
            b'"wh_1", "url": "ftp://x", "status": "active", "secret": "s", "events": [], '
            b'"conference": null, "status_reason": null, "cursor_event": null, '
            b'"allow_private": false}]}',
            "webhook 1 (wh_1)",
        ),
    ],
)
def test_a_bad_file_is_refused_in_one_line_before_the_target_opens(
    tmp_path: Path, content: bytes, expected: str
) -> None:
    target = tmp_path / "b.db"
    line = refused(run(target, "config", "import", "-", input=content))
    assert expected in line, line
    assert not target.exists()


def test_exporting_a_missing_log_is_an_error(tmp_path: Path) -> None:
    line = refused(run(tmp_path / "nothing.db", "config", "export", str(tmp_path / "c.json")))
    assert "no event log" in line
    assert not (tmp_path / "nothing.db").exists() and not (tmp_path / "c.json").exists()


def test_the_export_goes_to_a_pipe(tmp_path: Path) -> None:
    source = tmp_path / "a.db"
    make_source(source)
    result = ok(source, "config", "export")
    doc = json.loads(result.stdout)
    assert doc["format"] == "liveblog-config" and len(doc["webhooks"]) == 2
    assert not list(tmp_path.glob("*.json"))  # standard output only


def test_pending_deliveries_are_queued_again_on_the_target(tmp_path: Path) -> None:
    """At least once: what the source queued but had not delivered is owed again."""
    import asyncio

    from liveblog.webhooks import Deliverer, DeliveryOptions

    source = tmp_path / "a.db"
    with Liveblog(source, "ann") as blog:
        blog.open_conference("socitm-2011", title="SOCITM 2011")
        blog.open_day(1)
        sub = blog.add_webhook(HOOK, allow_private=True, since=2)
        for i in range(3):
            blog.note(f"note {i}")
        blog.catch_up()

    async def queue() -> None:
        async with Deliverer(str(source), DeliveryOptions()) as deliverer:
            await deliverer.prepare()  # queued, never sent

    asyncio.run(queue())
    with open_stores(source) as a:
        pending = a.webhooks.deliveries(sub.id, "pending", 100)
        assert sorted(d.position for d in pending) == [3, 4, 5]
        assert a.webhooks.subscription(sub.id).cursor == 5  # type: ignore[union-attr]
        at_two = a.events.at(2)
        assert at_two is not None
    doc = export(source, tmp_path / "config.json")
    (hook,) = doc["webhooks"]
    assert (hook["cursor"], hook["cursor_event"]) == (2, at_two.id)
