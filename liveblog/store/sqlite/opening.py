"""Opening events.db: only a liveblog database, created private, read-only if need be.

Before SQLite writes anything (switching to WAL writes to the file), the file is
identified: the header's `application_id` marks our databases. A file that is not
SQLite, or is another program's database, is refused without a byte changed. A new
empty file is ours to initialise, and a log from before the mark (our `events` table,
user_version > 0, application_id 0) is recognised and marked by the next writer.

A database this user cannot write (a read-only file or directory) is opened read-only
for the reading commands. SQLite reads a WAL database read-only through its `-shm`
file; when that cannot be created (a read-only directory after a clean shutdown, so
there is no `-wal` either), the file is complete and is opened `immutable`.
"""

from __future__ import annotations

import enum
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from ...errors import (
    MissingLog,
    NotOurDatabase,
    StoreDamaged,
    StoreUnavailable,
    UnopenableDatabase,
)
from ..files import create_private
from .driver import (
    Connection,
    open_raw,
    prepare_for_writing,
    read_transaction,
)
from .schema import APPLICATION_ID, LATEST

SQLITE_HEADER = b"SQLite format 3\x00"
LOG_COLUMNS = frozenset(
    {
        "position",
        "id",
        "type",
        "conference",
        "occurred_at",
        "recorded_at",
        "author",
        "version",
        "schema_version",
        "data",
    }
)


class Identity(enum.Enum):
    OURS = "ours"
    NEW = "new"  # empty: ours to initialise
    LEGACY = "legacy"  # a liveblog log from before application_id


@dataclass(frozen=True)
class Opened:
    conn: Connection
    readonly: bool
    identity: Identity


def open_database(path: Path, *, readonly: bool = False, require_log: bool = True) -> Opened:
    """Open events.db at `path` for the log (see the module docstring).

    `readonly` opens it read-only even when it could be written (`verify`);
    `require_log=False` opens one of ours whose `events` table is gone (`verify`, to say so).
    """
    if str(path) == ":memory:":
        return Opened(open_raw(path), False, Identity.NEW)
    writable = _writable(path)
    if not path.exists():
        if readonly:
            raise UnopenableDatabase(f"no event log at {path}")
        if not writable:
            raise UnopenableDatabase(
                f"cannot create {path}: its directory {path.absolute().parent} is not writable"
            )
        _create(path)
    readonly = readonly or not writable
    _check_header(path)
    conn = _open_readonly(path) if readonly else open_raw(path)
    try:
        identity = identify(conn, path, require_log=require_log)
        if not readonly:
            prepare_for_writing(conn)
    except BaseException:
        conn.close()
        raise
    return Opened(conn, readonly, identity)


def _writable(path: Path) -> bool:
    """Whether this process may write the file and create `-wal`/`-shm` beside it."""
    effective = os.access in os.supports_effective_ids
    directory = path.absolute().parent
    if not directory.is_dir():
        raise UnopenableDatabase(f"cannot open {path}: no such directory {directory}")
    if path.exists() and not os.access(path, os.W_OK, effective_ids=effective):
        return False
    return os.access(directory, os.W_OK, effective_ids=effective)


def _create(path: Path) -> None:
    """Create the file 0600 ourselves: SQLite gives `-wal` and `-shm` the same mode."""
    try:
        create_private(path)
    except OSError as exc:
        raise UnopenableDatabase(f"cannot create {path}: {exc.strerror}") from None


# The files (device, inode) whose header this process has read, and the lock that makes
# that read happen once, before any of its connections to the file exists. POSIX locks
# belong to the process: closing *any* descriptor of a file drops every lock SQLite
# holds on it through its connections. Reading the header again for each new connection
# (serve opens one per worker thread) would leave the others unlocked, and a reader in
# another process closing the file (Datasette, sqlite3) would then take the exclusive
# lock and delete the `-wal` and `-shm` still in use: the log would fork.
_HEADERS_READ: set[tuple[int, int]] = set()
_HEADER_LOCK = threading.Lock()


