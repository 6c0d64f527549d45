"""The layer in front of the API: who you are, then how much you send.

FastAPI reads and parses a request body before any dependency runs, so a token checked
in a dependency is checked too late: a 77 MiB body without a token was read, parsed and
held in memory first. This ASGI middleware runs before FastAPI and, for every request,
in this order, reading nothing it does not have to:

1. under /api/: a client address with too many failed authentications gets 429 (with
   Retry-After) before its token is even looked up;
2. under /api/: no valid bearer token gets 401, logged with the address and the path
   (never the token), and counted against the address;
3. a declared Content-Length over the limit gets 413 before a byte of the body is read;
4. under /api/: the body is read here, counting bytes (a chunked body stops being read
   at the limit: 413), then handed to FastAPI; an upload that stalls, or whose whole
   body has not come within `body_timeout` of its head, gets 408;
5. the bytes of all bodies buffered at once are budgeted (`body_budget`): an upload that
   would go over (by its Content-Length, or as a chunked body grows) gets 503 with
   Retry-After, so many slow uploads cannot take the process's memory;
6. an unexpected exception of the app is answered 500 `{"error": "internal error"}`
   (if no response has started) and logged once, its lines cut short (a path or a file
   name in it is the client's input).

Other paths never read a body (the connection layer closes a connection whose request
body was left unread). Every answer given here is `{"error": "one line"}`.
"""

from __future__ import annotations

import asyncio
import json
import traceback
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

import anyio.to_thread

from .limits import DRAIN_BYTES, Limits
from .ratelimit import FailureLimiter

Message = MutableMapping[str, Any]
Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
# Loose on purpose: Starlette's and our own apps spell the same ASGI types differently.
App = Callable[[Any, Any, Any], Awaitable[None]]

TOKEN_REQUIRED = "a valid bearer token is required (liveblog token create NAME)"


def one_line(message: str, limit: int = 1000) -> str:
    """A message as one line of valid UTF-8, at most `limit` characters."""
    line = " ".join(message.split()).encode("utf-8", "replace").decode("utf-8")
    return line[:limit]


async def send_error(
    send: Send,
    status: int,
    message: str,
    headers: Iterable[tuple[bytes, bytes]] = (),
    *,
    close: bool = False,
) -> None:
    """Answer `{"error": message}` (and, with `close`, end the connection after it)."""
    body = json.dumps({"error": one_line(message)}).encode()
    head = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *headers,
    ]
    if close:
        head.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": head})
    await send({"type": "http.response.body", "body": body})


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


def bearer_token(scope: Scope) -> str | None:
    value = _header(scope, b"authorization")
    if value is None:
        return None
    scheme, _, token = value.decode("latin-1").strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def _large_body(scope: Scope) -> bool:
    """A body the connection layer will not read to the end if we refuse it unread (so
    the answer says `connection: close`: the client must not reuse the connection)."""
    if _header(scope, b"transfer-encoding") is not None:
        return True
    declared = _header(scope, b"content-length")
    return declared is not None and (not declared.isdigit() or int(declared) > DRAIN_BYTES)


def printable(text: str, limit: int = 200) -> str:
    """Text safe to put in a log line: control characters become '?'."""
    return "".join(c if c.isprintable() else "?" for c in text[:limit])


def is_api(path: str) -> bool:
    return path == "/api" or path.startswith("/api/")


