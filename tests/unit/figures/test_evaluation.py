"""The evaluation tables and figures with DES, per-category scores and the real headroom arm
(tests/unit/category_fixtures.py gives the numbers)."""

import math
from dataclasses import replace

import pytest

from fac_engine.figures.evaluation import category_heatmap, category_table, evaluation_table, fac_auprc_figure
from tests.unit.category_fixtures import categorised
from tests.unit.report_fixtures import evaluation


def test_evaluation_table_has_des_and_marks_the_real_arm() -> None:
    table = evaluation_table(categorised())
    assert table["set"].tolist()[-1] == "seed + headroom (real)"
    assert table["real"].tolist() == [False, False, False, True]
    # seed: AUPRC 0.60 and 0.64 over n = 100 -> DES 0.31 and 0.32
    assert table["des"].iloc[0] == pytest.approx(0.62 / math.log10(100))
    assert table["des_std"].iloc[0] == pytest.approx(math.sqrt(2) * 0.02 / 2)
    assert table["des"].iloc[3] == pytest.approx(0.62 / math.log10(102))


def test_category_table() -> None:
    table = category_table(categorised()).set_index(["set", "category"])
    assert len(table) == 8 and table.loc[("seed", "insult"), "n_positive"] == 4
    assert table.loc[("seed", "<i>threat</i>"), "recall"] == 0.25
    assert table.loc[("seed", "<i>threat</i>"), "recall_std"] == pytest.approx(math.sqrt(0.125))
    assert table.loc[("<b>seed + FAC</b>", "<i>threat</i>"), "auprc"] == pytest.approx(0.875)
    assert category_table(evaluation()).empty


def test_category_heatmap_sets_by_categories() -> None:
    fig = category_heatmap(categorised(), "recall")
    heat = fig.data[0]
    assert list(heat.x) == ["insult (4)", "&lt;i&gt;threat&lt;/i&gt; (2)"]
    assert list(heat.y) == ["seed", "seed + random", "&lt;b&gt;seed + FAC&lt;/b&gt;", "seed + headroom (real)"]
    assert [list(row) for row in heat.z] == [[0.75, 0.25], [0.875, 0.0], [1.0, 0.75], [1.0, 1.0]]
    assert heat.text[0][1] == "0.25 ± 0.35" and (heat.zmin, heat.zmax) == (0.0, 1.0)
    assert fig.layout.title.text == "Per test category: recall at the decision threshold of its toxic rows"
    assert category_heatmap(categorised(), "auprc").data[0].z[0][1] == 0.625
    assert list(fig.layout.xaxis.ticktext) == list(heat.x)  # short names stay whole


def test_long_category_names_are_cut_on_the_axis_only() -> None:
    long = "discrimination_exclusion_toxicity_hateful_offensive"
    result = categorised()

    scores = [tuple(replace(c, category=long) if c.category == "insult" else c for c in r.categories)
              for s in result.sets for r in s.runs]
    runs = iter(scores)
    sets = tuple(replace(s, runs=tuple(replace(r, categories=next(runs)) for r in s.runs)) for s in result.sets)
    counts = tuple(replace(c, name=long) if c.name == "insult" else c for c in result.categories)
    fig = category_heatmap(replace(result, sets=sets, categories=counts), "recall")
    assert fig.data[0].z[0][0] == 0.75
    assert fig.data[0].x[0] == f"{long} (4)"  # the hover names it whole
    assert fig.layout.xaxis.ticktext[0] == "discrimination_exclusion_to…"


def test_the_real_arm_is_an_open_diamond() -> None:
    points = fac_auprc_figure(categorised()).data[0]
    assert list(points.marker.symbol) == ["circle"] * 3 + ["diamond-open"]
    assert points.customdata[3][2] == "<br>real anchor rows: an upper reference" and points.customdata[0][2] == ""
