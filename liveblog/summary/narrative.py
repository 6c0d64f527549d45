"""Sentences that introduce sessions and talks, so a summary reads like an article.

Plain text: the templates escape it for their format. The first, next and final
speakers of a day are introduced differently, and the middle ones vary, so a reader
does not meet the same sentence five times.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

Node = dict[str, Any]


def local_time(timestamp: str | None, tz: dt.tzinfo) -> str:
    if not timestamp:
        return ""
    return dt.datetime.fromisoformat(timestamp).astimezone(tz).strftime("%H:%M")


def join_names(names: Sequence[str]) -> str:
    names = list(names)
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def who(talk: Node) -> str:
    """Name, with role and organisation when known: 'Andy Burns, Director at ACME'."""
    name, role, org = str(talk["speaker"]), talk.get("role"), talk.get("organisation")
    if role and org:
        return f"{name}, {role} at {org}"
    if role:
        return f"{name}, {role}"
    if org:
        return f"{name} of {org}"
    return name


_MIDDLE = (
    "Next came {who}, speaking on “{title}”.",
    "{subject} followed with “{title}”.",
    "Then {subject} took the floor with “{title}”.",
    "After that, {subject} turned to “{title}”.",
)


def talk_intro(talk: Node, index: int, total: int) -> str:
    """How the `index`-th of `total` talks of the day is introduced."""
    name = who(talk)
    # "Ann Lee, Director at ACME, followed with …": an appositive is closed by a comma
    # when the verb comes after it.
    subject = f"{name}," if name != talk["speaker"] and ", " in name else name
    values = {"who": name, "subject": subject, "title": talk["title"]}
    if total == 1:
        return "{subject} spoke on “{title}”.".format(**values)
    if index == 0:
        return "First up was {who}, on “{title}”.".format(**values)
    if index == total - 1:
        return "Finally, {subject} closed with “{title}”.".format(**values)
    return _MIDDLE[(index - 1) % len(_MIDDLE)].format(**values)


_ARTICLE_AN = ("a", "e", "i", "o", "u")
_KIND_NOUNS = {
    "breakout": "breakout session",
    "demo": "demo session",
    "lightning": "lightning-talk session",
}


def session_intro(session: Node, tz: dt.tzinfo) -> str:
    """'A roundtable hosted by X and Y in Room 2, 11:00–12:00.'"""
    kind = session["kind"]
    start, end = local_time(session["started_at"], tz), local_time(session.get("ended_at"), tz)
    when = f"{start}–{end}" if end else f"from {start}"
    room = f" in {session['room']}" if session.get("room") else ""
    hosts = join_names(session.get("hosts", []))
    if kind == "roundtable":
        hosted = f" hosted by {hosts}" if hosts else ""
        return f"A roundtable{hosted}{room}, {when}."
    if kind == "session":
        sentence = (
            f"The session ran{room}, {when}" if end else f"The session began{room} at {start}"
        )
    else:
        noun = _KIND_NOUNS.get(kind) or str(kind)
        article = "An" if noun.startswith(_ARTICLE_AN) else "A"
        sentence = f"{article} {noun}{room}, {when}"
    if hosts:
        sentence += f", chaired by {hosts}"
    return sentence + "."


def annotate(summary: Node, tz: dt.tzinfo) -> None:
    """Add `intro` to every session and talk.

    Talks are numbered within their session (parallel rooms each have a first and a
    final speaker); talks outside any session are numbered together.
    """

    def number(talks: list[Node]) -> None:
        for index, talk in enumerate(talks):
            talk["intro"] = talk_intro(talk, index, len(talks))

    for node in summary["flow"]:
        if node["type"] == "session":
            node["intro"] = session_intro(node, tz)
            number([child for child in node["flow"] if child["type"] == "talk"])
    number([node for node in summary["flow"] if node["type"] == "talk"])
