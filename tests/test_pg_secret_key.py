"""Where the key for webhook secrets lives when the database is PostgreSQL: configured,
the same on every node (liveblog.webhooks.secretkey), never a file a node makes up."""

from __future__ import annotations

from pathlib import Path

import pytest

from liveblog.errors import SecretKeyError
from liveblog.webhooks.secretkey import ENV, FILE_ENV, Keyring, new_key

URL = "postgresql://liveblog:hunter2@db.example:5432/liveblog"


@pytest.mark.parametrize("location", [URL, "postgres://db.example/liveblog", None])
def test_without_a_configured_key_sealing_fails_in_one_line(
    location: str | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no file may appear here (nor anywhere)
    keyring = Keyring(location, environ={})
    with pytest.raises(SecretKeyError) as caught:
        keyring.ready_to_seal(set())
    message = str(caught.value)
    assert "\n" not in message and "hunter2" not in message
    assert ENV in message and FILE_ENV in message and "every node" in message
    with pytest.raises(SecretKeyError, match=ENV):
        keyring.open("lbk1:0123456789abcdef:AAAA", "wh_a")
    assert list(tmp_path.iterdir()) == []


def test_every_node_opens_what_another_sealed_with_the_variable() -> None:
    environ = {ENV: new_key()}
    sealed = Keyring(URL, environ=environ).seal("whsec_shared", "wh_a")
    other_node = Keyring("postgres://other-host/liveblog", environ=dict(environ))
    assert other_node.open(sealed, "wh_a") == "whsec_shared"


def test_a_named_key_file_is_read_and_never_written(tmp_path: Path) -> None:
    key_file = tmp_path / "liveblog.key"
    key_file.write_text(new_key() + "\n")
    key_file.chmod(0o600)
    environ = {FILE_ENV: str(key_file)}
    before = key_file.read_bytes()
    node_a, node_b = Keyring(URL, environ=environ), Keyring(None, environ=environ)
    node_a.ready_to_seal(set())
    assert node_a.from_env  # the operator's to write: rotation leaves the file alone
    assert node_b.open(node_a.seal("whsec_x", "wh_b"), "wh_b") == "whsec_x"
    assert key_file.read_bytes() == before


def test_a_missing_named_key_file_is_said_so(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.key"
    keyring = Keyring(URL, environ={FILE_ENV: str(missing)})
    with pytest.raises(SecretKeyError, match="does not exist") as caught:
        keyring.ready_to_seal(set())
    assert "\n" not in str(caught.value) and not missing.exists()


def test_sqlite_keeps_its_key_file_beside_the_database(tmp_path: Path) -> None:
    db = tmp_path / "events.db"
    keyring = Keyring(db, environ={})
    keyring.ready_to_seal(set())
    assert (tmp_path / "events.db.key").exists() and not keyring.from_env


def test_the_postgres_store_names_no_file(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from liveblog.store.factory import open_stores
    from liveblog.webhooks.subscriptions import keyring_for

    monkeypatch.delenv(ENV, raising=False)
    monkeypatch.delenv(FILE_ENV, raising=False)
    with open_stores(pg_url) as stores:
        hooks = stores.webhooks
        assert hooks.database_path() is None
        with pytest.raises(SecretKeyError, match=FILE_ENV):
            keyring_for(hooks).ready_to_seal(set())
