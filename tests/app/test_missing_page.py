"""The missing-features page on the word-detector workspace (tests/app/conftest.py; hand values in test_home.py).

At delta 0 the seed misses {2 dog, 3 sat, 6 hello, 7 world}. Anchor labels: safe {0, 1} (2 samples),
toxic {2, 3, 4} (3 samples). Log-odds with 0.5 smoothing, label vs the others:
dog (toxic 2 of 3, safe 0 of 2): log(2.5/1.5) - log(0.5/2.5) = log(25/3) for toxic;
sat, hello, world (safe 1 of 2, toxic 0 of 3): log(1.5/1.5) - log(0.5/3.5) = log 7 for safe.
"""

import math
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from fac_app.state import FEATURE_KEY, SELECTION_KEY
from fac_engine.workspace.project import Project

APP = str(Path(__file__).resolve().parents[2] / "app.py")
PAGE = "app_pages/4_Missing_features.py"


def _page(selection: list[int] | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    if selection is not None:
        at.session_state[SELECTION_KEY] = selection
    at.switch_page(PAGE).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _table(at: AppTest) -> pd.DataFrame:
    return next(d.value for d in at.dataframe if "anchor_samples" in d.value.columns)


def test_missing_table_exact(app_workspace: Path) -> None:
    at = _page()
    table = _table(at)
    assert table["feature"].tolist() == [2, 3, 6, 7]
    assert table["anchor_samples"].tolist() == [2, 1, 1, 1]
    assert table["anchor_frequency"].tolist() == [0.4, 0.2, 0.2, 0.2]
    assert table["mean_activation"].tolist() == [2.0, 2.5, 4.0, 4.5]
    assert table["label"].tolist() == ["toxic", "safe", "safe", "safe"]
    assert table["log_odds"].tolist() == pytest.approx([math.log(25 / 3), math.log(7), math.log(7), math.log(7)])
    assert table["select"].tolist() == [False] * 4
    assert any("4 of 7 anchor features" in c.value for c in at.caption)
    assert at.selectbox(key="missing_label").options == ["any", "safe", "toxic"]


def test_filters_and_select_all_filtered(app_workspace: Path) -> None:
    at = _page()
    at.selectbox(key="missing_label").set_value("safe").run()
    assert _table(at)["feature"].tolist() == [3, 6, 7]
    at.number_input(key="missing_min_odds").set_value(2.0).run()  # log 7 = 1.95 < 2
    assert _table(at)["feature"].tolist() == []
    at.selectbox(key="missing_label").set_value("toxic").run()
    assert _table(at)["feature"].tolist() == [2]
    at.button(key="missing_select_all").click().run()
    assert at.session_state[SELECTION_KEY] == [2]
    assert _table(at)["select"].tolist() == [True]
    at.selectbox(key="missing_label").set_value("any").run()
    at.number_input(key="missing_min_freq").set_value(30.0).run()  # only dog fires on 40 % of the anchor
    assert _table(at)["feature"].tolist() == [2]
    at.button(key="missing_clear").click().run()
    assert at.session_state[SELECTION_KEY] == []


def test_sorting(app_workspace: Path) -> None:
    at = _page()
    at.selectbox(key="missing_sort").set_value("mean_activation").run()
    assert _table(at)["feature"].tolist() == [7, 6, 3, 2]
    at.selectbox(key="missing_sort").set_value("feature").run()
    assert _table(at)["feature"].tolist() == [2, 3, 6, 7]


def test_adding_two_features_to_a_list_persists(app_workspace: Path) -> None:
    at = _page()
    at.multiselect(key="missing_selected").set_value([2, 3]).run()
    assert at.session_state[SELECTION_KEY] == [2, 3]
    assert _table(at)["select"].tolist() == [True, True, False, False]
    at.text_input(key="missing_list_name").set_value("toxic-gaps").run()
    at.button(key="missing_add").click().run()
    assert not at.exception
    assert Project(app_workspace).features_in("toxic-gaps") == [2, 3]  # a fresh Project reads the database
    at.button(key="missing_target").click().run()
    assert Project(app_workspace).config.target_list == "toxic-gaps"
    lists = next(d.value for d in at.dataframe if "list" in d.value.columns)
    assert lists.to_dict("records") == [{"list": "toxic-gaps", "features": 2, "synthesis target": True}]

    again = _page(selection=[3])  # a new session: the list is still there
    again.text_input(key="missing_list_name").set_value("toxic-gaps").run()
    again.button(key="missing_remove").click().run()
    assert Project(app_workspace).features_in("toxic-gaps") == [2]
    again.button(key="missing_load").click().run()
    assert again.session_state[SELECTION_KEY] == [2]
    again.selectbox(key="missing_delete_name").set_value("toxic-gaps")
    again.button(key="missing_delete").click().run()
    assert Project(app_workspace).list_names() == []


def test_selection_from_other_pages_is_kept(app_workspace: Path) -> None:
    at = _page(selection=[0, 6])  # 0 is not missing: picked on the map, say
    assert at.multiselect(key="missing_selected").value == [0, 6]
    assert _table(at)["select"].tolist() == [False, False, True, False]


def test_threshold_changes_the_missing_set(app_workspace: Path) -> None:
    at = _page()
    at.slider[0].set_value(2.0).run()  # dog (g = 2.0) is no longer active: anchor {3,5,6,7}, seed {5}
    assert not at.exception
    assert _table(at)["feature"].tolist() == [3, 6, 7]
    assert any("3 of 4 anchor features" in c.value for c in at.caption)


def test_nothing_missing(app_workspace: Path) -> None:
    Project(app_workspace).update(seed="anchor")
    at = _page()
    assert any("nothing is missing" in s.value for s in at.success)


def test_open_feature_fallback(app_workspace: Path) -> None:
    at = _page()
    assert at.number_input(key="missing_open_id").value == 2
    at.button(key="missing_open_go").click().run()
    assert at.session_state[FEATURE_KEY] == 2


def test_without_a_seed_the_page_says_what_to_do(app_workspace: Path) -> None:
    Project(app_workspace).update(seed=None)
    at = _page()
    assert any("has no seed dataset yet" in i.value for i in at.info)


def test_only_task_relevant_features(app_workspace: Path) -> None:
    proj = Project(app_workspace)
    proj.set_relevance_marks("contrast", {2: "relevant", 6: "relevant", 0: "relevant"})
    proj.mark_relevant(6, False)  # a person's mark wins: F = {0, 2}
    at = _page()
    assert _table(at)["feature"].tolist() == [2, 3, 6, 7]
    at.sidebar.toggle[0].set_value(True).run()
    assert Project(app_workspace).config.relevant_only
    assert _table(at)["feature"].tolist() == [2]  # of F = {the, dog} the seed misses dog
