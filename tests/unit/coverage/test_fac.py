"""FAC, its variants and missing features on a hand-built case, and the relevant-features file parser.

Anchor (3 samples) and seed (2 samples) over 6 features, rows (sample, feature, g):

    anchor  s0: f0 1.0, f1 0.5, f3 2.0    s1: f0 3.0, f2 0.25    s2: f1 1.5, f4 0.5, f0 0.5
    seed    s0: f0 0.7, f2 0.5            s1: f1 0.4, f5 1.0

delta = 0: F(anchor) = {0,1,2,3,4}, F(seed) = {0,1,2,5}, covered {0,1,2}, FAC 3/5, missing [3,4].
  freq weights n_i/3: 1, 2/3, 1/3, 1/3, 1/3 -> (1 + 2/3 + 1/3) / (8/3) = 3/4.
  mean activations: 1.5, 1.0, 0.25, 2.0, 0.5 -> 2.75 / 5.25 = 11/21.
delta = 0.5 (g = 0.5 must not count): F(anchor) = {0,1,3}, F(seed) = {0,5}, FAC 1/3, missing [1,3].
  freq: 2/3, 1/3, 1/3 -> (2/3) / (4/3) = 1/2; magnitude: 2.0, 1.5, 2.0 -> 2.0 / 5.5 = 4/11.
"""

import json

import numpy as np
import pytest

from fac_engine.coverage.fac import (
    CoverageConfig,
    FeatureSupport,
    PooledArrays,
    compute_coverage,
    feature_support,
)
from fac_engine.errors import FacError

D_SAE = 6


def _pooled(rows: list[tuple[int, int, float]], n_samples: int, d_sae: int = D_SAE) -> PooledArrays:
    sample, feature, value = zip(*rows, strict=True)
    return PooledArrays(
        np.array(sample, dtype=np.int32),
        np.array(feature, dtype=np.int32),
        np.array(value, dtype=np.float32),
        n_samples,
        d_sae,
    )


ANCHOR = _pooled(
    [(0, 0, 1.0), (0, 1, 0.5), (0, 3, 2.0), (1, 0, 3.0), (1, 2, 0.25), (2, 1, 1.5), (2, 4, 0.5), (2, 0, 0.5)],
    n_samples=3,
)
SEED = _pooled([(0, 0, 0.7), (0, 2, 0.5), (1, 1, 0.4), (1, 5, 1.0)], n_samples=2)


def _coverage(threshold: float = 0.0, relevant: frozenset[int] | None = None) -> dict[str, object]:
    cfg = CoverageConfig(threshold=threshold, relevant=relevant)
    result = compute_coverage(feature_support(SEED, threshold), feature_support(ANCHOR, threshold), cfg)
    return result.to_json_dict()


def test_feature_support_counts_sums_and_maxima_strictly_above_delta() -> None:
    at_zero = feature_support(ANCHOR, 0.0)
    assert at_zero.count.tolist() == [3, 2, 1, 1, 1, 0]
    assert at_zero.total.tolist() == [4.5, 2.0, 0.25, 2.0, 0.5, 0.0]
    assert at_zero.max.tolist() == [3.0, 1.5, 0.25, 2.0, 0.5, 0.0]
    assert (at_zero.n_samples, at_zero.threshold, at_zero.d_sae) == (3, 0.0, D_SAE)
    at_half = feature_support(ANCHOR, 0.5)
    assert at_half.count.tolist() == [2, 1, 0, 1, 0, 0]
    assert at_half.total.tolist() == [4.0, 1.5, 0.0, 2.0, 0.0, 0.0]
    assert at_half.max.tolist() == [3.0, 1.5, 0.0, 2.0, 0.0, 0.0]
    assert at_half.active.tolist() == [True, True, False, True, False, False]


def test_coverage_at_delta_zero() -> None:
    result = _coverage(0.0)
    assert result == {
        "fac": pytest.approx(3 / 5, rel=1e-12),
        "fac_freq": pytest.approx(3 / 4, rel=1e-12),
        "fac_magnitude": pytest.approx(11 / 21, rel=1e-12),
        "anchor_features": 5,
        "seed_features": 4,
        "covered": 3,
        "missing": [3, 4],
        "threshold": 0.0,
        "relevant_features": None,
        "seed_samples": 2,
        "anchor_samples": 3,
    }
    assert json.loads(json.dumps(result)) == result


def test_coverage_at_delta_half_ignores_values_equal_to_delta() -> None:
    result = _coverage(0.5)
    assert result["fac"] == pytest.approx(1 / 3, rel=1e-12)
    assert result["fac_freq"] == pytest.approx(1 / 2, rel=1e-12)
    assert result["fac_magnitude"] == pytest.approx(4 / 11, rel=1e-12)
    assert (result["anchor_features"], result["seed_features"], result["covered"]) == (3, 2, 1)
    assert result["missing"] == [1, 3]
    assert result["threshold"] == 0.5


