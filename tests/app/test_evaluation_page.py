"""The Evaluation page on the word-detector workspace: the empty state with the command to run, a saved
evaluation's table and figures, and the report written and offered as a download."""

import json
from pathlib import Path

from streamlit.testing.v1 import AppTest

from fac_engine.evaluation.results import save_evaluation
from tests.unit.category_fixtures import categorised
from tests.unit.report_fixtures import SCRIPT_TEXT, accept, evaluation, save_toy_evaluation

APP = str(Path(__file__).resolve().parents[2] / "app.py")
PAGE = "app_pages/7_Evaluation.py"


def _page() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.switch_page(PAGE).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_without_an_evaluation_it_shows_the_command(app_workspace: Path) -> None:
    at = _page()
    assert "No saved evaluation in this workspace yet" in at.info[0].value
    command = at.code[0].value
    assert "fac export seed-plus-fac.jsonl --project default --merge-seed --encode-as seed-plus-fac" in command
    assert "fac evaluate --anchor anchor --test TEST_DATASET" in command and str(app_workspace) in command
    assert at.code[-1].value == "fac report --project default --out report.html --png-dir report-figures"


def test_a_saved_evaluation_as_table_and_figures(app_workspace: Path) -> None:
    save_toy_evaluation(app_workspace)
    at = _page()
    assert at.selectbox(key="eval_name").value == "toy-eval"
    table = at.dataframe[0].value
    assert table["set"].tolist() == ["seed", "seed + random", "<b>seed + FAC</b>"]
    assert table["auprc"].round(4).tolist() == [0.62, 0.68, 0.82]
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    assert "Pearson r = 0.990" in specs[0]["layout"]["title"]["text"]
    points = specs[0]["data"][0]
    assert points["error_y"]["visible"] and points["text"][2] == "&lt;b&gt;seed + FAC&lt;/b&gt;"
    assert len(specs[1]["data"]) == 4  # AUPRC against FAC, distinct-1, distinct-2, bigram entropy
    assert any("Pearson r = 0.990. Error bars" in c.value for c in at.caption)
    corr = at.dataframe[1].value.set_index("metric")["pearson_r"].round(3)
    assert corr["FAC"] == 0.99
    assert at.code[-1].value.endswith("--evaluation toy-eval")


def test_per_category_heatmap_and_the_real_arm(app_workspace: Path) -> None:
    save_evaluation(app_workspace, categorised())
    at = _page()
    table = at.dataframe[0].value
    assert table["real"].tolist() == [False, False, False, True]
    assert table["des"].round(4).tolist()[0] == 0.31  # AUPRC 0.62 / log10(100)
    note = at.info[0].value
    assert note.startswith(r"**seed \+ headroom \(real\)** is **seed** plus 2 real rows of anchor that no training "
                           "set holds, picked to cover 4 of the 5 features seed misses: real data, an upper reference")
    specs = {json.loads(c.proto.spec)["layout"].get("title", {}).get("text", ""): json.loads(c.proto.spec)
             for c in at.get("plotly_chart")}
    heat = specs["Per test category: recall at the decision threshold of its toxic rows"]["data"][0]
    assert heat["x"] == ["insult (4)", "&lt;i&gt;threat&lt;/i&gt; (2)"] and heat["z"][0] == [0.75, 0.25]
    assert heat["y"][-1] == "seed + headroom (real)"
    categories = at.dataframe[1].value
    assert categories["category"].tolist()[:2] == ["insult", "<i>threat</i>"]
    assert any("A low cell in the seed's row that is high in a synthesis row" in c.value for c in at.caption)
    at.radio(key="eval_category_metric").set_value("auprc").run()
    assert not at.exception
    titles = [json.loads(c.proto.spec)["layout"].get("title", {}).get("text", "") for c in at.get("plotly_chart")]
    assert "Per test category: AUPRC against all negatives of its toxic rows" in titles


def test_without_categories_there_is_no_category_section(app_workspace: Path) -> None:
    save_toy_evaluation(app_workspace)
    at = _page()
    assert not at.get("radio") and not at.info
    assert not any("Per test category" in json.loads(c.proto.spec)["layout"].get("title", {}).get("text", "")
                   for c in at.get("plotly_chart"))


def test_pick_another_evaluation(app_workspace: Path) -> None:
    save_toy_evaluation(app_workspace)
    save_evaluation(app_workspace, evaluation("two-sets", sets=[("a", 10, 0.1, (0.5,), 0.5),
                                                                ("b", 10, 0.2, (0.6,), 0.4)]))
    at = _page()
    at.selectbox(key="eval_name").set_value("two-sets").run()
    assert not at.exception
    assert at.dataframe[0].value["set"].tolist() == ["a", "b"]
    assert any("Pearson r needs at least 3 training sets (2 here)" in c.value for c in at.caption)


def test_write_and_download_the_report(app_workspace: Path) -> None:
    save_toy_evaluation(app_workspace)
    accept(app_workspace, [(SCRIPT_TEXT, 2, 2.0)])
    at = _page()
    assert not at.get("download_button")
    at.button(key="eval_write_report").click().run()
    assert not at.exception, [e.value for e in at.exception]
    buttons = at.get("download_button")
    assert len(buttons) == 1 and buttons[0].proto.label == "Download report"


def test_report_needs_an_anchor_and_seed(app_workspace: Path) -> None:
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["fac_project"] = "other"
    at.switch_page(PAGE).run()
    at.button(key="eval_write_report").click().run()
    assert "has no anchor or no seed" in at.error[0].value


def _toy_calibration(root: Path) -> None:
    from fac_engine.evaluation.calibrate import correlations
    from fac_engine.evaluation.calibration_results import (
        CalibrationConfig,
        CalibrationResult,
        CalibrationSet,
        FacPoint,
        save_calibration,
    )
    from fac_engine.evaluation.results import MetricSummary

    def one(name: str, kind: str, fac: float, auprc: tuple[float, ...]) -> CalibrationSet:
        return CalibrationSet(name, kind, 2, (0, 1) if kind != "seed" else (), 1 if kind == "covers missing" else 0,
                              (FacPoint(0.0, "all", fac, fac, fac, 3, 5),), MetricSummary(auprc))

    sets = (one("seed", "seed", 0.6, (0.70, 0.72)), one("seed + 2 covering missing", "covers missing", 0.8,
                                                          (0.85, 0.87)),
            one("seed + 2 covering none", "covers none", 0.6, (0.71, 0.71)))
    save_calibration(root, CalibrationResult("toy-calib", CalibrationConfig(sizes=(2,)), "anchor", "seed", "test",
                                             "m", "s", 4, 10, 2, sets, correlations(sets), 1.0, "2026-12-01T20:00:00"))


def test_a_saved_calibration_with_its_verdict(app_workspace: Path) -> None:
    _toy_calibration(app_workspace)
    at = _page()
    assert at.selectbox(key="eval_calibration").value == "toy-calib"
    assert at.success[0].value.startswith("With the default choice (delta 0, all features) FAC tracks AUPRC")
    tables = [d.value for d in at.dataframe]
    assert tables[-1]["set"].tolist() == ["seed", "seed + 2 covering missing", "seed + 2 covering none"]
    assert tables[-1]["auprc"].round(2).tolist() == [0.71, 0.86, 0.71]
    assert tables[-2]["pearson_r"].round(3).tolist()[0] == 1.0
