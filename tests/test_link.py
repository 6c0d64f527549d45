"""link.posted end to end on the reporting side: `liveblog link URL --title TEXT
[--description TEXT]`, corrected (TEXT is its title, --description), retracted; the
embedding API (`Liveblog.link`); the HTTP API's drafts on a real server; the remote CLI
(posted, queued while the server is away, then synced).

The timeline, feeds and summary of links are tested with their renderings.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from conftest import Proc
from servers import Api, Service, Workspace, draft, free_port
from test_cli import Invoke, export, one, refused

from liveblog.domain.events import EntryCorrected
from liveblog.service.facade import Liveblog

SLIDES = "https://example.org/slides.pdf"


def changed(correction: dict[str, Any]) -> dict[str, Any]:
    """A correction's data without its unset fields (exported as null)."""
    return {k: v for k, v in correction["data"].items() if v is not None}


def test_link_posts_a_link_entry_in_the_reporters_context(invoke: Invoke, day_open: None) -> None:
    invoke("session", "start", "Morning plenary", "--at", "09:30")
    talk = one(invoke, "talk", "start", "Shared services", "--speaker", "Jane Smith")
    event = one(
        invoke,
        "link",
        SLIDES,
        "--title",
        "Jane Smith's slides",
        "--description",
        "All 40 of them.",
        "--at",
        "10:05",
    )
    assert event["type"] == "link.posted"
    assert event["occurred_at"] == "2011-06-09T10:05:00+01:00"
    assert event["data"] == {
        "day": 2,
        "session": talk["data"]["session"],
        "talk": talk["id"],
        "url": SLIDES,
        "title": "Jane Smith's slides",
        "description": "All 40 of them.",
    }


def test_link_prints_its_line(invoke: Invoke, day_open: None) -> None:
    result = invoke("link", SLIDES, "--title", "The slides")
    assert result.exit_code == 0, result.output
    _, type_, short, text = result.stdout.rstrip("\n").split(" ", 3)
    assert (type_, text) == ("link.posted", f" The slides <{SLIDES}>")
    logged = invoke("log").stdout.splitlines()[-1]
    assert logged.endswith(f"link.posted  {short}  The slides <{SLIDES}>")


def test_link_without_a_description_leaves_it_out(invoke: Invoke, day_open: None) -> None:
    event = one(invoke, "link", SLIDES, "--title", "The slides")
    assert "description" not in event["data"] or event["data"]["description"] is None


def test_link_needs_a_title_and_an_http_url(invoke: Invoke, day_open: None) -> None:
    missing = invoke("link", SLIDES)
    assert missing.exit_code == 2
    assert "Missing option '--title'" in missing.stderr
    assert "invalid link.posted" in refused(invoke, "link", "ftp://x.org/a", "--title", "t")


def test_link_needs_an_open_day(invoke: Invoke) -> None:
    invoke("conference", "open", "c1", "--title", "C")
    assert "no day is open" in refused(invoke, "link", SLIDES, "--title", "t")


def test_correct_a_link_title_and_description(invoke: Invoke, day_open: None) -> None:
    link = one(invoke, "link", SLIDES, "--title", "Slides")
    fixed = one(invoke, "correct", link["id"][:8], "Jane's slides")
    assert changed(fixed) == {"target": link["id"], "text": "Jane's slides"}
    described = one(invoke, "correct", "--last", "--description", "Forty slides.")
    assert changed(described) == {"target": link["id"], "description": "Forty slides."}


def test_correct_a_link_refuses_what_a_link_has_not(invoke: Invoke, day_open: None) -> None:
    one(invoke, "link", SLIDES, "--title", "Slides")
    assert refused(invoke, "correct", "--last", "--caption", "x") == (
        "Error: a link.posted entry has no --caption to correct"
    )
    assert "has no --speaker to correct" in refused(invoke, "correct", "--last", "--speaker", "x")


def test_description_corrects_only_links(invoke: Invoke, day_open: None) -> None:
    one(invoke, "note", "A note")
    assert refused(invoke, "correct", "--last", "--description", "x") == (
        "Error: a note.posted entry has no --description to correct"
    )


def test_retract_a_link(invoke: Invoke, day_open: None) -> None:
    link = one(invoke, "link", SLIDES, "--title", "Slides")
    gone = one(invoke, "retract", "--last", "--reason", "Wrong deck")
    assert gone["data"] == {"target": link["id"], "reason": "Wrong deck"}
    assert "was retracted" in refused(invoke, "correct", link["id"], "New title")


def test_a_structural_event_is_refused_naming_every_kind(invoke: Invoke, day_open: None) -> None:
    day = export(invoke)[-1]
    message = refused(invoke, "retract", day["id"])
    assert message.endswith(
        "only entries (session, talk, quote, note, photo, link) can be corrected or retracted"
    )


def test_link_in_a_real_process(run_cli: Callable[..., Proc]) -> None:
    run = run_cli  # `python -m liveblog` against one events.db
    for args in (("conference", "open", "c1", "--title", "C"), ("day", "open", "1")):
        done = run(*args)
        assert done.returncode == 0, done.stderr
    posted = run("link", SLIDES, "--title", "Slides", "--description", "Forty.")
    assert posted.returncode == 0, posted.stderr
    assert posted.stderr == ""
    assert posted.stdout.startswith("#3 link.posted ")
    assert posted.stdout.endswith(f"  Slides <{SLIDES}>\n")
    exported = run("export")
    data = json.loads(exported.stdout.splitlines()[-1])["data"]
    assert data["description"] == "Forty."


