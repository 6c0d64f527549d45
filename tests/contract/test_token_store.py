"""The token store's contract (liveblog.store.tokens), written once against the
protocol: a second backend is one more subclass of TokenStoreContract giving its
`store` fixture. SQLite-only behaviour (the table's CHECK, a role edited by hand) is
tested in the subclass."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from liveblog.service.roles import EDITOR, REPORTER
from liveblog.store.tokens import Holder, StoredToken, TokenInfo, TokenStore

STAMP = "2026-01-01T00:00:00+00:00"


class TokenStoreContract:
    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[TokenStore]:
        raise NotImplementedError("a backend's subclass gives its store")

    def test_a_token_is_found_by_its_digest(self, store: TokenStore) -> None:
        assert store.add("dan", "digest-dan", STAMP, REPORTER)
        assert store.add("eve", "digest-eve", STAMP, EDITOR)
        assert store.holder("digest-dan") == Holder("dan", REPORTER)
        assert store.holder("digest-eve") == Holder("eve", EDITOR)
        assert store.holder("digest-") is None
        assert store.holder("") is None

    def test_one_token_per_name(self, store: TokenStore) -> None:
        assert store.add("dan", "digest-1", STAMP, REPORTER)
        assert not store.add("dan", "digest-2", STAMP, EDITOR)
        assert store.holder("digest-2") is None
        assert store.tokens() == [TokenInfo("dan", STAMP, REPORTER)]

    def test_listed_by_name(self, store: TokenStore) -> None:
        assert store.tokens() == []
        for name in ("zoe", "ann", "mo"):
            assert store.add(name, f"digest-{name}", STAMP, REPORTER)
        assert [t.name for t in store.tokens()] == ["ann", "mo", "zoe"]

    def test_stored_gives_back_each_digest_by_name(self, store: TokenStore) -> None:
        assert store.stored() == []
        assert store.add("zoe", "digest-zoe", STAMP, EDITOR)
        assert store.add("ann", "digest-ann", STAMP, REPORTER)
        assert store.stored() == [
            StoredToken("ann", "digest-ann", STAMP, REPORTER),
            StoredToken("zoe", "digest-zoe", STAMP, EDITOR),
        ]

    def test_revoked_tokens_match_nothing(self, store: TokenStore) -> None:
        assert store.add("dan", "digest-dan", STAMP, EDITOR)
        assert store.remove("dan")
        assert not store.remove("dan")
        assert store.holder("digest-dan") is None
        assert store.tokens() == []
        assert store.add("dan", "digest-new", STAMP, REPORTER)  # a new one may follow
        assert store.holder("digest-new") == Holder("dan", REPORTER)


class TestSqliteTokenStore(TokenStoreContract):
    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[TokenStore]:
        from liveblog.store.sqlite.log import EventLog
        from liveblog.store.sqlite.schema import ensure_config_tables
        from liveblog.store.sqlite.tokens import SqliteTokenStore

        log = EventLog(tmp_path / "events.db")
        ensure_config_tables(log.conn)
        try:
            yield SqliteTokenStore(log.conn)
        finally:
            log.close()

    def test_a_role_edited_by_hand_reads_as_a_reporters(self, tmp_path: Path) -> None:
        from liveblog.store.sqlite.log import EventLog
        from liveblog.store.sqlite.schema import ensure_config_tables
        from liveblog.store.sqlite.tokens import SqliteTokenStore

        with EventLog(tmp_path / "events.db") as log:
            ensure_config_tables(log.conn)
            store = SqliteTokenStore(log.conn)
            assert store.add("dan", "digest-dan", STAMP, EDITOR)
            # Around the CHECK, as a user's sqlite3 shell could.
            log.conn.execute("PRAGMA ignore_check_constraints = ON")
            log.conn.execute("UPDATE api_tokens SET role = 'admin'")
            assert store.holder("digest-dan") == Holder("dan", REPORTER)
            assert store.tokens()[0].role == REPORTER


class TestPostgresTokenStore(TokenStoreContract):
    """On the event store's connection, as `Stores.tokens` builds it (the table made by
    the schema's migration m002)."""

    @pytest.fixture
    def store(self, pg_url: str) -> Iterator[TokenStore]:
        from liveblog.store.factory import open_stores

        with open_stores(pg_url) as stores:
            yield stores.tokens

    def test_a_role_edited_by_hand_reads_as_a_reporters(self, pg_url: str) -> None:
        from liveblog.store.factory import open_stores

        with open_stores(pg_url) as stores:
            store = stores.tokens
            assert store.add("dan", "digest-dan", STAMP, EDITOR)
            # Around the CHECK, as the table's owner could in psql.
            conn = stores.events.conn  # type: ignore[attr-defined]
            conn.execute("ALTER TABLE api_tokens DROP CONSTRAINT api_tokens_role_check")
            conn.execute("UPDATE api_tokens SET role = 'admin'")
            assert store.holder("digest-dan") == Holder("dan", REPORTER)
            assert store.tokens()[0].role == REPORTER
