"""`liveblog serve`: uvicorn with the API, the feed files and the scheduler, one process."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Iterator
from pathlib import Path

from .scheduler import Report, RunOptions, Scheduler


def serve(options: RunOptions, feeds_dir: Path, *, host: str, port: int, report: Report) -> None:
    """Until SIGINT / SIGTERM (uvicorn's handlers): then the scheduler stops cleanly."""
    import uvicorn

    from .api import create_app

    class Server(uvicorn.Server):
        # uvicorn re-raises a captured SIGTERM once it has stopped, which would kill the
        # process before the scheduler finishes; our own handlers just ask it to stop.
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    app = create_app(options.db_path, feeds_dir)
    config = uvicorn.Config(
        app, host=host, port=port, log_level="warning", access_log=False, lifespan="off"
    )
    server = Server(config)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, lambda: setattr(server, "should_exit", True))
        scheduler = Scheduler(options, report)
        await scheduler.start()
        serving = asyncio.create_task(server.serve())
        try:
            while not server.started and not serving.done():
                await asyncio.sleep(0.01)
            if server.started:
                bound = server.servers[0].sockets[0].getsockname()
                base = f"http://{_host(bound[0])}:{bound[1]}"
                report(f"liveblog serving {options.db_path} at {base}")
                report(
                    f"  feeds    {base}/feeds/<conference>/live.atom  (index: /feeds/<conference>/)"
                )
                report(f"  API      {base}/api/events   docs: {base}/docs   {base}/openapi.json")
                report(f"  health   {base}/healthz")
            await serving
        finally:
            await scheduler.stop()

    asyncio.run(main())


def _host(address: str) -> str:
    return f"[{address}]" if ":" in address else address
