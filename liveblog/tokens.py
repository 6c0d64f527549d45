"""Bearer tokens for remote reporters: one per reporter name, stored only as a digest.

A token is 32 random bytes (URL-safe base64 behind `lbt_`): a SHA-256 digest is enough
to store it safely (nothing to brute-force), and it is shown once, at creation. The
caller (`Liveblog`) makes sure the table exists.

Each token has a role (liveblog.roles says what each may do): new tokens are a
reporter's unless created as an editor's.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from .errors import InvalidEvent, NotFound, RefusedCommand
from .roles import EDITOR, REPORTER, ROLES, Role
from .store.sqlite.driver import Connection, write_transaction

PREFIX = "lbt_"


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class TokenInfo:
    name: str
    created_at: str
    role: Role


@dataclass(frozen=True)
class Holder:
    """Who presented a token: the reporter it posts as, and its role."""

    name: str
    role: Role


def _role(value: object) -> Role:
    # The table's CHECK allows only these two; anything else (edited by hand around
    # the check) is treated as the lesser role.
    return EDITOR if value == EDITOR else REPORTER


def create(conn: Connection, name: str, role: Role = REPORTER) -> str:
    """A new token posting as reporter `name`; refused while `name` has one."""
    if role not in ROLES:
        raise InvalidEvent(f"unknown role {role!r}: one of {', '.join(ROLES)}")
    token = PREFIX + secrets.token_urlsafe(32)
    with write_transaction(conn):
        if conn.execute("SELECT 1 FROM api_tokens WHERE name = ?", (name,)).fetchone():
            raise RefusedCommand(
                f"{name!r} already has a token: `liveblog token revoke {name}` first"
            )
        conn.execute(
            "INSERT INTO api_tokens (name, digest, created_at, role) VALUES (?, ?, ?, ?)",
            (name, digest(token), dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), role),
        )
    return token


def listing(conn: Connection) -> list[TokenInfo]:
    rows = conn.execute("SELECT name, created_at, role FROM api_tokens ORDER BY name")
    return [TokenInfo(r[0], r[1], _role(r[2])) for r in rows.fetchall()]


def revoke(conn: Connection, name: str) -> None:
    with write_transaction(conn):
        if conn.execute("DELETE FROM api_tokens WHERE name = ?", (name,)).rowcount == 0:
            raise NotFound(f"{name!r} has no token (see `liveblog token list`)")


def holder_of(conn: Connection, token: str) -> Holder | None:
    """Who a presented token posts as, or None if it is unknown or revoked."""
    if not token.startswith(PREFIX):
        return None
    row = conn.execute(
        "SELECT name, role FROM api_tokens WHERE digest = ?", (digest(token),)
    ).fetchone()
    return None if row is None else Holder(str(row[0]), _role(row[1]))
