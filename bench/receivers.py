"""Webhook receivers for bench.webhooks: HTTP/1.1 servers on 127.0.0.1 in their own process.

Run as a script (stdlib only, so the subprocess starts fast):
`python bench/receivers.py COUNT`. It listens on COUNT ports chosen by the system and
prints them as one JSON line, `{"ports": [...]}`. Every POST is answered at once with
`200 OK` and an empty body, keeping the connection alive unless the client asks to close.

Control is by lines on stdin, each answered by one JSON line on stdout:
`stats` gives, per port, the requests, the connections accepted and a SHA-256 chained
over each request's `webhook-id` header and body in arrival order (equal digests: the
same messages, with the same bytes, in the same order); `reset` zeroes them. End of
stdin stops the process.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sys

OK = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"
BAD = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
MAX_HEAD = 64 * 1024


class Tally:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.requests = 0
        self.connections = 0
        self.digest = hashlib.sha256()

    def stats(self) -> dict[str, object]:
        return {
            "requests": self.requests,
            "connections": self.connections,
            "digest": self.digest.hexdigest(),
        }


class Receiver(asyncio.Protocol):
    """One connection: a minimal HTTP/1.1 parser for requests with Content-Length bodies."""

    def __init__(self, tally: Tally) -> None:
        self.tally = tally
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.tally.connections += 1

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while self.transport is not None:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buffer) > MAX_HEAD:
                    self.fail()
                return
            head = bytes(self.buffer[:end]).decode("latin-1").split("\r\n")
            fields: dict[str, str] = {}
            for line in head[1:]:
                name, _, value = line.partition(":")
                fields[name.strip().lower()] = value.strip()
            try:
                length = int(fields.get("content-length", "0"))
            except ValueError:
                self.fail()
                return
            start = end + 4
            if len(self.buffer) < start + length:
                return
            body = bytes(self.buffer[start : start + length])
            del self.buffer[: start + length]
            self.tally.requests += 1
            self.tally.digest.update(fields.get("webhook-id", "").encode() + b"\n" + body)
            self.transport.write(OK)
            if fields.get("connection", "").lower() == "close":
                self.transport.close()
                self.transport = None

    def fail(self) -> None:
        if self.transport is not None:
            self.transport.write(BAD)
            self.transport.close()
            self.transport = None

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None


async def serve(count: int) -> None:
    loop = asyncio.get_running_loop()
    tallies: list[Tally] = []
    servers = []
    ports = []
    for _ in range(count):
        tally = Tally()
        server = await loop.create_server(
            lambda tally=tally: Receiver(tally), "127.0.0.1", 0, backlog=1024
        )
        tallies.append(tally)
        servers.append(server)
        ports.append(server.sockets[0].getsockname()[1])
    print(json.dumps({"ports": ports}), flush=True)

    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := (await reader.readline()).decode().strip():
        if line == "stats":
            answer: object = {str(p): t.stats() for p, t in zip(ports, tallies, strict=True)}
        elif line == "reset":
            for tally in tallies:
                tally.reset()
            answer = {"reset": True}
        else:
            answer = {"error": f"unknown command {line!r}"}
        print(json.dumps(answer), flush=True)
    for server in servers:
        server.close()


def main() -> None:
    asyncio.run(serve(int(sys.argv[1])))


if __name__ == "__main__":
    main()
