"""The demo tour on the home page, with the demo's dataset names on the word-detector workspace."""

import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from fac_engine.workspace.project import Project
from tests.app.conftest import build_app_workspace
from tests.unit.report_fixtures import SCRIPT_TEXT, accept, save_toy_evaluation

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


def _demo_tour(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, accepted: bool, flagged: frozenset[int] = frozenset(),
               relevant: frozenset[int] | None = None) -> AppTest:
    ws = build_app_workspace(tmp_path, anchor="demo-anchor", seed="demo-seed")
    if relevant is not None:
        Project(ws).set_relevance_marks("contrast", dict.fromkeys(relevant, "relevant"))
        Project(ws).update(relevant_only=True)
    if accepted:
        accept(ws, [(SCRIPT_TEXT, 2, 2.0), ("hello there", 6, 4.0)], flagged=flagged)
        save_toy_evaluation(ws, anchor="demo-anchor")
        time.sleep(0.05)  # a later evaluation against another anchor (a cross-model one) is not the demo's
        save_toy_evaluation(ws, name="other-space", anchor="demo-anchor-qwen")
    monkeypatch.setenv("FAC_WORKSPACE", str(ws))
    monkeypatch.setenv("FAC_HOME", str(tmp_path / "fac-home"))
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_tour_points_to_synthesis_before_anything_is_accepted(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    at = _demo_tour(tmp_path, monkeypatch, accepted=False)
    step = next(m.value for m in at.markdown if m.value.startswith("4. "))
    where = "*Synthesis* and *Review*"  # every page is declared in fac_app/navigation.py
    assert f"accept the good ones on the {where} pages. Nothing has been accepted yet." in step
    assert not any(m.value.startswith("5. ") for m in at.markdown)
    assert any("Demo tour" in e.label for e in at.expander)


def test_tour_shows_what_synthesis_added_and_the_evaluation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _demo_tour(tmp_path, monkeypatch, accepted=True)
    text = "\n".join(m.value for m in at.markdown)
    assert "2 synthetic samples are accepted; with them the seed covers **5** of the anchor's 7 features: " \
           "FAC **42.86 % → 71.43 %**. For example (fluent ones first):" in text
    examples = [m.value for m in at.markdown if m.value.strip().startswith("- “")]
    assert len(examples) == 2
    assert examples[0].strip() == "- “hello there” · written for feature **6**, g = 4.00"
    assert "&lt;script&gt;" in examples[1] and "<script>" not in examples[1] and "feature **2**" in examples[1]
    assert "5. **Did it help?** The latest evaluation against demo-anchor *toy\\-eval* trains a probe per set and " \
           "scores it on *test*:" in text
    table = next(d.value for d in at.dataframe if "auprc" in d.value.columns)
    assert table.columns.tolist() == ["set", "n_train", "fac", "auprc", "auprc_std"]
    assert table["auprc"].round(2).tolist() == [0.62, 0.68, 0.82]


def test_tour_counts_task_relevant_features_and_shows_fluent_examples_first(tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    # F = {the, dog, hello}: the seed covers the; the accepted samples add dog (2) and hello (6), flagged.
    at = _demo_tour(tmp_path, monkeypatch, accepted=True, flagged=frozenset({6}), relevant=frozenset({0, 2, 6}))
    text = "\n".join(m.value for m in at.markdown)
    assert "with them the seed covers **3** of the anchor's 3 task-relevant features: FAC **33.33 % → 100.00 %**" \
        in text
    examples = [m.value for m in at.markdown if m.value.strip().startswith("- “")]
    assert ["feature **2**" in examples[0], "feature **6**" in examples[1]] == [True, True]

