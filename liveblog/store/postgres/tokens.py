"""The token store on PostgreSQL: the `api_tokens` table (config_schema.CONFIG_DDL), on
the event store's connection."""

from __future__ import annotations

from ...service.roles import Role
from ..dialect import POSTGRES
from ..token_reads import TokenReads
from .driver import PgConnection


class PostgresTokenStore(TokenReads):
    """liveblog.store.tokens.TokenStore on one PgConnection (the configuration
    migration has created the table)."""

    conn: PgConnection
    dialect = POSTGRES

    def __init__(self, conn: PgConnection) -> None:
        self.conn = conn

    def add(self, name: str, digest: str, created_at: str, role: Role) -> bool:
        # One statement: of two nodes adding the same name at once, the second finds the
        # first's row (it waits for its commit on the primary key) and stores nothing.
        # A digest clash is still refused by its UNIQUE constraint (StoreRefused).
        cursor = self.conn.execute(
            "INSERT INTO api_tokens (name, digest, created_at, role) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (name) DO NOTHING",
            (name, digest, created_at, role),
        )
        return cursor.rowcount == 1

    def remove(self, name: str) -> bool:
        cursor = self.conn.execute("DELETE FROM api_tokens WHERE name = %s", (name,))
        return cursor.rowcount == 1
