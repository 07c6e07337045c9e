"""The stakeholder report on the word-detector workspace (tests/app/conftest.py): FAC before/after the
accepted samples, the missing features, escaped samples and settings, the evaluation and its figures.

Anchor features {the 0, cat 1, dog 2, sat 3, mat 5, hello 6, world 7}; the seed covers {0, 1, 5}: FAC 3/7.
Accepting a dog sample (feature 2) and a hello sample (feature 6) makes it 5/7.
"""

import os
from pathlib import Path

import pytest
from plotly.offline import get_plotlyjs

from fac_engine.errors import FacError
from fac_engine.evaluation.results import save_evaluation
from fac_engine.figures.evaluation import correlation_table, evaluation_table, fac_auprc_figure
from fac_engine.report.build import Report, build_report, write_report
from fac_engine.report.data import heatmap_groups, latest_evaluation
from fac_engine.workspace.project import Project
from tests.app.conftest import build_app_workspace
from tests.unit.report_fixtures import SCRIPT_TEXT, accept, evaluation, save_toy_evaluation

XSS = '<img src=x onerror="alert(1)">'


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    ws = build_app_workspace(tmp_path_factory.mktemp("report"))
    accept(ws, [(SCRIPT_TEXT, 2, 2.0), ("hello there", 6, 4.0)])
    Project(ws).set_explanation(3, f"sits {XSS}", source="user")
    save_toy_evaluation(ws)
    return ws


@pytest.fixture(scope="module")
def report(ws: Path) -> Report:
    return build_report(ws, "default")


def test_fac_before_and_after_the_accepted_samples(report: Report) -> None:
    live = report.data.coverage
    assert (live.before.covered, live.after.covered, live.before.anchor_features, live.accepted) == (3, 5, 7, 2)
    assert "FAC 42.86 % &rarr; 71.43 %" in report.html
    assert "Adding the 2 accepted synthetic samples covers 5: 2 of the 4 missing features are filled." in report.html
    assert set(report.figures) == {"fac_before_after", "coverage_heatmap", "fac_vs_auprc", "diversity_vs_auprc"}


def test_missing_features_come_first_in_the_heatmap_and_in_their_table(report: Report) -> None:
    assert heatmap_groups(report.data).features.tolist() == [2, 3, 6, 7, 0, 1, 5]
    assert heatmap_groups(report.data, limit=5).features.tolist() == [2, 3, 6, 7, 0]
    assert report.data.filled == {2, 6}
    rows = report.html.split("<h2>Missing features</h2>")[1].split("</table>")[0]
    assert ("<td class=num>2</td><td class=num>2</td><td>(no explanation yet)</td><td>yes</td>" in rows)
    assert "<td class=num>3</td><td class=num>1</td><td>sits &lt;img src=x onerror=&quot;alert(1)&quot;&gt;</td>" \
           "<td>no</td>" in rows


def test_every_user_text_is_escaped(report: Report) -> None:
    html = report.html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; the dog" in html
    assert "<script>alert(" not in html and "<img src=x" not in html
    assert "&lt;b&gt;be nice&lt;/b&gt;" in html  # job settings
    assert "<td>&lt;b&gt;seed + FAC&lt;/b&gt;</td>" in html  # evaluation set name
    assert "<b>seed + FAC</b>" not in html


def test_self_contained_with_plotly_inlined_once(report: Report) -> None:
    html = report.html
    assert html.count(get_plotlyjs()[:500]) == 1
    assert "<script src" not in html and "<link" not in html
    for key in report.figures:
        assert html.count(f'id="fig-{key}"') == 1


def test_evaluation_table_and_settings(report: Report) -> None:
    html = report.html
    assert "<h2>Downstream evaluation: toy-eval</h2>" in html
    assert "<td class=num>70.00 %</td><td class=num>0.8200 ± 0.0283</td>" in html
    assert "<td>FAC</td><td class=num>0.990</td><td class=num>0.95</td>" in html
    for title in ("<h3>Project</h3>", "<h3>Model and SAE (as encoded)</h3>", "<h3>Synthesis job 1</h3>",
                  "<h3>Evaluation toy-eval</h3>"):
        assert title in html
    assert '"seed": "seed"' in html and '"fac_threshold": 0.0' in html


def test_evaluation_figures_and_table() -> None:
    result = evaluation()
    table = evaluation_table(result)
    assert table["set"].tolist() == ["seed", "seed + random", "<b>seed + FAC</b>"]
    assert table["auprc"].round(4).tolist() == [0.62, 0.68, 0.82]
    assert table["auprc_std"].round(4).tolist() == [0.0283] * 3
    fig = fac_auprc_figure(result)
    assert "Pearson r = 0.990" in fig.layout.title.text
    assert list(fig.data[0].text) == ["seed", "seed + random", "&lt;b&gt;seed + FAC&lt;/b&gt;"]
    corr = correlation_table(result).set_index("metric")["pearson_r"].round(3)
    assert corr["FAC"] == 0.99 and corr["distinct-2"] == -0.594
    two = evaluation(sets=[("a", 10, 0.1, (0.5,), 0.5), ("b", 10, 0.2, (0.6,), 0.4)])
    assert "needs at least 3 training sets (2 here)" in fac_auprc_figure(two).layout.title.text


def test_write_report(report: Report, tmp_path: Path) -> None:
    path = write_report(report, tmp_path / "out" / "r.html")
    assert path.read_text(encoding="utf-8") == report.html


def test_without_synthesis_or_evaluation_it_says_what_to_run(tmp_path: Path) -> None:
    ws = build_app_workspace(tmp_path)
    report = build_report(ws, "default")
    assert report.data.coverage.before == report.data.coverage.after and report.data.evaluation is None
    assert set(report.figures) == {"fac_before_after", "coverage_heatmap"}
    assert "<h2>Accepted synthetic samples</h2><p>None yet" in report.html
    assert "fac evaluate --anchor anchor --test TEST_DATASET" in report.html


def test_latest_evaluation_and_errors(ws: Path, tmp_path: Path) -> None:
    older = save_evaluation(ws, evaluation("older"))
    os.utime(older, (1, 1))
    assert latest_evaluation(ws) == "toy-eval" and latest_evaluation(tmp_path) is None
    assert build_report(ws, "default", "older").data.evaluation.name == "older"  # type: ignore[union-attr]
    with pytest.raises(FacError, match="No saved evaluation 'nope'"):
        build_report(ws, "default", "nope")
    with pytest.raises(FacError, match="has no anchor or no seed"):
        build_report(ws, "empty-project")
