"""Without Chromium or java the browser and validator tests are skipped with a reason that
is printed, never silently; with LIVEBLOG_REQUIRE_BROWSER=1 (CI) they fail instead.

Each case runs pytest in a real process on a one-test module that asks for the `browser`
fixture (or the Nu HTML checker), with the tool made unavailable.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent

PROBES = {
    "browser": 'pytest_plugins = ["browser"]\n\n\ndef test_probe(browser):\n    assert browser\n',
    "vnu": "from browser import vnu_command\n\n\ndef test_probe():\n    assert vnu_command()\n",
}


def run_probe(tmp_path: Path, kind: str, **env: str) -> subprocess.CompletedProcess[str]:
    module = tmp_path / f"test_{kind}_probe.py"
    module.write_text(PROBES[kind])
    environ = {k: v for k, v in os.environ.items() if not k.startswith("LIVEBLOG_")}
    # No plugin autoload: the probe needs none, and loading every installed one (xdist,
    # hypothesis, ...) is most of a pytest start-up (seconds each, on a loaded machine).
    environ.update(PYTHONPATH=str(TESTS), PYTEST_DISABLE_PLUGIN_AUTOLOAD="1", **env)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", str(module)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=environ,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("kind", "env", "reason"),
    [
        ("browser", {"LIVEBLOG_CHROMIUM": "/nonexistent/chromium"}, "no Chromium at /nonexistent"),
        ("vnu", {"PATH": "/nonexistent"}, "no java on PATH"),
    ],
)
def test_a_missing_tool_skips_with_a_printed_reason_or_fails_when_required(
    tmp_path: Path, kind: str, env: dict[str, str], reason: str
) -> None:
    skipped = run_probe(tmp_path, kind, **env)
    assert skipped.returncode == 0, skipped.stdout + skipped.stderr
    assert "1 skipped" in skipped.stdout, skipped.stdout
    assert "SKIPPED" in skipped.stdout and reason in skipped.stdout, skipped.stdout

    required = run_probe(tmp_path, kind, LIVEBLOG_REQUIRE_BROWSER="1", **env)
    assert required.returncode == 1, required.stdout + required.stderr
    assert "1 failed" in required.stdout or "1 error" in required.stdout, required.stdout
    assert reason in required.stdout and "LIVEBLOG_REQUIRE_BROWSER=1" in required.stdout


PYTEST = (sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider")
ASYNC_AFTER = (
    "import asyncio\n\n\ndef test_after():\n    assert asyncio.run(asyncio.sleep(0, 7)) == 7\n"
)


def test_a_later_module_in_the_same_worker_can_run_an_event_loop(tmp_path: Path) -> None:
    """Playwright's sync API keeps an asyncio loop running in its thread while started: a
    browser kept for the whole session would break every later asyncio.run in that
    worker. The browser is the module's, so the next module runs its loop."""
    from browser import chromium_path

    if chromium_path() is None:
        pytest.skip("no Chromium: nothing to check")
    (tmp_path / "test_a_browser.py").write_text(PROBES["browser"])
    (tmp_path / "test_b_async.py").write_text(ASYNC_AFTER)
    environ = {k: v for k, v in os.environ.items() if not k.startswith("LIVEBLOG_")}
    environ.update(PYTHONPATH=str(TESTS), PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")
    done = subprocess.run(
        [*PYTEST, "test_a_browser.py", "test_b_async.py"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=environ,
        timeout=120,
    )
    assert done.returncode == 0 and "2 passed" in done.stdout, done.stdout + done.stderr
