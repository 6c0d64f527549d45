"""Where a webhook may be POSTed: no private, loopback, link-local or metadata addresses.

A subscriber's URL is user input. Unless its subscription allows private addresses,
every address its host resolves to must be public; the deliverer then connects to the
very address it checked (the URL is rewritten to that IP, with the Host header and TLS
server name kept), so a DNS answer that changes between check and connect (rebinding)
cannot reach an internal service. Cloud metadata endpoints are refused even when
private addresses are allowed: nothing legitimate receives webhooks there.
"""

from __future__ import annotations

import functools
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from ..errors import InvalidWebhook, RefusedAddress

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Resolves (host, port) to addresses; injectable so tests can play a rebinding DNS.
Resolver = Callable[[str, int], Awaitable[list[str]]]

# Some are public or private addresses, not link-local: `--allow-private` must not open
# them, nor must a public-looking one (Azure's WireServer) pass as a receiver.
METADATA = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, Oracle, DigitalOcean, Hetzner…
        "169.254.170.2",  # AWS ECS task metadata and credentials
        "169.254.170.23",  # AWS EKS Pod Identity agent
        "169.254.0.23",  # Tencent Cloud
        "100.100.100.200",  # Alibaba Cloud
        "192.0.0.192",  # Oracle Cloud (OCI) instance metadata
        "168.63.129.16",  # Azure platform (WireServer: agent configuration, health)
        "fd00:ec2::254",  # AWS IMDS over IPv6
        "fd00:ec2::23",  # AWS EKS Pod Identity agent over IPv6
        "fd20:ce::254",  # Google Cloud metadata over IPv6
        "fe80::a9fe:a9fe",  # OpenStack metadata over IPv6 (link-local)
    )
)
MAX_URL_LENGTH = 2000
# NAT64 (RFC 6052 well-known prefix, RFC 8215 local use): an IPv4 address in the last
# 32 bits, reached through a translator.
# IPv6 forms that carry an IPv4 address in their last 32 bits: NAT64, IPv4-compatible
# (deprecated), IPv4-translated. (IPv4-mapped and 6to4 have their own accessors.)
EMBEDDING_IPV4 = tuple(
    ipaddress.ip_network(n) for n in ("64:ff9b::/96", "64:ff9b:1::/48", "::/96", "::ffff:0:0:0/96")
)
GLOBAL_UNICAST = ipaddress.ip_network("2000::/3")


@dataclass(frozen=True)
class WebhookURL:
    url: str
    scheme: str
    host: str
    port: int


def parse_url(url: str) -> WebhookURL:
    """Check a subscriber URL's shape: http(s), a host, no credentials or fragment."""
    if len(url) > MAX_URL_LENGTH:
        raise InvalidWebhook(f"the webhook URL is longer than {MAX_URL_LENGTH} characters")
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        raise InvalidWebhook("the webhook URL contains spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidWebhook(f"{url!r} is not a valid URL ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise InvalidWebhook(f"{url!r}: a webhook URL must start with http:// or https://")
    if not parts.hostname:
        raise InvalidWebhook(f"{url!r}: the webhook URL has no host")
    if parts.username is not None or parts.password is not None:
        raise InvalidWebhook("a webhook URL must not carry a user name or password")
    if parts.fragment:
        raise InvalidWebhook("a webhook URL must not have a #fragment")
    return WebhookURL(
        url=url,
        scheme=scheme,
        host=parts.hostname,
        port=port if port is not None else (443 if scheme == "https" else 80),
    )


def refusal(address: IPAddress, allow_private: bool) -> str | None:
    """Why `address` may not receive webhooks, or None if it may."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        plain = address.is_loopback or address.is_unspecified  # ::1 and :: say it as is
        if embedded is None and not plain and any(address in n for n in EMBEDDING_IPV4):
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            reason = refusal(embedded, allow_private)
            return f"{reason} (as {address.compressed})" if reason else None
        if address.teredo is not None:
            return refusal(address.teredo[1], allow_private)
        address = _without_scope(address)
    if address in METADATA:
        return f"{address} is a cloud metadata address"
    if allow_private or (address.is_global and not _never_public(address)):
        return None
    if address.is_loopback:
        kind = "a loopback"
    elif address.is_link_local:
        kind = "a link-local"
    elif address.is_private:
        kind = "a private"
    else:  # unspecified, multicast, reserved, shared (CGNAT), documentation ranges…
        kind = "a non-public"
    return f"{address} is {kind} address"


def is_metadata(address: IPAddress) -> bool:
    """A cloud metadata address, in any of the IPv6 forms that carry an IPv4 one."""
    return bool(refusal(address, True))


def _without_scope(address: ipaddress.IPv6Address) -> ipaddress.IPv6Address:
    """`fe80::a9fe:a9fe%eth0` is still OpenStack's metadata address."""
    return ipaddress.IPv6Address(address.compressed.split("%", 1)[0])


def _never_public(address: IPAddress) -> bool:
    """Ranges some Python releases call global that no public receiver can be on;
    for IPv6, anything outside global unicast (2000::/3)."""
    if address.is_multicast:
        return True
    return isinstance(address, ipaddress.IPv6Address) and address not in GLOBAL_UNICAST


async def system_resolver(host: str, port: int) -> list[str]:
    import asyncio

    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


async def pin_address(
    target: WebhookURL, allow_private: bool, resolver: Resolver = system_resolver
) -> str:
    """The first address `pin_addresses` allows."""
    return (await pin_addresses(target, allow_private, resolver))[0]


def check_address(
    target: WebhookURL, allow_private: bool, resolver: Resolver = system_resolver
) -> str:
    """`pin_address` for synchronous code (`webhook add`), in or out of a running event
    loop: with none, it runs one; inside one (a caller in an async server or test), the
    lookup runs on a loop of its own in a short-lived thread, since a loop cannot run a
    second one in its own thread. Either way the caller waits for the answer."""
    import asyncio
    import concurrent.futures

    def look_up() -> str:
        return asyncio.run(pin_address(target, allow_private, resolver))

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return look_up()
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="webhook-address") as pool:
        return pool.submit(look_up).result()


# Parsed and judged once per host or answer, not on every attempt: the answer for a
# literal or an address never changes (a name is resolved again every time).
@functools.lru_cache(maxsize=4096)
def _literal(host: str) -> str | None:
    """The host as an IP address literal, or None for a name."""
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return None


@functools.lru_cache(maxsize=4096)
def _refusal_of(answer: str, allow_private: bool) -> str | None:
    return refusal(ipaddress.ip_address(answer.split("%", 1)[0]), allow_private)


async def pin_addresses(
    target: WebhookURL, allow_private: bool, resolver: Resolver = system_resolver
) -> list[str]:
    """Resolve the host once and return the addresses to connect to, in the resolver's
    order; refuse if any is off limits (one bad answer among good ones is refused)."""
    literal = _literal(target.host)
    if literal is not None:
        answers = [literal]
    else:
        try:
            answers = await resolver(target.host, target.port)
        except (OSError, UnicodeError) as exc:
            raise RefusedAddress(f"cannot resolve {target.host}: {exc}") from None
        if not answers:
            raise RefusedAddress(f"cannot resolve {target.host}: no addresses")
    for answer in answers:
        reason = _refusal_of(answer, allow_private)
        if reason is not None:
            address = ipaddress.ip_address(answer.split("%", 1)[0])
            hint = "" if allow_private or is_metadata(address) else " (--allow-private permits it)"
            raise RefusedAddress(f"webhook host {target.host} refused: {reason}{hint}")
    return answers
