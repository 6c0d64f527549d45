"""The protective limits of `liveblog serve`, with their defaults (no heavy imports, so
the CLI can show them in --help without loading the web stack)."""

from __future__ import annotations

from collections.abc import Mapping
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


@dataclass(frozen=True)
class StreamSettings:
    """What the live streams (`/api/conferences/{slug}/stream`) may cost the server."""

    # Streams open at once (each one a connection, counted apart from --max-connections);
    # a newcomer over it gets 503 with Retry-After. Lowered to fit the file limit.
    max_streams: int = 10_000
    # … and from one client address (as X-Forwarded-For says, from a trusted proxy): one
    # client cannot take every place. Generous, since a conference's readers often share
    # the venue's one public address; a reader refused falls back to polling live.json.
    max_per_client: int = 1_000
    # Seconds between heartbeats (`: ping`), so proxies keep an idle stream open.
    heartbeat: float = 15.0
    # Bytes queued for one stream at most: a reader that falls this far behind is
    # disconnected (it resumes from its Last-Event-ID).
    queue_bytes: int = 1 * MIB
    # Changed entries read per page (a catch-up from an old position is paged).
    batch: int = 256
    # Seconds between looks at the projection when nothing wakes the broadcaster.
    poll: float = 1.0
    # Encoded messages kept for catch-ups (bytes): readers resuming from the same part of
    # the history share one rendering of it, and its bytes.
    cache_bytes: int = 32 * MIB


# Environment variables `liveblog serve` reads for StreamSettings: (field, variable, kind).
STREAM_ENV = (
    ("max_streams", "LIVEBLOG_MAX_STREAMS", int),
    ("max_per_client", "LIVEBLOG_MAX_STREAMS_PER_CLIENT", int),
    ("heartbeat", "LIVEBLOG_STREAM_HEARTBEAT", float),
    ("queue_bytes", "LIVEBLOG_STREAM_QUEUE_BYTES", int),
)


def stream_settings(environ: Mapping[str, str]) -> StreamSettings:
    """StreamSettings from LIVEBLOG_MAX_STREAMS, LIVEBLOG_MAX_STREAMS_PER_CLIENT,
    LIVEBLOG_STREAM_HEARTBEAT and LIVEBLOG_STREAM_QUEUE_BYTES (defaults where unset);
    ValueError, in words, if bad."""
    values: dict[str, float] = {}
    for name, variable, kind in STREAM_ENV:
        text = environ.get(variable, "").strip()
        if not text:
            continue
        try:
            value = kind(text)
        except ValueError:
            raise ValueError(f"{variable} must be a number, not {text[:40]!r}") from None
        if not 0 < value <= 10**9:
            raise ValueError(f"{variable} must be above 0 (and at most 1e9), not {text[:40]}")
        values[name] = value
    return StreamSettings(**values)  # type: ignore[arg-type]
