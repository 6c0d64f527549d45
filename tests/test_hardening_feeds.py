"""Issue 10, the feed side: big files, symlinks and odd files in feeds/, error shapes,
a file named feeds, temporary files left by killed publishes, sandboxed templates.

Real `liveblog serve` and CLI subprocesses over real files; the one in-process test
runs the feed app under a real uvicorn on a real socket, as `serve` does.
"""

from __future__ import annotations

import asyncio
import fcntl
import gzip
import os
import socket
import stat
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from servers import Service, Workspace, assert_refused, wait_until

from liveblog.http import feeds as feedserver

BIG = "big"  # a folder of feeds/ no conference owns: the scheduler never rewrites it


def big_feed(size: int, seed: int = 0) -> bytes:
    """An Atom document of about `size` bytes, varied enough that gzip has work to do."""
    head = b'<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">\n'
    parts = [head]
    total = len(head)
    number = 0
    while total < size:
        entry = (
            f"<entry><id>tag:example.org,2026:{seed}-{number}</id><title>Day {number % 9} "
            f'reflections {number * 7919 % 104729}</title><content type="html">The speaker '
            f"{number * 31 % 997} explained how room {number % 17} handled {number * 13} "
            f"questions about consensus and latency.</content></entry>\n"
        ).encode()
        parts.append(entry)
        total += len(entry)
        number += 1
    parts.append(b"</feed>\n")
    return b"".join(parts)


def replace_file(path: Path, data: bytes) -> None:
    """As the publisher does: a new file renamed over the old one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f"tmp-{path.name}")
    temporary.write_bytes(data)
    os.replace(temporary, path)


def bytes_read(pid: int) -> int:
    """What process `pid` has read through read()/pread() so far (/proc/PID/io rchar)."""
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise AssertionError(f"no rchar in /proc/{pid}/io")


def get(url: str, **headers: str) -> httpx.Response:
    return httpx.get(url, headers=headers, timeout=60)


def assert_json_error(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, (response.status_code, response.content[:200])
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert list(body) == ["error"], body
    assert isinstance(body["error"], str) and body["error"]
    assert "\n" not in body["error"]
    return str(body["error"])


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Workspace, Service]]:
    ws = Workspace(tmp_path / "ws")
    ws.ok("conference", "open", "c1", "--title", "Conference One")
    ws.ok("day", "open", "1")
    ws.ok("note", "The first note")
    with Service(ws) as service:
        wait_until(
            lambda: (ws.feeds / "c1" / ".state.json").is_file(),  # written last
            60,
            what="the first publication of c1",
        )
        yield ws, service


# -- point 3: big feed files ------------------------------------------------------------------


def test_a_big_feed_is_read_once_per_version_and_a_slow_reader_stalls_nobody(
    served: tuple[Workspace, Service],
) -> None:
    ws, service = served
    path = ws.feeds / BIG / "reflections.atom"
    first = big_feed(6_600_000, seed=1)
    replace_file(path, first)
    url = f"{service.feeds_url}/{BIG}/reflections.atom"
    # Whatever serving a feed for the first time costs (imports, say) is paid here.
    assert get(f"{service.feeds_url}/c1/live.atom").status_code == 200

    before = bytes_read(service.pid)
    etags = set()
    for encoding in ("identity", "gzip", "identity", "gzip", "identity", "gzip"):
        response = get(url, **{"accept-encoding": encoding})
        assert response.status_code == 200
        assert response.content == first  # httpx has undone the gzip
        assert response.headers.get("content-encoding") == ("gzip" if encoding == "gzip" else None)
        etags.add(response.headers["etag"])
    assert len(etags) == 2  # the plain and the gzipped ETag of one version
    plain_etag = get(url, **{"accept-encoding": "identity"}).headers["etag"]
    assert get(url, **{"if-none-match": plain_etag}).status_code == 304
    read = bytes_read(service.pid) - before
    # Eight requests, one read of the file (and small reads of events.db meanwhile).
    assert read < 1.5 * len(first), f"read {read} bytes for a {len(first)}-byte file"

    # A new version, asked for by four clients at once: read once more, not four times.
    second = big_feed(6_600_000, seed=2)
    replace_file(path, second)
    before = bytes_read(service.pid)
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: get(url, **{"accept-encoding": "gzip"}), range(4)))
    assert all(a.status_code == 200 and a.content == second for a in answers)
    assert not {a.headers["etag"] for a in answers} & etags  # a new version, new ETags
    read = bytes_read(service.pid) - before
    assert read < 1.5 * len(second), f"read {read} bytes for a {len(second)}-byte file"

    # A client that reads nothing of the big body: /healthz is answered meanwhile.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as slow:
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        slow.settimeout(60)  # a generous bound: a server that never answers fails, not hangs
        slow.connect(("127.0.0.1", service.port))
        slow.sendall(
            f"GET /feeds/{BIG}/reflections.atom HTTP/1.1\r\nHost: x\r\n"
            "Accept-Encoding: identity\r\n\r\n".encode()
        )
        assert slow.recv(1)  # the response has started, and stays stuck in the socket
        for _ in range(3):
            assert get(f"{service.url}/healthz").status_code == 200
        received = b"H" + _read_response(slow)
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert body == second


def _read_response(sock: socket.socket) -> bytes:
    """The rest of one Content-Length response, whatever the socket's buffer size."""
    sock.settimeout(60)
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        chunk = sock.recv(1 << 20)
        assert chunk, "connection closed before the whole body"
        body += chunk
    return head + b"\r\n\r\n" + body


