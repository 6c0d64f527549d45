"""Test helpers for webhooks: a real, programmable HTTP receiver, a deliverer running in a
background thread, and `wait_for`, the only way tests wait for something to happen.

`Receiver` is a `ThreadingHTTPServer` on 127.0.0.1 (or ::1), port 0, that records every
request (headers and body) and answers each one as told: a scripted sequence of
`Reply`s (status, delay, headers such as Retry-After or Location, closing the connection
unanswered, an endless body), then a rule, then a default. It can be stopped (every open
connection is cut, so nothing answers) and started again on the same port.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

from liveblog.scheduler.main import Projections
from liveblog.store.sqlite.webhooks import CURSOR
from liveblog.webhooks import Deliverer, DeliveryOptions
from liveblog.webhooks.addresses import Resolver, system_resolver

T = TypeVar("T")

DEADLINE_SECONDS = 20.0


def wait_for(
    predicate: Callable[[], T],
    timeout: float = DEADLINE_SECONDS,
    *,
    what: str | Callable[[], str] = "the condition",
    interval: float = 0.01,
) -> T:
    """Poll `predicate` until it returns something truthy, and return that; fail loudly
    (naming `what`, which may be computed at failure time) after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            detail = what() if callable(what) else what
            raise AssertionError(f"timed out after {timeout:g} s waiting for {detail}")
        time.sleep(interval)


# -- the receiver ----------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    """How to answer one request."""

    status: int = 200
    delay: float = 0.0  # seconds to wait before answering (cut short by stop())
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b"ok"
    close: bool = False  # read the request, then hang up without answering
    endless: bool = False  # stream a body until the client hangs up


@dataclass
class Received:
    """One request as the receiver read it, and what became of it."""

    method: str
    path: str
    headers: dict[str, str]  # names in lower case
    body: bytes
    connection: int  # which TCP connection carried it (numbered from 1)
    nth_on_connection: int  # 1 for a connection's first request
    at: float  # time.monotonic() when it was read
    wall: float  # time.time() when it was read
    status: int | None = None  # what was answered (None: not answered, or not yet)
    answered_at: float | None = None  # time.monotonic() once the answer was written
    dropped: bool = False  # the connection was closed without an answer
    streamed: int = 0  # body bytes written by an endless reply
    hung_up: bool = False  # the client closed an endless reply's connection

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def message_id(self) -> str:
        return self.headers["webhook-id"]


Rule = Callable[[Received], "Reply | int | None"]


def _reply(value: Reply | int) -> Reply:
    return value if isinstance(value, Reply) else Reply(status=value)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    receiver: Receiver

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hung up mid-answer (a deadline, a stop) is expected; anything
        # else is kept for the test to see.
        import sys

        exc = sys.exc_info()[1]
        if not isinstance(exc, OSError):
            self.receiver.errors.append(exc)


