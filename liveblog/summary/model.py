"""The day summary as a structure: sessions → talks → items, in the order they happened.

Read from the timeline (`store.timeline.Timeline`). Corrections are already applied there;
retracted entries are left out here (a retracted talk's own items move up to its
session, a retracted session's content up to the day, so nothing else is lost).
"""

from __future__ import annotations

import zoneinfo
from typing import Any

from ..errors import NotFound
from ..store.timeline import Timeline, TimelineEntry
from . import kinds
from .narrative import local_time

Node = dict[str, Any]


def _node(entry: TimelineEntry) -> Node:
    node: Node = {
        "id": entry.id,
        "type": entry.kind,
        "position": entry.position,
        "author": entry.author,
        "occurred_at": entry.occurred_at,
        "updated_at": entry.updated_at,
    }
    # The kind's own fields, in its JSON order (a kind without a rendering raises).
    node.update(kinds.rendering(entry.kind).node(entry.data, entry.occurred_at, entry.ended_at))
    node["_session"] = entry.session
    node["_talk"] = entry.talk
    node["_utc"] = entry.utc_at
    node["_retracted"] = entry.retracted
    node["_highlighted"] = entry.highlighted and not entry.retracted
    node["_label"] = entry.highlight_label
    return node


_PRIVATE = ("_session", "_talk", "_utc", "_retracted", "_highlighted", "_label")


def _clean(node: Node) -> Node:
    for key in _PRIVATE:
        node.pop(key, None)
    for child in node.get("flow", []) + node.get("items", []):
        _clean(child)
    return node


def day_title(conference_title: str, number: int, own_title: str | None) -> str:
    return own_title or f"{conference_title} – Day {number} Reflections"


def build_day_summary(timeline: Timeline, conference: str, day: int) -> Node:
    """The summary of `day` of `conference`, or NotFound."""
    conf = timeline.conference(conference)
    if conf is None:
        raise NotFound(f"no conference {conference!r}")
    day_row = timeline.day(conference, day)
    if day_row is None:
        raise NotFound(f"{conference} has no day {day}")
    reporters = timeline.day_reporters(conference, day)
    nodes = [_node(e) for e in timeline.day_entries(conference, day)]
    by_id = {n["id"]: n for n in nodes}

    day_flow: list[Node] = []
    for node in nodes:
        if node["_retracted"]:
            continue
        parent = _parent(node, by_id)
        if parent is None:
            day_flow.append(node)
        else:  # a session holds a flow (talks and items), a talk its items
            parent["flow" if "flow" in parent else "items"].append(node)

    closed_at = day_row.closed_at
    if closed_at:  # closing the day ends whatever its reporters left open
        for node in nodes:
            if "ended_at" in node and not node["ended_at"]:
                node["ended_at"] = closed_at

    live = [n for n in nodes if not n["_retracted"]]
    # The byline names who covered the day: a reporter whose every entry was retracted
    # did not (in the order they first posted).
    authors = {n["author"] for n in live}
    reporters = [r for r in reporters if r in authors]
    times = [n["occurred_at"] for n in live] + [day_row.opened_at]
    ends = [n.get("ended_at") for n in live if n.get("ended_at")]
    coverage_end = day_row.closed_at or max(times + ends, key=_sortable)
    moments = _key_moments(nodes, conf.url, day_row.number, conf.timezone)
    return {
        "conference": {
            "slug": conf.slug,
            "title": conf.title,
            "venue": conf.venue,
            "timezone": conf.timezone,
            "url": conf.url,
            "language": conf.language,
        },
        "day": {
            "number": day_row.number,
            "date": day_row.date,
            "title": day_row.title,
            "opened_at": day_row.opened_at,
            "closed_at": day_row.closed_at,
        },
        "title": day_title(conf.title, day_row.number, day_row.title),
        "reporters": reporters,
        "coverage_start": day_row.opened_at,
        "coverage_end": coverage_end,
        "changed_position": day_row.changed_position,
        "key_moments": moments,
        "flow": [_clean(n) for n in day_flow],
    }


def day_page_link(url: str | None, day: int, entry_id: str) -> str:
    """An entry's anchor on its day page: under the conference's URL when it has one,
    else relative (the day pages sit beside the feeds, so a reflections feed's content
    and the day page itself resolve it alike)."""
    page = f"day-{day}.html#e-{entry_id}"
    return f"{url.rstrip('/')}/{page}" if url else page


def _key_moments(nodes: list[Node], url: str | None, day: int, timezone: str) -> list[Node]:
    """The day's key moments (highlighted, not retracted), in the day's order: each with
    its label (None: the reader sees its text), its text, time and link. Every one is
    an entry the summary shows (only retracted entries are left out), so the anchor is
    there."""
    tz = zoneinfo.ZoneInfo(timezone)
    return [
        {
            "id": n["id"],
            "type": n["type"],
            "label": n["_label"],
            "text": kinds.rendering(n["type"]).moment(n),
            "author": n["author"],
            "occurred_at": n["occurred_at"],
            "time": local_time(n["occurred_at"], tz),
            "link": day_page_link(url, day, n["id"]),
        }
        for n in nodes
        if n["_highlighted"]
    ]


def _sortable(timestamp: str) -> str:
    import datetime as dt

    return dt.datetime.fromisoformat(timestamp).astimezone(dt.UTC).isoformat()


def _parent(node: Node, by_id: dict[str, Node]) -> Node | None:
    """The nearest live container: its talk, else its session, else the day."""
    if node["type"] == "session":
        return None
    if node["type"] != "talk":
        talk = by_id.get(node["_talk"] or "")
        if talk is not None and not talk["_retracted"]:
            return talk
    session = by_id.get(node["_session"] or "")
    if session is not None and not session["_retracted"] and session is not node:
        return session
    return None


def walk(flow: list[Node]) -> list[Node]:
    """Every node of a flow, depth first, in reading order."""
    out: list[Node] = []
    for node in flow:
        out.append(node)
        out.extend(walk(node.get("flow", [])))
        out.extend(walk(node.get("items", [])))
    return out
