"""Shared fixtures: a real events.db in a temporary directory, the CLI in-process and
as a real subprocess."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from forkcli import POOL, run_liveblog

from liveblog.cli.main import cli

# The throwaway PostgreSQL cluster (`pg_cluster`, `pg_url`): tests/postgres.py.
pytest_plugins = ["postgres"]

MULTI_PROCESS_MODULES = frozenset(
    {
        "test_api_properties",  # schemathesis against a real `serve`
        "test_cli_subprocess",
        "test_concurrency",
        "test_hardening_feeds",
        "test_hardening_roles",
        "test_hardening_secrets",
        "test_hardening_server",
        "test_hardening_store",
        "test_leadership",  # holders SIGKILLed: real subprocesses
        "test_pg_concurrency",  # 4 writer processes on PostgreSQL
        "test_pg_feeds_helper",  # the feeds helper process, from SQLite and PostgreSQL
        "test_pg_feeds_nodes",  # several `serve` nodes on one PostgreSQL database
        "test_pg_nodes",  # three `serve` nodes on one PostgreSQL database
        "test_pg_parity",  # the day typed through the CLI, on SQLite and PostgreSQL
        "test_pg_scheduler",  # two `liveblog run` nodes on PostgreSQL
        "test_remote_cli",
        "test_roundtrip",
        "test_transfer_pg",  # serve on the moved store (SQLite and PostgreSQL)
        "test_webhook_sharing",  # deliverers in several processes, one killed mid-POST
    }
)
"""Modules whose tests nearly all run real `liveblog` processes or servers: `slow`, so
that `make test-fast` (`-m "not slow"`) stays a couple of minutes; `make test` runs them."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.stem in MULTI_PROCESS_MODULES:
            item.add_marker(pytest.mark.slow)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "events.db"


@pytest.fixture
def invoke(db_path: Path) -> Callable[..., Result]:
    """Run the CLI in-process (CliRunner) against `db_path` as reporter `ann`."""
    runner = CliRunner()

    def run(*args: str, author: str = "ann", input: str | None = None) -> Result:
        return runner.invoke(
            cli,
            ["--db", str(db_path), "--author", author, *args],
            input=input,
            catch_exceptions=False,
        )

    return run


@dataclass
class Proc:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def run_cli(db_path: Path, tmp_path: Path) -> Callable[..., Proc]:
    """Run `python -m liveblog` as a process of its own against `db_path` (forked by a
    launcher that has imported liveblog, tests/forkcli.py; `fresh=True`: a real new
    interpreter)."""

    def run(*args: str, author: str = "ann", input: str | None = None, fresh: bool = False) -> Proc:
        env = {**os.environ, "LIVEBLOG_DB": str(db_path), "LIVEBLOG_AUTHOR": author}
        env.pop("LIVEBLOG_DEBUG", None)
        done = run_liveblog(list(args), env=env, cwd=tmp_path, input=input, timeout=60, fresh=fresh)
        return Proc(done.returncode, done.stdout, done.stderr)

    return run


@pytest.fixture(scope="session", autouse=True)
def _cli_launchers() -> Iterator[None]:
    """Stop this test process's CLI launchers at the end of the session."""
    yield
    POOL.close()


@pytest.fixture
def day_open(invoke: Callable[..., Result]) -> Iterator[None]:
    """A conference `socitm-2011` (Europe/London) with day 2 open."""
    assert (
        invoke(
            "conference",
            "open",
            "socitm-2011",
            "--title",
            "SOCITM 2011",
            "--timezone",
            "Europe/London",
            "--at",
            "2011-06-09T08:30",
        ).exit_code
        == 0
    )
    assert invoke("day", "open", "2", "--at", "2011-06-09T09:00").exit_code == 0
    yield
