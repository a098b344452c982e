"""Browser tier: headless Chromium (Debian's `chromium` package) driven by Playwright for
Python, against a real `tuneyard serve` with real training workers.

Playwright is pointed at the system browser (`executable_path`); it never downloads one.
Chromium is found by `tests.support.browser` ($TUNEYARD_CHROMIUM, else `chromium` on
PATH); without it (or without the playwright package) the tests skip with the reason,
except under `CI=true`, where they fail. Every test's screenshots go to
`test-output/browser/<test name>/NN-name.png` at the repository root (CI keeps the folder).

`make test` runs the browser tests in a pytest process of their own, after the rest (one
server, one browser, one test at a time): Playwright's sync API leaves an event loop running
in its thread, which would break later tests of the same process that call asyncio.run.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser import relay, seeding
from tests.support import browser as browser_setup
from tests.support.server import Server

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = ROOT / "test-output" / "browser"
"""Screenshots, one folder per test (gitignored; CI keeps it)."""

FIGURES = OUTPUT / "figures.txt"
"""The figures the tests measured (page weight, render time), one line each; rewritten
by each session (`.ci/run` prints it)."""

_SAVED: list[Path] = []
_FIGURES: list[str] = []


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One headless Chromium for the session (Playwright `Browser`)."""
    executable = browser_setup.chromium_path()
    if executable is None:
        browser_setup.unavailable(browser_setup.why_missing())
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        browser_setup.unavailable("the playwright package is missing: pip install -e '.[dev]'")
    FIGURES.parent.mkdir(parents=True, exist_ok=True)
    FIGURES.write_text("", encoding="utf-8")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=executable, args=browser_setup.launch_args()
        )
        try:
            yield launched
        finally:
            launched.close()


@dataclasses.dataclass
class Console:
    """The running server, the relay the browser reaches it through, and the keys and
    jobs seeded before it started."""

    server: Server
    relay: relay.Relay
    seeded: seeding.Seeded

    @property
    def base(self) -> str:
        """Where the browser goes: http://127.0.0.1:PORT of the relay."""
        return self.relay.base

    def url(self, path: str) -> str:
        """An absolute URL of the console, as the browser reaches it."""
        return self.relay.base + path


@pytest.fixture(scope="session")
def console(browser: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    """A real server (local subprocess workers, tiny-chat on CPU) on a free port, over a
    scratch data dir seeded with two workspaces' keys and jobs, behind a TCP relay (a test
    may cut the browser's connections: `console.relay.drop()`). Depends on `browser` so
    that a missing Chromium skips before anything starts."""
    data_dir = tmp_path_factory.mktemp("console-data")
    seeded = seeding.seed(data_dir)
    server = Server(data_dir)
    front = relay.Relay(server.port)
    try:
        yield Console(server, front, seeded)
    finally:
        front.close()
        server.close()


def _folder_name(node_name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", node_name).strip("_")


@pytest.fixture
def shots(request: pytest.FixtureRequest) -> Path:
    """This test's screenshot folder, emptied (the last run's pictures are replaced)."""
    folder = OUTPUT / _folder_name(request.node.name)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


_REPORT = pytest.StashKey[pytest.TestReport]()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Keeps the call phase's report on the item, for the `page` fixture's teardown."""
    report = yield
    if call.when == "call":
        item.stash[_REPORT] = report
    return report


@pytest.fixture
def page(
    browser: Any, console: Console, shots: Path, request: pytest.FixtureRequest
) -> Iterator[Any]:
    """A fresh browser context and page (no cookies) per test; when the test fails, a last
    screenshot `99-failure.png` is saved and the server log's tail printed."""
    context = browser.new_context(base_url=console.base, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    opened = context.new_page()
    try:
        yield opened
    finally:
        report = request.node.stash.get(_REPORT, None)
        if report is not None and report.failed:
            _save(opened, shots / "99-failure.png")
            print(f"server log (tail):\n{console.server.output()[-4000:]}")
        context.close()


def _save(opened: Any, path: Path) -> None:
    try:
        opened.screenshot(path=str(path), full_page=True)
    except Exception:  # the page may be gone; the test's own failure matters more
        return
    _SAVED.append(path)


@pytest.fixture
def shot(page: Any, shots: Path) -> Callable[..., Path]:
    """`shot("name")` saves the page (or `shot("name", other_tab)` another page) as
    `NN-name.png` in the test's folder; its path."""
    count = 0

    def take(name: str, of: Any = None) -> Path:
        nonlocal count
        count += 1
        path = shots / f"{count:02d}-{_folder_name(name)}.png"
        (of or page).screenshot(path=str(path), full_page=True)
        _SAVED.append(path)
        return path

    return take


@pytest.fixture
def figure(request: pytest.FixtureRequest) -> Callable[[str], None]:
    """`figure("…")` prints a measured figure and records it in FIGURES (pytest-xdist
    hides a passing test's output; the file and the summary keep it)."""

    def note(text: str) -> None:
        line = f"{request.node.name}: {text}"
        print(line)
        _FIGURES.append(line)
        with FIGURES.open("a", encoding="utf-8") as handle:
            handle.write(line + "\n")

    return note


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Say where the screenshots are, and what was measured."""
    for line in _FIGURES:
        terminalreporter.write_line(line)
    if _SAVED:
        terminalreporter.write_line(f"browser screenshots ({len(_SAVED)}): {OUTPUT}")


def sign_in(page: Any, key: str) -> None:
    """Sign in through the form, as a person does; lands on the jobs list."""
    page.goto("/console/signin")
    page.get_by_label("API key").fill(key)
    page.locator("#signin-submit").click()
    page.wait_for_url("**/console/jobs")


@pytest.fixture
def signed_in(page: Any, console: Console) -> Any:
    """`page`, signed in with the first workspace's key."""
    sign_in(page, console.seeded.key)
    return page
