"""The live stream against readers who do not behave: floods of catch-ups from 0,
streams opened and dropped by the hundred, readers that never read, positions from
nowhere, and a stream asked for before the timeline is built. Nothing of theirs may
hold up a reader who behaves, or keep a place in the caps once they are gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sqlite3
import threading
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from servers import Service, Workspace, wait_until
from sse import SseStream
from test_stream import last_position, stream_path, timeline_ready, with_env

from liveblog.http.streamdb import (
    BROADCAST,
    FIRST_PAGE,
    NEXT_PAGE,
    Message,
    MessageCache,
    Reader,
)
from liveblog.service.facade import Liveblog

TEXT = "A note long enough to look like one a reporter types during a busy session. " * 4


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    ws = Workspace(tmp_path / "ws")
    ws.ok("conference", "open", "demo", "--title", "Demo", "--venue", "Hall")
    ws.ok("day", "open", "1")
    return ws


def add_notes(ws: Workspace, count: int) -> None:
    """`count` notes in one process (a CLI subprocess each would take minutes)."""
    with Liveblog(ws.db, "reporter") as service:
        for n in range(count):
            service.note(f"note {n}: {TEXT}", conference="demo")


def request(port: int, path: str, *, rcvbuf: int | None = None) -> socket.socket:
    """A socket that has sent GET `path` (and reads nothing unless told)."""
    sock = socket.socket()
    if rcvbuf is not None:  # before connecting: the window the server sees stays small
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.connect(("127.0.0.1", port))
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    return sock


@contextlib.contextmanager
def non_readers(port: int, path: str, count: int) -> Iterator[list[socket.socket]]:
    socks = [request(port, path, rcvbuf=4096) for _ in range(count)]
    try:
        yield socks
    finally:
        for sock in socks:
            sock.close()


def run_loop(coroutine: Coroutine[Any, Any, None]) -> None:
    """asyncio.run in a thread of its own: a browser test's Playwright may have left an
    event loop running in this one (same worker process)."""
    failure: list[BaseException] = []

    def target() -> None:
        try:
            asyncio.run(coroutine)
        except BaseException as exc:  # re-raised in the test's thread
            failure.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join(60)
    assert not thread.is_alive(), "the event loop did not finish"
    if failure:
        raise failure[0]


def test_the_database_thread_runs_broadcasts_first_then_the_cheapest_catch_up(
    tmp_path: Path,
) -> None:
    reader = Reader(str(tmp_path / "none.db"), "test-reader")
    order: list[str] = []
    gate = threading.Event()

    async def main() -> None:
        # The thread is held by a first job while the others queue up behind it.
        blocked = asyncio.ensure_future(reader.run(lambda: gate.wait(20), FIRST_PAGE))
        jobs = [
            ("next page, far behind", NEXT_PAGE, 10),
            ("first page from 0", FIRST_PAGE, 5000),
            ("first page, just behind", FIRST_PAGE, 3),
            ("broadcast", BROADCAST, 0),
            ("first page from 0, later", FIRST_PAGE, 5000),
        ]
        queued = [
            asyncio.ensure_future(reader.run(lambda name=name: order.append(name), level, cost))
            for name, level, cost in jobs
        ]
        await asyncio.sleep(0)  # every job is queued before the gate opens
        gate.set()
        assert await blocked is True
        await asyncio.gather(*queued)
        await reader.close()
        with pytest.raises(RuntimeError):
            await reader.run(lambda: None)

    run_loop(main())
    assert order == [
        "broadcast",
        "first page, just behind",
        "first page from 0",
        "first page from 0, later",
        "next page, far behind",
    ]


def test_the_message_cache_keeps_the_most_recent_within_its_bytes() -> None:
    cache = MessageCache(limit=100)
    keys = [("demo", p, (f"e{p}",), True) for p in range(4)]
    for position, key in enumerate(keys):
        cache.put(key, Message(position, b"x" * 40))
    assert cache.size <= 100
    assert cache.get(keys[0]) is None and cache.get(keys[1]) is None  # the oldest went
    assert cache.get(keys[2]) is not None and cache.get(keys[3]) is not None
    cache.put(("demo", 9, (), True), Message(9, b"y" * 101))  # larger than the whole cache
    assert cache.get(("demo", 9, (), True)) is None and cache.size <= 100
    # `live` is part of what a message says: the same entries once closed are another.
    assert cache.get(("demo", 3, ("e3",), False)) is None
    # A conference's messages go together (a talk retitled), the others' stay.
    cache.put(("other", 5, ("e5",), True), Message(5, b"z" * 10))
    cache.drop("demo")
    assert cache.get(keys[3]) is None and cache.size == 10
    assert cache.get(("other", 5, ("e5",), True)) is not None


def test_a_flood_of_catch_ups_from_zero_does_not_hold_up_a_live_reader(ws: Workspace) -> None:
    add_notes(ws, 1000)
    with Service(ws) as service:
        timeline_ready(service)
        head = last_position(ws)
        # 600 readers asking for the whole history and reading none of it.
        with non_readers(service.port, stream_path(since=0), 600):
            with SseStream(service.port, stream_path(since=head)) as live:
                assert live.wait_head() == 200
                ws.ok("note", "the live one")
                (message,) = live.until(head + 1)
                assert "the live one" in message.json["entries"][0]["html"]
            assert httpx.get(f"{service.url}/healthz", timeout=20).status_code == 200
        # A reader that does read gets the whole history, each position once, in order.
        with SseStream(service.port, stream_path(since=0)) as full:
            got = [m.position for m in full.until(head + 1, timeout=60)]
        assert got == sorted(set(got)) and got[-1] == head + 1 and len(got) == head


def test_streams_opened_and_dropped_give_their_places_back(ws: Workspace) -> None:
    with_env(ws, LIVEBLOG_MAX_STREAMS="5")
    add_notes(ws, 300)
    with Service(ws) as service:
        timeline_ready(service)
        for _ in range(3):
            socks = [request(service.port, stream_path(since=0)) for _ in range(100)]
            for sock in socks:
                sock.close()  # gone before (or while) its catch-up is read

        def five_fit() -> bool:
            streams = [SseStream(service.port, stream_path(since=0)) for _ in range(5)]
            try:
                return all(stream.wait_head() == 200 for stream in streams)
            finally:
                for stream in streams:
                    stream.close()

        wait_until(five_fit, 30, what="the dropped streams' places to be given back")
        service.stop_cleanly()


def test_a_reader_that_never_reads_is_cut_and_its_place_given_back(ws: Workspace) -> None:
    with_env(ws, LIVEBLOG_MAX_STREAMS="1")
    add_notes(ws, 1500)  # far more history than the sockets' buffers hold
    with Service(ws, args=("--send-timeout", "1")) as service:
        timeline_ready(service)
        with non_readers(service.port, stream_path(since=0), 1):

            def admitted() -> bool:
                with SseStream(service.port, stream_path(since=last_position(ws))) as other:
                    return other.wait_head() == 200

            wait_until(admitted, 30, what="the non-reader's place to be given back")
        service.stop_cleanly()


def test_streams_from_one_address_are_capped_apart(ws: Workspace) -> None:
    with_env(ws, LIVEBLOG_MAX_STREAMS_PER_CLIENT="2")
    with Service(ws) as service:
        timeline_ready(service)
        path = stream_path(since=last_position(ws))
        with SseStream(service.port, path) as one, SseStream(service.port, path) as two:
            assert one.wait_head() == 200 and two.wait_head() == 200
            with SseStream(service.port, path) as three:
                assert three.wait_head() == 503
                assert three.headers["retry-after"].isdigit()
                assert three.closed.wait(20)
                assert b"2 live streams open from 127.0.0.1" in three.body


def test_an_empty_last_event_id_is_no_last_event_id(ws: Workspace) -> None:
    with Service(ws) as service:
        timeline_ready(service)
        head = last_position(ws)
        with SseStream(service.port, stream_path(since=head), {"Last-Event-ID": ""}) as stream:
            assert stream.wait_head() == 200
            ws.ok("note", "after the head")
            assert [m.position for m in stream.until(head + 1)] == [head + 1]


def test_before_the_timeline_is_built_503_with_retry_after_then_it_streams(
    ws: Workspace,
) -> None:
    ws.ok("note", "written before serve ever ran")
    head = last_position(ws)
    # Another writer holds the database's write lock: serve starts, but its scheduler
    # cannot build the timeline until the lock goes (a real SQLite lock, as a long
    # import or a backup would hold it).
    holder = sqlite3.connect(ws.db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with Service(ws) as service:
            with SseStream(service.port, stream_path(since=0)) as early:
                assert early.wait_head() == 503
                assert early.headers["retry-after"].isdigit()
                assert early.closed.wait(20)
                assert b"being built" in early.body
            holder.execute("ROLLBACK")

            def streaming() -> bool:
                with SseStream(service.port, stream_path(since=0)) as stream:
                    return stream.wait_head() == 200

            wait_until(streaming, 30, what="the stream once the timeline is built")
            with SseStream(service.port, stream_path(since=0)) as stream:
                assert [m.position for m in stream.until(head)][-1] == head
            service.stop_cleanly()
    finally:
        holder.close()


def test_a_retitled_talk_is_shown_by_later_catch_ups_of_its_entries(ws: Workspace) -> None:
    # Catch-ups share rendered messages; an entry's fragment shows its talk's title, so
    # a change to the talk must not leave readers the old title from that cache.
    ws.ok("session", "start", "Morning")
    ws.ok("talk", "start", "Old title", "--speaker", "Ann")
    talk = ws.exported()[-1]["id"]
    ws.ok("note", "under the talk")
    note = ws.exported()[-1]["id"]

    def note_html(stream: SseStream, upto: int) -> str:
        found = [e for m in stream.until(upto) for e in m.json["entries"] if e["id"] == note]
        return str(found[-1]["html"])

    with Service(ws) as service:
        timeline_ready(service)
        with SseStream(service.port, stream_path(since=0)) as watching:
            assert "Old title" in note_html(watching, last_position(ws))
            ws.ok("correct", talk, "New title")  # read by the broadcast: a stream is open
            watching.until(last_position(ws))
        with SseStream(service.port, stream_path(since=0)) as later:
            html = note_html(later, last_position(ws))
        assert "New title" in html and "Old title" not in html

        ws.ok("correct", talk, "Newest title")  # no stream open: nobody reads it live

        def shown() -> bool:
            with SseStream(service.port, stream_path(since=0)) as again:
                return "Newest title" in note_html(again, last_position(ws))

        wait_until(shown, 30, what="the newest talk title in a catch-up")
