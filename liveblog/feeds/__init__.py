"""Feeds: Atom, RSS and JSON Feed documents, archives and pages under feeds/.

Names are imported on first use: `liveblog.feeds.defaults` stays cheap for the CLI.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .defaults import DEFAULT_FEEDS_URL, DEFAULT_PAGE_SIZE

if TYPE_CHECKING:
    from .publisher import Publisher, PublishOptions, PublishResult, freshness, ping_hub

_LAZY = ("PublishOptions", "PublishResult", "Publisher", "freshness", "ping_hub")


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(".publisher", __name__), name)


__all__ = [
    "DEFAULT_FEEDS_URL",
    "DEFAULT_PAGE_SIZE",
    "PublishOptions",
    "PublishResult",
    "Publisher",
    "freshness",
    "ping_hub",
]
