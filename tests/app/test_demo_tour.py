"""The demo tour on the home page, with the demo's dataset names on the word-detector workspace."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from fac_engine.project import Project
from tests.app.conftest import build_app_workspace

APP = str(Path(__file__).resolve().parents[2] / "app.py")


def test_tour_tells_the_story_with_live_numbers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ws = build_app_workspace(tmp_path, anchor="demo-anchor", seed="demo-seed")
    Project(ws).set_explanation(2, "dogs <b>only</b>", source="offline")
    monkeypatch.setenv("FAC_WORKSPACE", str(ws))
    monkeypatch.setenv("FAC_HOME", str(tmp_path / "fac-home"))
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    text = "\n".join(m.value for m in at.markdown)
    # Anchor features: the cat sat dog mat hello world (7); the seed covers the, cat, mat: 4 missing.
    assert "activates **3 of the anchor's 7 features** (FAC 42.86 %); **4** are missing" in text
    # Missing features by anchor frequency: dog (2 samples) first, then sat, hello, world (ties by id).
    items = [m.value for m in at.markdown if m.value.strip().startswith("- feature")]
    assert [i.split("**")[1] for i in items] == ["2", "3", "6", "7"]
    assert "dogs &lt;b&gt;only&lt;/b&gt;" in items[0] and "active on 2 anchor samples" in items[0]


def test_no_tour_outside_the_demo(app_workspace: Path) -> None:
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    assert not any("Demo tour" in e.label for e in at.expander)
