"""The token store in events.db: the `api_tokens` table (its DDL and migrations are in
liveblog.store.sqlite.schema), on the event store's connection."""

from __future__ import annotations

from ...service.roles import EDITOR, REPORTER, Role
from ..tokens import Holder, StoredToken, TokenInfo
from .driver import Connection, write_transaction


def _role(value: object) -> Role:
    # The table's CHECK allows only these two; anything else (edited by hand around
    # the check) is treated as the lesser role.
    return EDITOR if value == EDITOR else REPORTER


class SqliteTokenStore:
    """liveblog.store.tokens.TokenStore on one events.db connection (the caller makes
    sure the table exists)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def add(self, name: str, digest: str, created_at: str, role: Role) -> bool:
        with write_transaction(self.conn):
            if self.conn.execute("SELECT 1 FROM api_tokens WHERE name = ?", (name,)).fetchone():
                return False
            self.conn.execute(
                "INSERT INTO api_tokens (name, digest, created_at, role) VALUES (?, ?, ?, ?)",
                (name, digest, created_at, role),
            )
        return True

    def tokens(self) -> list[TokenInfo]:
        rows = self.conn.execute("SELECT name, created_at, role FROM api_tokens ORDER BY name")
        return [TokenInfo(r[0], r[1], _role(r[2])) for r in rows.fetchall()]

    def stored(self) -> list[StoredToken]:
        rows = self.conn.execute(
            "SELECT name, digest, created_at, role FROM api_tokens ORDER BY name"
        ).fetchall()
        return [StoredToken(str(r[0]), str(r[1]), str(r[2]), _role(r[3])) for r in rows]

    def remove(self, name: str) -> bool:
        with write_transaction(self.conn):
            return bool(
                self.conn.execute("DELETE FROM api_tokens WHERE name = ?", (name,)).rowcount
            )

    def holder(self, digest: str) -> Holder | None:
        row = self.conn.execute(
            "SELECT name, role FROM api_tokens WHERE digest = ?", (digest,)
        ).fetchone()
        return None if row is None else Holder(str(row[0]), _role(row[1]))
