"""Sparse Pearson, candidates, margins, mutual flags, the permutation null, confidence and the 1:1 assignment.

Hand-set codes over 8 samples (x = fires, with g as given):

    sample   0 1 2 3 4 5 6 7
    a0 (2.0) x x x x . . . .        b0 (1.0) x x x x . . . .   (a0 exactly)
    a1 (1.0) x x . . . . . .        b1 (3.0) x x x . . . . .
    a2 never fires                  b2 (1.0) . . . . x x . .

For indicators with n1, n2 firings and n11 together over N: r = (n11 N - n1 n2) / sqrt(n1 (N-n1) n2 (N-n2)):
r(a0,b0) = 1, r(a0,b1) = 12/sqrt(240) = sqrt(0.6), r(a1,b0) = 8/sqrt(192) = 1/sqrt(3), r(a1,b1) = 10/sqrt(180)
= sqrt(5)/3; b2 fires only where neither a does, so r < 0 and it is nobody's candidate.
"""

import math

import numpy as np
import pytest
from scipy import sparse

from fac_engine.crossmodel.bridge import BridgeCodes
from fac_engine.crossmodel.matching import (
    assign_one_to_one,
    correlation_block,
    match_codes,
    moments,
    null_levels,
    null_rows,
    pair_confidence,
)
from fac_engine.crossmodel.results import MatchConfig

FIRES_A = [[0, 1, 2, 3], [0, 1], []]
VALUES_A = [2.0, 1.0, 1.0]
FIRES_B = [[0, 1, 2, 3], [0, 1, 2], [4, 5]]
VALUES_B = [1.0, 3.0, 1.0]
R_A0_B1, R_A1_B0, R_A1_B1 = math.sqrt(0.6), 1 / math.sqrt(3), math.sqrt(5) / 3


def _codes(fires: list[list[int]], values: list[float], n: int = 8) -> sparse.csr_matrix:
    rows = [s for f in fires for s in f]
    cols = [i for i, f in enumerate(fires) for _ in f]
    data = [values[i] for i, f in enumerate(fires) for _ in f]
    return sparse.csr_matrix((data, (rows, cols)), shape=(n, len(fires)))


def _hand() -> BridgeCodes:
    return BridgeCodes(_codes(FIRES_A, VALUES_A), _codes(FIRES_B, VALUES_B))


def test_sparse_pearson_equals_the_dense_one() -> None:
    rng = np.random.default_rng(0)
    a = sparse.random(50, 6, density=0.3, random_state=1, format="csr", dtype=np.float64)
    b = sparse.random(50, 9, density=0.3, random_state=2, format="csr", dtype=np.float64)
    a.data, b.data = rng.random(a.nnz) + 0.1, rng.random(b.nnz) + 0.1
    r = correlation_block(a.T.tocsr(), b, moments(a), moments(b), np.arange(6))
    dense = np.corrcoef(a.toarray().T, b.toarray().T)[:6, 6:]
    np.testing.assert_allclose(r, dense, atol=1e-12)


def test_moments_by_hand() -> None:
    m = moments(_codes(FIRES_A, VALUES_A))
    assert m.total.tolist() == [8.0, 2.0, 0.0]
    assert m.var.tolist() == [16.0 - 64 / 8, 2.0 - 4 / 8, 0.0]
    assert m.firing.tolist() == [4, 2, 0]


def test_candidates_ranks_margins_and_mutual_by_hand() -> None:
    cfg = MatchConfig(shuffles=0, margin_scale=0.5, min_support=5)
    out = match_codes(_hand(), cfg)
    p = out.pairs
    assert list(zip(p.feature_a.tolist(), p.feature_b.tolist(), p.rank.tolist(), strict=True)) == [
        (0, 0, 1), (0, 1, 2), (1, 1, 1), (1, 0, 2)]
    np.testing.assert_allclose(p.pearson, [1.0, R_A0_B1, R_A1_B1, R_A1_B0], rtol=1e-6)
    np.testing.assert_allclose(p.jaccard, [1.0, 3 / 4, 2 / 3, 2 / 4], rtol=1e-6)
    assert p.support.tolist() == [4, 3, 2, 2]
    np.testing.assert_allclose(p.margin, [1 - R_A0_B1, R_A0_B1 - 1, R_A1_B1 - R_A1_B0, R_A1_B0 - R_A1_B1],
                               rtol=1e-5)
    assert p.null.tolist() == [0.0, 0.0, 0.0, 0.0]  # no shuffles: no null
    # a0-b0: b0's best A is a0. a1-b1: b1's best A is a0 (sqrt(0.6) > sqrt(5)/3), so not mutual.
    assert p.mutual.tolist() == [True, False, False, False]
    conf_a0 = 1.0 * ((1 - R_A0_B1) / 0.5) * (4 / 5)
    conf_a1 = R_A1_B1 * ((R_A1_B1 - R_A1_B0) / 0.5) * (2 / 5)
    np.testing.assert_allclose(p.confidence, [conf_a0, 0.0, conf_a1, 0.0], rtol=1e-5)
    assert out.count_a.tolist() == [4, 2, 0] and out.count_b.tolist() == [4, 3, 2]
    assert not p.assigned.any()


def test_top_one_keeps_the_margin_over_the_runner_up() -> None:
    p = match_codes(_hand(), MatchConfig(top=1, shuffles=0)).pairs
    assert p.feature_b.tolist() == [0, 1] and p.rank.tolist() == [1, 1]
    np.testing.assert_allclose(p.margin, [1 - R_A0_B1, R_A1_B1 - R_A1_B0], rtol=1e-5)


