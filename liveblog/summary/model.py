"""The day summary as a structure: sessions → talks → items, in the order they happened.

Read from the timeline projection's tables. Corrections are already applied there;
retracted entries are left out here (a retracted talk's own items move up to its
session, a retracted session's content up to the day, so nothing else is lost).
"""

from __future__ import annotations

import json
from typing import Any

from ..errors import NotFound
from ..projections.timeline import CONFERENCES, DAYS, REPORTERS, TIMELINE
from ..store.sqlite.driver import Connection
from . import kinds

Node = dict[str, Any]

_ENTRY_COLUMNS = (
    "id, position, kind, author, occurred_at, utc_at, session, talk, data, ended_at, "
    "updated_at, retracted"
)


def _node(row: Any) -> Node:
    (
        id_,
        position,
        kind,
        author,
        occurred_at,
        utc_at,
        session,
        talk,
        data,
        ended_at,
        updated_at,
        retracted,
    ) = row
    node: Node = {
        "id": id_,
        "type": kind,
        "position": position,
        "author": author,
        "occurred_at": occurred_at,
        "updated_at": updated_at,
    }
    node.update(kinds.rendering(kind).node(json.loads(data), occurred_at, ended_at))
    node["_session"] = session
    node["_talk"] = talk
    node["_utc"] = utc_at
    node["_retracted"] = bool(retracted)
    return node


def _clean(node: Node) -> Node:
    for key in ("_session", "_talk", "_utc", "_retracted"):
        node.pop(key, None)
    for child in node.get("flow", []) + node.get("items", []):
        _clean(child)
    return node


def day_title(conference_title: str, number: int, own_title: str | None) -> str:
    return own_title or f"{conference_title} – Day {number} Reflections"


def build_day_summary(conn: Connection, conference: str, day: int) -> Node:
    """The summary of `day` of `conference`, or NotFound."""
    conf = conn.execute(
        f"SELECT slug, title, venue, timezone, url, language FROM {CONFERENCES} WHERE slug = ?",
        (conference,),
    ).fetchone()
    if conf is None:
        raise NotFound(f"no conference {conference!r}")
    day_row = conn.execute(
        f"SELECT number, date, title, opened_at, closed_at, changed_position FROM {DAYS} "
        "WHERE conference = ? AND number = ?",
        (conference, day),
    ).fetchone()
    if day_row is None:
        raise NotFound(f"{conference} has no day {day}")
    reporters = [
        r[0]
        for r in conn.execute(
            f"SELECT author FROM {REPORTERS} WHERE conference = ? AND day = ? "
            "ORDER BY first_position",
            (conference, day),
        )
    ]
    rows = conn.execute(
        f"SELECT {_ENTRY_COLUMNS} FROM {TIMELINE} WHERE conference = ? AND day = ? "
        "ORDER BY utc_at, position",
        (conference, day),
    ).fetchall()
    nodes = [_node(r) for r in rows]
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

    closed_at = day_row[4]
    if closed_at:  # closing the day ends whatever its reporters left open
        for node in nodes:
            if "ended_at" in node and not node["ended_at"]:
                node["ended_at"] = closed_at

    live = [n for n in nodes if not n["_retracted"]]
    # The byline names who covered the day: a reporter whose every entry was retracted
    # did not (in the order they first posted).
    authors = {n["author"] for n in live}
    reporters = [r for r in reporters if r in authors]
    times = [n["occurred_at"] for n in live] + [day_row[3]]
    ends = [n.get("ended_at") for n in live if n.get("ended_at")]
    coverage_end = day_row[4] or max(times + ends, key=_sortable)
    return {
        "conference": {
            "slug": conf[0],
            "title": conf[1],
            "venue": conf[2],
            "timezone": conf[3],
            "url": conf[4],
            "language": conf[5],
        },
        "day": {
            "number": day_row[0],
            "date": day_row[1],
            "title": day_row[2],
            "opened_at": day_row[3],
            "closed_at": day_row[4],
        },
        "title": day_title(conf[1], day_row[0], day_row[2]),
        "reporters": reporters,
        "coverage_start": day_row[3],
        "coverage_end": coverage_end,
        "changed_position": day_row[5],
        "flow": [_clean(n) for n in day_flow],
    }


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
