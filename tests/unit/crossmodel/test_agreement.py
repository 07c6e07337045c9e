"""FAC's agreement across two spaces on the word map (tests/unit/crossmodel_fixtures.py), by hand:

anchor = the bridge: all 8 features of A fire, B's 0..6 (purple never). Seeds and what they activate:
seed1 "is the cat", "is dog": A the cat dog (3/8), B 1 3 0 (3/7); seed2 "is hello world": A hello world (2/8),
B 2 (1/7); seed3 "is the cat dog sat mat on": A 6/8, B 5/7; seed4 "is hello on green": A hello on (2/8), B 2 6
(2/7). Spearman r of (3/8, 2/8, 6/8, 2/8) with (3/7, 1/7, 5/7, 2/7): ranks (3, 1.5, 4, 1.5) and (3, 1, 4, 2),
r = 4.5 / sqrt(4.5 * 5) = 3 / sqrt(10).

The 7 confident pairs (the cat dog sat mat hello world -> 1 3 0 5 4 2 2) agree on every seed but seed4, where
world is missing in A and its counterpart B 2 (hello or world) covered: per seed (both covered, only A, only B,
both missing) = (3,0,0,4), (2,0,0,5), (5,0,0,2), (1,0,1,5); pooled (11,0,1,16): p_o = 27/28,
p_e = (11*12 + 17*16) / 28^2 = 404/784, kappa = (756 - 404) / (784 - 404) = 88/95; seed4's kappa = 10/17.
"""

import math
from pathlib import Path

import numpy as np
import pytest

from fac_engine.crossmodel.agreement import (
    SaeDecoders,
    cka_with_null,
    dataset_pairs,
    measure_agreement,
    one_per_b,
)
from fac_engine.crossmodel.agreement_results import (
    AgreementConfig,
    CoverTable,
    load_agreement,
    save_agreement,
)
from fac_engine.crossmodel.bridge import BridgePair, parse_pairs
from fac_engine.crossmodel.results import FeatureMap, save_map
from fac_engine.errors import FacError
from fac_engine.workspace.datasets import Workspace
from tests.unit.crossmodel_fixtures import CrossWorkspace

SEEDS = "seed1,seed2=seed2-b,seed3,seed4"


def test_linear_cka_is_blind_to_rotation_width_and_row_norms() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(12, 4))
    q, _ = np.linalg.qr(rng.normal(size=(7, 4)))  # 4 -> 7 dimensions, orthonormal columns
    y = (x @ q.T) * rng.uniform(0.5, 3.0, size=(12, 1))
    assert cka_with_null(x, y, 0, 0).cka == pytest.approx(1.0)
    assert cka_with_null(x, rng.normal(size=(12, 9)), 0, 0).cka < 0.9


def test_linear_cka_is_zero_without_shared_structure() -> None:
    x = np.array([[1.0], [-1.0], [1.0], [-1.0]])
    y = np.array([[1.0], [1.0], [-1.0], [-1.0]])
    result = cka_with_null(x, y, 0, 0)
    assert result.cka == pytest.approx(0.0) and (result.null_mean, result.p_value, result.null) == (None, 1.0, ())
    with pytest.raises(FacError, match="CKA is undefined"):
        cka_with_null(x, np.ones((4, 1)), 0, 0)


def test_cka_null_and_p_value() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(30, 5))
    result = cka_with_null(x, x @ rng.normal(size=(5, 8)), shuffles=50, seed=0)
    assert result.n_pairs == 30 and len(result.null) == 50 and result.cka > max(result.null)
    assert result.p_value == 1 / 51 and result.null_mean == pytest.approx(float(np.mean(result.null)))
    assert result.null_p95 == pytest.approx(float(np.quantile(result.null, 0.95)))


def test_kappa_by_hand() -> None:
    assert CoverTable(11, 0, 1, 16).kappa == pytest.approx(88 / 95)
    assert CoverTable(1, 0, 1, 5).kappa == pytest.approx(10 / 17)
    assert CoverTable(3, 0, 0, 4).kappa == 1.0
    assert CoverTable(5, 0, 0, 0).kappa is None and CoverTable(0, 0, 0, 0).kappa is None
    assert CoverTable(1, 0, 1, 5).agreement == pytest.approx(6 / 7)


def test_one_pair_per_b_feature(word_map: FeatureMap) -> None:
    best = word_map.pairs.best()
    assert best.feature_b.tolist() == [1, 3, 0, 5, 4, 2, 2]
    kept = one_per_b(best)
    assert sorted(zip(kept.feature_a.tolist(), kept.feature_b.tolist(), strict=True)) == [
        (0, 1), (1, 3), (2, 0), (3, 5), (5, 4), (6, 2)]  # world (r 0.77) gives way to hello (r 1) on B 2


