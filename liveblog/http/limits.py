"""The protective limits of `liveblog serve`, with their defaults (no heavy imports, so
the CLI can show them in --help without loading the web stack)."""

from __future__ import annotations

from dataclasses import dataclass

MIB = 1024 * 1024
# A request answered before its body was read: a rest declared this small is read and
# dropped (the connection stays open), a larger or chunked one ends the connection.
DRAIN_BYTES = 64 * 1024


@dataclass(frozen=True)
class Limits:
    """What one client may cost the server before it is refused or disconnected."""

    # A request body over this is refused with 413 before it is read.
    max_body: int = 1 * MIB
    # A connection must send a complete request head this soon after it opens (or after
    # its previous response), else it is closed: slow or silent sockets cannot pile up.
    header_timeout: float = 5.0
    # An idle keep-alive connection (nothing received since the last response) closes.
    keep_alive: int = 5
    # An authenticated upload that sends nothing for this long is answered 408.
    body_idle_timeout: float = 30.0
    # … and one whose whole body has not arrived this long after its head (a trickle of
    # a byte a second would otherwise hold a connection and its buffer for days).
    body_timeout: float = 30.0
    # Request bodies buffered at once, all uploads together (never less than
    # `max_body`): an upload that would go over is answered 503 (Retry-After) unread.
    body_budget: int = 32 * MIB
    # A response whose client has read nothing of it for this long (the socket stayed
    # full) is aborted: a reader that never reads cannot hold a connection for ever.
    send_timeout: float = 30.0
    # Open connections at most (lowered to fit the process's file limit): a newcomer
    # over the cap closes the oldest connection that is only waiting for a request head,
    # else the oldest one whose client has stopped reading its response.
    max_connections: int = 2048
    # Failed authentications per client address per `auth_window` seconds; past that
    # the address gets 429 (Retry-After) without its token being looked up.
    auth_failures: int = 10
    auth_window: float = 60.0
    # Client addresses the failure counter remembers at most (oldest forgotten first).
    tracked_addresses: int = 10_000
    # Peers whose X-Forwarded-For / X-Forwarded-Proto are believed (uvicorn's setting):
    # comma-separated addresses or networks, "*" for any, "" for none.
    forwarded_allow_ips: str = "127.0.0.1,::1"