def test_a_tie_goes_to_the_lower_id_and_earns_no_confidence() -> None:
    twins = BridgeCodes(_codes([[0, 1, 2]], [1.0]), _codes([[5], [0, 1, 2], [0, 1, 2]], [1.0, 2.0, 2.0]))
    p = match_codes(twins, MatchConfig(shuffles=0)).pairs
    assert p.feature_b.tolist() == [1, 2] and p.rank.tolist() == [1, 2]
    assert p.pearson.tolist() == [1.0, 1.0] and p.margin.tolist() == [0.0, 0.0]
    assert p.confidence.tolist() == [0.0, 0.0] and p.mutual.tolist() == [True, False]


def test_pair_confidence_formula() -> None:
    cfg = MatchConfig(margin_scale=0.2, min_support=10)
    conf = pair_confidence(np.array([0.9, 0.5, 0.3, 0.8]), np.array([0.1, 0.5, 0.3, 0.4]), np.array([5, 20, 20, 20]),
                           np.array([0.5, 0.2, 0.4, 1.0]), cfg)
    # (r - null) / (1 - null) x min(1, margin / 0.2) x min(1, support / 10); below the null or a null of 1: 0
    np.testing.assert_allclose(conf, [0.8 * 0.5 * 0.5, 0.375 * 1.0 * 1.0, 0.0, 0.0])


def test_null_levels_pool_features_of_a_support_level() -> None:
    count = np.array([4, 5, 2, 0, 7])
    rows = np.array([0, 1, 2])  # feature 4 (level 2, like 0 and 1) was not sampled; it gets its level's null
    maxima = np.array([[0.1, 0.3, 0.5], [0.2, 0.4, 0.6]])
    np.testing.assert_allclose(null_levels(maxima, rows, count, 0.5), [0.25, 0.25, 0.55, 0.0, 0.25])
    assert null_levels(np.zeros((0, 3)), rows, count, 0.5).tolist() == [0.0] * 5


def test_null_rows_sample_each_support_level() -> None:
    count = np.array([4, 5, 6, 7, 2, 0, 3])  # levels 2, 2, 2, 2, 1, -, 1
    chosen = null_rows(count, 2, np.random.default_rng(0))
    assert chosen.size == 4 and set(chosen.tolist()) >= {4, 6} and set(chosen.tolist()) <= {0, 1, 2, 3, 4, 6}
    assert null_rows(count, 10, np.random.default_rng(0)).tolist() == [0, 1, 2, 3, 4, 6]


def test_a_null_above_a_weak_match_takes_its_confidence() -> None:
    rng = np.random.default_rng(3)
    x = (rng.random((400, 1)) < 0.5).astype(float)
    noisy = np.where(rng.random((400, 1)) < 0.15, 1 - x, x)  # agrees on 85 % of samples: r about 0.7
    codes = BridgeCodes(sparse.csr_matrix(x), sparse.csr_matrix(np.hstack([noisy, rng.random((400, 3)) < 0.5])))
    p = match_codes(codes, MatchConfig(shuffles=20)).pairs.best()
    assert p.feature_b.tolist() == [0] and 0.0 < p.null[0] < 0.25
    np.testing.assert_allclose(p.confidence, (p.pearson - p.null) / (1 - p.null), rtol=1e-5)


def test_shuffled_control_gives_no_confident_pairs() -> None:
    k = np.arange(512)
    bits = (k[:, None] >> np.arange(8) & 1).astype(float)
    codes = BridgeCodes(sparse.csr_matrix(bits * np.arange(1, 9)), sparse.csr_matrix(bits[:, ::-1]))
    real = match_codes(codes, MatchConfig()).pairs.best()
    assert real.feature_b.tolist() == list(range(7, -1, -1)) and real.confidence.tolist() == [1.0] * 8
    control = match_codes(codes, MatchConfig(shuffled_control=True)).pairs.best()
    assert len(control) > 0 and float(control.confidence.max()) < 0.5


def test_one_to_one_assignment_maximises_the_total() -> None:
    # a0-b0 0.9 alone (0.9) loses to a0-b1 0.5 + a1-b0 0.8 (1.3)
    assert assign_one_to_one(np.array([0, 0, 1]), np.array([0, 1, 0]), np.array([0.9, 0.5, 0.8])).tolist() == [
        False, True, True]
    # a feature may stay unpaired
    assert assign_one_to_one(np.array([0, 1]), np.array([0, 0]), np.array([0.9, 0.8])).tolist() == [True, False]
    assert assign_one_to_one(np.zeros(0, int), np.zeros(0, int), np.zeros(0)).tolist() == []


def test_match_config_checks() -> None:
    for bad in ({"top": 0}, {"shuffles": -1}, {"null_quantile": 1.0}, {"margin_scale": 0.0}, {"min_support": 0},
                {"null_features": 0}):
        with pytest.raises(ValueError):
            MatchConfig(**bad)  # type: ignore[arg-type]


def test_samples_must_agree() -> None:
    with pytest.raises(ValueError, match="8 samples in A but 7 in B"):
        match_codes(BridgeCodes(_codes(FIRES_A, VALUES_A), _codes(FIRES_B, VALUES_B, n=7)), MatchConfig())
