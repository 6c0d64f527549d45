"""A throwaway PostgreSQL cluster for the tests (a pytest plugin: see conftest.py).

The first test that asks for `pg_url` (or `pg_cluster`) starts one cluster for the
session — `initdb` and `pg_ctl` from the system's PostgreSQL packages, its data in a
temporary directory, listening on a free port of 127.0.0.1 only — and the session stops
it at the end. Each test gets a database of its own (`pg_url`), dropped afterwards.

Where no PostgreSQL is installed those tests are skipped with a one-line reason; with
LIVEBLOG_REQUIRE_POSTGRES=1 (set by `.ci/run`) they fail instead: in CI a skip would
hide a missing server.

The cluster trades durability for speed (fsync off): the tests check behaviour, and the
durable figures are the benchmarks' (`bench/`), which start their own cluster.
"""

from __future__ import annotations

import itertools
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

BIN_DIRS = (
    "/usr/lib/postgresql/15/bin",
    "/usr/lib/postgresql/16/bin",
    "/usr/lib/postgresql/17/bin",
)
REQUIRED = os.environ.get("LIVEBLOG_REQUIRE_POSTGRES") == "1"


def find_binaries() -> Path | None:
    """The directory holding initdb and pg_ctl, or None."""
    override = os.environ.get("LIVEBLOG_PG_BIN")
    candidates = [override] if override else []
    candidates += list(BIN_DIRS)
    for candidate in candidates:
        if candidate and (Path(candidate) / "initdb").exists():
            return Path(candidate)
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Cluster:
    """A running throwaway cluster: `url(db)` for a database on it as the superuser."""

    bin: Path
    root: Path
    port: int
    user: str = "postgres"
    _names: Iterator[int] = field(default_factory=itertools.count)

    def url(self, dbname: str = "postgres", user: str | None = None, password: str = "") -> str:
        who = user or self.user
        secret = f":{password}" if password else ""
        return f"postgresql://{who}{secret}@127.0.0.1:{self.port}/{dbname}"

    def sql(self, statement: str, dbname: str = "postgres") -> None:
        """Run one statement as the superuser (autocommit: CREATE DATABASE works)."""
        import psycopg

        with psycopg.connect(self.url(dbname), autocommit=True) as conn:
            conn.execute(statement)  # type: ignore[arg-type]

    def create_database(self) -> str:
        name = f"t{os.getpid()}_{next(self._names)}"
        self.sql(f'CREATE DATABASE "{name}" TEMPLATE template0')
        return name

    def drop_database(self, name: str) -> None:
        self.sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _as_postgres(argv: list[str]) -> list[str]:
    # initdb refuses to run as root: run the server as the `postgres` user then.
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *argv]
    return argv


def start_cluster(bin_dir: Path, *, durable: bool = False) -> Cluster:
    """initdb + pg_ctl start in a fresh temporary directory; raises if it cannot."""
    root = Path(tempfile.mkdtemp(prefix="liveblog-pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
    data = root / "data"
    init = subprocess.run(
        _as_postgres(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(data),
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
                "--no-sync",
            ]
        ),
        capture_output=True,
        text=True,
        check=False,
    )
    if init.returncode != 0:
        raise RuntimeError(f"initdb failed: {init.stderr.strip().splitlines()[-1:]}")
    options = [
        "-c listen_addresses=127.0.0.1",
        "-c unix_socket_directories=''",
        "-c max_connections=400",
        "-c shared_buffers=64MB",
    ]
    if not durable:
        options += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
    for attempt in range(5):
        port = free_port()
        started = subprocess.run(
            _as_postgres(
                [
                    str(bin_dir / "pg_ctl"),
                    "-D",
                    str(data),
                    "-l",
                    str(root / "server.log"),
                    "-o",
                    " ".join([f"-p {port}", *options]),
                    "-w",
                    "-t",
                    "60",
                    "start",
                ]
            ),
            capture_output=True,
            text=True,
            check=False,
        )
        if started.returncode == 0:
            return Cluster(bin=bin_dir, root=root, port=port)
        time.sleep(0.2 * (attempt + 1))  # the port was taken meanwhile: another one
    log = (root / "server.log").read_text(errors="replace").strip().splitlines()[-3:]
    raise RuntimeError(f"pg_ctl start failed: {started.stderr.strip()} {log}")


def stop_cluster(cluster: Cluster) -> None:
    subprocess.run(
        _as_postgres(
            [
                str(cluster.bin / "pg_ctl"),
                "-D",
                str(cluster.root / "data"),
                "-m",
                "immediate",
                "stop",
            ]
        ),
        capture_output=True,
        check=False,
    )
    shutil.rmtree(cluster.root, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Cluster]:
    """The session's throwaway cluster (skipped, or failed in CI, without PostgreSQL)."""
    bin_dir = find_binaries()
    if bin_dir is None:
        reason = "PostgreSQL is not installed (no initdb): PostgreSQL tests skipped"
        if REQUIRED:
            pytest.fail(reason + " — but LIVEBLOG_REQUIRE_POSTGRES=1 requires them")
        pytest.skip(reason)
    try:
        cluster = start_cluster(bin_dir)
    except (RuntimeError, OSError) as exc:
        if REQUIRED:
            pytest.fail(f"cannot start a throwaway PostgreSQL: {exc}")
        pytest.skip(f"cannot start a throwaway PostgreSQL ({exc}): PostgreSQL tests skipped")
    try:
        yield cluster
    finally:
        stop_cluster(cluster)


@pytest.fixture
def pg_url(pg_cluster: Cluster) -> Iterator[str]:
    """An empty database for this test alone, as the superuser's URL.

    Databases are reused: CREATE DATABASE costs a third of a second on a loaded
    machine, emptying one a few milliseconds. Afterwards every other session on it is
    ended (a server or a subprocess the test left behind, an advisory lock, a LISTEN)
    and every schema dropped, `public` made again as initdb makes it; a database that
    cannot be emptied is dropped instead.
    """
    name = _FREE.pop() if _FREE else pg_cluster.create_database()
    try:
        yield pg_cluster.url(name)
    finally:
        # This process's pooled connections to it first: they would keep its sessions.
        from liveblog.store.postgres.driver import close_pools

        close_pools()
        _forget_caches()
        try:
            _empty(pg_cluster, name)
        except Exception:
            pg_cluster.drop_database(name)
        else:
            _FREE.append(name)


def _forget_caches() -> None:
    """What this process remembers of databases it has seen (their schema checked up
    to date, per URL): a reused URL names an empty database again."""
    import importlib

    try:
        schema = importlib.import_module("liveblog.store.postgres.schema")
    except ImportError:
        return
    forget = getattr(schema, "forget_checked", None)
    if forget is not None:
        forget()


_FREE: list[str] = []
"""Emptied databases of this process's cluster, ready for the next test."""


def _empty(cluster: Cluster, name: str) -> None:
    import psycopg

    with psycopg.connect(cluster.url(name), autocommit=True) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        schemas = [
            row[0]
            for row in conn.execute(
                "SELECT nspname FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%'"
                " AND nspname <> 'information_schema'"
            )
        ]
        for schema in schemas:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')  # type: ignore[arg-type]
        conn.execute("CREATE SCHEMA public AUTHORIZATION pg_database_owner")
        conn.execute("GRANT USAGE ON SCHEMA public TO PUBLIC")
        # Large objects and event triggers are not used; roles are the cluster's (tests
        # that create one drop it themselves or give it a unique name).
