"""A Server-Sent Events client for the tests: a raw socket read by a thread of its own,
each event parsed as the HTML standard says (fields, comments, blank line dispatches),
handed to the test through a queue it waits on with a deadline (never a sleep).
"""

from __future__ import annotations

import contextlib
import json
import queue
import socket
import threading
from dataclasses import dataclass, field
from typing import Any

DEADLINE = 20.0  # generous: the machine is loaded by other test processes


@dataclass
class Event:
    id: str | None = None
    event: str = "message"
    data: str = ""
    retry: int | None = None
    comments: list[str] = field(default_factory=list)

    @property
    def json(self) -> Any:
        return json.loads(self.data)

    @property
    def position(self) -> int:
        assert self.id is not None
        return int(self.id)


class SseStream:
    """GET `path` on 127.0.0.1:`port` and parse what comes back.

    `status` and `headers` once the head is read (`wait_head`); `events` (id'd messages),
    `comments` (heartbeats) and `retry` as they arrive; `closed` set when the server
    ends the response or the connection."""

    def __init__(self, port: int, path: str, headers: dict[str, str] | None = None) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=60)
        lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Accept: text/event-stream"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        self.status: int | None = None
        self.headers: dict[str, str] = {}
        self.body = b""  # a non-stream answer's body
        self.retry: int | None = None
        self.events: queue.Queue[Event] = queue.Queue()
        self.comments: queue.Queue[str] = queue.Queue()
        self.head = threading.Event()
        self.closed = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    # -- for the test -------------------------------------------------------------------

    def wait_head(self, timeout: float = DEADLINE) -> int:
        assert self.head.wait(timeout), "no response head"
        assert self.status is not None
        return self.status

    def next(self, timeout: float = DEADLINE) -> Event:
        try:
            return self.events.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no SSE message within {timeout:g} s") from None

    def until(self, position: int, timeout: float = DEADLINE) -> list[Event]:
        """Every message up to the one with id `position` (inclusive)."""
        got: list[Event] = []
        while not got or got[-1].position < position:
            got.append(self.next(timeout))
        return got

    def no_more(self) -> list[Event]:
        """Whatever messages are queued now (without waiting)."""
        got = []
        while True:
            try:
                got.append(self.events.get_nowait())
            except queue.Empty:
                return got

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        self._thread.join(10)

    def __enter__(self) -> SseStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the reading thread ------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._read()
        except OSError:
            pass
        finally:
            self.head.set()
            self.closed.set()

    def _recv(self) -> bytes:
        return self.sock.recv(65536)

    def _read(self) -> None:
        buffer = b""
        while b"\r\n\r\n" not in buffer:
            chunk = self._recv()
            if not chunk:
                return
            buffer += chunk
        head, _, rest = buffer.partition(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        self.status = int(status_line.split()[1])
        for line in header_lines:
            name, _, value = line.partition(":")
            self.headers[name.strip().lower()] = value.strip()
        self.head.set()
        if self.headers.get("transfer-encoding") != "chunked":
            length = int(self.headers.get("content-length", "0"))
            while len(rest) < length:
                chunk = self._recv()
                if not chunk:
                    break
                rest += chunk
            self.body = rest
            return
        self._chunks(rest)

    def _chunks(self, buffer: bytes) -> None:
        text = ""
        while True:
            while b"\r\n" not in buffer:
                chunk = self._recv()
                if not chunk:
                    return
                buffer += chunk
            size_line, _, buffer = buffer.partition(b"\r\n")
            size = int(size_line.split(b";")[0], 16)
            while len(buffer) < size + 2:
                chunk = self._recv()
                if not chunk:
                    return
                buffer += chunk
            data, buffer = buffer[:size], buffer[size + 2 :]
            if size == 0:
                return  # the server ended the response
            text += data.decode("utf-8")
            text = self._dispatch(text)

    def _dispatch(self, text: str) -> str:
        """Parse whole events out of `text`; return what is left (an incomplete one)."""
        while "\n\n" in text:
            block, _, text = text.partition("\n\n")
            event = Event()
            has_data = False
            for line in block.split("\n"):
                if line.startswith(":"):
                    event.comments.append(line[1:].strip())
                    self.comments.put(line[1:].strip())
                    continue
                name, _, value = line.partition(":")
                value = value[1:] if value.startswith(" ") else value
                if name == "id":
                    event.id = value
                elif name == "event":
                    event.event = value
                elif name == "data":
                    event.data = f"{event.data}\n{value}" if has_data else value
                    has_data = True
                elif name == "retry":
                    self.retry = int(value)
            if has_data:
                self.events.put(event)
        return text