def _pairs(cross_workspace: CrossWorkspace, fmap: FeatureMap) -> list[BridgePair]:
    return dataset_pairs(Workspace(cross_workspace.ws), fmap, parse_pairs(f"bridge,{SEEDS}"))


def test_agreement_by_hand(cross_workspace: CrossWorkspace, word_map: FeatureMap) -> None:
    pairs = _pairs(cross_workspace, word_map)
    assert [tuple(p) for p in pairs] == [("bridge", "bridge-b"), ("seed1", "seed1-b"), ("seed2", "seed2-b"),
                                         ("seed3", "seed3-b"), ("seed4", "seed4-b")]
    result = measure_agreement(Workspace(cross_workspace.ws), word_map, pairs[0], pairs[1:], AgreementConfig(),
                               SaeDecoders({}))
    assert [s.fac_a for s in result.seeds] == [3 / 8, 2 / 8, 6 / 8, 2 / 8]
    assert [s.fac_b for s in result.seeds] == pytest.approx([3 / 7, 1 / 7, 5 / 7, 2 / 7])
    assert result.spearman == pytest.approx(3 / math.sqrt(10))
    assert [tuple(s.table) for s in result.seeds] == [(3, 0, 0, 4), (2, 0, 0, 5), (5, 0, 0, 2), (1, 0, 1, 5)]
    assert tuple(result.pooled) == (11, 0, 1, 16) and result.pooled.kappa == pytest.approx(88 / 95)
    assert (result.confident_a, result.active_a, result.confident_b, result.active_b) == (7, 8, 6, 7)
    assert result.share_a == 7 / 8 and result.share_b == 6 / 7
    cka = result.cka
    assert cka is not None and cka.n_pairs == 6 and cka.cka == pytest.approx(1.0)  # same geometry, other widths
    assert len(cka.null) == 200 and cka.null_mean is not None and cka.null_mean < 0.95
    assert cka.p_value <= 5 / 201  # only pairings that happen to be the true one reach 1


def test_mutual_pairs_and_no_cka(cross_workspace: CrossWorkspace, word_map: FeatureMap) -> None:
    pairs = _pairs(cross_workspace, word_map)
    result = measure_agreement(Workspace(cross_workspace.ws), word_map, pairs[0], pairs[1:],
                               AgreementConfig(pairs="mutual"), None)
    # world (covered on seed2, both missing on seed1 and seed3, only B on seed4) is left out: it is not mutual
    assert tuple(result.pooled) == (10, 0, 0, 14) and result.pooled.kappa == 1.0
    assert result.confident_a == 6 and result.cka is None


def test_dataset_pairs_are_checked(cross_workspace: CrossWorkspace, word_map: FeatureMap) -> None:
    ws = Workspace(cross_workspace.ws)
    with pytest.raises(FacError, match="do not hold the same samples"):
        dataset_pairs(ws, word_map, parse_pairs("bridge,seed1=seed2-b"))
    with pytest.raises(FacError, match="Give at least one dataset pair"):
        dataset_pairs(ws, word_map, [])
    with pytest.raises(FacError, match="Give at least one seed"):
        measure_agreement(ws, word_map, BridgePair("bridge", "bridge-b"), [], AgreementConfig(), None)


def test_the_sae_must_be_the_one_encoded_with(cross_workspace: CrossWorkspace, word_map: FeatureMap) -> None:
    decoders = SaeDecoders({word_map.space_a.sae: str(cross_workspace.sae_b)})
    with pytest.raises(FacError, match=r"is not the one .* was encoded with"):
        decoders(word_map.space_a)
    assert SaeDecoders({})(word_map.space_b).shape == (8, 48)


def test_saved_next_to_its_map(tmp_path: Path, cross_workspace: CrossWorkspace, word_map: FeatureMap) -> None:
    pairs = _pairs(cross_workspace, word_map)
    result = measure_agreement(Workspace(cross_workspace.ws), word_map, pairs[0], pairs[1:],
                               AgreementConfig(shuffles=5), SaeDecoders({}))
    with pytest.raises(FacError, match="No saved feature map 'words'"):
        save_agreement(tmp_path, result)
    assert load_agreement(tmp_path, "words") is None
    save_map(tmp_path, word_map)
    path = save_agreement(tmp_path, result)
    assert path == tmp_path / ".matches" / "words" / "agreement.json"
    assert load_agreement(tmp_path, "words") == result
    path.write_text("{}", encoding="utf-8")
    with pytest.raises(FacError, match="is not a readable agreement"):
        load_agreement(tmp_path, "words")


def test_agreement_config_checks() -> None:
    for bad in ({"threshold": -1.0}, {"min_confidence": 2.0}, {"pairs": "all"}, {"shuffles": -1}):
        with pytest.raises(ValueError):
            AgreementConfig(**bad)  # type: ignore[arg-type]