class _Probe:
    """The feed app under a real uvicorn in a thread of this process, with its messages
    and the threads that read files recorded (probes around the real functions)."""

    def __init__(self, app: feedserver.FeedFiles) -> None:
        import uvicorn

        self.loop_thread: int | None = None
        self.reader_threads: list[int] = []
        self.body_sizes: list[int] = []
        app_call = app.__call__

        async def recorded(scope: dict[str, Any], receive: Any, send: Any) -> None:
            self.loop_thread = threading.get_ident()

            async def probe_send(message: dict[str, Any]) -> None:
                if message["type"] == "http.response.body":
                    self.body_sizes.append(len(message.get("body", b"")))
                await send(message)

            await app_call(scope, receive, probe_send)

        config = uvicorn.Config(
            recorded, host="127.0.0.1", port=0, log_level="warning", lifespan="off"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        wait_until(lambda: self.server.started, 30, what="the in-process uvicorn")
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(30)


def test_files_are_read_off_the_loop_and_sent_in_chunks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "feeds"
    kept = big_feed(1_500_000, seed=3)
    streamed = big_feed(3_000_000, seed=4)
    replace_file(root / "c1" / "kept.atom", kept)
    replace_file(root / "c1" / "streamed.atom", streamed)
    app = feedserver.FeedFiles(root, cache_bytes=8_000_000, keep_limit=2_000_000)
    probe = _Probe(app)
    real_read = feedserver.read_version

    def counted(fd: int, keep_limit: int) -> feedserver.Version:
        probe.reader_threads.append(threading.get_ident())
        with pytest.raises(RuntimeError):
            asyncio.get_running_loop()  # no event loop runs in a reading thread
        return real_read(fd, keep_limit)

    monkeypatch.setattr(feedserver, "read_version", counted)
    with probe as base:
        for _ in range(3):
            plain = get(f"{base}/feeds/c1/kept.atom", **{"accept-encoding": "identity"})
            assert plain.content == kept
            with httpx.stream(
                "GET", f"{base}/feeds/c1/kept.atom", headers={"accept-encoding": "gzip"}
            ) as zipped:
                assert zipped.headers["content-encoding"] == "gzip"
                raw = b"".join(zipped.iter_raw())
            assert len(raw) < len(kept) and gzip.decompress(raw) == kept
            # Too big to keep: streamed from disk, plain, still with validators.
            big = get(f"{base}/feeds/c1/streamed.atom", **{"accept-encoding": "gzip"})
            assert big.content == streamed
            assert "content-encoding" not in big.headers
            assert big.headers["content-length"] == str(len(streamed))
            again = get(f"{base}/feeds/c1/streamed.atom", **{"if-none-match": big.headers["etag"]})
            assert again.status_code == 304
    assert len(probe.reader_threads) == 2  # each file read once, however often served
    assert probe.loop_thread not in probe.reader_threads
    assert max(probe.body_sizes) <= feedserver.CHUNK_BYTES
    assert app._cache.bytes <= 8_000_000


# -- point 4: symlinks, FIFOs and devices in feeds/ -------------------------------------------


def test_only_regular_files_inside_feeds_are_served(
    served: tuple[Workspace, Service],
) -> None:
    ws, service = served
    folder = ws.feeds / "c1"
    (folder / "leak.atom").symlink_to("../../events.db")
    (folder / "passwd.atom").symlink_to("/etc/passwd")
    (ws.feeds / "etc").symlink_to("/etc")
    (folder / "state.atom").symlink_to(".state.json")
    os.mkfifo(folder / "pipe.atom")
    try:
        os.mknod(folder / "null.atom", 0o644 | stat.S_IFCHR, os.makedev(1, 3))
        devices = ["null.atom"]
    except PermissionError:
        devices = []  # not root: no device node can be made, so none can be served
    # Inside the tree, a link is only another name.
    (folder / "alias.atom").symlink_to("live.atom")
    (ws.feeds / "mirror").symlink_to("c1")

    refused = [
        "c1/leak.atom",
        "c1/passwd.atom",
        "etc/passwd",
        "etc/hostname",
        "c1/state.atom",
        "c1/pipe.atom",
        *(f"c1/{name}" for name in devices),
    ]
    database = ws.db.read_bytes()[:16]
    for name in refused:
        response = get(f"{service.feeds_url}/{name}")
        assert_json_error(response, 404)
        assert database not in response.content
        assert b"root:" not in response.content
    live = (folder / "live.atom").read_bytes()
    for name in ("c1/alias.atom", "mirror/live.atom"):
        response = get(f"{service.feeds_url}/{name}", **{"accept-encoding": "identity"})
        assert response.status_code == 200, name
        assert response.content == live
    listing = get(f"{service.feeds_url}/").text
    assert 'href="c1/"' in listing and 'href="etc/"' not in listing
    assert get(f"{service.url}/healthz").status_code == 200  # the FIFO hung nothing


# -- point 5, for /feeds/: errors in one shape ------------------------------------------------


def test_every_feed_error_is_one_line_of_json(served: tuple[Workspace, Service]) -> None:
    ws, service = served
    assert (ws.feeds / "c1" / ".state.json").is_file()
    for path in ("c1/nothing.atom", "nowhere/", "c1/.state.json", "%2e%2e/events.db"):
        assert_json_error(get(f"{service.feeds_url}/{path}"), 404)
    for method in ("POST", "PUT", "DELETE"):
        response = httpx.request(method, f"{service.feeds_url}/c1/live.atom", timeout=60)
        assert_json_error(response, 405)
        assert response.headers["allow"] == "GET, HEAD"


# -- a file named feeds --------------------------------------------------------------------


@pytest.mark.parametrize("command", [("publish",), ("run", "--once"), ("serve", "--port", "0")])
def test_a_file_where_feeds_should_be_is_named_in_one_line(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    ws = Workspace(tmp_path / "ws")
    ws.ok("conference", "open", "c1", "--title", "Conference One")
    ws.feeds.rmdir()
    ws.feeds.write_text("not a directory\n")
    before = ws.exported()
    line = assert_refused(ws.cli(*command))
    assert str(ws.feeds) in line and "not a directory" in line
    assert "internal error" not in line
    assert ws.feeds.read_text() == "not a directory\n"
    assert ws.exported() == before
    # Refused before anything is created: not even the database.
    (ws.root / "events.db").rename(ws.root / "kept.db")
    assert_refused(ws.cli(*command))
    assert not ws.db.exists()


def test_a_file_where_a_conference_folder_should_be_is_named(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    ws.ok("conference", "open", "c1", "--title", "Conference One")
    (ws.feeds / "c1").write_text("in the way\n")
    line = assert_refused(ws.cli("publish"))
    assert str(ws.feeds / "c1") in line and "not a directory" in line


# -- temporary files of killed publishes ----------------------------------------------------


def test_stale_temporary_files_are_removed_by_the_next_publish(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    ws.ok("conference", "open", "c1", "--title", "Conference One")
    ws.ok("day", "open", "1")
    for number in range(5):
        ws.ok("note", f"Note {number}")
    ws.ok("publish", "--page-size", "2")
    archive = ws.feeds / "c1" / "archive"
    assert (archive / "2.atom").is_file()
    an_hour_ago = time.time() - 3600

    def made(path: Path, old: bool = True) -> Path:
        path.write_bytes(b"<feed>half of a docum")
        if old:
            os.utime(path, (an_hour_ago, an_hour_ago))
        return path

    # What killed writers leave: our temporary names, unlocked, not touched for an hour.
    stale = [
        made(archive / ".3.atom.k2x_9abc"),
        made(ws.feeds / "c1" / ".live.atom.0abcdefg"),
        made(ws.feeds / "c1" / "..state.json.zzzz_zzz"),
    ]
    # What must stay: a temporary file a live writer holds locked (old or not), one just
    # created (its writer may not have locked it yet), and files that are not ours.
    writing = made(archive / ".4.atom.abcdefgh")
    young = made(archive / ".5.atom.ijklmnop", old=False)
    foreign = [
        made(archive / ".notes.txt.abcdefgh"),
        made(archive / ".3.atom.toolongname"),
        made(archive / "notes.atom.abcdefgh"),
        made(ws.feeds / "c1" / "mine.txt"),
    ]
    # The killed publish recorded nothing, so what it was rendering (a conference with
    # new events) is still to be published: the next publish renders it, and sweeps.
    ws.ok("note", "Note after the kill")
    with open(writing, "rb") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        ws.ok("publish", "--page-size", "2")
        assert writing.exists()
    assert not any(p.exists() for p in stale), [p.name for p in stale if p.exists()]
    assert young.exists()
    assert all(p.exists() for p in foreign)
    # The feeds themselves are whole.
    assert (archive / "1.atom").read_bytes().startswith(b"<?xml")


# -- --template runs in a sandbox -----------------------------------------------------------


@pytest.mark.parametrize(
    "source",
    [
        "{{ lipsum.__globals__.os.system('touch PWNED') }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}{{ title }}",
        "{{ cycler.__init__.__globals__.os.system('touch PWNED') }}",
        "{{ summary.reporters.append('mallory') }}{{ summary.reporters }}",
    ],
)
def test_a_template_cannot_escape_the_sandbox(tmp_path: Path, source: str) -> None:
    ws = Workspace(tmp_path / "ws")
    ws.ok("conference", "open", "c1", "--title", "Conference One")
    ws.ok("day", "open", "1")
    ws.ok("note", "A note")
    template = ws.root / "evil.md.j2"
    template.write_text(source + "\n")
    proc = ws.cli("summary", "1", "--template", str(template))
    line = assert_refused(proc)
    assert "evil.md.j2" in line and "refused" in line
    assert proc.stdout == ""
    assert not (ws.root / "PWNED").exists()
    # An honest template still renders.
    template.write_text(
        "{{ summary.title }} by {{ byline }}: {{ summary.reporters | join(', ') }}\n"
    )
    assert ws.ok("summary", "1", "--template", str(template)) == [
        "Conference One – Day 1 Reflections by ann: ann"
    ]
