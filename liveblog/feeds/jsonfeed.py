"""JSON Feed 1.1, written by us (feedgen does not do it)."""

from __future__ import annotations

import json
from typing import Any

from .document import Document

VERSION = "https://jsonfeed.org/version/1.1"
EXTENSION = "_liveblog"
"""live.json's extension (JSON Feed 1.1: a key starting with `_`, ignored by readers that
do not know it): what the live page's polling applies (liveblog/pages)."""


def render_json(doc: Document) -> bytes:
    feed: dict[str, Any] = {
        "version": VERSION,
        "title": doc.title,
        "home_page_url": doc.site_url,
        "feed_url": doc.self_url,
        "description": doc.subtitle,
        "language": doc.language,
        "authors": [{"name": doc.author}],
    }
    if doc.hub:
        feed["hubs"] = [{"type": "WebSub", "url": doc.hub}]
    if doc.expired:
        feed["expired"] = True
    if doc.extension:
        feed[EXTENSION] = doc.extension
    items = []
    for entry in doc.entries:
        item: dict[str, Any] = {
            "id": doc.entry_ids[entry.id],
            "title": entry.title,
            "content_html": entry.html,
            "content_text": entry.text,
            "date_published": entry.published.isoformat(timespec="seconds"),
            "date_modified": entry.updated.isoformat(timespec="seconds"),
            "authors": [{"name": entry.author}],
        }
        link = doc.entry_links.get(entry.id)
        if link:
            item["url"] = link
        if entry.image:
            item["image"] = entry.image
        update = doc.entry_extensions.get(entry.id)
        if update is not None:
            tags = ["pinned"] if update["pinned"] else []
            tags += ["key moment"] if update["key_moment"] is not None else []
            if tags:
                item["tags"] = tags
            item[EXTENSION] = update
        items.append(item)
    feed["items"] = items
    return (json.dumps(feed, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
