"""Connections that never finish: deadlines and a cap on top of uvicorn's HTTP/1.1.

uvicorn closes an idle keep-alive connection, but a socket that opens and sends nothing,
or trickles its request head a byte at a time, is kept forever, and it accepts sockets
until the process runs out of file descriptors (then asyncio stops accepting for a
second at a time, and nobody is served). This module extends uvicorn's h11 protocol
(the `http=` class uvicorn lets one pass) with:

- a head deadline: a connection has `header_timeout` seconds, from its opening or from
  its previous response, to send a complete request head, else it is closed (with a
  408 if it had sent part of one);
- a cap: at `max_connections`, a newcomer closes the oldest connection that is only
  waiting for a request head (a silent or slow socket, or an idle keep-alive), so a
  flood of such sockets can never lock out a client that is about to send a request;
  next, the oldest connection stalled on writing (below); only when every connection
  has a request in progress that is moving is the newcomer refused;
- a send deadline: a connection whose socket stays full (the transport has paused
  writing: its client reads nothing) for `send_timeout` seconds is reset, so readers
  that never read cannot pin connections and their buffers for ever;
- no reading of unread bodies: a response sent before its request body was read (a
  401, 404 or 413 to an upload) ends the connection instead of reading and discarding,
  unless what is left is small (DRAIN_BYTES declared): then it is read and dropped, on
  the head deadline, so the connection stays usable (closing a socket with unread data
  sends a reset, which can destroy the answer before the client reads it);
- h11's own 400 for a malformed request as `{"error": …}`;
- live streams (liveblog.http.stream) counted apart: a connection whose response is a
  stream (`become_stream`) leaves the cap of request connections (the stream cap is the
  broadcaster's), and a server stop ends its response at once instead of waiting for it;
  its kernel send buffer is bounded, so a stream whose reader reads nothing is caught
  by the send deadline instead of filling megabytes of kernel memory first.

Each request's scope carries its connection (`scope["liveblog.connection"]`), which is
how the stream endpoint reaches `become_stream` and `reset`.

`raise_file_limit` lifts the soft RLIMIT_NOFILE to the hard one, and `connection_cap`
keeps the cap below it, with room for the database, the log and webhook sockets.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import resource
import socket
import struct
from collections import OrderedDict
from collections.abc import Callable

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from .limits import DRAIN_BYTES, Limits

# Descriptors kept free of client connections: SQLite files, stdio, the event loop,
# webhook deliveries (32 at once by default), worker threads' connections.
RESERVED_FILES = 256
_SOFT_CEILING = 1 << 20  # when the hard limit is "unlimited"
WRITE_HIGH_WATER = 32 * 1024  # bytes a transport buffers before it pauses writing
STREAM_SEND_BUFFER = 64 * 1024  # a live stream's kernel send buffer (Linux doubles it)


def raise_file_limit() -> int:
    """Lift the soft file limit to the hard one (if allowed); the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = _SOFT_CEILING if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and target > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass  # a container may forbid it: keep the limit we have, the cap follows it
    return _SOFT_CEILING if soft == resource.RLIM_INFINITY else soft


def connection_cap(requested: int, file_limit: int) -> int:
    return max(1, min(requested, file_limit - RESERVED_FILES))


class ConnectionRegistry:
    """Every open connection and, oldest first, those only waiting for a request head
    and those whose client has stopped reading their response."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.open: set[asyncio.Protocol] = set()
        self.waiting: OrderedDict[GuardedProtocol, None] = OrderedDict()
        self.stalled: OrderedDict[GuardedProtocol, None] = OrderedDict()
        self.streams: set[GuardedProtocol] = set()

    def admit(self, connection: GuardedProtocol) -> bool:
        """Make room for `connection` (closing idle, then stalled ones); False if none."""
        while len(self.open) >= self.cap and self.waiting:
            oldest, _ = self.waiting.popitem(last=False)
            self.forget(oldest)
            oldest.evict()
        while len(self.open) >= self.cap and self.stalled:
            oldest, _ = self.stalled.popitem(last=False)
            self.forget(oldest)
            oldest.reset()
        if len(self.open) >= self.cap:
            return False
        self.open.add(connection)
        return True

    def wait_for_head(self, connection: GuardedProtocol) -> None:
        if connection in self.open:
            self.waiting[connection] = None
            self.waiting.move_to_end(connection)

    def busy(self, connection: GuardedProtocol) -> None:
        self.waiting.pop(connection, None)

    def stall(self, connection: GuardedProtocol) -> None:
        if connection in self.open:
            self.stalled[connection] = None

    def unstall(self, connection: GuardedProtocol) -> None:
        self.stalled.pop(connection, None)

    def become_stream(self, connection: GuardedProtocol) -> None:
        """From now on a stream: off the request connections' cap, never evicted."""
        if connection in self.open:
            self.forget(connection)
            self.streams.add(connection)

    def forget(self, connection: GuardedProtocol) -> None:
        self.streams.discard(connection)
        self.open.discard(connection)
        self.waiting.pop(connection, None)
        self.stalled.pop(connection, None)


def _raw_error(status: int, reason: str, message: str) -> bytes:
    """A whole HTTP/1.1 error response, for when h11 has no request to answer."""
    body = json.dumps({"error": message}).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode() + body


