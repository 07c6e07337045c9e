"""The Cross-model page on the two word-detector spaces (tests/unit/crossmodel_fixtures.py): the empty state, the
matched pairs with both projects' explanations side by side, the filters, carrying a list into B, and the
agreement figures."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from fac_engine.cli import main
from fac_engine.workspace.project import Project
from tests.unit.crossmodel_fixtures import SCRIPT, CrossWorkspace, build_cross_app_workspace

APP = str(Path(__file__).resolve().parents[2] / "app.py")
PAGE = "app_pages/8_Cross_model.py"


@pytest.fixture
def cross_app(cross_workspace: CrossWorkspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    ws = build_cross_app_workspace(cross_workspace, tmp_path, agreement=False)
    monkeypatch.setenv("FAC_WORKSPACE", str(ws))
    monkeypatch.setenv("FAC_HOME", str(tmp_path / "fac-home"))
    return ws


def _page() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.switch_page(PAGE).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_without_a_map_it_shows_the_commands(app_workspace: Path) -> None:
    at = _page()
    assert at.info[0].value.startswith("No feature map in this workspace yet")
    assert "fac match --from anchor --to anchor-b --bridge anchor=anchor-b" in at.code[0].value


def test_pairs_with_both_explanations(cross_app: Path) -> None:
    at = _page()
    assert at.selectbox(key="cross_map").value == "words"
    assert (at.selectbox(key="cross_project_a").value, at.selectbox(key="cross_project_b").value) == (
        "proj-a", "proj-b")  # guessed from the projects' anchors
    assert [m.value for m in at.metric[:4]] == ["8", "7", "7", "6"]
    table = at.dataframe[0].value
    assert table["feature_a"].tolist() == [0, 1, 2, 3, 5, 6, 7]
    assert table["feature_b"].tolist() == [1, 3, 0, 5, 4, 2, 2]
    assert table["explanation_a"].tolist() == ["the word the", "", "", "", "", "", SCRIPT]  # a cell, as text
    assert table["explanation_b"].tolist() == ["'the' in B", "", "", "", "", "hello or world", "hello or world"]
    assert table["mutual"].tolist() == [True] * 6 + [False]
    assert not any("alert" in m.value for m in at.markdown)
    assert len(at.get("plotly_chart")) == 1  # the confidence histogram; no agreement yet


def test_filters(cross_app: Path) -> None:
    at = _page()
    at.toggle(key="cross_mutual").set_value(True).run()
    assert at.dataframe[0].value["feature_a"].tolist() == [0, 1, 2, 3, 5, 6]
    at.toggle(key="cross_mutual").set_value(False)
    at.toggle(key="cross_every").set_value(True)
    at.slider(key="cross_min_confidence").set_value(0.0).run()
    table = at.dataframe[0].value
    assert list(zip(table["feature_a"], table["rank"], strict=True))[-1] == (7, 2) and len(table) == 8
    at.selectbox(key="cross_project_b").set_value("(none)").run()
    assert set(at.dataframe[0].value["explanation_b"]) == {""}


def test_carry_a_list_into_b(cross_app: Path) -> None:
    at = _page()
    assert at.selectbox(key="cross_list").value == "missing"
    mapped, ambiguous, unmapped = (at.dataframe[i].value for i in (1, 2, 3))
    assert mapped[["feature A", "feature B"]].values.tolist() == [[3, 5], [5, 4]]
    assert ambiguous[["feature A", "feature B"]].values.tolist() == [[6, 2], [7, 2]]
    assert unmapped.values.tolist() == [[4, "no correlated feature in B"]]
    at.checkbox(key="cross_with_ambiguous").check()
    at.button(key="cross_write").click().run()
    assert not at.exception
    assert at.success[0].value == "Wrote 3 features to the list from-words of project proj-b."
    assert Project(cross_app, "proj-b").features_in("from-words") == [2, 4, 5]


def test_agreement_command_then_figures(cross_app: Path, cross_workspace: CrossWorkspace) -> None:
    at = _page()
    assert at.code[-1].value.startswith("fac match agreement --map words --anchor bridge=bridge-b --seeds ")
    assert main(["match", "agreement", "--map", "words", "--seeds", "seed1,seed2,seed3,seed4", "--shuffles", "20",
                 "--workspace", str(cross_app)]) == 0
    at = _page()
    assert [m.value for m in at.metric[4:]] == ["0.949", "0.926", "87.5%", "1.000"]
    assert len(at.get("plotly_chart")) == 3  # confidence, FAC side by side, CKA against random pairings
    table = at.dataframe[-1].value
    assert table["dataset_a"].tolist() == ["seed1", "seed2", "seed3", "seed4"]
    assert table["kappa"].round(3).tolist() == [1.0, 1.0, 1.0, 0.588]
