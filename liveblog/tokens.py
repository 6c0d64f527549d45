"""Bearer tokens for remote reporters: one per reporter name, stored only as a digest.

A token is 32 random bytes (URL-safe base64 behind `lbt_`): a SHA-256 digest is enough
to store it safely (nothing to brute-force), and it is shown once, at creation. The
caller (`Liveblog`) makes sure the table exists.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from .errors import NotFound, RefusedCommand
from .store.sqlite import Connection, write_transaction

PREFIX = "lbt_"


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class TokenInfo:
    name: str
    created_at: str


def create(conn: Connection, name: str) -> str:
    """A new token posting as reporter `name`; refused while `name` has one."""
    token = PREFIX + secrets.token_urlsafe(32)
    with write_transaction(conn):
        if conn.execute("SELECT 1 FROM api_tokens WHERE name = ?", (name,)).fetchone():
            raise RefusedCommand(
                f"{name!r} already has a token: `liveblog token revoke {name}` first"
            )
        conn.execute(
            "INSERT INTO api_tokens (name, digest, created_at) VALUES (?, ?, ?)",
            (name, digest(token), dt.datetime.now(dt.UTC).isoformat(timespec="seconds")),
        )
    return token


def listing(conn: Connection) -> list[TokenInfo]:
    rows = conn.execute("SELECT name, created_at FROM api_tokens ORDER BY name").fetchall()
    return [TokenInfo(r[0], r[1]) for r in rows]


def revoke(conn: Connection, name: str) -> None:
    with write_transaction(conn):
        if conn.execute("DELETE FROM api_tokens WHERE name = ?", (name,)).rowcount == 0:
            raise NotFound(f"{name!r} has no token (see `liveblog token list`)")


def reporter_of(conn: Connection, token: str) -> str | None:
    """The reporter a presented token posts as, or None if it is unknown or revoked."""
    if not token.startswith(PREFIX):
        return None
    row = conn.execute("SELECT name FROM api_tokens WHERE digest = ?", (digest(token),)).fetchone()
    return None if row is None else str(row[0])
