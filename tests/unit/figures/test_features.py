"""The feature explorer's and the feature map's figure builders: map categories, traces, selection events."""

import numpy as np
import pandas as pd

from fac_engine.figures.features import feature_map_figure, map_categories, selected_features


def test_map_categories_precedence() -> None:
    anchor = np.array([True, True, False, False, True])
    seed = np.array([True, False, True, False, False])
    assert map_categories(5, anchor, seed, [1, 3]).tolist() == ["covered", "missing", "inactive", "relevant",
                                                                "missing"]
    assert map_categories(3, None, None, [2, 7]).tolist() == ["inactive", "inactive", "relevant"]
    assert map_categories(2, np.array([True, False]), None).tolist() == ["missing", "inactive"]


def test_map_figure_traces_and_selection_event() -> None:
    frame = pd.DataFrame({"feature": [0, 1, 2], "x": [0.0, 1.0, 2.0], "y": [0.0, 0.0, 1.0]})
    fig = feature_map_figure(frame, np.array(["missing", "inactive", "missing"], dtype=object), highlight=[2])
    assert [t.name for t in fig.data] == ["inactive (1)", "missing (2)", "selected"]
    assert fig.data[1].customdata.tolist() == [0, 2]
    event = {"selection": {"points": [{"customdata": 2}, {"customdata": [0]}, {"customdata": 2}]}}
    assert selected_features(event) == [0, 2]
    assert selected_features({"selection": {"points": []}}) == [] and selected_features(None) == []
