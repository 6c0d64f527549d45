"""The token store: remote reporters' bearer tokens, kept only as digests.

Contracts every implementation keeps (tests/contract/test_token_store.py):

* one token per reporter name: `add` refuses (returns False, stores nothing) a name
  that has one;
* only what is given is kept: the name, the digest (never the token), when it was
  created, and the role;
* `holder(digest)` answers from an exact match of the digest; a revoked token's
  digest matches nothing;
* a role read back is one of liveblog.service.roles.ROLES: a value edited by hand to anything
  else reads as the lesser role, a reporter's;
* `stored()` gives back each token's name, digest, created_at and role as added, by
  name (`liveblog config export` moves them to another store);
* `add` and `remove` commit on their own, or join the unit of work open on the event
  store the token store was built on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from ..service.roles import Role


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


@dataclass(frozen=True)
class StoredToken:
    """A token as kept, its digest included: what `liveblog config export` moves to
    another store (the token itself is never kept, so never moved)."""

    name: str
    digest: str
    created_at: str
    role: Role


class TokenStore(Protocol):
    def add(self, name: str, digest: str, created_at: str, role: Role) -> bool:
        """Store a token's digest for `name`; False (nothing stored) if `name` has one."""
        ...

    def tokens(self) -> list[TokenInfo]:
        """Every token, by name."""
        ...

    def stored(self) -> list[StoredToken]:
        """Every token with its digest, by name (to move them to another store)."""
        ...

    def remove(self, name: str) -> bool:
        """Revoke `name`'s token; False if it had none."""
        ...

    def holder(self, digest: str) -> Holder | None:
        """Whose token has this digest (None: unknown or revoked)."""
        ...
