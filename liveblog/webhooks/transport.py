"""The transport under the deliverer's one shared `httpx.AsyncClient`.

Requests arrive already pinned: the URL holds the checked IP address, the Host header
and TLS server name hold the receiver's host name. httpcore pools connections by the
URL's origin, so on its own it would let a connection verified for `a.example` carry a
POST for `b.example` on the same address. Here every receiver origin (scheme, host
name, address, port) gets a small pool of its own, which also keeps a hundred receivers
from thrashing one shared pool (httpcore sweeps the whole pool on every request).
"""

from __future__ import annotations

import ssl

import httpx

POOL_PER_ORIGIN = 4  # a subscriber's queue sends one at a time; a few share an origin


class PinnedTransport(httpx.AsyncBaseTransport):
    def __init__(self, tls_context: ssl.SSLContext | None = None) -> None:
        # One CA bundle for every pool (loading it costs ~25 ms).
        self._verify = tls_context or httpx.create_ssl_context()
        self._pools: dict[tuple[str, str, str, int | None], httpx.AsyncHTTPTransport] = {}

    def _pool(self, request: httpx.Request) -> httpx.AsyncHTTPTransport:
        url = request.url
        name = str(request.extensions.get("sni_hostname") or request.headers.get("host", ""))
        key = (url.scheme, name, url.host, url.port)
        pool = self._pools.get(key)
        if pool is None:
            pool = self._pools[key] = httpx.AsyncHTTPTransport(
                verify=self._verify,
                limits=httpx.Limits(
                    max_connections=POOL_PER_ORIGIN, max_keepalive_connections=POOL_PER_ORIGIN
                ),
            )
        return pool

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self._pool(request).handle_async_request(request)

    async def aclose(self) -> None:
        pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            await pool.aclose()
