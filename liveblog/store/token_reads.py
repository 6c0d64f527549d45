"""The token store's reads, the same on both backends (`SqliteTokenStore`,
`PostgresTokenStore` inherit `TokenReads`; each keeps `add` and `remove`, which
decide a race their own way)."""

from __future__ import annotations

from typing import ClassVar

from ..service.roles import EDITOR, REPORTER, Role
from .dialect import Dialect, Executes
from .tokens import Holder, StoredToken, TokenInfo

_TOKENS = "SELECT name, created_at, role FROM api_tokens ORDER BY name"
_STORED = "SELECT name, digest, created_at, role FROM api_tokens ORDER BY name"
_HOLDER = "SELECT name, role FROM api_tokens WHERE digest = ?"


def role_of(value: object) -> Role:
    """A stored role as one of ROLES. The table's CHECK allows only two; anything else
    (edited by hand around the check, or a check dropped) reads as the lesser role."""
    return EDITOR if value == EDITOR else REPORTER


class TokenReads:
    conn: Executes
    dialect: ClassVar[Dialect]

    def tokens(self) -> list[TokenInfo]:
        rows = self.conn.execute(_TOKENS).fetchall()
        return [TokenInfo(str(r[0]), str(r[1]), role_of(r[2])) for r in rows]

    def stored(self) -> list[StoredToken]:
        rows = self.conn.execute(_STORED).fetchall()
        return [StoredToken(str(r[0]), str(r[1]), str(r[2]), role_of(r[3])) for r in rows]

    def holder(self, digest: str) -> Holder | None:
        row = self.conn.execute(self.dialect.sql(_HOLDER), (digest,)).fetchone()
        return None if row is None else Holder(str(row[0]), role_of(row[1]))
