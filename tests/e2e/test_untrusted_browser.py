"""The hostile-strings workspace (tests/app/untrusted.py) in headless Chromium: a hostile link is refused with a
plain line, and every page, reached from a feature link and then the sidebar, draws no link, image, formula or
emphasis from hostile text, opens no dialog, and sends no request anywhere but the local server."""

import os
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest

from tests.app.untrusted import HOSTILE, PROJECT_NAME, build_hostile_workspace, stripped_words
from tests.e2e.conftest import TIMEOUT_MS, settle
from tests.e2e.server import app_server, wait_until_drawn

pytestmark = pytest.mark.e2e
PAGES = ["Home", "Coverage", "Feature explorer", "Feature map", "Missing features", "Synthesis", "Review",
         "Evaluation", "Cross-model"]
LOCAL = ("data:", "blob:", "about:")


@pytest.fixture(scope="module")
def hostile_server(tmp_path_factory: pytest.TempPathFactory, browser: object) -> Iterator[str]:
    """Base URL of a server on the hostile workspace."""
    del browser  # skips the module without Chromium
    root = tmp_path_factory.mktemp("hostile-e2e")
    env = {**os.environ, "FAC_WORKSPACE": str(build_hostile_workspace(root)), "FAC_HOME": str(root / "fac-home")}
    with app_server(env, log=root / "streamlit.log") as url:
        yield url


def _nothing_active(page: Any, where: str) -> None:
    assert page.locator("a[href*='evil.example' i]").count() == 0, where  # hostile URLs all point there
    assert page.locator("img[src*='evil.example' i]").count() == 0, where
    assert page.locator(".katex").count() == 0, where
    assert stripped_words(page.locator("body").inner_text()) == [], where
    assert page.dialogs == [], where


def test_hostile_text_stays_text_and_nothing_leaves_localhost(hostile_server: str, page: Any) -> None:
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(f"{hostile_server}/?feature={quote(HOSTILE)}&project={quote(PROJECT_NAME)}")
    page.get_by_text("Ignored a link to feature").wait_for(timeout=TIMEOUT_MS)
    settle(page)
    _nothing_active(page, "the refused link")
    page.goto(f"{hostile_server}/?feature=2&project={quote(PROJECT_NAME)}")
    page.get_by_text("Feature 2").first.wait_for(timeout=TIMEOUT_MS)
    settle(page)
    nav = page.locator('[data-testid="stSidebarNav"] a')
    labels = [t.strip().splitlines()[-1] for t in nav.all_inner_texts()]  # after the icon's name
    assert labels == PAGES  # the home page is "Home", not "app"
    for title in PAGES:
        started = time.perf_counter()
        nav.filter(has_text=title).first.click()
        wait_until_drawn(page, started, timeout_s=TIMEOUT_MS / 1000)
        settle(page)
        assert "EVIL" in page.locator("body").inner_text(), title  # the hostile strings are on the page
        _nothing_active(page, title)
    assert [u for u in requests if not u.startswith((hostile_server, *LOCAL))] == []
