"""The SSE readers of bench.sse_fanout, run as processes of their own:

    python -m bench.sse_clients PORT PATH COUNT

opens COUNT streams (asyncio raw sockets, OPEN_AT_ONCE in flight at a time) to
127.0.0.1:PORT PATH, prints `ready N` once N of them have their response head (the
ones refused or cut are counted as failed), then records, per stream, the arrival time
(time.monotonic(): CLOCK_MONOTONIC, the same clock in every process of the machine) of
every `id:` line it reads. On a line `report` on stdin it prints one JSON line
{"arrivals": {id: [seconds, ...]}, "open": n, "failed": n} and goes on; on `stop` it
closes everything and exits.
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import time
from collections import defaultdict

OPEN_AT_ONCE = 100
HEAD_TIMEOUT = 60.0


class Tally:
    def __init__(self) -> None:
        self.arrivals: dict[int, list[float]] = defaultdict(list)
        self.open = 0
        self.failed = 0


async def reader(port: int, path: str, tally: Tally, gate: asyncio.Semaphore) -> None:
    async with gate:
        try:
            reader_, writer = await asyncio.open_connection("127.0.0.1", port)
            request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n"
            writer.write(request.encode() + b"\r\n")
            head = await asyncio.wait_for(reader_.readuntil(b"\r\n\r\n"), HEAD_TIMEOUT)
        except (OSError, asyncio.IncompleteReadError, TimeoutError):
            tally.failed += 1
            return
        if b" 200 " not in head.split(b"\r\n", 1)[0]:
            tally.failed += 1
            writer.close()
            return
    tally.open += 1
    buffer = b""
    try:
        while True:
            chunk = await reader_.read(65536)
            if not chunk:
                break
            now = time.monotonic()
            buffer += chunk
            # Chunked framing and SSE fields both end lines with LF: an `id: N` line is
            # found whatever the chunk boundaries (the rest of the buffer is kept).
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                if line.startswith(b"id: "):
                    tally.arrivals[int(line[4:].strip())].append(now)
    except OSError:
        pass
    tally.open -= 1
    writer.close()


async def main(port: int, path: str, count: int) -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    tally = Tally()
    gate = asyncio.Semaphore(OPEN_AT_ONCE)
    tasks = [asyncio.create_task(reader(port, path, tally, gate)) for _ in range(count)]
    while tally.open + tally.failed < count:
        await asyncio.sleep(0.05)
    print(f"ready {tally.open} {tally.failed}", flush=True)
    loop = asyncio.get_running_loop()
    while True:
        line = (await loop.run_in_executor(None, sys.stdin.readline)).strip()
        if line == "report":
            arrivals = {str(k): v for k, v in tally.arrivals.items()}
            print(
                json.dumps({"arrivals": arrivals, "open": tally.open, "failed": tally.failed}),
                flush=True,
            )
        elif line in ("stop", ""):
            break
    for task in tasks:
        task.cancel()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), sys.argv[2], int(sys.argv[3])))
