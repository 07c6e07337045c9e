"""The coverage page's figure builders on hand-made slices (pure functions, no Streamlit)."""

import math

import numpy as np
import pandas as pd

from fac_engine.coverage.slices import FeatureGroups, SliceCounts
from fac_engine.figures.coverage import CLICKABLE_CELLS, coverage_heatmap, fac_bars, frequency_histogram

SLICES = SliceCounts(("anchor · safe", "anchor · toxic"), np.array([[2, 0, 1], [1, 3, 0]]), np.array([2, 4]), 0.0)
GROUPS = FeatureGroups(np.array([1, 0, 2]), np.array([0, 0, 1]), ["cluster 1 (2)", "cluster 2 (1)"])


def test_heatmap_cells_hover_and_escaping() -> None:
    fig = coverage_heatmap(SLICES, GROUPS, {1: "<script>alert(1)</script> insults"})
    heat, click = fig.data
    assert list(heat.y) == ["anchor · safe", "anchor · toxic"]
    assert np.asarray(heat.z).tolist() == [[0.0, 1.0, 0.5], [0.75, 0.25, 0.0]]  # columns: features 1, 0, 2
    custom = np.asarray(heat.customdata, dtype=object)
    assert custom[1, 0].tolist() == [1, 3, 4, "75.00", "&lt;script&gt;alert(1)&lt;/script&gt; insults"]
    assert custom[0, 1].tolist() == [0, 2, 2, "100.00", ""]
    assert heat.hoverinfo == "skip" and click.type == "scatter" and len(click.x) == 6
    assert [a.text for a in fig.layout.annotations] == ["cluster 1 (2)", "cluster 2 (1)"]
    assert [s.x0 for s in fig.layout.shapes] == [1.5]  # one boundary, between the groups


def test_heatmap_log_scale_blanks_zeros() -> None:
    heat = coverage_heatmap(SLICES, GROUPS, log_scale=True).data[0]
    z = np.asarray(heat.z, dtype=float)
    assert math.isnan(z[0, 0]) and z[0, 1] == 0.0 and z[1, 0] == np.log10(0.75)
    assert (heat.zmin, heat.zmax) == (-4.0, 0.0)


def test_large_heatmaps_skip_the_click_layer() -> None:
    n = CLICKABLE_CELLS // 2 + 1
    wide = SliceCounts(("a", "b"), np.ones((2, n), np.int64), np.array([1, 1]), 0.0)
    fig = coverage_heatmap(wide, FeatureGroups(np.arange(n), np.zeros(n, np.int64), ["all"]))
    assert len(fig.data) == 1 and fig.data[0].hoverinfo is None


def test_fac_bars_and_histogram() -> None:
    frame = pd.DataFrame({"dataset": ["seed"], "fac": [3 / 7], "fac_freq": [0.5], "fac_magnitude": [6 / 19]})
    fig = fac_bars(frame)
    assert [t.name for t in fig.data] == ["FAC (binary)", "FAC_freq", "FAC_magnitude"]
    assert [list(t.text) for t in fig.data] == [["42.9 %"], ["50.0 %"], ["31.6 %"]]
    hist = frequency_histogram({"anchor": np.array([0.6, 0.2, 0.0, 0.01]), "seed": np.zeros(3)})
    assert [t.name for t in hist.data] == ["anchor (3)", "seed (0)"]
    assert np.allclose(hist.data[0].x, np.log10([0.6, 0.2, 0.01]))
