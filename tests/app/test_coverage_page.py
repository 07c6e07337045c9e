"""The coverage page on the word-detector workspace (tests/app/conftest.py; hand values in test_home.py).

Anchor samples by label: safe = "the cat sat" {0,1,3}, "hello world" {6,7}; toxic = "the dog" {0,2},
"dog dog mat" {2,5}, "<script>... the" {0}. Seed: "the cat" {0,1}, "the mat" {0,5}.
"""

import base64
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from fac_app.state import FEATURE_KEY
from fac_engine.workspace.project import Project

APP = str(Path(__file__).resolve().parents[2] / "app.py")
PAGE = "app_pages/1_Coverage.py"


def _page() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.switch_page(PAGE).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _heatmap(at: AppTest) -> dict[str, Any]:
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    return next(s for s in specs if s["data"] and s["data"][0]["type"] == "heatmap")


def _cells(spec: dict[str, Any]) -> tuple[list[str], list[int], list[list[int]]]:
    """(row names, feature per column, counts per row) from the heatmap's customdata."""
    trace = spec["data"][0]
    custom = trace["customdata"]
    return trace["y"], [int(c[0]) for c in custom[0]], [[int(c[1]) for c in row] for row in custom]


def test_heatmap_rows_columns_and_counts(app_workspace: Path) -> None:
    at = _page()
    assert at.title[0].value == "Coverage"
    assert at.multiselect(key="cov_rows::anchor").value == ["anchor", "seed"]
    assert at.multiselect(key="cov_split::anchor::anchor|seed").value == ["anchor"]
    assert at.number_input(key="cov_top_n").value == 7
    rows, features, counts = _cells(_heatmap(at))
    assert rows == ["anchor · safe", "anchor · toxic", "seed"]
    assert features == [0, 2, 1, 3, 5, 6, 7]  # anchor count 3, 2, then 1 each by id
    assert counts == [[1, 0, 1, 1, 0, 1, 1], [2, 2, 0, 0, 1, 0, 0], [2, 0, 1, 0, 1, 0, 0]]
    assert any("all 7 features the anchor activates at δ = 0" in c.value for c in at.caption)
    assert len(_heatmap(at)["data"]) == 2  # the invisible click layer


def test_heatmap_shows_only_task_relevant_features_when_the_project_counts_only_them(app_workspace: Path) -> None:
    proj = Project(app_workspace)
    proj.set_relevance_marks("contrast", {2: "relevant", 5: "relevant", 3: "relevant", 4: "relevant"})
    proj.update(relevant_only=True)  # F = {2, 3, 4, 5}; the anchor never activates 4
    at = _page()
    assert at.number_input(key="cov_top_n").value == 3
    rows, features, counts = _cells(_heatmap(at))
    assert rows == ["anchor · safe", "anchor · toxic", "seed"]
    assert features == [2, 3, 5]  # anchor count 2, then 1 each by id
    assert counts == [[0, 1, 0], [2, 0, 1], [0, 0, 1]]
    assert any("all 3 task-relevant features the anchor activates at δ = 0" in c.value for c in at.caption)


def test_fac_table_and_diversity(app_workspace: Path) -> None:
    at = _page()
    table = at.dataframe[0].value.set_index("dataset")
    assert table.loc["seed", "fac"] == pytest.approx(3 / 7)
    assert table.loc["seed", "fac_freq"] == pytest.approx(5 / 10)
    assert table.loc["seed", "fac_magnitude"] == pytest.approx(6 / 19)
    assert table.loc["anchor", "fac"] == 1.0
    # anchor: 12 whitespace tokens, 8 distinct; seed: "the cat the mat" 4 tokens, 3 distinct
    assert table.loc["anchor", "distinct_1"] == pytest.approx(8 / 12)
    assert table.loc["seed", "distinct_1"] == pytest.approx(3 / 4)
    assert "mean_cosine_distance" not in table  # embeddings only on request


def test_threshold_slider_recomputes_fac_and_heatmap(app_workspace: Path) -> None:
    at = _page()
    at.slider[0].set_value(1.0).run()
    assert not at.exception
    table = at.dataframe[0].value.set_index("dataset")
    assert table.loc["seed", "fac"] == pytest.approx(2 / 6)
    _, features, counts = _cells(_heatmap(at))
    assert features == [2, 1, 3, 5, 6, 7]  # feature 0 (g = 1.0) is not above delta any more
    assert counts[2] == [0, 1, 0, 1, 0, 0]
    assert Project(app_workspace).config.threshold == 1.0


def test_split_grouping_and_log_scale(app_workspace: Path) -> None:
    at = _page()
    at.multiselect(key="cov_split::anchor::anchor|seed").set_value(["anchor", "seed"]).run()
    assert _cells(_heatmap(at))[0] == ["anchor · safe", "anchor · toxic", "seed · safe"]
    at.radio(key="cov_grouping").set_value("clusters").run()
    assert not at.exception, [e.value for e in at.exception]
    assert sorted(_cells(_heatmap(at))[1]) == [0, 1, 2, 3, 5, 6, 7]
    assert any("k-means clusters of the normalised SAE decoder rows" in c.value for c in at.caption)
    at.toggle(key="cov_log").set_value(True).run()
    assert not at.exception
    trace = _heatmap(at)["data"][0]
    assert trace["zmin"] == -4.0 and trace["zmax"] == 0.0
    at.number_input(key="cov_top_n").set_value(2).run()
    assert _cells(_heatmap(at))[1] in ([0, 2], [2, 0])
    assert any("the 2 most frequent of the 7 features" in c.value for c in at.caption)


def test_open_feature_fallback(app_workspace: Path) -> None:
    at = _page()
    at.number_input(key="cov_open_id").set_value(5)
    at.button(key="cov_open_go").click().run()
    assert at.session_state[FEATURE_KEY] == 5


def test_without_an_anchor_the_page_says_what_to_do(app_workspace: Path) -> None:
    Project(app_workspace).update(anchor=None)
    at = _page()
    assert any("has no anchor dataset yet" in i.value and "**Home**" in i.value for i in at.info)
    assert not at.get("plotly_chart")


def test_log_scale_leaves_zero_cells_blank(app_workspace: Path) -> None:
    at = _page()
    at.toggle(key="cov_log").set_value(True).run()
    z = _heatmap(at)["data"][0]["z"]
    if isinstance(z, dict):  # plotly's typed-array encoding
        z = np.frombuffer(base64.b64decode(z["bdata"]), dtype=z["dtype"]).reshape(3, 7).tolist()
    assert math.isnan(z[0][1]) and z[1][0] == pytest.approx(math.log10(2 / 3))
