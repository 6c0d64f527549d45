"""The token store on PostgreSQL: the `api_tokens` table (config_schema.CONFIG_DDL), on
the event store's connection."""

from __future__ import annotations

from ...service.roles import EDITOR, REPORTER, Role
from ..tokens import Holder, StoredToken, TokenInfo
from .driver import PgConnection


def _role(value: object) -> Role:
    # The table's CHECK allows only these two; anything else (a check dropped by hand)
    # is treated as the lesser role.
    return EDITOR if value == EDITOR else REPORTER


class PostgresTokenStore:
    """liveblog.store.tokens.TokenStore on one PgConnection (the configuration
    migration has created the table)."""

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

    def tokens(self) -> list[TokenInfo]:
        rows = self.conn.execute(
            "SELECT name, created_at, role FROM api_tokens ORDER BY name"
        ).fetchall()
        return [TokenInfo(str(r[0]), str(r[1]), _role(r[2])) for r in rows]

    def stored(self) -> list[StoredToken]:
        rows = self.conn.execute(
            "SELECT name, digest, created_at, role FROM api_tokens ORDER BY name"
        ).fetchall()
        return [StoredToken(str(r[0]), str(r[1]), str(r[2]), _role(r[3])) for r in rows]

    def remove(self, name: str) -> bool:
        cursor = self.conn.execute("DELETE FROM api_tokens WHERE name = %s", (name,))
        return cursor.rowcount == 1

    def holder(self, digest: str) -> Holder | None:
        row = self.conn.execute(
            "SELECT name, role FROM api_tokens WHERE digest = %s", (digest,)
        ).fetchone()
        return None if row is None else Holder(str(row[0]), _role(row[1]))