class Guard:
    """ASGI middleware: authentication first, bounded bodies, one error shape."""

    def __init__(
        self,
        app: App,
        *,
        limits: Limits,
        check_token: Callable[[str], bool],
        log: Callable[[str], None],
    ) -> None:
        self.app = app
        self.limits = limits
        self.check_token = check_token
        self.log = log
        self.failures = FailureLimiter(
            limits.auth_failures, limits.auth_window, max_tracked=limits.tracked_addresses
        )
        # Never below one body of the largest size allowed, or that one could never pass.
        self.body_budget = max(limits.body_budget, limits.max_body)
        self.buffered = 0  # bytes reserved by the bodies being read or handled now

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        api = is_api(scope["path"])
        if api and not await self._authenticated(scope, send):
            return
        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limits.max_body:
            await self._too_large(send)
            return
        reserved = [0]  # what this request holds of the budget, returned at its end
        try:
            if api and (declared not in (None, b"0") or _header(scope, b"transfer-encoding")):
                body = await self._read_body(scope, receive, send, reserved)
                if body is None:
                    return
                receive = _replaying(body, receive)
            await self._run_app(scope, receive, send)
        finally:
            self.buffered -= reserved[0]

    async def _run_app(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            where = f"{printable(scope['method'], 20)} {printable(scope['path'], 200)}"
            lines = "".join(traceback.format_exception(exc)).splitlines()[-60:]
            text = "\n".join(printable(line, 300) for line in lines)
            self.log(f"liveblog: internal error on {where}\n{text}")
            if not started:
                await send_error(send, 500, "internal error", close=_large_body(scope))
            # Otherwise uvicorn ends the half-sent response ("returned without completing
            # response", one line): raising would log the traceback a second time.

    async def _authenticated(self, scope: Scope, send: Send) -> bool:
        client = scope.get("client")
        address = str(client[0]) if client else "unknown"
        wait = self.failures.retry_after(address)
        if wait is not None:
            await send_error(
                send,
                429,
                f"too many failed authentications from {address}: try again in {wait} s",
                [(b"retry-after", str(wait).encode())],
                close=_large_body(scope),
            )
            return False
        token = bearer_token(scope)
        if token is not None and await anyio.to_thread.run_sync(self.check_token, token):
            return True
        where = f"{printable(scope['method'])} {printable(scope['path'])}"
        why = "no bearer token" if token is None else "unknown or revoked token"
        self.log(f"liveblog: failed authentication from {address} for {where}: {why}")
        if self.failures.failed(address):
            self.log(
                f"liveblog: {address} refused (429) after {self.limits.auth_failures} failed "
                f"authentications in {self.limits.auth_window:g} s"
            )
        await send_error(
            send,
            401,
            TOKEN_REQUIRED,
            [(b"www-authenticate", b"Bearer")],
            close=_large_body(scope),
        )
        return False

    async def _too_large(self, send: Send) -> None:
        await send_error(
            send,
            413,
            f"request body over the limit of {self.limits.max_body} bytes "
            "(liveblog serve --max-body)",
            close=True,
        )

    def _reserve(self, reserved: list[int], size: int) -> bool:
        """Hold `size` bytes of the body budget for this request (in all); False if over."""
        more = size - reserved[0]
        if more <= 0:
            return True
        if self.buffered + more > self.body_budget:
            return False
        self.buffered += more
        reserved[0] = size
        return True

    async def _busy(self, send: Send) -> None:
        await send_error(
            send,
            503,
            "server busy receiving other uploads: try again in 1 s",
            [(b"retry-after", b"1")],
            close=True,
        )

    async def _read_body(
        self, scope: Scope, receive: Receive, send: Send, reserved: list[int]
    ) -> bytes | None:
        """The whole body, or None once refused (or the client left)."""
        declared = _header(scope, b"content-length")
        size = int(declared) if declared is not None and declared.isdigit() else 0
        if not self._reserve(reserved, size):
            await self._busy(send)  # before a byte of it is read (no 100 Continue either)
            return None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.limits.body_timeout
        chunks: list[bytes] = []
        size = 0
        while True:
            left = deadline - loop.time()
            try:
                if left <= 0:
                    raise TimeoutError
                wait = min(left, self.limits.body_idle_timeout)
                message = await asyncio.wait_for(receive(), wait)
            except TimeoutError:
                await send_error(send, 408, self._late(left), close=True)
                return None
            if message["type"] != "http.request":
                return None  # disconnected: nobody to answer
            chunk = bytes(message.get("body", b""))
            size += len(chunk)
            if size > self.limits.max_body:
                await self._too_large(send)
                return None
            if not self._reserve(reserved, size):
                await self._busy(send)  # a chunked body growing past the budget
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    def _late(self, left: float) -> str:
        if left > self.limits.body_idle_timeout:
            return f"request body stalled for {self.limits.body_idle_timeout:g} s"
        return f"request body not received within {self.limits.body_timeout:g} s"


def _replaying(body: bytes, receive: Receive) -> Receive:
    """A receive that gives the body already read, then defers to the real one."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def replay() -> Message:
        return pending.pop() if pending else await receive()

    return replay
