"""Issue 10, the server side: a public `liveblog serve` nobody can knock over.

Every test runs a real `liveblog serve` and talks to it over real sockets on loopback,
raw where the point is what a misbehaving client sends (a head without its body, a
trickle, a silent socket). Limits are set small (`--max-body 65536`, `--header-timeout
1`) so that nothing has to be big or slow to cross them.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import resource
import select
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from servers import LIVEBLOG, Api, Proc, Service, Workspace, assert_refused, draft, wait_until

MAX_BODY = 65536
BODY_TIMEOUT = 2
BODY_BUDGET = 100_000  # room for one body near MAX_BODY, not for two
AUTH_FAILURES = 3
# Tests that fail to authenticate on purpose do it from loopback addresses of their own,
# so that the failures they count touch no other test.
LIMITED_CLIENT = "127.0.0.9"
UPLOADER = "127.0.0.8"
SOCKET_SECONDS = 30.0  # how long a test waits for an answer it expects
CLOSE_SECONDS = 30.0  # … and for a close it expects (the server's deadline is 1 s)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    return Workspace(tmp_path_factory.mktemp("hardening"))


@pytest.fixture(scope="module")
def token(workspace: Workspace) -> str:
    return workspace.token("ann")


@pytest.fixture(scope="module")
def service(workspace: Workspace, token: str) -> Iterator[Service]:
    args = (
        *("--max-body", str(MAX_BODY)),
        *("--header-timeout", "1"),
        *("--keep-alive", "1"),
        *("--auth-failures", str(AUTH_FAILURES)),
        *("--body-timeout", str(BODY_TIMEOUT)),
        *("--body-budget", str(BODY_BUDGET)),
    )
    with Service(workspace, args=args) as running:
        yield running
        running.stop_cleanly()


# -- raw HTTP ------------------------------------------------------------------------


def connect(port: int, source: str = "127.0.0.1") -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=SOCKET_SECONDS)
    if source != "127.0.0.1":
        sock.close()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.settimeout(SOCKET_SECONDS)
        sock.bind((source, 0))
        sock.connect(("127.0.0.1", port))
    return sock


def head(method: str, path: str, *headers: str) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", *headers, "", ""]
    return "\r\n".join(lines).encode()


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One response: status, headers (lower-case names), body (by Content-Length)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError(f"connection closed before a response head: {data!r}")
        data += chunk
    raw_head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = raw_head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return int(status_line.split()[1]), headers, body


def exchange(
    port: int, request: bytes, source: str = "127.0.0.1"
) -> tuple[int, dict[str, str], bytes]:
    with connect(port, source) as sock:
        sock.sendall(request)
        return read_response(sock)


def assert_error(body: bytes | str) -> str:
    """`{"error": "one line"}` and nothing else; returns the line."""
    found = json.loads(body)
    assert set(found) == {"error"}, found
    assert isinstance(found["error"], str) and found["error"], found
    assert "\n" not in found["error"], found
    return str(found["error"])


def whole_response(received: bytes | bytearray) -> bool:
    """The head and the whole body it announces have arrived (on a loaded machine they
    may come in separate packets: the head alone is not the answer)."""
    end = received.find(b"\r\n\r\n")
    if end < 0:
        return False
    declared = re.search(rb"content-length: *(\d+)", bytes(received[:end]).lower())
    return declared is None or len(received) - end - 4 >= int(declared.group(1))


def closed_by_server(sock: socket.socket) -> bool:
    """True once the server has closed `sock` (what it sent before is read and dropped)."""
    sock.settimeout(0.05)
    try:
        while sock.recv(65536):
            pass
        return True
    except TimeoutError:
        return False
    except ConnectionError:
        return True


# -- 1. request bodies -----------------------------------------------------------------


def test_a_body_is_refused_before_it_is_read(service: Service, token: str) -> None:
    # 80 MiB announced, not one byte sent: the answer cannot have waited for the body.
    huge = "Content-Length: 83886080"
    status, headers, body = exchange(service.port, head("POST", "/api/events", huge), UPLOADER)
    assert status == 401, body
    assert headers["www-authenticate"] == "Bearer"
    assert headers["connection"] == "close"  # the rest of that body will not be read
    assert "bearer token" in assert_error(body)

    # A small body refused unread is read and dropped: the connection stays usable.
    with connect(service.port, UPLOADER) as sock:
        small = b'{"id": "x"}'
        sized = f"Content-Length: {len(small)}"
        sock.sendall(head("POST", "/api/events", sized) + small)
        assert read_response(sock)[0] == 401
        sock.sendall(head("GET", "/healthz"))
        assert read_response(sock)[0] == 200

    bearer = f"Authorization: Bearer {token}"
    status, headers, body = exchange(service.port, head("POST", "/api/events", bearer, huge))
    assert status == 413, body
    assert str(MAX_BODY) in assert_error(body)
    assert headers["connection"] == "close"

    # A chunked body has no length to check: it is counted, and refused at the limit,
    # before its end (which never comes) has been sent.
    with connect(service.port) as sock:
        sock.sendall(head("POST", "/api/events", bearer, "Transfer-Encoding: chunked"))
        chunk = b"x" * 16384
        for _ in range(MAX_BODY // len(chunk) + 1):
            sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        status, _, body = read_response(sock)
    assert status == 413, body
    assert_error(body)

    # What is under the limit goes through as before.
    api = Api(service.url, token)
    try:
        opened = api.post(draft("c" * 26, "conference.opened", "hx", title="Hardening"))
        assert opened.status_code == 201, opened.text
        assert api.head() >= 1
    finally:
        api.close()


def test_a_trickled_body_is_cut_off_at_the_body_deadline(service: Service, token: str) -> None:
    # A byte every 0.2 s never trips the 30 s idle timeout: only a deadline on the whole
    # body ends it (before, it was held as long as the client kept dripping).
    bearer = f"Authorization: Bearer {token}"
    sized = f"Content-Length: {MAX_BODY // 2}"
    received = bytearray()

    def answered() -> bool:
        try:
            sock.sendall(b" ")
        except OSError:
            return True  # reset after the answer: what came before is in `received`
        sock.settimeout(0.2)
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            return False
        except ConnectionError:
            return True
        received.extend(chunk)
        return not chunk or whole_response(received)

    with connect(service.port) as sock:
        sock.sendall(head("POST", "/api/events", bearer, sized))
        wait_until(answered, SOCKET_SECONDS, what="an answer to a trickled body")
        wait_until(lambda: closed_by_server(sock), CLOSE_SECONDS, what="the trickle closed")
    assert received.startswith(b"HTTP/1.1 408 "), bytes(received)
    raw_head, _, body = bytes(received).partition(b"\r\n\r\n")
    assert b"connection: close" in raw_head.lower()
    assert f"{BODY_TIMEOUT} s" in assert_error(body)


def test_uploads_over_the_body_budget_wait_their_turn(service: Service, token: str) -> None:
    bearer = f"Authorization: Bearer {token}"
    near_full = f"Content-Length: {MAX_BODY - 10}"
    with connect(service.port) as first:
        # The 100 Continue says the server has begun reading this body (and holds its
        # share of the budget): no guessing when the second one arrives.
        first.sendall(head("POST", "/api/events", bearer, near_full, "Expect: 100-continue"))
        interim = b""
        while b"\r\n\r\n" not in interim:
            chunk = first.recv(4096)
            assert chunk, interim
            interim += chunk
        assert interim.startswith(b"HTTP/1.1 100 "), interim
        status, headers, body = exchange(
            service.port, head("POST", "/api/events", bearer, near_full, "Expect: 100-continue")
        )
        assert status == 503, body
        assert headers["retry-after"] == "1"
        assert "busy" in assert_error(body)
    # The first one gone, its share is back: the next upload is read and answered.
    payload = json.dumps(draft("b" * 26, "note.posted", "nope", text="x" * 100)).encode()
    sized = f"Content-Length: {len(payload)}"
    json_type = "Content-Type: application/json"

    def budget_returned() -> bool:
        request = head("POST", "/api/events", bearer, json_type, sized) + payload
        return exchange(service.port, request)[0] != 503

    wait_until(budget_returned, CLOSE_SECONDS, what="the first upload's budget returned")


# -- 2. connections that never finish --------------------------------------------------


def test_connections_that_never_finish_are_closed(service: Service) -> None:
    silent = connect(service.port)
    trickling = connect(service.port)
    trickling.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    idle_after_a_request = connect(service.port)
    idle_after_a_request.sendall(head("GET", "/healthz"))
    assert read_response(idle_after_a_request)[0] == 200
    received = bytearray()

    def trickler_closed() -> bool:
        # A header line at a time, well within any deadline per line: only a deadline on
        # the whole head can end it.
        try:
            trickling.sendall(b"X-Slow: 1\r\n")
        except OSError:
            return True
        trickling.settimeout(0.2)
        try:
            chunk = trickling.recv(65536)
        except TimeoutError:
            return False
        except ConnectionError:
            return True
        received.extend(chunk)
        return not chunk

    try:
        wait_until(lambda: closed_by_server(silent), CLOSE_SECONDS, what="a silent socket closed")
        wait_until(trickler_closed, CLOSE_SECONDS, what="a header trickle closed")
        wait_until(
            lambda: closed_by_server(idle_after_a_request),
            CLOSE_SECONDS,
            what="an idle keep-alive connection closed",
        )
    finally:
        for sock in (silent, trickling, idle_after_a_request):
            sock.close()
    if received:  # the 408 may be lost to a reset when the close races our next line
        assert received.startswith(b"HTTP/1.1 408 "), bytes(received)
        assert_error(bytes(received).partition(b"\r\n\r\n")[2])
    assert httpx.get(f"{service.url}/healthz", timeout=SOCKET_SECONDS).status_code == 200


SOCKETS = 2000
CAP = 512


def _file_limits(pid: int) -> tuple[int, int]:
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            soft, hard = line.split()[3:5]
            return int(soft), int(hard)
    raise AssertionError("no 'Max open files' in /proc/PID/limits")


def _eof_count(socks: list[socket.socket]) -> int:
    poller = select.poll()
    for sock in socks:
        poller.register(sock, select.POLLIN | select.POLLHUP)
    # Readable after the server closed them (EOF); none sends us anything else.
    return len(poller.poll(0))


class UsualFileLimit(Service):
    """`liveblog serve` started with the soft file limit most systems give (1,024), as a
    service manager would start it: lifting it is the server's own job."""

    def spawn(self) -> subprocess.Popen[bytes]:
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        self._log_path = self.workspace.root / "serve-usual-file-limit.err"
        with open(self._log_path, "wb") as err:
            self.proc = subprocess.Popen(
                self.argv(),
                stdout=subprocess.DEVNULL,
                stderr=err,
                env=self.workspace.env(LIVEBLOG_AUTHOR="editor"),
                cwd=self.workspace.root,
                preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard)),
            )
        return self.proc