class GuardedProtocol(H11Protocol):
    """uvicorn's h11 protocol with head and send deadlines, the connection cap, JSON 400s.

    `limits` and `registry` are set on the subclass `protocol_class` makes per server.
    """

    limits: Limits
    registry: ConnectionRegistry
    _head_timer: asyncio.TimerHandle | None = None
    # The request cycle current when the head timer was armed: uvicorn makes a new one
    # as soon as a complete request head has been parsed.
    _timed_cycle: object = None
    # Armed while the transport has paused writing (its buffer over the high-water mark).
    _send_timer: asyncio.TimerHandle | None = None
    # Set when the server stops: a response that stalls from then on is not waited for.
    _stopping = False
    # A live stream's "end now" (it is one: see ConnectionRegistry.become_stream).
    _stream_end: Callable[[], None] | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        # Half asyncio's default: what a client that stops reading leaves in our memory
        # (the kernel's socket buffer does the buffering for the ones that read).
        transport.set_write_buffer_limits(high=WRITE_HIGH_WATER)
        if not self.registry.admit(self):
            self.connections.discard(self)
            transport.abort()  # every connection has a request in progress: no room
            return
        self._await_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        self._cancel_send_timer()
        self.registry.forget(self)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.cycle is not None:
            # The app runs as a task that has not started yet: it finds its connection.
            self.cycle.scope["liveblog.connection"] = self  # type: ignore[typeddict-unknown-key]
        if self._head_timer is not None and self.cycle is not self._timed_cycle:
            self._cancel_head_timer()
            self.registry.busy(self)

    def on_response_complete(self) -> None:
        unread = self.conn.their_state is h11.SEND_BODY
        if unread and not self._little_left() and not self.transport.is_closing():
            # Answered before the body was read: reading the rest only to discard it
            # would let a client make us swallow any amount; end the connection.
            self.transport.close()
        cycle = self.cycle
        super().on_response_complete()
        if self.transport.is_closing():
            return
        if self.cycle is cycle:
            # Keep-alive: the next request's head (after the rest of a small unread
            # body) is on a deadline too.
            self._await_head()
        else:
            self.registry.busy(self)  # a pipelined request started at once

    def pause_writing(self) -> None:
        super().pause_writing()
        if self._stopping:
            # Stopping waits for the responses in progress; one whose reader stops
            # reading after the stop began would hold it for the whole send timeout.
            # Paused first, as when the send timer fires: the response's `send` waits
            # until the reset's connection_lost ends it.
            self.registry.forget(self)
            self.reset()
            return
        # Called again only after a resume_writing: each one means the client has read
        # the buffer down to the low-water mark, so the deadline is for no progress.
        self._cancel_send_timer()
        self._send_timer = self.loop.call_later(self.limits.send_timeout, self._send_late)
        self.registry.stall(self)

    def resume_writing(self) -> None:
        self._cancel_send_timer()
        self.registry.unstall(self)
        super().resume_writing()

    def become_stream(self, end: Callable[[], None]) -> None:
        """This connection's response is a live stream; `end` ends it (server stop)."""
        self._stream_end = end
        self.registry.become_stream(self)
        sock = self.transport.get_extra_info("socket")
        if sock is not None:
            # The kernel would otherwise grow a stream's send buffer to megabytes for a
            # reader that asked for the whole history and reads none of it, and never
            # pause our writing (so the send deadline never starts). Live messages are
            # small; a catch-up drains at this much per round trip.
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, STREAM_SEND_BUFFER)

    def shutdown(self) -> None:
        self._stopping = True
        if self._stream_end is not None:
            self._stream_end()  # its writer sends the last chunk; uvicorn then closes
        if self._send_timer is not None:
            # Stopping waits for responses in progress: not for one nobody reads.
            self.registry.forget(self)
            self.reset()
            return
        super().shutdown()

    def _cancel_send_timer(self) -> None:
        if self._send_timer is not None:
            self._send_timer.cancel()
            self._send_timer = None

    def _send_late(self) -> None:
        self._send_timer = None
        self.registry.forget(self)
        self.reset()

    def reset(self) -> None:
        """End a connection whose client stopped reading: at once, buffers dropped.

        A plain close would leave the kernel holding the unsent data, retrying a peer
        that never opens its window; SO_LINGER 0 makes the close a reset. uvicorn sees
        a lost connection: the response's pending `send` returns, nothing is logged.
        """
        self._cancel_send_timer()
        sock = self.transport.get_extra_info("socket")
        if sock is not None:
            # Already gone (OSError): abort() below is all there is to do.
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.transport.abort()

    def _little_left(self) -> bool:
        for name, value in self.headers or ():
            if name == b"content-length":
                return value.isdigit() and int(value) <= DRAIN_BYTES
        return False  # chunked: no telling how much is left

    def send_400_response(self, msg: str) -> None:
        self._cancel_head_timer()
        self.transport.write(_raw_error(400, "Bad Request", "invalid HTTP request"))
        self.transport.close()

    def evict(self) -> None:
        """Closed to make room for a newer connection (it had no request in progress)."""
        self._cancel_head_timer()
        self.transport.close()

    def _await_head(self) -> None:
        self._cancel_head_timer()
        self._timed_cycle = self.cycle
        self._head_timer = self.loop.call_later(self.limits.header_timeout, self._head_late)
        self.registry.wait_for_head(self)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_late(self) -> None:
        self._head_timer = None
        self.registry.forget(self)
        if self.transport.is_closing():
            return
        partial, _ = self.conn.trailing_data
        if partial and self.conn.their_state is h11.IDLE:
            seconds = f"{self.limits.header_timeout:g}"
            message = f"request head not received within {seconds} s"
            self.transport.write(_raw_error(408, "Request Timeout", message))
        self.transport.close()


def protocol_class(limits: Limits, registry: ConnectionRegistry) -> type[GuardedProtocol]:
    """A protocol class for one server: uvicorn instantiates it per connection."""
    return type("LiveblogH11Protocol", (GuardedProtocol,), {"limits": limits, "registry": registry})
