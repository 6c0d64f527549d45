"""The key that encrypts webhook secrets at rest, kept outside events.db.

Anyone who can read events.db (a backup, Datasette, a leaked copy) sees only ciphertext:
each secret is sealed with AES-256-GCM under a random 96-bit nonce, its subscription id
as associated data (a ciphertext copied onto another row does not open).

Where the key lives, first found wins:

* `LIVEBLOG_SECRET_KEY`: base64 of 32 random bytes (`liveblog secret-key generate`);
  several, comma-separated, while rotating: the first seals, every one opens;
* `LIVEBLOG_SECRET_KEY_FILE`: the path of a key file (0600, one key a line, as below)
  that the operator makes and keeps: liveblog reads it, never writes it;
* `<db>.key` beside an SQLite database (`events.db.key`): the same, one key a line. It
  is created 0600, whole or not at all, the first time a secret is stored.

A PostgreSQL database has no file to keep a key beside, and several nodes share it:
each must open the secrets another node sealed, so the key is configured, the same on
every node — one of the two variables — and never made up by a node on its own (two
nodes starting at once would each seal under a key the other lacks). Without either,
storing or opening a secret there fails in one line saying so. Rotating with a
configured key (either variable) is the operator's: put the new key first on every
node, `liveblog secret-key rotate` on one, then drop the old key everywhere.

A stored secret reads `lbk1:<key id>:<base64 of nonce, ciphertext and tag>`; the key id
(a truncated SHA-256 of the key) says which key opens it, so during a rotation both
keys are tried by id, never by guessing, and a wrong key is named as such.

`cryptography` is imported on first use only: the reporting commands never load it.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import os
import secrets
import stat
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ..errors import SecretKeyError
from ..store.files import fsync_directory

ENV = "LIVEBLOG_SECRET_KEY"
FILE_ENV = "LIVEBLOG_SECRET_KEY_FILE"
SERVER_SCHEMES = ("postgresql://", "postgres://")
NO_SERVER_KEY = (
    f"no key for webhook secrets: a PostgreSQL database keeps none beside it; set {ENV} "
    f"(from `liveblog secret-key generate`) or {FILE_ENV}, the same on every node"
)
PREFIX = "lbk1:"
KEY_BYTES = 32
NONCE_BYTES = 12
_AAD = b"liveblog webhook secret\x00"


def key_path(db_path: str | Path) -> Path:
    """The key file beside a database: `events.db` -> `events.db.key`."""
    db = Path(db_path)
    if not db.name:  # an in-memory database
        raise SecretKeyError(f"a database without a file has no key file: set {ENV}")
    return db.with_name(db.name + ".key")


def new_key() -> str:
    """A fresh key as stored: base64 of 32 random bytes."""
    return base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode("ascii")


def key_id(key: bytes) -> str:
    return hashlib.sha256(b"liveblog key id\x00" + key).hexdigest()[:16]


def is_sealed(stored: str) -> bool:
    return stored.startswith(PREFIX)


def sealed_key_id(stored: str) -> str:
    """The id of the key that opens a stored secret (no key needed to read it)."""
    return stored.split(":", 2)[1] if is_sealed(stored) and stored.count(":") >= 2 else ""


def _decode_keys(text: str, where: str) -> list[bytes]:
    keys = []
    for item in text.replace(",", "\n").split():
        try:
            key = base64.b64decode(item, validate=True)
        except (binascii.Error, ValueError):
            raise SecretKeyError(f"{where} is not base64 of {KEY_BYTES} bytes") from None
        if len(key) != KEY_BYTES:
            raise SecretKeyError(
                f"{where} must hold base64 of {KEY_BYTES} bytes (one key holds {len(key)})"
            )
        keys.append(key)
    if not keys:
        raise SecretKeyError(f"{where} is empty: it must hold base64 of {KEY_BYTES} bytes")
    return keys


def keeps_no_file(location: str | Path | None) -> bool:
    """Whether a database has no file to keep its key beside: a server's (a PostgreSQL
    URL, or None as a store without a file says: WebhookStore.database_path)."""
    return location is None or str(location).startswith(SERVER_SCHEMES)


class Keyring:
    """The keys of one database: the first seals, any opens the secrets sealed under it.

    `location` is the database's file (SQLite: its key file may lie beside it), or its
    URL or None for a database without one (PostgreSQL: the key is configured)."""

    def __init__(
        self, location: str | Path | None, environ: Mapping[str, str] | None = None
    ) -> None:
        variables = os.environ if environ is None else environ
        self._db_path = None if keeps_no_file(location) else location
        self._env = variables.get(ENV)
        self._file = variables.get(FILE_ENV) or None
        self._keys: list[bytes] | None = None
        self._ciphers: dict[str, Any] = {}

    @property
    def path(self) -> Path:
        """The key file: the one named by LIVEBLOG_SECRET_KEY_FILE, or the one beside
        the database (a server database has none: SecretKeyError)."""
        if self._file is not None:
            return Path(self._file)
        if self._db_path is None:
            raise SecretKeyError(NO_SERVER_KEY)
        return key_path(self._db_path)

    @property
    def from_env(self) -> bool:
        """Whether the keys are configured (either variable): the operator's to write,
        never liveblog's (no key file is created or rewritten)."""
        return self._env is not None or self._file is not None

    @property
    def source(self) -> str:
        """Where the keys come from, as an error message names it."""
        if self._env is not None:
            return ENV
        if self._file is not None:
            return f"the key file {self.path} ({FILE_ENV})"
        return f"the key file {self.path}"

    # -- loading -----------------------------------------------------------------------

    def key_list(self) -> list[bytes]:
        """Every key, the sealing one first; [] when there is no key file (yet)."""
        if self._keys is None:
            self._keys = self._load()
        return self._keys

    def reload(self) -> None:
        """Forget the keys read: another process may have rotated them."""
        self._keys = None

    def _load(self) -> list[bytes]:
        if self._env is not None:
            return _decode_keys(self._env, ENV)
        try:
            # O_NONBLOCK: a FIFO put in its place must not hang every command.
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
        except FileNotFoundError:
            if self._file is not None:  # named by the operator: a mistake, not a first run
                raise SecretKeyError(
                    f"the key file {self.path} named by {FILE_ENV} does not exist: "
                    f"liveblog secret-key generate > {self.path} && chmod 600 {self.path}"
                ) from None
            return []
        except OSError as exc:
            raise SecretKeyError(f"cannot read the key file {self.path}: {exc.strerror}") from None
        with os.fdopen(fd, "rb") as file:
            mode = os.fstat(file.fileno()).st_mode
            if not stat.S_ISREG(mode):
                raise SecretKeyError(f"the key file {self.path} is not a regular file")
            if mode & 0o077:
                raise SecretKeyError(
                    f"the key file {self.path} is open to other users "
                    f"(mode {stat.S_IMODE(mode):04o}): chmod 600 {self.path}"
                )
            text = file.read(64 * 1024).decode("ascii", "replace")
        return _decode_keys(text, f"the key file {self.path}")

    def ids(self) -> list[str]:
        return [key_id(k) for k in self.key_list()]

    def _cipher(self, wanted: str) -> Any:
        cipher = self._ciphers.get(wanted)
        if cipher is not None:
            return cipher
        for key in self.key_list():
            if key_id(key) == wanted:
                from cryptography.hazmat.primitives.ciphers.aead import AESGCM

                cipher = self._ciphers[wanted] = AESGCM(key)
                return cipher
        return None

    # -- sealing and opening -------------------------------------------------------------

    def seal(self, secret: str, subscription_id: str) -> str:
        """The stored form of `secret`, sealed under the first key (which must exist:
        see `ready_to_seal`)."""
        keys = self.key_list()
        if not keys:
            raise SecretKeyError(f"no key to encrypt webhook secrets with ({self.source})")
        wanted = key_id(keys[0])
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = self._cipher(wanted).encrypt(
            nonce, secret.encode("utf-8"), _AAD + subscription_id.encode("utf-8")
        )
        return f"{PREFIX}{wanted}:{base64.b64encode(nonce + sealed).decode('ascii')}"

    def open(self, stored: str, subscription_id: str) -> str:
        """The clear secret of a stored one; a one-line SecretKeyError naming the key's
        source if no key opens it."""
        wanted = sealed_key_id(stored)
        if not wanted:
            raise SecretKeyError(
                f"the secret of webhook {subscription_id} is not encrypted as liveblog "
                "stores it (edited by hand?): remove the webhook and add it again"
            )
        cipher = self._cipher(wanted)
        if cipher is None:
            self.reload()  # rotated by another process since we read the keys?
            cipher = self._cipher(wanted)
        if cipher is None:
            raise self.missing(wanted)
        from cryptography.exceptions import InvalidTag

        try:
            raw = base64.b64decode(stored.split(":", 2)[2], validate=True)
            clear = cipher.decrypt(
                raw[:NONCE_BYTES], raw[NONCE_BYTES:], _AAD + subscription_id.encode("utf-8")
            )
        except (binascii.Error, ValueError, InvalidTag):
            raise SecretKeyError(
                f"the secret of webhook {subscription_id} does not decrypt under its key "
                f"{wanted} (the row was altered): remove the webhook and add it again"
            ) from None
        return bytes(clear).decode("utf-8")

    def missing(self, wanted: str) -> SecretKeyError:
        if not self.key_list():
            where = (
                f"the key file {self.path} is missing"
                if not self.from_env
                else f"{self.source} holds no key"
            )
            return SecretKeyError(
                f"webhook secrets are encrypted, but {where}: restore it "
                f"(or set {ENV}) with key {wanted}"
            )
        return SecretKeyError(
            f"webhook secrets are encrypted under key {wanted}, which {self.source} does not "
            f"hold (it holds {', '.join(self.ids())}): restore the right key"
        )

    # -- writing the key file ------------------------------------------------------------

    def ready_to_seal(self, stored_ids: Iterable[str]) -> None:
        """Make sure a key can seal a new secret without orphaning the stored ones.

        Creates the key file only when no secret is stored encrypted yet: a missing file
        while ciphertexts exist is a lost key to restore, never one to replace.
        """
        needed = set(stored_ids)
        known = set(self.ids())
        for wanted in sorted(needed - known):
            raise self.missing(wanted)
        if not known:
            if self.from_env:
                raise SecretKeyError(f"{self.source} holds no key")
            self.create_file([new_key()])

    def create_file(self, keys: list[str]) -> None:
        """Write a new key file, whole and 0600, where none exists (O_EXCL)."""
        self._publish(keys, replace=False)

    def replace_file(self, keys: list[str]) -> None:
        """Replace the key file atomically by one holding `keys` (first seals)."""
        self._publish(keys, replace=True)

    def _publish(self, keys: list[str], *, replace: bool) -> None:
        """Write to a temporary file created 0600 with O_EXCL, fsync, then link or rename
        it into place: a reader sees the old file or the whole new one, never a partial
        one, and the key is never readable by anyone else, even for a moment."""
        directory = self.path.parent
        temporary = directory / f".{self.path.name}.{secrets.token_hex(6)}.tmp"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0)
        try:
            fd = os.open(temporary, flags, 0o600)
        except OSError as exc:
            raise SecretKeyError(
                f"cannot create the key file {self.path}: {exc.strerror}"
            ) from None
        try:
            try:
                os.fchmod(fd, 0o600)  # whatever the umask
                os.write(fd, "".join(k + "\n" for k in keys).encode("ascii"))
                os.fsync(fd)
            finally:
                os.close(fd)
            if replace:
                os.replace(temporary, self.path)
            else:
                # link() refuses to overwrite: two processes creating the first key at
                # once cannot both win. The loser reads the winner's key.
                with contextlib.suppress(FileExistsError):
                    os.link(temporary, self.path)
            fsync_directory(directory)
        except OSError as exc:
            raise SecretKeyError(f"cannot write the key file {self.path}: {exc.strerror}") from None
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
        self.reload()
        self._ciphers.clear()
