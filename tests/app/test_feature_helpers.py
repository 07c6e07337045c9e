"""Pure helpers of the feature pages: escaping, id parsing, map categories, selection events."""

import numpy as np
import pandas as pd
import pytest

from fac_app.feature_figures import feature_map_figure, map_categories, selected_features
from fac_app.feature_markup import escape_markdown, visible_token
from fac_engine.coverage.feature_ids import parse_feature_ids
from fac_engine.errors import FacError


def test_escape_markdown_leaves_nothing_active() -> None:
    assert escape_markdown("<script>alert(1)</script>") == "&lt;script&gt;alert\\(1\\)&lt;/script&gt;"
    assert escape_markdown("![x](http://a) $x$ :red[hi] **b**") == \
        "\\!\\[x\\]\\(http\\://a\\) \\$x\\$ \\:red\\[hi\\] \\*\\*b\\*\\*"
    assert escape_markdown("a & b\r\nc") == "a &amp; b  \nc"


def test_visible_token() -> None:
    assert visible_token(" the") == "\u2423the" and visible_token("a b\n") == "a b\u21b5"


def test_parse_feature_ids() -> None:
    assert parse_feature_ids(" 8, 3 12-14;3 ", 20) == [3, 8, 12, 13, 14]
    assert parse_feature_ids("", 20) == []
    with pytest.raises(FacError, match="'x1' is not a feature id"):
        parse_feature_ids("1 x1", 20)
    with pytest.raises(FacError, match="'5-2' is out of range"):
        parse_feature_ids("5-2", 20)


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
