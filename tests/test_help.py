"""Help for every command, and a reporting path that stays light."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from liveblog.cli.main import cli

HEAVY = (
    "httpx",
    "feedgen",
    "fastapi",
    "uvicorn",
    "apscheduler",
    "jinja2",
    "cryptography",
    "psycopg",
    "psycopg_pool",
)


def walk(
    command: click.Command, path: tuple[str, ...] = ()
) -> list[tuple[tuple[str, ...], click.Command]]:
    found = [(path, command)]
    if isinstance(command, click.Group):
        for name in sorted(command.commands):
            found.extend(walk(command.commands[name], (*path, name)))
    return found


COMMANDS = walk(cli)
IDS = [" ".join(path) or "liveblog" for path, _ in COMMANDS]


def test_the_tree_has_the_reporting_commands() -> None:
    paths = {" ".join(path) for path, _ in COMMANDS}
    expected = {
        "conference open",
        "conference close",
        "day open",
        "day close",
        "session start",
        "session end",
        "talk start",
        "talk end",
        "quote",
        "note",
        "photo",
        "correct",
        "retract",
        "import",
        "export",
        "log",
    }
    assert expected <= paths


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=IDS)
def test_every_command_has_help(path: tuple[str, ...], command: click.Command) -> None:
    assert (command.help or "").strip(), path
    assert command.get_short_help_str().strip(), path
    for param in command.params:
        if isinstance(param, click.Option) and not param.hidden:
            assert (param.help or "").strip(), (path, param.opts)


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=IDS)
def test_help_exits_0(tmp_path: Path, path: tuple[str, ...], command: click.Command) -> None:
    db = tmp_path / "events.db"
    result = CliRunner().invoke(
        cli, ["--db", str(db), *path, "--help"], prog_name="liveblog", catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    usage = " ".join(("liveblog", *path))
    assert result.stdout.startswith(f"Usage: {usage}")
    first_line = (command.help or "").strip().split("\n")[0]
    assert " ".join(first_line.split()) in " ".join(result.stdout.split())
    assert result.stderr == ""
    assert not db.exists()  # asking for help opens no database


def test_short_help_flag(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["--db", str(tmp_path / "e.db"), "note", "-h"], prog_name="liveblog"
    )
    assert result.exit_code == 0
    assert "Usage: liveblog note" in result.stdout


def test_version() -> None:
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert "0." in result.stdout


def modules_after(code: str, cwd: Path) -> list[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIVEBLOG_")}
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    modules: list[str] = json.loads(done.stdout.strip().splitlines()[-1])
    return modules


def heavy(modules: list[str]) -> list[str]:
    return [m for m in modules if m.split(".")[0] in HEAVY]


def test_importing_the_reporting_path_stays_light(tmp_path: Path) -> None:
    modules = modules_after(
        "import json, sys\n"
        "import liveblog.cli.main, liveblog.service.facade\n"
        "print(json.dumps(sorted(sys.modules)))\n",
        tmp_path,
    )
    assert "liveblog.cli.main" in modules
    assert "liveblog.service.facade" in modules
    assert heavy(modules) == []


def test_running_reporting_commands_stays_light(tmp_path: Path) -> None:
    """Not only importing: a reporter's commands, run in-process, load none of them."""
    db = str(tmp_path / "events.db")
    modules = modules_after(
        "import json, sys\n"
        "from liveblog.cli.main import cli\n"
        f"db = {db!r}\n"
        "for args in (\n"
        "    ['conference', 'open', 'c1', '--title', 'C'],\n"
        "    ['day', 'open', '1'],\n"
        "    ['session', 'start', 'S'],\n"
        "    ['talk', 'start', 'T', '--speaker', 'Sam'],\n"
        "    ['quote', 'Hello'],\n"
        "    ['note', 'n'],\n"
        "    ['photo', 'https://x.org/a.jpg', '--caption', 'c'],\n"
        "    ['correct', '--last', '--caption', 'd'],\n"
        "    ['retract', '--last'],\n"
        "    ['log'],\n"
        "    ['export'],\n"
        "):\n"
        "    try:\n"
        "        cli(['--db', db, '--author', 'ann', *args], standalone_mode=False)\n"
        "    except SystemExit as exc:\n"
        "        assert not exc.code, exc.code\n"
        "print(json.dumps(sorted(sys.modules)))\n",
        tmp_path,
    )
    assert "liveblog.store.sqlite.log" in modules
    assert heavy(modules) == []


def test_the_public_api_names_resolve() -> None:
    """Every name in `liveblog.__all__` is importable from the package itself."""
    import liveblog

    assert liveblog.__all__, "the package exports nothing"
    for name in liveblog.__all__:
        assert getattr(liveblog, name) is not None, name
    try:
        liveblog.no_such_name  # noqa: B018
    except AttributeError as exc:
        assert "no_such_name" in str(exc)
    else:
        raise AssertionError("an unknown attribute resolved")
