"""The dashboard in headless Chromium: encode a dataset, see the heatmap, open a feature, save two missing
features into a list that survives a reload, and show a `<script>` sample as text. Screenshots of every
page go to the `screenshots` folder (tests/e2e/conftest.py)."""

import json
import time
from pathlib import Path
from typing import Any

import pytest

from fac_engine.workspace.datasets import Workspace
from fac_engine.workspace.project import Project
from tests.e2e.conftest import TIMEOUT_MS, settle, shot

pytestmark = pytest.mark.e2e


def _open(page: Any, url: str) -> None:
    page.goto(url)
    page.locator('[data-testid="stApp"]').wait_for(timeout=TIMEOUT_MS)
    settle(page)


def test_encode_from_the_home_page(server: tuple[str, Path], page: Any, tmp_path: Path, screenshots: Path) -> None:
    url, ws = server
    data = tmp_path / "extra.jsonl"
    data.write_text("".join(json.dumps({"text": t}) + "\n" for t in ["the world", "hello cat", "on the mat"]),
                    encoding="utf-8")
    _open(page, url)
    page.get_by_text("Coverage of the seed").wait_for(timeout=TIMEOUT_MS)
    page.get_by_text("Encode a dataset").click()
    page.get_by_text("A file or folder on this machine").click()
    page.get_by_label("Path", exact=True).first.fill(str(data))
    page.get_by_label("Dataset name", exact=True).first.fill("extra")
    page.get_by_label("Dataset name", exact=True).first.press("Enter")
    page.get_by_role("button", name="Start encoding").click()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and "extra" not in Workspace(ws).names():
        time.sleep(0.5)
    assert "extra" in Workspace(ws).names()
    page.reload()
    settle(page)
    # The datasets table is drawn on a canvas; its accessible grid holds the cell text.
    table = page.locator('[data-testid="stDataFrame"]').first
    table.get_by_text("extra", exact=True).first.wait_for(state="attached", timeout=TIMEOUT_MS)
    shot(page, screenshots, "home")


def test_heatmap_and_feature_explorer_escape_untrusted_text(server: tuple[str, Path], page: Any,
                                                            screenshots: Path) -> None:
    url, _ = server
    _open(page, f"{url}/Coverage")
    page.get_by_text("Coverage heatmap").wait_for(timeout=TIMEOUT_MS)
    page.locator(".js-plotly-plot").first.wait_for(timeout=TIMEOUT_MS)
    assert page.locator(".js-plotly-plot .heatmaplayer, .js-plotly-plot .hm").count() >= 1
    shot(page, screenshots, "coverage")
    _open(page, f"{url}/?feature=0")
    page.get_by_text("Feature 0").first.wait_for(timeout=TIMEOUT_MS)
    settle(page)
    for toggle in page.get_by_text("Original text").all():
        toggle.click()
    page.get_by_text("alert(1)").first.wait_for(timeout=TIMEOUT_MS)
    # The sample's markup shows as text; no script element carries it and no dialog opened.
    assert page.locator("script", has_text="alert(1)").count() == 0
    assert page.get_by_text("<script>alert(1)</script>").count() >= 1
    assert page.dialogs == []
    shot(page, screenshots, "explorer")
    _open(page, f"{url}/Feature_map")
    page.get_by_text("Feature map").first.wait_for(timeout=TIMEOUT_MS)
    page.locator(".js-plotly-plot").first.wait_for(timeout=TIMEOUT_MS)
    shot(page, screenshots, "feature_map")


def test_two_missing_features_saved_to_a_list_survive_a_reload(server: tuple[str, Path], page: Any,
                                                                screenshots: Path) -> None:
    url, ws = server
    _open(page, f"{url}/Missing_features")
    page.get_by_text("Feature lists").wait_for(timeout=TIMEOUT_MS)
    for feature in ("2", "3"):
        page.locator('[data-testid="stMultiSelect"] input').last.click()
        page.keyboard.type(feature)
        page.keyboard.press("Enter")
        settle(page)
    page.get_by_label("List name").fill("e2e gaps")
    page.get_by_label("List name").press("Enter")
    settle(page)
    page.get_by_role("button", name="Add 2 to list").click()
    settle(page)
    assert Project(ws).features_in("e2e gaps") == [2, 3]
    page.reload()
    settle(page)
    lists = page.locator('[data-testid="stDataFrame"]').last  # the saved lists table (a canvas grid)
    lists.get_by_text("e2e gaps", exact=True).first.wait_for(state="attached", timeout=TIMEOUT_MS)
    shot(page, screenshots, "missing")