class _IPv6Server(_Server):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a real receiver does
    disable_nagle_algorithm = True  # or each answer waits for a delayed ACK (40 ms)
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.receiver = self.server.receiver
        self.number = self.receiver._connected(self.connection)
        self.count = 0

    def finish(self) -> None:
        with contextlib.suppress(OSError):
            super().finish()
        self.receiver._disconnected(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet

    def _handle(self) -> None:
        self.count += 1
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        request = Received(
            method=self.command,
            path=self.path,
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
            connection=self.number,
            nth_on_connection=self.count,
            at=time.monotonic(),
            wall=time.time(),
        )
        receiver = self.receiver
        reply = receiver._choose(request)
        if reply.close or (receiver.close_kept_alive and self.count > 1):
            request.dropped = True
            self.close_connection = True
            return
        if reply.delay and receiver._stopping.wait(reply.delay):
            self.close_connection = True
            return  # stopped while waiting: the client gets no answer
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if reply.endless:
            self._endless(request, reply)
            return
        self.send_header("content-type", "text/plain")
        self.send_header("content-length", str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body)
        self.wfile.flush()
        request.status = reply.status
        request.answered_at = time.monotonic()

    def _endless(self, request: Received, reply: Reply) -> None:
        """A body with no length, written until the client closes the connection."""
        self.send_header("content-type", "application/octet-stream")
        self.send_header("connection", "close")
        self.end_headers()
        self.close_connection = True
        request.status = reply.status
        chunk = b"x" * 65536
        try:
            while not self.receiver._stopping.is_set() and request.streamed < 1 << 31:
                self.wfile.write(chunk)
                request.streamed += len(chunk)
        except OSError:
            request.hung_up = True
        request.answered_at = time.monotonic()

    do_POST = do_GET = do_PUT = _handle


class Receiver:
    """A webhook receiver on a real socket. Use as a context manager, or start()/stop().

    Each request takes the next scripted reply (`script(500, 500, Reply(...))`); with
    none left, `rule(request)` decides if set and returns a reply; else `default`.
    `close_kept_alive` plays a receiver whose idle connections time out just as a
    request arrives: the second request on any connection is read and left unanswered.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        *,
        default: Reply | int = 200,
        rule: Rule | None = None,
        close_kept_alive: bool = False,
        path: str = "/hook",
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.host = host
        self.tls = tls
        self.port = 0
        self.path = path
        self.default = _reply(default)
        self.rule = rule
        self.close_kept_alive = close_kept_alive
        self.errors: list[BaseException] = []
        self._lock = threading.Lock()
        self._requests: list[Received] = []
        self._script: collections.deque[Reply] = collections.deque()
        self._sockets: set[socket.socket] = set()
        self._connections = 0
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------

    def start(self) -> Receiver:
        """Listen (again: on the same port as before, if it had one)."""
        assert self._server is None, "already running"
        self._stopping.clear()
        cls = _IPv6Server if ":" in self.host else _Server
        server = cls((self.host, self.port), _Handler)
        server.receiver = self
        if self.tls is not None:
            server.socket = self.tls.wrap_socket(server.socket, server_side=True)
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening and cut every open connection: nothing answers any more."""
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        server.server_close()
        with self._lock:
            open_sockets = list(self._sockets)
        for sock in open_sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        assert self._thread is not None
        self._thread.join(timeout=DEADLINE_SECONDS)

    @property
    def running(self) -> bool:
        return self._server is not None

    def __enter__(self) -> Receiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- programming ---------------------------------------------------------------

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://{host}:{self.port}{self.path}"

    def script(self, *replies: Reply | int) -> None:
        """Answer the next requests with these replies, in order."""
        with self._lock:
            self._script.extend(_reply(r) for r in replies)

    def _choose(self, request: Received) -> Reply:
        with self._lock:
            self._requests.append(request)
            if self._script:
                return self._script.popleft()
        if self.rule is not None:
            chosen = self.rule(request)
            if chosen is not None:
                return _reply(chosen)
        return self.default

    def _connected(self, sock: socket.socket) -> int:
        with self._lock:
            self._sockets.add(sock)
            self._connections += 1
            return self._connections

    def _disconnected(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.discard(sock)

    # -- what was received ---------------------------------------------------------

    @property
    def requests(self) -> list[Received]:
        """Every request so far, in the order they were read."""
        with self._lock:
            return list(self._requests)

    @property
    def accepted(self) -> list[Received]:
        """The requests answered with a 2xx."""
        return [r for r in self.requests if r.status is not None and 200 <= r.status < 300]

    def accepted_json(self) -> list[Any]:
        return [r.json for r in self.accepted]

    def unique_accepted(self) -> list[Received]:
        """Accepted requests, the first of each webhook-id only (at-least-once
        delivery may repeat a message, always under its id)."""
        seen: set[str] = set()
        found = []
        for request in self.accepted:
            if request.message_id not in seen:
                seen.add(request.message_id)
                found.append(request)
        return found


# -- the sending side ------------------------------------------------------------------


class BackgroundDeliverer:
    """A `Deliverer` looping in a thread of its own, as `liveblog run` does: queue what
    is new, start what is due, every few milliseconds; stopped on exit, where an error
    it met is raised."""

    def __init__(
        self,
        db_path: str | Path,
        options: DeliveryOptions,
        *,
        resolver: Resolver = system_resolver,
        tls_context: ssl.SSLContext | None = None,
        tick: float = 0.01,
    ) -> None:
        self.db_path = str(db_path)
        self.options = options
        self.resolver = resolver
        self.tls_context = tls_context
        self.tick = tick
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            asyncio.run(self._loop())
        except BaseException as exc:  # reported by __exit__
            self._error = exc
        finally:
            self._ready.set()

    async def _loop(self) -> None:
        async with Deliverer(
            self.db_path, self.options, resolver=self.resolver, tls_context=self.tls_context
        ) as deliverer:
            projections = Projections(deliverer)  # the scheduler's catch-up, as in `run`
            self._ready.set()
            seen = -1
            while not self._stop.is_set():
                version = await deliverer.data_version()
                if version != seen:  # another connection wrote: queue what is new
                    seen = version
                    await projections.catch_up()
                    await deliverer.prepare()
                await deliverer.start_due()
                self._check_workers(deliverer)
                await asyncio.sleep(self.tick)

    def _check_workers(self, deliverer: Deliverer) -> None:
        """A sender that died of an exception is a bug: stop, and report it on exit."""
        for task in list(deliverer._workers.values()):
            if task.done() and not task.cancelled() and task.exception() is not None:
                self._error = task.exception()
                self._stop.set()

    def __enter__(self) -> BackgroundDeliverer:
        self._thread.start()
        self._ready.wait(DEADLINE_SECONDS)
        self.check()
        return self

    def check(self) -> None:
        if self._error is not None:
            raise AssertionError(f"the deliverer failed: {self._error!r}") from self._error

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(DEADLINE_SECONDS)
        assert not self._thread.is_alive(), "the deliverer did not stop"
        self.check()


def self_signed(directory: Path, name: str) -> tuple[ssl.SSLContext, ssl.SSLContext] | None:
    """A certificate for host `name` made by `openssl` (None without it): the server's
    context, and a client context that trusts that certificate and nothing else."""
    openssl = shutil.which("openssl")
    if openssl is None:
        return None
    cert, key = directory / f"{name}.pem", directory / f"{name}.key"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-keyout", str(key), "-out", str(cert), "-subj", f"/CN={name}",
         "-addext", f"subjectAltName=DNS:{name}"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert, key)
    client = ssl.create_default_context(cafile=str(cert))
    return server, client


@contextlib.contextmanager
def receivers(*made: Receiver) -> Iterator[tuple[Receiver, ...]]:
    """Start several receivers; stop them all afterwards."""
    with contextlib.ExitStack() as stack:
        for receiver in made:
            stack.enter_context(receiver)
        yield made


# -- reading events.db -------------------------------------------------------------------


def query(db_path: str | Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Rows from events.db through a connection of its own (as `sqlite-utils` would)."""
    from pysqlite3 import dbapi2 as sqlite3

    conn = sqlite3.connect(str(db_path), timeout=30)
    try:
        return [tuple(row) for row in conn.execute(sql, params).fetchall()]
    finally:
        conn.close()


DELIVERY_COLUMNS = (
    "id",
    "subscription",
    "message_id",
    "type",
    "position",
    "status",
    "attempts",
    "next_attempt_at",
    "last_attempt_at",
    "last_status",
    "last_error",
)


def deliveries(db_path: str | Path, subscription: str | None = None) -> list[dict[str, Any]]:
    """The rows of `webhook_deliveries` (of one subscription), oldest first."""
    where, params = ("WHERE subscription = ?", (subscription,)) if subscription else ("", ())
    rows = query(
        db_path,
        f"SELECT {', '.join(DELIVERY_COLUMNS)} FROM webhook_deliveries {where} ORDER BY id",
        params,
    )
    return [dict(zip(DELIVERY_COLUMNS, row, strict=True)) for row in rows]


def settled(db_path: str | Path) -> bool:
    """Every active subscription has queued the whole log and has nothing pending."""
    head = query(db_path, "SELECT ifnull(max(position), 0) FROM events")[0][0]
    behind = query(
        db_path,
        f"SELECT count(*) FROM webhook_subscriptions WHERE status = 'active' AND {CURSOR} < ?",
        (head,),
    )[0][0]
    pending = query(
        db_path,
        "SELECT count(*) FROM webhook_deliveries AS d JOIN webhook_subscriptions AS s "
        "ON s.id = d.subscription WHERE s.status = 'active' AND d.status = 'pending'",
    )[0][0]
    return behind == 0 and pending == 0
