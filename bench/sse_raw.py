"""The raw baseline of bench.sse_fanout: a bare Starlette SSE app under uvicorn,
`python -m bench.sse_raw PORT`. Every GET /stream is a StreamingResponse fed by a queue
of its own; POST /publish?id=N puts one message (a payload the size of liveblog's) in
every queue. No database, no rendering, no limits: what the fan-out costs at least."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

QUEUES: set[asyncio.Queue[bytes]] = set()
PAYLOAD = "x" * 400  # about the size of one entry's fragment


async def stream(request: Request) -> StreamingResponse:
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    QUEUES.add(queue)

    async def events() -> AsyncIterator[bytes]:
        try:
            yield b"retry: 2000\n\n"
            while True:
                yield await queue.get()
        finally:
            QUEUES.discard(queue)

    headers = {"cache-control": "no-cache", "x-accel-buffering": "no"}
    return StreamingResponse(events(), media_type="text/event-stream", headers=headers)


async def publish(request: Request) -> Response:
    position = int(request.query_params["id"])
    data = json.dumps({"position": position, "entries": [{"html": PAYLOAD}], "live": True})
    message = f"id: {position}\nevent: update\ndata: {data}\n\n".encode()
    for queue in QUEUES:
        queue.put_nowait(message)
    return Response(status_code=204)


async def health(request: Request) -> Response:
    return Response(b"ok")


app = Starlette(
    routes=[
        Route("/stream", stream),
        Route("/publish", publish, methods=["POST"]),
        Route("/healthz", health),
    ]
)

if __name__ == "__main__":
    import resource

    # As `liveblog serve` does (liveblog.http.connections.raise_file_limit).
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", backlog=2048)
