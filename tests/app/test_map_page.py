"""The feature map page on the word-detector workspace. The anchor activates features {0,1,2,3,5,6,7}, the
seed {0,1,5}: covered {0,1,5}, missing {2,3,6,7}, inactive {4}. UMAP itself is replaced by a fixed layout
here (tests/unit/test_feature_map.py runs the real one); AppTest cannot lasso, so the typed-ids fallback
feeds the selection."""

from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from fac_app.state import SELECTION_KEY
from fac_engine.features import map as fm
from fac_engine.workspace.project import Project

PAGE = str(Path(__file__).resolve().parents[2] / "app_pages" / "3_Feature_map.py")


@pytest.fixture
def fixed_layout(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []

    def layout(directions_FD: np.ndarray, config: fm.MapConfig) -> np.ndarray:
        calls.append(directions_FD.shape[0])
        n = directions_FD.shape[0]
        return np.stack([np.arange(n), np.arange(n) % 3], axis=1).astype(np.float32)

    monkeypatch.setattr(fm, "compute_layout", layout)
    return calls


def _page() -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_map_renders_coloured_by_coverage_and_is_cached(app_workspace: Path, fixed_layout: list[int]) -> None:
    at = _page()
    assert {m.label: m.value for m in at.metric} == {"Missing": "4", "Covered": "3", "Relevant": "0",
                                                     "Inactive": "1"}
    assert any("covers 3 of the 7 features" in c.value for c in at.caption)
    assert at.get("plotly_chart")
    maps = list((app_workspace.parent / "fac-home" / "cache" / "feature_maps").glob("*.parquet"))
    assert len(maps) == 1 and fixed_layout == [8]
    _page()
    assert fixed_layout == [8]  # the second visit reads the cached map


def test_relevant_list_colours_features_the_anchor_does_not_reach(app_workspace: Path,
                                                                  fixed_layout: list[int]) -> None:
    Project(app_workspace).add_to_list("relevant", [4, 2])  # 2 stays "missing": coverage comes first
    at = _page()
    assert {m.label: m.value for m in at.metric} == {"Missing": "4", "Covered": "3", "Relevant": "1",
                                                     "Inactive": "0"}


def test_only_task_relevant_features_are_covered_or_missing_while_the_project_counts_only_them(
        app_workspace: Path, fixed_layout: list[int]) -> None:
    proj = Project(app_workspace)
    proj.set_relevance_marks("contrast", {0: "relevant", 2: "relevant", 3: "relevant", 4: "relevant"})
    proj.update(relevant_only=True)  # F = {0, 2, 3, 4}: 0 covered, 2 and 3 missing, 4 never fires
    at = _page()
    assert {m.label: m.value for m in at.metric} == {"Missing": "2", "Covered": "1", "Relevant": "0",
                                                     "Inactive": "5"}
    assert any("covers 1 of the 3 features" in c.value and "Only the project's 4 task-relevant features" in c.value
               for c in at.caption)


def test_typed_ids_fill_the_selection_and_save_to_a_list(app_workspace: Path, fixed_layout: list[int]) -> None:
    at = _page()
    assert at.button(key="map_add_to_list").disabled
    at.text_input(key="map_ids").input("2, 3 6-7").run()
    assert at.session_state[SELECTION_KEY] == [2, 3, 6, 7]
    assert at.subheader[0].value == "Selection (4)"
    table = next(d.value for d in at.dataframe if "category" in d.value.columns)
    assert table["category"].tolist() == ["missing"] * 4
    assert at.text_input(key="map_list_name").value == "selected"  # the project's target list by default
    at.text_input(key="map_list_name").input("gaps")
    at.button(key="map_add_to_list").click().run()
    assert not at.exception
    assert Project(app_workspace).features_in("gaps") == [2, 3, 6, 7]
    assert at.success[0].value == "Added 4 features to the list 'gaps' (now 4)."
    at.button(key="map_clear").click().run()
    assert at.session_state[SELECTION_KEY] == []


def test_bad_typed_ids_show_one_error_and_change_nothing(app_workspace: Path, fixed_layout: list[int]) -> None:
    at = _page()
    at.text_input(key="map_ids").input("1, 99").run()
    assert at.error[0].value == "'99' is out of range: this SAE has features 0..7."
    assert at.session_state[SELECTION_KEY] == []
