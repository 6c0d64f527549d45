"""What the PostgreSQL benchmarks share: a durable throwaway cluster, and `serve` nodes.

The cluster is the tests' (tests/postgres.py: initdb + pg_ctl from the system's
packages, a temporary directory, a free port of 127.0.0.1) but *durable*: fsync,
synchronous_commit and full_page_writes at PostgreSQL's defaults, so a commit waits for
its WAL to reach the disk, as in production. The tests trade that away for speed; a
benchmark of appends/s must not.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .serving import ServeProcess, clean_env, liveblog_command, spawn_serve

START_TIMEOUT = 120.0
"""A node's cold start (imports, schema check, first catch-up) on a loaded 2-core machine."""

ROOT = Path(__file__).resolve().parent.parent


def _postgres_module() -> Any:
    # tests/ is not a package: import its plugin module by path, as the tests load it.
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import tests.postgres as module

    return module


@contextmanager
def durable_cluster() -> Iterator[Any]:
    """A running durable cluster (tests.postgres.Cluster), stopped and removed after."""
    module = _postgres_module()
    bin_dir = module.find_binaries()
    if bin_dir is None:
        raise RuntimeError("PostgreSQL is not installed (no initdb): cannot run this benchmark")
    cluster = module.start_cluster(bin_dir, durable=True)
    try:
        yield cluster
    finally:
        from liveblog.store.postgres.driver import close_pools

        close_pools()
        module.stop_cluster(cluster)


def database(cluster: Any, name: str) -> str:
    """A new empty database `name` on the cluster; its superuser URL."""
    cluster.sql(f'CREATE DATABASE "{name}" TEMPLATE template0')
    return str(cluster.url(name))


def settings(url: str) -> str:
    """The durability settings the server really has, for the notes."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        values = [
            f"{name}={conn.execute(f'SHOW {name}').fetchone()[0]}"  # type: ignore[index]
            for name in ("fsync", "synchronous_commit", "full_page_writes", "wal_sync_method")
        ]
    return " ".join(values)


def start_nodes(url: str, workdir: Path, count: int, env: dict[str, str]) -> list[PgServe]:
    """`count` nodes started at once (their cold starts overlap), each once listening."""
    nodes = [PgServe(url, workdir / f"node{n}", env=env, wait=False) for n in range(count)]
    try:
        for node in nodes:
            node.ready()
    except BaseException:
        for node in nodes:
            node.close()
        raise
    return nodes


class PgServe(ServeProcess):
    """`liveblog --db URL serve --port 0 [ARGS]` with its own working directory."""

    START_TIMEOUT = START_TIMEOUT
    WHAT = "`liveblog serve` on PostgreSQL"

    def __init__(
        self,
        url: str,
        workdir: Path,
        args: tuple[str, ...] = (),
        env: dict[str, str] | None = None,
        *,
        wait: bool = True,
    ) -> None:
        """Start the node; with `wait=False` call `ready()` before using `base`."""
        workdir.mkdir(parents=True, exist_ok=True)
        self.output = workdir / "serve.log"
        self.process = spawn_serve(
            url, workdir / "feeds", self.output, workdir, args, {**clean_env(), **(env or {})}
        )
        self.base = ""
        if wait:
            self.ready()

    def ready(self) -> str:
        """Wait until the node listens; its base URL."""
        if not self.base:
            self.base = self._wait_for_address()
        return self.base


def liveblog(url: str, *args: str, secret_key: str | None = None) -> str:
    """Run one `liveblog --db URL ARGS` command; its standard output (raises on failure)."""
    env = clean_env()
    if secret_key is not None:
        env["LIVEBLOG_SECRET_KEY"] = secret_key
    done = subprocess.run(
        [*liveblog_command(), "--db", url, *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"liveblog {' '.join(args[:2])} failed: {done.stderr.strip()}")
    return done.stdout
