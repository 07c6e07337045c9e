"""Cross-model tables and figures on a hand-made map and agreement (pure functions, no Streamlit)."""

import numpy as np

from fac_engine.crossmodel.agreement_results import (
    AgreementConfig,
    AgreementResult,
    CkaResult,
    CoverTable,
    SeedAgreement,
)
from fac_engine.crossmodel.bridge import BridgePair, FeatureSpace
from fac_engine.crossmodel.results import FeatureMap, MatchConfig, MatchPairs
from fac_engine.figures.crossmodel import (
    PAIR_COLUMNS,
    agreement_table,
    cka_figure,
    confidence_histogram,
    fac_agreement_figure,
    pairs_table,
)

SPACE = FeatureSpace("m@0", "s", "p", 0, 4)
PAIRS = MatchPairs(
    feature_a=np.array([0, 0, 1, 2], np.int32), feature_b=np.array([3, 1, 1, 0], np.int32),
    rank=np.array([1, 2, 1, 1], np.int16), pearson=np.array([0.9, 0.4, 0.7, 0.3], np.float32),
    jaccard=np.array([0.8, 0.2, 0.5, 0.1], np.float32), support=np.array([40, 9, 20, 3], np.int32),
    margin=np.array([0.5, -0.5, 0.2, 0.3], np.float32), null=np.array([0.1, 0.1, 0.1, 0.2], np.float32),
    confidence=np.array([0.75, 0.0, 0.9, 0.1], np.float32), mutual=np.array([True, False, True, False]),
    assigned=np.zeros(4, bool))
FMAP = FeatureMap("m", MatchConfig(), SPACE, SPACE, (BridgePair("x", "x-b"),), "h", 100, PAIRS,
                  np.array([40, 20, 5, 0]), np.array([3, 25, 0, 44]), 1.0, "now")


def test_pairs_table_has_both_explanations_and_the_most_confident_first() -> None:
    table = pairs_table(FMAP, {0: "<b>cats</b>", 2: "dogs"}, {1: "felines", 3: "cats in B"})
    assert list(table.columns) == PAIR_COLUMNS
    assert table["feature_a"].tolist() == [1, 0, 2] and table["feature_b"].tolist() == [1, 3, 0]
    assert table["explanation_a"].tolist() == ["", "<b>cats</b>", "dogs"]  # cell text, never markup
    assert table["explanation_b"].tolist() == ["felines", "cats in B", ""]
    assert pairs_table(FMAP, {}, {}, min_confidence=0.5)["feature_a"].tolist() == [1, 0]
    assert pairs_table(FMAP, {}, {}, mutual_only=True)["feature_a"].tolist() == [1, 0]
    every = pairs_table(FMAP, {}, {}, best_only=False)
    assert list(zip(every["feature_a"], every["rank"], strict=True)) == [(1, 1), (0, 1), (2, 1), (0, 2)]


def test_confidence_histogram_stacks_mutual_and_the_rest() -> None:
    mutual, other = confidence_histogram(FMAP).data
    assert np.asarray(mutual.x).tolist() == [0.75, 0.9] and np.asarray(other.x).tolist() == [0.1]


def _agreement(cka: CkaResult | None) -> AgreementResult:
    seeds = (SeedAgreement("s1", "s1", 0.5, 0.4, CoverTable(2, 0, 1, 3)),
             SeedAgreement("<i>s2</i>", "s2-b", 0.25, 0.3, CoverTable(1, 1, 0, 4)))
    return AgreementResult("m", BridgePair("x", "x-b"), AgreementConfig(), seeds, None, CoverTable(3, 1, 1, 7), 40,
                           30, 20, 15, cka, "now")


def test_fac_side_by_side_and_the_table() -> None:
    result = _agreement(None)
    fig = fac_agreement_figure(result)
    assert [list(t.y) for t in fig.data] == [[0.5, 0.25], [0.4, 0.3]]
    assert list(fig.data[0].x) == ["s1", "&lt;i&gt;s2&lt;/i&gt; / s2-b"]
    assert fig.layout.title.text == "Spearman r needs 3 datasets or more"
    table = agreement_table(result)
    assert table["dataset_a"].tolist() == ["s1", "<i>s2</i>"] and table["pairs"].tolist() == [6, 6]
    assert table["agreement"].tolist() == [5 / 6, 5 / 6]


def test_cka_against_its_null() -> None:
    fig = cka_figure(CkaResult(12, 0.8, 0.3, 0.45, 1 / 21, (0.2, 0.3, 0.4)))
    assert list(fig.data[0].x) == [0.2, 0.3, 0.4]
    assert fig.layout.shapes[0].x0 == 0.8 and "12 paired decoder directions (p = 0.0476)" in fig.layout.xaxis.title.text