def test_coverage_within_a_relevant_subset() -> None:
    # F = {1,3,4,5}: F(anchor) = {1,3,4}, F(seed) = {1,5}; freq (2/3)/(4/3); magnitude 1.0/(1.0+2.0+0.5).
    result = _coverage(0.0, frozenset({1, 3, 4, 5}))
    assert result["fac"] == pytest.approx(1 / 3, rel=1e-12)
    assert result["fac_freq"] == pytest.approx(1 / 2, rel=1e-12)
    assert result["fac_magnitude"] == pytest.approx(2 / 7, rel=1e-12)
    assert (result["anchor_features"], result["seed_features"], result["covered"]) == (3, 2, 1)
    assert result["missing"] == [3, 4]
    assert result["relevant_features"] == 4


def test_empty_anchor_samples_do_not_change_the_weighted_variants() -> None:
    padded = ANCHOR._replace(n_samples=30)
    cfg = CoverageConfig()
    result = compute_coverage(feature_support(SEED), feature_support(padded), cfg)
    assert (result.fac, result.fac_freq, result.anchor_samples) == (pytest.approx(0.6), pytest.approx(0.75), 30)


@pytest.mark.parametrize("threshold", [0.0, 0.5, 1.0])
def test_a_dataset_against_itself_is_fully_covered(threshold: float) -> None:
    support = feature_support(ANCHOR, threshold)
    result = compute_coverage(support, support, CoverageConfig(threshold=threshold))
    assert (result.fac, result.fac_freq, result.fac_magnitude) == (1.0, 1.0, 1.0)
    assert result.missing == []
    assert result.covered == result.anchor_features == result.seed_features


def test_an_anchor_without_relevant_active_features_is_a_clear_error() -> None:
    with pytest.raises(FacError, match="No anchor sample activates any of the relevant features"):
        _coverage(0.0, frozenset({5}))
    with pytest.raises(FacError, match=r"above delta = 3.0"):
        _coverage(3.0)


def test_relevant_ids_outside_the_sae_are_a_user_error() -> None:
    with pytest.raises(FacError, match="Relevant feature id 6 is out of range"):
        _coverage(0.0, frozenset({1, 6}))


def test_supports_must_share_delta_and_sae() -> None:
    with pytest.raises(ValueError, match=r"computed at delta 0\.0, not 0\.5"):
        compute_coverage(feature_support(SEED), feature_support(ANCHOR), CoverageConfig(threshold=0.5))
    wider = _pooled([(0, 7, 1.0)], n_samples=1, d_sae=8)
    with pytest.raises(FacError, match="different SAEs"):
        compute_coverage(feature_support(wider), feature_support(ANCHOR), CoverageConfig())


def test_config_checks() -> None:
    with pytest.raises(ValueError, match=">= 0"):
        CoverageConfig(threshold=-0.1)
    with pytest.raises(ValueError, match=">= 0"):
        CoverageConfig(threshold=float("nan"))
    with pytest.raises(ValueError, match="non-negative integers"):
        CoverageConfig(relevant=frozenset({-1}))
    assert CoverageConfig(relevant=frozenset({np.int64(2)})).relevant == frozenset({2})


def test_bad_pooled_arrays_are_refused() -> None:
    with pytest.raises(FacError, match="feature id 6, but the SAE has 6 latents"):
        feature_support(_pooled([(0, 6, 1.0)], n_samples=1))
    with pytest.raises(FacError, match="negative feature ids"):
        feature_support(_pooled([(0, -1, 1.0)], n_samples=1))
    with pytest.raises(FacError, match="must appear once"):
        feature_support(_pooled([(0, 2, 1.0), (0, 2, 0.5)], n_samples=1))
    with pytest.raises(FacError, match="mismatched shapes"):
        feature_support(ANCHOR._replace(value=ANCHOR.value[:3]))


def test_feature_support_matches_a_plain_loop_on_random_rows() -> None:
    rng = np.random.default_rng(0)
    n_samples, d_sae = 50, 40
    rows = [(s, f, float(rng.choice([0.5, 1.0, rng.random() * 2]))) for s in range(n_samples) for f in range(d_sae)]
    rows = [rows[i] for i in rng.choice(len(rows), size=600, replace=False)]
    support: FeatureSupport = feature_support(_pooled(rows, n_samples, d_sae), 0.5)
    for feature in range(d_sae):
        values = [v for _, f, v in rows if f == feature and np.float32(v) > 0.5]
        assert support.count[feature] == len(values)
        assert support.total[feature] == pytest.approx(sum(float(np.float32(v)) for v in values), rel=1e-12)
        assert support.max[feature] == (np.float32(max(values)) if values else 0.0)
