"""`liveblog serve`: uvicorn with the API, the feed files and the scheduler, one process.

The listening socket is bound first (`listen`), before anything opens or creates the
database, so a busy port is one line and nothing on disk. uvicorn runs with our own
HTTP protocol class (liveblog.http.connections: head deadline, connection cap) and the app
behind liveblog.http.guard (token first, bounded bodies), with the public routes of
liveblog.http.site in front (`/`, the live streams, oEmbed, offline /docs).

Live streams are connections too, counted apart (StreamSettings.max_streams, from
LIVEBLOG_MAX_STREAMS): the file limit is lifted to the hard one and shared between the
request connections' cap and the streams' cap.

On SIGTERM / SIGINT (`Server.shutdown`): the listener closes, the streams end at once,
every connection is told to close after its response in flight (also one accepted just
before the listener closed), requests in flight get SHUTDOWN_GRACE seconds to be answered
(then they are cancelled: unanswered, so unacknowledged), and the scheduler stops at the
same moment: no new round, the runs in flight finish (liveblog.scheduler.main).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import os
import signal
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import RefusedCommand
from ..scheduler.main import Report, RunOptions, Scheduler
from ..store.display import shown
from .connections import (
    RESERVED_FILES,
    ConnectionRegistry,
    connection_cap,
    protocol_class,
    raise_file_limit,
)
from .limits import Limits, StreamSettings, stream_settings

if TYPE_CHECKING:
    from ..store.leadership import Leadership

BACKLOG = 2048
# asyncio accepts up to `backlog` connections per wake-up, all in one loop iteration: a
# burst of 2,000 new sockets stalled every request for a second. uvicorn is given this
# smaller figure (asyncio also passes it to listen()), and the kernel's queue is set
# back to BACKLOG once serving, so bursts are taken a slice at a time, never dropped.
ACCEPT_BATCH = 32
SHUTDOWN_GRACE = 10.0
"""Seconds a stop gives the requests in flight to be answered (README: "Stopping serve
and run"); a POST is quick unless another process holds the write lock."""
_SHUTDOWN_POLL = 0.05


def listen(host: str, port: int) -> socket.socket:
    """A socket listening on host:port, or a one-line refusal (port taken, bad address)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP spelled out: asyncio sets TCP_NODELAY on accepted sockets only when
    # the listener says it is TCP (proto 0 meant 40 ms of Nagle on every response).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        # Lets a restart rebind while old connections linger in TIME_WAIT; on Linux it
        # never lets two servers listen on one port.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(BACKLOG)
    except OSError as exc:
        sock.close()
        reason = exc.strerror or str(exc)
        raise RefusedCommand(f"cannot listen on {_host(host)}:{port}: {reason}") from None
    sock.setblocking(False)
    return sock


def serve(
    options: RunOptions,
    feeds_dir: Path,
    *,
    sock: socket.socket,
    limits: Limits,
    report: Report,
    lead: Leadership | None = None,
) -> None:
    """Until SIGINT / SIGTERM (uvicorn's handlers): then the scheduler stops cleanly.
    `lead`: the leadership "scheduler", tried already (liveblog.scheduler.main)."""
    import uvicorn

    from .api import create_app
    from .site import Conferences, Site
    from .stream import Broadcaster

    class Server(uvicorn.Server):
        # uvicorn re-raises a captured SIGTERM once it has stopped, which would kill the
        # process before the scheduler finishes; our own handlers just ask it to stop.
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            # uvicorn's own tells the connections open at that moment once, then waits
            # for them with no bound. A connection accepted just before the listener
            # closed is made a loop turn later and was never told: a client posting on
            # it kept serve up for ever. Here every connection is told, new ones too,
            # and the wait is bounded.
            for listener in self.servers:
                listener.close()
            for sock_ in sockets or []:
                sock_.close()
            state = self.server_state
            told: set[object] = set()
            loop = asyncio.get_running_loop()
            deadline = loop.time() + SHUTDOWN_GRACE
            while True:
                for connection in list(state.connections):
                    if connection not in told:
                        told.add(connection)
                        connection.shutdown()
                if not state.connections and not state.tasks:
                    return
                if loop.time() >= deadline or self.force_exit:
                    break
                await asyncio.sleep(_SHUTDOWN_POLL)
            report(
                f"stopping: {len(state.tasks)} request(s) not answered within "
                f"{SHUTDOWN_GRACE:g} s, cut short"
            )
            # Their connections end first: each request's `receive` then says the
            # client has gone and it ends itself (a cancelled one is logged with a
            # traceback); only one that still does not is cancelled.
            for connection in list(state.connections):
                connection.transport.abort()
            tasks = list(state.tasks)
            if tasks:
                _, left = await asyncio.wait(tasks, timeout=SHUTDOWN_GRACE)
                for task in left:
                    task.cancel()

    try:
        streams = stream_settings(os.environ)
    except ValueError as exc:
        raise RefusedCommand(str(exc)) from None
    files = raise_file_limit()
    cap = connection_cap(limits.max_connections, files)
    streams = fit_streams(streams, files - RESERVED_FILES - cap, report)
    registry = ConnectionRegistry(cap)
    api = create_app(options.db_path, feeds_dir, limits=limits, report=report)
    broadcaster = Broadcaster(options.db_path, streams, report)
    conferences = Conferences(options.db_path)
    config = uvicorn.Config(
        Site(api, broadcaster, conferences, report),
        log_level="warning",
        access_log=False,
        lifespan="off",
        http=protocol_class(limits, registry),
        timeout_keep_alive=limits.keep_alive,
        # uvicorn's own default (loopback) unless told; "" believes no peer's headers.
        proxy_headers=bool(limits.forwarded_allow_ips.strip()),
        forwarded_allow_ips=limits.forwarded_allow_ips,
        backlog=ACCEPT_BATCH,
    )
    server = Server(config)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        scheduler = Scheduler(options, report, lead, on_projected=broadcaster.wake)
        stopping: list[asyncio.Task[None]] = []

        def stop() -> None:
            # The scheduler stops while the requests in flight are answered: no new
            # round (posts still arriving would feed one after another), the catch-up
            # and publish in flight finish. What is acknowledged is in the log: the
            # next start publishes it.
            server.should_exit = True
            if scheduler.started and not stopping:
                stopping.append(asyncio.create_task(scheduler.stop()))

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop)
        await scheduler.start()
        await broadcaster.start()
        serving = asyncio.create_task(server.serve(sockets=[sock]))
        try:
            while not server.started and not serving.done():
                await asyncio.sleep(0.01)
            if server.started:
                sock.listen(BACKLOG)
                # Everything loaded so far (FastAPI, pydantic, the app) lives as long as
                # the process: kept out of the collector's sight, a full collection (a
                # burst of new connections sets them off) no longer walks it all on the
                # event loop (tens of ms on a loaded 2-core machine; ~0 after freeze).
                gc.collect()
                gc.freeze()
                bound = sock.getsockname()
                base = f"http://{_host(bound[0])}:{bound[1]}"
                report(f"liveblog serving {shown(options.db_path)} at {base}")
                report(
                    f"  feeds    {base}/feeds/<conference>/live.atom  (index: /feeds/<conference>/)"
                )
                report(f"  API      {base}/api/events   docs: {base}/docs   {base}/openapi.json")
                report(f"  health   {base}/healthz")
            await serving
        finally:
            await broadcaster.stop()
            await conferences.close()
            await (stopping[0] if stopping else scheduler.stop())

    asyncio.run(main())


def fit_streams(settings: StreamSettings, files: int, report: Report) -> StreamSettings:
    """The stream cap lowered to the file descriptors left (said once if it is)."""
    room = max(1, files)
    if settings.max_streams <= room:
        return settings
    report(
        f"live streams: at most {room} at once (the file limit; raise `ulimit -n` for "
        f"{settings.max_streams})"
    )
    return dataclasses.replace(settings, max_streams=room)


def _host(address: str) -> str:
    return f"[{address}]" if ":" in address else address
