"""Who may do what over the API: the one place the rule lives.

A token is a reporter's or an editor's. Over the API (`liveblog serve`):

    reporter   sessions, talks and entries (quote, note, photo) in the open day;
               corrects, retracts, pins and highlights only its own entries (`--last`
               is always its own; `unpin` only when the pinned entry is its own)
    editor     everything a reporter may, and corrects or retracts anyone's entries,
               opens and closes days and conferences

The local CLI, which has the database file itself, is not asked: `Liveblog` without a
role (None) may do everything. `Liveblog` calls these checks inside its write
transaction, before appending, so a refusal writes nothing (a whole batch with it).
"""

from __future__ import annotations

from typing import Literal

from ..errors import Forbidden

Role = Literal["reporter", "editor"]
REPORTER: Role = "reporter"
EDITOR: Role = "editor"
ROLES: tuple[Role, ...] = (REPORTER, EDITOR)

# What only an editor may do, by the service's method, as the refusal says it.
EDITORS_ONLY = {
    "open_conference": "opening a conference",
    "close_conference": "closing a conference",
    "open_day": "opening a day",
    "close_day": "closing a day",
}


def check_editors_only(role: Role | None, author: str, command: str) -> None:
    """Refuse `command` (a `Liveblog` method named in EDITORS_ONLY) unless an editor, or
    the local CLI, runs it. A name not in the table is a bug: it raises KeyError rather
    than let the command through."""
    what = EDITORS_ONLY[command]
    if role is None or role == EDITOR:
        return
    raise Forbidden(f"{what} needs an editor's token: {author}'s token is a reporter's")


def check_edit(role: Role | None, author: str, entry_id: str, entry_author: str) -> None:
    """Refuse editing `entry_id` (by `entry_author`: correcting, retracting, pinning,
    highlighting) if `role` may not."""
    if role is None or role == EDITOR or entry_author == author:
        return
    raise Forbidden(
        f"{entry_id} is {entry_author}'s entry: {author}'s token is a reporter's, which "
        "corrects, retracts, pins and highlights only its own entries (an editor's, anyone's)"
    )