def test_two_thousand_idle_sockets_never_lock_out_a_client(tmp_path: Path) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = SOCKETS + 256
    if hard != resource.RLIM_INFINITY and hard < wanted:
        pytest.skip(f"the hard file limit ({hard}) is below {wanted}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, wanted), hard))
    # A long head deadline: what must save the client here is the cap, not the clock.
    args = ("--header-timeout", "600", "--max-connections", str(CAP))
    socks: list[socket.socket] = []
    try:
        with UsualFileLimit(Workspace(tmp_path), args=args) as service:
            soft_now, hard_now = _file_limits(service.pid)
            assert soft_now == hard_now, (soft_now, hard_now)
            for index in range(SOCKETS):
                sock = socket.create_connection(("127.0.0.1", service.port), timeout=60)
                if index % 2:  # half silent, half stuck in the middle of a head
                    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
                socks.append(sock)
            response = httpx.get(f"{service.url}/healthz", timeout=SOCKET_SECONDS)
            assert response.status_code == 200, response.text
            # Room was made by closing the oldest idle connections, not by refusing ours.
            wait_until(
                lambda: _eof_count(socks) >= SOCKETS - CAP,
                CLOSE_SECONDS,
                what=lambda: f"{SOCKETS - CAP} idle sockets evicted (now {_eof_count(socks)})",
            )
            service.stop_cleanly()
    finally:
        for sock in socks:
            sock.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


STALLED = 50
BIG_FEED = 4 * 1024 * 1024  # far more than the socket buffers of a client that never reads


def _reset_count(socks: list[socket.socket]) -> int:
    poller = select.poll()
    for sock in socks:
        poller.register(sock, 0)  # POLLHUP and POLLERR are reported whatever is asked
    return len(poller.poll(0))


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=SOCKET_SECONDS).status_code == 200
    except httpx.TransportError:
        return False  # refused: the cap is full of requests still in progress


