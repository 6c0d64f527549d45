"""Bearer tokens for remote reporters: one per reporter name, stored only as a digest.

A token is 32 random bytes (URL-safe base64 behind `lbt_`): a SHA-256 digest is enough
to store it safely (nothing to brute-force), and it is shown once, at creation. They are
kept by the token store (liveblog.store.tokens); the caller (`Liveblog`) makes sure it
is ready.

Each token has a role (liveblog.service.roles says what each may do): new tokens are a
reporter's unless created as an editor's.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from typing import TYPE_CHECKING

from ..errors import InvalidEvent, NotFound, RefusedCommand
from ..store.tokens import Holder, TokenInfo
from .roles import REPORTER, ROLES, Role

if TYPE_CHECKING:
    from ..store.tokens import TokenStore

__all__ = ["PREFIX", "Holder", "TokenInfo", "create", "digest", "holder_of", "listing", "revoke"]

PREFIX = "lbt_"


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create(db: TokenStore, name: str, role: Role = REPORTER) -> str:
    """A new token posting as reporter `name`; refused while `name` has one."""
    if role not in ROLES:
        raise InvalidEvent(f"unknown role {role!r}: one of {', '.join(ROLES)}")
    token = PREFIX + secrets.token_urlsafe(32)
    created_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    if not db.add(name, digest(token), created_at, role):
        raise RefusedCommand(f"{name!r} already has a token: `liveblog token revoke {name}` first")
    return token


def listing(db: TokenStore) -> list[TokenInfo]:
    return db.tokens()


def revoke(db: TokenStore, name: str) -> None:
    if not db.remove(name):
        raise NotFound(f"{name!r} has no token (see `liveblog token list`)")


def holder_of(db: TokenStore, token: str) -> Holder | None:
    """Who a presented token posts as, or None if it is unknown or revoked."""
    if not token.startswith(PREFIX):
        return None
    return db.holder(digest(token))