# -- the embedding API ----------------------------------------------------------------------


def test_liveblog_link_and_explicit_event_ids(tmp_path: Path) -> None:
    with Liveblog(tmp_path / "events.db", author="Jo Reporter") as blog:
        blog.open_conference("c1", title="C")
        blog.open_day(1)
        [link] = blog.link(SLIDES, title="Slides", event_id="a" * 32)
        assert link.id == "a" * 32
        assert link.data.line() == f"Slides <{SLIDES}>"
        [fixed] = blog.correct(link.id[:6], description="Forty slides.", event_id="b" * 32)
        assert fixed.id == "b" * 32
        assert isinstance(fixed.data, EntryCorrected)
        assert fixed.data.changes() == {"description": "Forty slides."}
        # The generic path: any type with a reporting command, by its wire name.
        [again] = blog.submit("link.posted", {"url": SLIDES, "title": "Again"})
        assert again.type == "link.posted"
        # A session end is its own event too: closings keep new ids, the command's its own.
        blog.start_session("S")
        blog.start_talk("T", speaker="Sam")
        ended = blog.end_session(event_id="c" * 32)
        assert [e.type for e in ended] == ["talk.ended", "session.ended"]
        assert ended[-1].id == "c" * 32 and ended[0].id != "c" * 32


# -- the HTTP API and the remote CLI, against a real server ----------------------------------


def test_link_drafts_through_the_api_and_the_remote_cli(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "server")
    token = ws.token("ann")
    with Service(ws) as service:
        api = Api(service.url, token)
        try:
            assert (
                api.post(draft("1" * 32, "conference.opened", "c1", title="C")).status_code == 201
            )
            assert api.post(draft("2" * 32, "day.opened", number=1)).status_code == 201
            posted = api.post(
                draft("3" * 32, "link.posted", url=SLIDES, title="Slides", description="Forty.")
            )
            assert posted.status_code == 201, posted.text
            [event] = posted.json()["events"]
            assert (event["id"], event["type"], event["author"]) == ("3" * 32, "link.posted", "ann")
            assert event["data"]["title"] == "Slides"
            # A retried draft appends nothing.
            retried = api.post(draft("3" * 32, "link.posted", url=SLIDES, title="Slides"))
            assert retried.status_code == 200
            corrected = api.post(
                draft("4" * 32, "entry.corrected", target="3" * 8, description="Forty-one.")
            )
            assert corrected.status_code == 201, corrected.text
            assert changed(corrected.json()["events"][0]) == {
                "target": "3" * 32,
                "description": "Forty-one.",
            }
            wrong = api.post(draft("5" * 32, "link.posted", url=SLIDES, caption="x"))
            assert wrong.status_code == 422
            assert wrong.json() == {"error": "a link.posted draft has no field 'caption'"}
            untitled = api.post(draft("6" * 32, "link.posted", url=SLIDES))
            assert untitled.json() == {"error": "a link.posted draft needs data field(s): title"}
            openapi = api.client.get("/openapi.json").json()
            listed = json.dumps(openapi["components"]["schemas"]["Draft"])
            assert "link.posted" in listed

            # The remote CLI: the same command, sent to the server.
            laptop = Workspace(tmp_path / "laptop")
            remote = {"server": service.url, "token": token}
            sent = laptop.cli("link", SLIDES, "--title", "Remote slides", **remote)
            assert sent.returncode == 0, sent.stderr
            assert sent.out[0].startswith("#") and " link.posted " in sent.out[0]
            assert sent.out[0].endswith(f"Remote slides <{SLIDES}>")
            fixed = laptop.cli("correct", "--last", "Remote deck", **remote)
            assert fixed.returncode == 0, fixed.stderr
            assert " entry.corrected " in fixed.out[0]
            gone = laptop.cli("retract", "--last", **remote)
            assert gone.returncode == 0, gone.stderr
            assert not laptop.db.exists()  # remote mode writes nothing locally
            types = [e["type"] for e in api.events()["events"]]
            assert types[-3:] == ["link.posted", "entry.corrected", "entry.retracted"]
        finally:
            api.close()


def test_a_link_typed_offline_is_queued_then_synced(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "server")
    token = ws.token("ann")
    service = Service(ws, port=free_port())
    laptop = Workspace(tmp_path / "laptop")
    remote = {"server": service.url, "token": token}
    queued = laptop.cli("link", SLIDES, "--title", "Offline slides", **remote)
    assert queued.returncode == 0, queued.stderr
    assert queued.out[0].startswith("queued link.posted "), queued.out
    [waiting] = laptop.outbox()
    assert waiting["type"] == "link.posted"
    assert waiting["data"] == {"url": SLIDES, "title": "Offline slides"}
    with service:
        api = Api(service.url, token)
        try:
            api.post(draft("1" * 32, "conference.opened", "c1", title="C"))
            api.post(draft("2" * 32, "day.opened", number=1))
            synced = laptop.cli("sync", **remote)
            assert synced.returncode == 0, synced.stderr
            assert " link.posted " in synced.out[0]
            last = api.events()["events"][-1]
            assert (last["id"], last["data"]["title"]) == (waiting["id"], "Offline slides")
        finally:
            api.close()
    assert laptop.outbox() == []
