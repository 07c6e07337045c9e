"""The review flow in headless Chromium: keyboard shortcuts accept and reject, an edit is re-scored, the
live FAC moves, and after a server restart every decision is still there.

Workspace as in tests/app/test_synthesis_pages.py: seed FAC 3/7 = 42.86 %; candidates in review order
dog(2) "the dog !", sat(3) "the cat sat !", hello(6) and world(7) "hello world !".
"""

import os
import time
from pathlib import Path
from typing import Any

import pytest

from fac_engine.browser import CHROMIUM
from fac_engine.synthesis.curation import SynthesisStore
from fac_engine.workspace.project import Project
from tests.app.conftest import build_app_workspace
from tests.e2e.conftest import TIMEOUT_MS, settle, shot
from tests.e2e.server import app_server
from tests.unit.synthesis.synthesis_fixtures import scripted_job

pytestmark = pytest.mark.e2e


def _review(page: Any, url: str) -> None:
    page.goto(f"{url}/Review")
    page.get_by_text("FAC of seed + accepted").wait_for(timeout=TIMEOUT_MS)
    settle(page)


def _metric(page: Any, label: str) -> str:
    box = page.locator('[data-testid="stMetric"]', has_text=label).first
    return str(box.locator('[data-testid="stMetricValue"]').inner_text()).strip()


def _wait_for(predicate: Any, what: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def test_review_survives_a_restart(page: Any, tmp_path: Path, screenshots: Path) -> None:
    if not CHROMIUM.is_file():
        pytest.skip("/usr/bin/chromium is not installed (make test installs it with apt-get)")
    ws = build_app_workspace(tmp_path)
    store, ids = scripted_job(ws)
    env = {**os.environ, "FAC_WORKSPACE": str(ws), "FAC_HOME": str(tmp_path / "fac-home"), "FAC_USER": "e2e"}
    status = lambda f: store.candidate(ids[f]).status  # noqa: E731
    with app_server(env, log=tmp_path / "streamlit-1.log") as url:
        _review(page, url)
        assert _metric(page, "FAC of the seed") == "42.86%"
        page.get_by_text("Candidate 1 of 4").wait_for(timeout=TIMEOUT_MS)
        page.locator("body").press("a")
        _wait_for(lambda: status(2) == "accepted", "the a key to accept")
        page.get_by_text("Candidate 1 of 3").wait_for(timeout=TIMEOUT_MS)
        settle(page)
        assert _metric(page, "FAC of seed + accepted") == "57.14%"
        page.locator("body").press("r")
        _wait_for(lambda: status(3) == "rejected", "the r key to reject")
        page.get_by_text("Candidate 1 of 2").wait_for(timeout=TIMEOUT_MS)
        settle(page)
        page.locator("body").press("e")
        editor = page.get_by_label("Edit the sample (keep its format)")
        editor.wait_for(timeout=TIMEOUT_MS)
        editor.fill("hello cat")
        page.get_by_role("button", name="Save and re-score").click()
        _wait_for(lambda: status(6) == "edited", "the edit to be saved")
        settle(page)
        shot(page, screenshots, "review")
    edited = store.candidate(ids[6])
    assert (edited.text, edited.g, edited.updated_by) == ("hello cat", 4.0, "e2e")
    with app_server(env, log=tmp_path / "streamlit-2.log") as url:  # a restarted server, a new browser session
        _review(page, url)
        assert _metric(page, "Accepted samples") == "1" and _metric(page, "FAC of seed + accepted") == "57.14%"
        page.get_by_text("Candidate 1 of 2").wait_for(timeout=TIMEOUT_MS)
        assert _metric(page, "Status") == "edited"
    assert [status(f) for f in (2, 3, 6, 7)] == ["accepted", "rejected", "edited", "pending"]
    assert list(SynthesisStore(Project(ws)).events()["who"][:3]) == ["e2e", "e2e", "e2e"]