@pytest.mark.parametrize(
    "what, args",
    [
        # Plenty of room: only the send deadline can end them.
        ("deadline", ("--max-connections", "1000", "--send-timeout", "2")),
        # No deadline to speak of: only evicting a stalled one can make room at the cap.
        ("cap", ("--max-connections", str(STALLED), "--send-timeout", "600")),
    ],
)
def test_readers_that_never_read_are_cut_off(
    tmp_path: Path, what: str, args: tuple[str, ...]
) -> None:
    workspace = Workspace(tmp_path)
    (workspace.feeds / "big").mkdir()
    (workspace.feeds / "big" / "big.atom").write_bytes(os.urandom(BIG_FEED))
    socks: list[socket.socket] = []
    try:
        with Service(workspace, args=args) as service:
            for _ in range(STALLED):
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                sock.settimeout(SOCKET_SECONDS)
                sock.connect(("127.0.0.1", service.port))
                sock.sendall(head("GET", "/feeds/big/big.atom"))
                socks.append(sock)
            if what == "deadline":
                wait_until(
                    lambda: _reset_count(socks) == STALLED,
                    CLOSE_SECONDS,
                    what=lambda: f"{STALLED} stalled readers reset (now {_reset_count(socks)})",
                )
            # (At the cap, a newcomer is refused while the others' requests are still
            # starting, and admitted once they are stalled: polled, not timed.)
            wait_until(lambda: _healthy(service.url), CLOSE_SECONDS, what="/healthz answered")
            assert _reset_count(socks) >= 1
            service.stop_cleanly()  # no traceback for any of them
    finally:
        for sock in socks:
            sock.close()


