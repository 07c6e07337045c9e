"""The Cross-model page in headless Chromium on the two word-detector spaces (tests/unit/crossmodel_fixtures.py):
the matched pairs render with both explanations (a `<script>` one as text), and so do the agreement figures."""

import os
from pathlib import Path
from typing import Any

import pytest

from fac_engine.browser import CHROMIUM
from tests.e2e.conftest import TIMEOUT_MS, settle, shot
from tests.e2e.server import app_server
from tests.unit.crossmodel_fixtures import CrossWorkspace, build_cross_app_workspace

pytestmark = pytest.mark.e2e


def test_the_page_renders_matched_pairs(page: Any, cross_workspace: CrossWorkspace, tmp_path: Path,
                                        screenshots: Path) -> None:
    if not CHROMIUM.is_file():
        pytest.skip("/usr/bin/chromium is not installed (make test installs it with apt-get)")
    ws = build_cross_app_workspace(cross_workspace, tmp_path, agreement=True)
    env = {**os.environ, "FAC_WORKSPACE": str(ws), "FAC_HOME": str(tmp_path / "fac-home")}
    with app_server(env, log=tmp_path / "streamlit.log") as url:
        page.goto(f"{url}/Cross_model")
        page.locator('[data-testid="stApp"]').wait_for(timeout=TIMEOUT_MS)
        page.get_by_text("Mutual nearest neighbours").wait_for(timeout=TIMEOUT_MS)
        settle(page)
        # The pairs table is drawn on a canvas; its accessible grid holds the cell text.
        pairs = page.locator('[data-testid="stDataFrame"]').first
        for text in ("hello or world", "'the' in B", "the word the", "<script>alert(1)</script> world"):
            pairs.get_by_text(text, exact=True).first.wait_for(state="attached", timeout=TIMEOUT_MS)
        assert page.locator("script", has_text="alert(1)").count() == 0 and page.dialogs == []
        page.get_by_text("Does FAC agree across the two models?").wait_for(timeout=TIMEOUT_MS)
        assert page.locator(".js-plotly-plot").count() == 3  # confidence, FAC side by side, CKA
        shot(page, screenshots, "cross_model")
