"""A real Streamlit server on a free port and headless Chromium driven by Playwright.

The server runs the app on the word-detector workspace of tests/app/conftest.py. Chromium is
Debian's (/usr/bin/chromium, installed by `make test`); without it these tests are skipped
with the reason, never silently passed. Screenshots go to a temporary folder, or to
$FAC_SCREENSHOTS when set (docs/screenshots/make_screenshots.py sets it to refresh the docs).
"""

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fac_engine.browser import CHROMIUM, LAUNCH_ARGS
from tests.app.conftest import build_app_workspace
from tests.e2e.server import SCREENSHOTS_ENV, app_server

TIMEOUT_MS = 90_000


def settle(page: Any) -> None:
    """Wait until Streamlit has finished running the script: its 'Running...' status widget stays hidden for 1 s.

    Playwright's "networkidle" load state is not used: Streamlit changes pages inside one document
    over a websocket, and that state was sometimes never reported for a page that had long settled.
    """
    status = page.locator('[data-testid="stStatusWidget"]')
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    quiet_since = None
    while time.monotonic() < deadline:
        if status.count() == 0 or not status.first.is_visible():
            quiet_since = quiet_since or time.monotonic()
            if time.monotonic() - quiet_since >= 1.0:
                return
        else:
            quiet_since = None
        time.sleep(0.1)
    raise AssertionError(f"Streamlit was still running the script after {TIMEOUT_MS / 1000:.0f} s")


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where screenshots are saved: $FAC_SCREENSHOTS, else a temporary folder (tests never write into the repo)."""
    folder = Path(os.environ[SCREENSHOTS_ENV]) if os.environ.get(SCREENSHOTS_ENV) else tmp_path_factory.mktemp("shots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def shot(page: Any, folder: Path, name: str) -> None:
    """Save a full-page screenshot `<folder>/<name>.png`."""
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """(base URL, workspace) of a Streamlit server running app.py."""
    if not CHROMIUM.is_file():
        pytest.skip("/usr/bin/chromium is not installed (make test installs it with apt-get)")
    root = tmp_path_factory.mktemp("e2e")
    ws = build_app_workspace(root)
    env = {**os.environ, "FAC_WORKSPACE": str(ws), "FAC_HOME": str(root / "fac-home")}
    with app_server(env, log=root / "streamlit.log") as url:
        yield url, ws


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """A headless Chromium (Playwright)."""
    if not CHROMIUM.is_file():
        pytest.skip("/usr/bin/chromium is not installed (make test installs it with apt-get)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        yield instance
        instance.close()


@pytest.fixture
def page(browser: object) -> Iterator[object]:
    """A fresh page (1400 x 900) that records JavaScript dialogs in `page.dialogs`."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})  # type: ignore[attr-defined]
    tab = context.new_page()
    tab.dialogs = []
    tab.on("dialog", lambda dialog: (tab.dialogs.append(dialog.message), dialog.dismiss()))
    yield tab
    context.close()