def test_a_feed_path_too_long_for_the_file_system_is_not_found(service: Service) -> None:
    for path in ("/feeds/" + "a" * 5000, "/feeds/c1/" + "a/" * 3000 + "x"):
        status, headers, body = exchange(service.port, head("GET", path))
        assert status == 404, (status, body[:200])
        assert headers["content-type"] == "application/json"
        assert assert_error(body) == "not found"
    assert "Traceback" not in service.stderr, service.stderr[-2000:]
    assert "File name too long" not in service.stderr


def test_head_is_answered_like_get_without_a_body(service: Service, token: str) -> None:
    for path, headers in (
        ("/healthz", ()),
        ("/api/events", (f"Authorization: Bearer {token}",)),
    ):
        with connect(service.port) as sock:
            sock.sendall(head("HEAD", path, *headers))
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = sock.recv(65536)
                assert chunk, data
                data += chunk
            # Then the same connection serves a GET: nothing of a body came in between.
            sock.sendall(head("GET", "/healthz"))
            raw_head, _, rest = data.partition(b"\r\n\r\n")
            assert raw_head.startswith(b"HTTP/1.1 200 "), (path, raw_head)
            status, _, body = read_response_after(sock, rest)
            assert status == 200, body
            assert json.loads(body)["status"] == "ok"


def read_response_after(sock: socket.socket, already: bytes) -> tuple[int, dict[str, str], bytes]:
    """The next response on `sock`, whose first bytes may already be in `already`."""
    buffered = _Buffered(sock, already)
    return read_response(buffered)  # type: ignore[arg-type]


class _Buffered:
    def __init__(self, sock: socket.socket, already: bytes) -> None:
        self.sock = sock
        self.already = already

    def recv(self, size: int) -> bytes:
        if self.already:
            chunk, self.already = self.already[:size], self.already[size:]
            return chunk
        return self.sock.recv(size)


# -- 5. errors in one shape ------------------------------------------------------------


def test_every_error_is_one_json_line(service: Service, token: str) -> None:
    bearer = f"Authorization: Bearer {token}"
    json_type = "Content-Type: application/json"

    def with_body(body: bytes) -> bytes:
        sized = f"Content-Length: {len(body)}"
        return head("POST", "/api/events", bearer, json_type, sized) + body

    cases: list[tuple[str, bytes, int]] = [
        ("unknown route", head("GET", "/no/such/route"), 404),
        ("unknown API route", head("GET", "/api/nothing", bearer), 404),
        ("wrong method", head("DELETE", "/healthz"), 405),
        ("wrong method on the API", head("PUT", "/api/events", bearer), 405),
        ("unparsable body", with_body(b'{"id": '), 422),
        ("body of the wrong shape", with_body(b'{"id": 1, "type": "no.such"}'), 422),
        ("bad query", head("GET", "/api/events?after=-1", bearer), 422),
        ("no token", head("GET", "/api/events"), 401),
        ("over the limit", head("POST", "/api/events", bearer, "Content-Length: 99999999"), 413),
        ("not HTTP", b"HELLO THERE\r\n\r\n", 400),
    ]
    for what, request, expected in cases:
        status, headers, body = exchange(service.port, request)
        assert status == expected, (what, status, body)
        assert headers["content-type"] == "application/json", (what, headers)
        assert_error(body)


