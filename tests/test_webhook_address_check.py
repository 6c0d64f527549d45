"""`check_address`: the address check `webhook add` makes, callable from synchronous code
whether or not an event loop is running in the caller's thread (asyncio.run is not)."""

from __future__ import annotations

import asyncio
import threading

import pytest

from liveblog.errors import RefusedAddress
from liveblog.webhooks import check_address, parse_url


class Fixed:
    """A DNS with one answer, remembering the thread each lookup ran in."""

    def __init__(self, *answers: str) -> None:
        self.answers = list(answers)
        self.threads: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.threads.append(threading.current_thread().name)
        return self.answers


TARGET = parse_url("http://receiver.example:8080/hook")


def test_outside_a_loop() -> None:
    resolver = Fixed("93.184.216.34")
    assert check_address(TARGET, False, resolver) == "93.184.216.34"
    assert resolver.threads == [threading.current_thread().name]


def test_inside_a_running_loop() -> None:
    resolver = Fixed("93.184.216.34")

    async def main() -> str:
        # What asyncio.run(pin_address(...)) could not do: "cannot be called from a
        # running event loop".
        return check_address(TARGET, False, resolver)

    assert asyncio.run(main()) == "93.184.216.34"
    assert len(resolver.threads) == 1
    assert resolver.threads[0].startswith("webhook-address")


def test_a_refusal_inside_a_running_loop_is_the_same_refusal() -> None:
    async def main() -> str:
        return check_address(TARGET, False, Fixed("10.0.0.7"))

    with pytest.raises(RefusedAddress, match=r"10\.0\.0\.7 is a private address"):
        asyncio.run(main())
    assert check_address(TARGET, True, Fixed("10.0.0.7")) == "10.0.0.7"


def test_a_literal_address_inside_a_running_loop() -> None:
    """A literal address needs no DNS: the system resolver's path, from a coroutine."""
    target = parse_url("http://127.0.0.1:9/hook")

    async def main() -> str:
        return check_address(target, True)

    assert asyncio.run(main()) == "127.0.0.1"
    with pytest.raises(RefusedAddress, match="loopback"):
        check_address(target, False)
