"""The live stream, `GET /api/conferences/{slug}/stream`, on a real `liveblog serve`:
appends from the CLI (another process) and from the API arrive as SSE messages whose id
is the log position; corrections, retractions and pins arrive; a reader that reconnects
with Last-Event-ID (across a server restart too) gets exactly what it missed.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from servers import Api, Service, Workspace, draft, wait_until
from sse import SseStream


def timeline_ready(service: Service) -> Service:
    """Once the scheduler's first catch-up has built the timeline (serve answers 503
    "being built" before, on a new database)."""

    def built() -> bool:
        response = httpx.get(f"{service.url}/", headers={"accept": "application/json"})
        return response.status_code == 200

    wait_until(built, 30, what="the timeline to be built")
    return service


def stream_path(slug: str = "demo", since: int | None = None) -> str:
    query = "" if since is None else f"?since={since}"
    return f"/api/conferences/{slug}/stream{query}"


def with_env(ws: Workspace, **extra: str) -> Workspace:
    """The workspace, its processes (serve, the CLI) given `extra` environment too."""
    plain = Workspace.env

    def env(**values: str) -> dict[str, str]:
        return plain(ws, **{**extra, **values})

    ws.env = env  # type: ignore[method-assign]
    return ws


def last_position(ws: Workspace) -> int:
    return int(ws.exported()[-1]["position"])


def last_event(ws: Workspace) -> dict[str, Any]:
    return ws.exported()[-1]


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    ws = Workspace(tmp_path / "ws")
    ws.ok("conference", "open", "demo", "--title", "Demo", "--venue", "Hall")
    ws.ok("day", "open", "1")
    return ws


@pytest.fixture
def service(ws: Workspace) -> Iterator[Service]:
    with Service(ws) as service:
        yield timeline_ready(service)


def test_a_note_from_the_cli_arrives_with_its_log_position_as_id(
    ws: Workspace, service: Service
) -> None:
    start = last_position(ws)
    with SseStream(service.port, stream_path(since=start)) as stream:
        assert stream.wait_head() == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        assert stream.headers["cache-control"] == "no-cache"
        assert stream.headers["x-accel-buffering"] == "no"
        ws.ok("note", "the keynote starts")
        note = last_event(ws)
        message = stream.next()
        assert message.event == "update"
        assert message.position == note["position"]
        body = message.json
        assert body["position"] == note["position"]
        assert body["live"] is True
        [entry] = body["entries"]
        assert entry["id"] == note["id"]
        assert entry["position"] == note["position"]
        assert entry["changed"] == note["position"]
        assert entry["retracted"] is False
        assert "the keynote starts" in entry["html"]
        assert stream.retry == 2000


def test_an_api_post_arrives_too(ws: Workspace, service: Service) -> None:
    token = ws.token("ann", role="reporter")
    api = Api(service.url, token)
    try:
        with SseStream(service.port, stream_path(since=last_position(ws))) as stream:
            assert stream.wait_head() == 200
            response = api.post(draft(uuid.uuid4().hex, "note.posted", "demo", text="via api"))
            assert response.status_code == 201, response.text
            [event] = response.json()["events"]
            message = stream.next()
            assert message.position == event["position"]
            assert message.json["entries"][0]["id"] == event["id"]
    finally:
        api.close()


def test_corrections_and_retractions_arrive_as_changes_of_the_entry(
    ws: Workspace, service: Service
) -> None:
    ws.ok("note", "first wording")
    note = last_event(ws)
    with SseStream(service.port, stream_path(since=note["position"])) as stream:
        assert stream.wait_head() == 200
        ws.ok("correct", "--last", "second wording")
        corrected = stream.next()
        assert corrected.position == last_position(ws)
        [entry] = corrected.json["entries"]
        assert entry["id"] == note["id"]
        assert entry["position"] == note["position"]
        assert entry["changed"] == corrected.position
        assert "second wording" in entry["html"]

        ws.ok("retract", note["id"], "--reason", "wrong talk")
        retracted = stream.next()
        assert retracted.position == last_position(ws)
        [entry] = retracted.json["entries"]
        assert entry["id"] == note["id"]
        assert entry["retracted"] is True
        assert entry["html"] == ""


def test_a_pin_arrives_and_the_entry_it_replaces_is_unpinned(
    ws: Workspace, service: Service
) -> None:
    ws.ok("note", "one")
    first = last_event(ws)
    ws.ok("note", "two")
    second = last_event(ws)
    with SseStream(service.port, stream_path(since=second["position"])) as stream:
        assert stream.wait_head() == 200
        ws.ok("pin", first["id"])
        pinned = stream.next()
        assert pinned.position == last_position(ws)
        [entry] = pinned.json["entries"]
        assert (entry["id"], entry["pinned"]) == (first["id"], True)

        ws.ok("pin", second["id"])
        moved = stream.next()
        assert moved.position == last_position(ws)
        states = {e["id"]: e["pinned"] for e in moved.json["entries"]}
        # One event changes both: the new one pinned, the old one unpinned.
        assert states == {first["id"]: False, second["id"]: True}

        ws.ok("unpin")
        unpinned = stream.next()
        assert unpinned.position == last_position(ws)
        assert [(e["id"], e["pinned"]) for e in unpinned.json["entries"]] == [(second["id"], False)]


def test_key_moments_arrive_with_their_label_and_go_again(ws: Workspace, service: Service) -> None:
    ws.ok("note", "the decision")
    note = last_event(ws)
    with SseStream(service.port, stream_path(since=note["position"])) as stream:
        assert stream.wait_head() == 200
        ws.ok("highlight", "--last", "--label", "The vote")
        marked = stream.next()
        assert marked.position == last_position(ws)
        [entry] = marked.json["entries"]
        assert (entry["id"], entry["key_moment"]) == (note["id"], {"label": "The vote"})
        assert "the decision" in entry["html"]

        ws.ok("unhighlight", note["id"])
        unmarked = stream.next()
        assert unmarked.position == last_position(ws)
        [entry] = unmarked.json["entries"]
        assert (entry["id"], entry["key_moment"]) == (note["id"], None)


def test_last_event_id_resumes_with_exactly_the_missed_messages(
    ws: Workspace, service: Service
) -> None:
    with SseStream(service.port, stream_path(since=last_position(ws))) as stream:
        ws.ok("note", "seen")
        seen = stream.next().position
    ws.ok("note", "missed one")
    ws.ok("note", "missed two")
    missed = [e["position"] for e in ws.exported()[-2:]]
    # Last-Event-ID wins over ?since= (a browser's reconnect keeps the page's URL).
    headers = {"Last-Event-ID": str(seen)}
    with SseStream(service.port, stream_path(since=0), headers) as stream:
        assert stream.wait_head() == 200
        got = stream.until(missed[-1])
        assert [m.position for m in got] == missed
        ws.ok("note", "live again")
        after = stream.next()
        assert after.position == last_position(ws)  # nothing twice before it


def test_since_zero_replays_every_entry_in_position_order(ws: Workspace, service: Service) -> None:
    for n in range(5):
        ws.ok("note", f"note {n}")
    positions = [e["position"] for e in ws.exported() if e["type"] == "note.posted"]
    with SseStream(service.port, stream_path(since=0)) as stream:
        got = stream.until(positions[-1])
        ids = [m.position for m in got]
        assert ids == sorted(ids)
        assert set(positions) <= set(ids)
        texts = [m.json["entries"] for m in got]
        assert all(isinstance(t, list) for t in texts)


def test_a_server_restart_between_loses_nothing(ws: Workspace, tmp_path: Path) -> None:
    service = timeline_ready(Service(ws).start())
    try:
        with SseStream(service.port, stream_path(since=last_position(ws))) as stream:
            ws.ok("note", "before the restart")
            seen = stream.next().position
            service.stop_cleanly()
            assert stream.closed.wait(20), "the stream did not end with the server"
        ws.ok("note", "while it was down")
        down = last_position(ws)
        timeline_ready(service.start())
        with SseStream(service.port, stream_path(), {"Last-Event-ID": str(seen)}) as stream:
            assert stream.wait_head() == 200
            assert stream.next().position == down
            ws.ok("note", "after the restart")
            assert stream.next().position == last_position(ws)
        service.stop_cleanly()
    finally:
        if service.running:
            service.kill()


def test_heartbeats_keep_an_idle_stream_open(ws: Workspace) -> None:
    with_env(ws, LIVEBLOG_STREAM_HEARTBEAT="0.2")
    with (
        Service(ws) as service,
        SseStream(timeline_ready(service).port, stream_path(since=last_position(ws))) as stream,
    ):
        assert stream.wait_head() == 200
        for _ in range(2):
            assert stream.comments.get(timeout=20) == "ping"
        assert stream.events.empty()


def test_streams_over_the_cap_get_503_with_retry_after(ws: Workspace) -> None:
    with_env(ws, LIVEBLOG_MAX_STREAMS="2")
    with Service(ws) as service:
        timeline_ready(service)
        path = stream_path(since=last_position(ws))
        with SseStream(service.port, path) as one, SseStream(service.port, path) as two:
            assert one.wait_head() == 200 and two.wait_head() == 200
            with SseStream(service.port, path) as three:
                assert three.wait_head() == 503
                assert three.headers["retry-after"].isdigit()
                three.closed.wait(20)
                assert b"live streams open" in three.body
            # The API is not held up by the streams (counted apart from requests).
            api = Api(service.url, None)
            assert api.head() == last_position(ws)
            api.close()

        # Once one closes, a newcomer gets in.
        def admitted() -> bool:
            with SseStream(service.port, path) as again:
                return again.wait_head() == 200

        wait_until(admitted, 20, what="a stream once the others closed")


def test_sigterm_with_streams_open_stops_promptly_and_cleanly(ws: Workspace) -> None:
    service = timeline_ready(Service(ws).start())
    streams = [SseStream(service.port, stream_path(since=0)) for _ in range(5)]
    try:
        for stream in streams:
            assert stream.wait_head() == 200
        service.stop_cleanly()  # within servers.STOP_SECONDS, exit 0, no traceback
        for stream in streams:
            assert stream.closed.wait(10)
    finally:
        for stream in streams:
            stream.close()
        if service.running:
            service.kill()


@pytest.mark.parametrize(
    ("path", "headers", "status", "words"),
    [
        (stream_path("nope"), {}, 404, "no conference"),
        (stream_path("Not_A_Slug"), {}, 404, "no conference"),
        ("/api/conferences/demo/stream?since=-1", {}, 400, "since must be a log position"),
        ("/api/conferences/demo/stream?since=abc", {}, 400, "since must be a log position"),
        (stream_path(), {"Last-Event-ID": "x1"}, 400, "Last-Event-ID must be"),
        (stream_path(since=10**30), {}, 400, "since must be"),
        (stream_path(), {"Last-Event-ID": "-5"}, 400, "Last-Event-ID must be"),
        (stream_path(), {"Last-Event-ID": "1" * 400}, 400, "Last-Event-ID must be"),
        (stream_path(), {"Last-Event-ID": "\u0661\u0662"}, 400, "Last-Event-ID must be"),
        (stream_path(since=10**12), {}, 400, "since 1000000000000 is past the log's end"),
        (stream_path(), {"Last-Event-ID": "99999"}, 400, "Last-Event-ID 99999 is past"),
    ],
)
def test_bad_requests_get_one_line_errors(
    service: Service, path: str, headers: dict[str, str], status: int, words: str
) -> None:
    with SseStream(service.port, path, headers) as stream:
        assert stream.wait_head() == status
        assert stream.closed.wait(20)
        assert words in stream.body.decode()
        assert stream.headers["content-type"] == "application/json"


def test_a_conference_closing_says_live_false(ws: Workspace, service: Service) -> None:
    with SseStream(service.port, stream_path(since=last_position(ws))) as stream:
        ws.ok("day", "close")
        ws.ok("conference", "close")
        closing = stream.until(last_position(ws))[-1]
        assert closing.json["live"] is False


def test_a_reader_that_falls_behind_is_cut_and_resumes_exactly(ws: Workspace) -> None:
    # A queue of 2,000 bytes per stream: a burst of 40 notes (an import) overflows it,
    # so the server drops the stream; the reader resumes from the last id it got.
    with_env(ws, LIVEBLOG_STREAM_QUEUE_BYTES="2000")
    ws.ok("note", "template")
    template = last_event(ws)
    lines = []
    for n in range(40):
        event = {k: template[k] for k in ("type", "conference", "occurred_at", "author")}
        event["id"] = uuid.uuid4().hex
        event["data"] = {**template["data"], "text": f"burst note {n} " + "x" * 200}
        lines.append(json.dumps(event))
    burst = ws.root / "burst.jsonl"
    burst.write_text("\n".join(lines) + "\n")
    with Service(ws) as service:
        timeline_ready(service)
        start = last_position(ws)
        got: list[int] = []
        with SseStream(service.port, stream_path(since=start)) as stream:
            assert stream.wait_head() == 200
            ws.ok("import", str(burst))
            assert stream.closed.wait(30), "the stream was not cut"
            got += [m.position for m in stream.no_more()]
        end = last_position(ws)
        resume = {"Last-Event-ID": str(got[-1] if got else start)}
        with SseStream(service.port, stream_path(), resume) as stream:
            got += [m.position for m in stream.until(end)]
        assert got == list(range(start + 1, end + 1))  # each once, in order
