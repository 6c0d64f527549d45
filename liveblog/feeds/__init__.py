"""Feeds: Atom, RSS and JSON Feed documents, archives and pages under feeds/."""

from .publisher import (
    DEFAULT_FEEDS_URL,
    DEFAULT_PAGE_SIZE,
    Publisher,
    PublishOptions,
    PublishResult,
    freshness,
    ping_hub,
)

__all__ = [
    "DEFAULT_FEEDS_URL",
    "DEFAULT_PAGE_SIZE",
    "PublishOptions",
    "PublishResult",
    "Publisher",
    "freshness",
    "ping_hub",
]