def _check_header(path: Path) -> None:
    """Refuse a file that is not SQLite at all, before SQLite sees it (once a file)."""
    if path.is_dir():
        raise NotOurDatabase(f"{path} is a directory, not a liveblog event log")
    with _HEADER_LOCK:
        try:
            st = os.stat(path)
        except OSError as exc:
            raise UnopenableDatabase(f"cannot read {path}: {exc.strerror}") from None
        if (st.st_dev, st.st_ino) in _HEADERS_READ:
            return
        try:
            with open(path, "rb") as handle:
                head = handle.read(len(SQLITE_HEADER))
        except OSError as exc:
            raise UnopenableDatabase(f"cannot read {path}: {exc.strerror}") from None
        if head and head != SQLITE_HEADER:
            raise NotOurDatabase(
                f"{path} is not a SQLite database, so not a liveblog event log: "
                "refusing to touch it (check --db / LIVEBLOG_DB)"
            )
        # An empty file too: it is ours to initialise, and our first connection does.
        _HEADERS_READ.add((st.st_dev, st.st_ino))


def _open_readonly(path: Path) -> Connection:
    uri = "file:" + quote(str(path.absolute()))
    conn = open_raw(uri + "?mode=ro", uri=True)
    try:
        conn.execute("PRAGMA schema_version").fetchone()
        return conn
    except StoreUnavailable:
        conn.close()
    # WAL read-only needs a `-shm`; with no `-wal` there is nothing it would index.
    wal = Path(f"{path}-wal")
    if wal.exists() and wal.stat().st_size > 0:
        raise UnopenableDatabase(
            f"cannot read {path} read-only: its write-ahead log {wal.name} must first be "
            "recovered by a process that can write the directory (run any liveblog "
            "command there with write access)"
        )
    conn = open_raw(uri + "?immutable=1", uri=True)
    try:
        conn.execute("PRAGMA schema_version").fetchone()
    except BaseException:
        conn.close()
        raise
    return conn


def identify(conn: Connection, path: Path, *, require_log: bool = True) -> Identity:
    """Whose database this is, read without writing; refuse what is not ours."""
    try:
        # One snapshot: another process may be initialising the file meanwhile, and the
        # mark read before its commits with the tables read after would look foreign.
        with read_transaction(conn):
            application_id = int(conn.execute("PRAGMA application_id").fetchone()[0])
            user_version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            objects = conn.execute("SELECT type, name FROM sqlite_master").fetchall()
            tables = {name for kind, name in objects if kind == "table"}
            columns = (
                {row[1] for row in conn.execute("PRAGMA table_info(events)")}
                if "events" in tables
                else set()
            )
    except StoreDamaged as exc:
        if exc.code in ("SQLITE_NOTADB", "SQLITE_CORRUPT"):
            raise NotOurDatabase(
                f"{path} is not a readable SQLite database ({exc}): refusing to touch it"
            ) from None
        raise
    if application_id == APPLICATION_ID:
        # At user_version 0 it is being initialised (the mark comes first); a newer
        # release may lay its tables out otherwise (ensure_schema says so).
        if require_log and "events" not in tables and 0 < user_version <= LATEST:
            raise MissingLog(
                f"{path} has lost its events table (dropped by another program?): "
                "restore it from a backup (`liveblog verify` checks one)"
            )
        return Identity.OURS
    if application_id == 0 and not objects and user_version == 0:
        return Identity.NEW
    if application_id == 0 and user_version > 0 and columns >= LOG_COLUMNS:
        return Identity.LEGACY
    whose = f" (application_id {application_id:#x})" if application_id else ""
    raise NotOurDatabase(
        f"{path} is another program's SQLite database{whose}, not a liveblog event log: "
        "refusing to touch it (check --db / LIVEBLOG_DB)"
    )
