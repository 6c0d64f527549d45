"""The token store in events.db: the `api_tokens` table (its DDL and migrations are in
liveblog.store.sqlite.schema), on the event store's connection."""

from __future__ import annotations

from ...service.roles import Role
from ..dialect import SQLITE
from ..token_reads import TokenReads
from .driver import Connection, write_transaction


class SqliteTokenStore(TokenReads):
    """liveblog.store.tokens.TokenStore on one events.db connection (the caller makes
    sure the table exists)."""

    conn: Connection
    dialect = SQLITE

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

    def remove(self, name: str) -> bool:
        with write_transaction(self.conn):
            return bool(
                self.conn.execute("DELETE FROM api_tokens WHERE name = ?", (name,)).rowcount
            )
