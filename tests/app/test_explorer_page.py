"""The feature explorer page on the word-detector workspace (tests/app/conftest.py): feature f fires on
WORDS[f] with activation 1 + f/2; the anchor has 5 samples, one of them a `<script>` tag."""

from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from fac_app import resources
from fac_app.state import FEATURE_KEY
from fac_engine.models import ModelSpec
from fac_engine.workspace.project import Project

PAGE = str(Path(__file__).resolve().parents[2] / "app_pages" / "2_Feature_explorer.py")


def _page(feature: int | None = None) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=60)
    if feature is not None:
        at.session_state[FEATURE_KEY] = feature
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def _frame_with(at: AppTest, column: str) -> pd.DataFrame:
    return next(d.value for d in at.dataframe if column in d.value.columns)


def test_preselected_feature_then_feature_0_exact_stats(app_workspace: Path) -> None:
    at = _page(feature=2)  # "dog": anchor samples "the dog" and "dog dog mat", g = 2.0; the seed has no dog
    assert at.header[0].value == "Feature 2"
    assert _metrics(at) == {"Samples active": "2", "Share of samples": "40.0%", "Max activation": "2.000",
                            "Mean when active": "2.000", "Seed vs anchor": "missing"}
    assert at.selectbox(key="explorer_dataset").value == "anchor"  # the project's anchor by default
    at.number_input(key="explorer_feature_id").set_value(0).run()  # "the": samples 0, 2, 4 of 5, g = 1.0
    assert not at.exception
    assert at.header[0].value == "Feature 0"
    assert _metrics(at) == {"Samples active": "3", "Share of samples": "60.0%", "Max activation": "1.000",
                            "Mean when active": "1.000", "Seed vs anchor": "covered"}
    assert at.session_state[FEATURE_KEY] == 0
    at.selectbox(key="explorer_dataset").select("seed").run()  # "the cat", "the mat": both
    assert _metrics(at)["Samples active"] == "2" and _metrics(at)["Share of samples"] == "100.0%"


def test_samples_are_highlighted_and_the_script_sample_is_escaped(app_workspace: Path) -> None:
    at = _page(feature=0)
    bodies = [m.value for m in at.markdown] + [c.value for c in at.caption]
    assert any("&lt;script&gt;alert" in b for b in bodies)
    assert not any("<script" in b.lower() for b in bodies)
    tokens = [m.value for m in at.markdown if m.value.startswith('<div class="fac-tokens">')]
    assert len(tokens) == 3  # the three anchor samples with "the"
    assert 'title="1.000">the</span>' in tokens[0]  # the token is shaded at the feature's max, value on hover
    assert "top 1 · sample 0 · g = 1.000 · label **safe**" in bodies


def test_decoder_views_promoted_token_and_neighbours(app_workspace: Path) -> None:
    at = _page(feature=0)
    promoted = _frame_with(at, "token")
    assert promoted["token"].iloc[0] == "the" and promoted["logit change"].iloc[0] == 1.0
    near = _frame_with(at, "cosine")
    assert near["feature"].tolist() == [1, 2, 3, 4, 5, 6, 7]  # one-hot decoder rows: all orthogonal
    assert near["cosine"].tolist() == [0.0] * 7
    assert not at.warning  # the project's SAE is the one the dataset was encoded with


def test_decoder_views_never_load_the_full_model(app_workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_full_load(spec: ModelSpec) -> None:
        raise AssertionError(f"loaded the whole model {spec.source}")

    monkeypatch.setattr(resources, "load_model", no_full_load)  # W_U and the norm come from the weight files
    at = _page(feature=1)
    promoted = _frame_with(at, "token")
    assert promoted["token"].iloc[0] == "cat" and promoted["logit change"].iloc[0] == 1.5
    assert _frame_with(at, "cosine")["feature"].tolist() == [0, 2, 3, 4, 5, 6, 7]


def test_saving_an_explanation_persists_and_is_searchable(app_workspace: Path) -> None:
    at = _page(feature=0)
    at.text_area(key="explorer_expl_0").input("The word 'the'")
    at.button(key="explorer_save").click().run()
    assert not at.exception
    reopened = Project(app_workspace)
    assert reopened.explanations() == {0: "The word 'the'"}
    assert reopened.explanation_sources() == {0: "user"}
    assert at.success[0].value == "Explanation saved."
    at.text_input(key="explorer_search").input("WORD").run()
    assert at.selectbox(key="explorer_search_pick").options == ["0"]


def test_typed_text_shows_the_features_firing_per_token(app_workspace: Path) -> None:
    at = _page(feature=0)
    at.text_area(key="explorer_probe_text").input("the dog sat")
    at.button(key="explorer_probe_go").click().run()
    assert not at.exception
    table = _frame_with(at, "peak token")
    assert table["feature"].tolist() == [3, 2, 0]  # sat 2.5, dog 2.0, the 1.0
    assert table["max activation"].tolist() == [2.5, 2.0, 1.0]
    assert table["peak token"].tolist() == ["sat", "dog", "the"]
    shaded = [m.value for m in at.markdown if 'title="2.500">sat</span>' in m.value]
    assert shaded  # shaded by the strongest feature (3) by default
    at.button(key="explorer_probe_open").click().run()
    assert at.header[0].value == "Feature 3"


def test_relevance_mark_is_stored_as_the_users(app_workspace: Path) -> None:
    Project(app_workspace).set_relevance_marks("judge", {0: "Maybe"})
    at = _page(feature=0)
    assert at.radio(key="explorer_relevant_0").value == "no mark"
    assert "LLM judge: Maybe" in [c.value for c in at.caption]
    at.radio(key="explorer_relevant_0").set_value("Not relevant").run()
    assert not at.exception
    assert Project(app_workspace).relevance_marks("user") == {0: "not relevant"}
    assert Project(app_workspace).relevant_features() == frozenset()  # the person's mark beats the judge's Maybe
    at.radio(key="explorer_relevant_0").set_value("no mark").run()
    assert Project(app_workspace).relevance_marks("user") == {}
    assert _page(feature=0).radio(key="explorer_relevant_0").value == "no mark"
    Project(app_workspace).mark_relevant(0, True)
    assert _page(feature=0).radio(key="explorer_relevant_0").value == "Relevant"
