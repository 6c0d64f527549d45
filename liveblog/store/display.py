"""A `--db` value as a message may show it: a path as given, a URL without its password.

The PostgreSQL driver's `redact` is imported only for a URL, so a command on a SQLite
file (`liveblog note`) loads nothing of psycopg.
"""

from __future__ import annotations

import os

from .factory import scheme_of


def shown(db: str | os.PathLike[str]) -> str:
    """`db` for a message or a log line: never the password of a URL."""
    text = os.fspath(db)
    if scheme_of(text) == "sqlite":
        return text
    from .postgres.driver import redact

    return redact(text)


def is_file(db: str | os.PathLike[str]) -> bool:
    """Whether `db` names a SQLite file (a path or a `sqlite:///` URL), not a server."""
    return scheme_of(db) == "sqlite"


__all__ = ["is_file", "shown"]
