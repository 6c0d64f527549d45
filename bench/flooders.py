"""The flooders of bench.flood, each run as a process of its own (`python -m
bench.flooders body|slow PORT SECONDS`) so that they do not share the probe's CPU time
or GIL; each prints one line saying what it managed, and stops by itself.

An attacker's CPU is on another machine; here it shares two cores with the server, so
a flooder runs at the lowest priority (nice 19): what the figures then measure is what
the flood costs the server, not how the kernel shares a core with the flooder."""

from __future__ import annotations

import json
import os
import resource
import socket
import sys
import threading
import time

BODY_CLIENTS = 3
BODY_MIB = 20
BIG_MIB = 77
SLOW_SOCKETS = 2000
TRICKLE = 0.5


def _json_body(mib: int) -> bytes:
    """A valid JSON batch of about `mib` MiB: the costliest thing to read and parse."""
    one = json.dumps({"id": "0" * 26, "type": "note.posted", "data": {"text": "x" * 900}})
    count = mib * 1024 * 1024 // (len(one) + 1)
    return ("[" + ",".join([one] * count) + "]").encode()


def _post_loop(port: int, body: bytes, deadline: float, once: bool, tally: list[int]) -> None:
    head = (
        f"POST /api/events HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    view = memoryview(body)
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
                sock.sendall(head)
                for start in range(0, len(body), 1 << 20):
                    sock.sendall(view[start : start + (1 << 20)])
                    if time.monotonic() >= deadline:
                        break
                sock.recv(65536)
            tally[0] += 1
        except OSError:
            tally[1] += 1  # refused mid-body: what a guarded server does
        if once:
            return


def body_flood(port: int, seconds: float) -> str:
    deadline = time.monotonic() + seconds
    body, big = _json_body(BODY_MIB), _json_body(BIG_MIB)
    tally = [0, 0]
    threads = [
        threading.Thread(target=_post_loop, args=(port, body, deadline, False, tally))
        for _ in range(BODY_CLIENTS)
    ]
    threads.append(threading.Thread(target=_post_loop, args=(port, big, deadline, True, tally)))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return f"{tally[0]} POSTs answered, {tally[1]} cut off"


def slow_flood(port: int, seconds: float) -> str:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, SLOW_SOCKETS + 256)), hard))
    deadline = time.monotonic() + seconds
    socks: list[socket.socket | None] = [None] * SLOW_SOCKETS
    opened = closed = 0
    while time.monotonic() < deadline:
        for index in range(SLOW_SOCKETS):
            sock = socks[index]
            try:
                if sock is None:
                    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
                    sock.setblocking(False)
                    socks[index] = sock
                    opened += 1
                    if index % 2:
                        sock.send(b"GET /healthz HTTP/1.1\r\n")
                elif index % 2:
                    sock.send(b"X-Slow: 1\r\n")
                else:
                    sock.recv(1)  # b"" once closed; BlockingIOError while open
                    raise ConnectionResetError
            except BlockingIOError:
                pass
            except OSError:
                if sock is not None:
                    sock.close()
                socks[index] = None
                closed += 1
            if time.monotonic() >= deadline:
                break
        time.sleep(TRICKLE)
    for sock in socks:
        if sock is not None:
            sock.close()
    return f"{opened} sockets opened, {closed} closed by the server"


if __name__ == "__main__":
    os.nice(19)
    kind, port_text, seconds_text = sys.argv[1:4]
    flood = body_flood if kind == "body" else slow_flood
    print(flood(int(port_text), float(seconds_text)), flush=True)
