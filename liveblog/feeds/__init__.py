"""Feeds: Atom, RSS and JSON Feed documents, archives and pages under feeds/.

Names are imported on first use: `liveblog.feeds.defaults` stays cheap for the CLI.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_getattr
from .defaults import DEFAULT_FEEDS_URL, DEFAULT_PAGE_SIZE

if TYPE_CHECKING:
    from .publisher import Publisher, PublishOptions, PublishResult, freshness, ping_hub

_WHERE = {
    name: ".publisher"
    for name in ("PublishOptions", "PublishResult", "Publisher", "freshness", "ping_hub")
}


__getattr__ = lazy_getattr(__name__, _WHERE)

__all__ = [
    "DEFAULT_FEEDS_URL",
    "DEFAULT_PAGE_SIZE",
    "PublishOptions",
    "PublishResult",
    "Publisher",
    "freshness",
    "ping_hub",
]