# -- 6. abuse of tokens ------------------------------------------------------------------


def test_failed_authentications_are_logged_and_limited(service: Service, token: str) -> None:
    wrong = "lbt_" + "guess" * 8
    transport = httpx.HTTPTransport(local_address=LIMITED_CLIENT)
    with httpx.Client(base_url=service.url, transport=transport, timeout=SOCKET_SECONDS) as c:

        def get(presented: str) -> httpx.Response:
            return c.get("/api/events", headers={"authorization": f"Bearer {presented}"})

        for _ in range(AUTH_FAILURES):
            refused = get(wrong)
            assert refused.status_code == 401, refused.text
        limited = get(wrong)
        assert limited.status_code == 429, limited.text
        assert int(limited.headers["retry-after"]) >= 1
        assert LIMITED_CLIENT in assert_error(limited.text)
        # Refused before the token is looked up: even a good one, from that address.
        assert get(token).status_code == 429
    # Another address is not affected.
    api = Api(service.url, token)
    try:
        api.events()
    finally:
        api.close()

    logged = [line for line in service.stderr.splitlines() if LIMITED_CLIENT in line]
    failures = [line for line in logged if "failed authentication from" in line]
    assert len(failures) == AUTH_FAILURES, logged
    assert all("GET /api/events" in line for line in failures), failures
    assert any("429" in line for line in logged), logged
    assert wrong not in service.stderr and token not in service.stderr


# -- 7. busy port --------------------------------------------------------------------------


def test_a_busy_port_is_one_line_and_creates_nothing(tmp_path: Path) -> None:
    taken = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = str(taken.getsockname()[1])
    env: dict[str, Any] = {k: v for k, v in os.environ.items() if not k.startswith("LIVEBLOG_")}
    try:
        done = subprocess.run(
            [*LIVEBLOG, "serve", "--host", "127.0.0.1", "--port", port],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env=env,
            timeout=60,
        )
    finally:
        taken.close()
    line = assert_refused(Proc(done.returncode, done.stdout, done.stderr))
    assert f"127.0.0.1:{port}" in line, line
    assert list(tmp_path.iterdir()) == [], list(tmp_path.iterdir())


def test_port_zero_still_reports_where_it_listens(tmp_path: Path) -> None:
    # Binding before opening the database keeps `--port 0` and the serving line.
    workspace = Workspace(tmp_path)
    log = tmp_path / "serve.err"
    argv = [*LIVEBLOG, "--db", str(workspace.db), "--feeds", str(workspace.feeds), "serve"]
    with open(log, "wb") as err:
        proc = subprocess.Popen([*argv, "--port", "0"], stderr=err, env=workspace.env())
    try:
        found = wait_until(
            lambda: re.search(
                r"liveblog serving \S+ at (http://127\.0\.0\.1:\d+)$", log.read_text(), re.MULTILINE
            ),
            60,
            what=lambda: f"the serving line; stderr: {log.read_text()!r}",
        )
        assert httpx.get(f"{found.group(1)}/healthz", timeout=SOCKET_SECONDS).status_code == 200
        proc.terminate()
        assert proc.wait(timeout=60) == 0, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# -- an unexpected error of the app ----------------------------------------------------


def test_an_unexpected_error_is_one_json_line_and_one_log_entry() -> None:
    # A fault no real request produces on demand (finding 4's was one until fixed), so
    # the app behind the guard is made to raise, with a message as long as a hostile path.
    from liveblog.http.guard import Guard
    from liveblog.http.limits import Limits

    long_path = "/feeds/" + "a" * 5000

    async def failing(scope: Any, receive: Any, send: Any) -> None:
        raise OSError(36, "File name too long", long_path)

    logged: list[str] = []
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def receive() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    guard = Guard(failing, limits=Limits(), check_token=lambda _: True, log=logged.append)
    scope = {"type": "http", "method": "GET", "path": long_path, "headers": []}
    asyncio.run(guard(scope, receive, send))

    assert sent[0]["status"] == 500
    assert dict(sent[0]["headers"])[b"content-type"] == b"application/json"
    assert json.loads(sent[1]["body"]) == {"error": "internal error"}
    assert len(logged) == 1, logged  # once: the exception is not raised on to uvicorn
    assert "Traceback" in logged[0] and "OSError" in logged[0]
    assert all(len(line) <= 300 for line in logged[0].splitlines()), logged[0]
