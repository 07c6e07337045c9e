"""FAC calibration on the word-detector model (tests/unit/encode_fixtures.py): exact held-out split, arms,
FAC values and correlations.

Feature f fires on WORDS[f] = the cat dog sat on mat hello world with 1 + f/2. The toxic anchor rows all hold
"dog" (feature 2) plus one other word; the seed's toxic rows only ever say "dog" and "dog sat", so "hello",
"world", "mat" and "on" (features 6, 7, 5, 4) are what the seed misses.
"""

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from fac_engine.encoding.encode import EncodeConfig, encode_dataset, new_manifest
from fac_engine.errors import FacError
from fac_engine.evaluation.calibrate import calibrate, correlations, greedy_cover, split_holdout, subset_pooled
from fac_engine.evaluation.calibration_results import (
    CalibrationConfig,
    CalibrationResult,
    CalibrationSet,
    FacPoint,
    calibration_names,
    load_calibration,
    save_calibration,
)
from fac_engine.evaluation.results import MetricSummary
from fac_engine.models.loader import LoadedModel, load_model
from fac_engine.models.spec import ModelSpec
from fac_engine.sae.load import load_sae
from fac_engine.workspace.datasets import PooledArrays, Workspace
from tests.unit.encode_fixtures import build_word_model, build_word_sae, items

ANCHOR_TOXIC = ["dog hello", "dog world", "dog mat", "dog on", "dog sat", "the dog", "hello dog", "world dog"]
ANCHOR_SAFE = ["the cat", "cat sat", "cat on the mat", "hello cat", "world cat", "the cat sat"]
DATASETS: dict[str, tuple[list[str], list[Any], list[str]]] = {
    "anchor": (ANCHOR_TOXIC + ANCHOR_SAFE, ["toxic"] * 8 + ["safe"] * 6,
               ["greeting", "world", "place", "place", "posture", "plain", "greeting", "world"] + ["pet"] * 6),
    "seed": (["dog", "dog sat", "the cat", "cat sat", "the cat sat on the mat"], ["toxic", "toxic"] + ["safe"] * 3,
             ["plain", "posture", "pet", "pet", "pet"]),
    "test": (["hello dog", "world dog", "dog on the mat", "the cat", "hello cat", "world cat"],
             ["toxic"] * 3 + ["safe"] * 3, ["greeting", "world", "place", "pet", "pet", "pet"]),
}


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    lm: LoadedModel = load_model(ModelSpec(str(build_word_model(tmp_path_factory.mktemp("wm"))), device="cpu",
                                           dtype="float32"))
    sae = load_sae(build_word_sae(tmp_path_factory.mktemp("ws-sae")))
    workspace = Workspace(tmp_path_factory.mktemp("ws"))
    for name, (texts, labels, category) in DATASETS.items():
        its, _ = items(texts, labels)
        meta = pd.DataFrame({"category": category})
        cfg = EncodeConfig(name=name, shard_samples=4)
        base = new_manifest(name, lm, sae, "word-sae", Path(__file__), name, len(its), cfg, "text", "label")
        encode_dataset(workspace, its, meta, lm, sae, cfg, base=base)
    return workspace


def test_split_holds_out_a_share_of_the_positive_rows() -> None:
    labels = ["toxic", "safe", "toxic", "toxic", None, "toxic"]
    held, reference = split_holdout(labels, "toxic", 0.5, seed=0)
    assert len(held) == 2 and set(held) <= {0, 2, 3, 5}
    assert sorted([*held, *reference]) == list(range(6))
    with pytest.raises(FacError, match="1 rows labelled 'toxic'"):
        split_holdout(["toxic", "safe"], "toxic", 0.5, seed=0)


def test_greedy_cover_adds_the_most_new_features_first() -> None:
    hits = [frozenset({1}), frozenset({1, 2, 3}), frozenset({3, 4}), frozenset()]
    assert greedy_cover(hits, 2, np.arange(4)) == [1, 2]
    assert greedy_cover(hits, 4, np.arange(4)) == [1, 2, 0, 3]


def test_subset_renumbers_samples() -> None:
    pooled = PooledArrays(np.array([0, 1, 1, 3], np.int32), np.array([5, 6, 7, 5], np.int32),
                          np.array([1.0, 2.0, 3.0, 4.0], np.float32), 4, 8)
    sub = subset_pooled(pooled, np.array([3, 1]))
    assert sub.sample.tolist() == [1, 1, 0] and sub.feature.tolist() == [6, 7, 5] and sub.n_samples == 2


def test_calibration_on_the_word_model(ws: Workspace, tmp_path: Path) -> None:
    cfg = CalibrationConfig(positive="toxic", sizes=(1, 2), holdout=0.5, thresholds=(0.0, 2.0), category="category",
                            features="sae", relevant=frozenset({2, 4, 5, 6, 7}))
    result = calibrate(ws, "anchor", "seed", "test", cfg, name="calib-seed")
    # Held out (seed 0): 4 of the 8 toxic rows, 2 "dog mat", 3 "dog on", 4 "dog sat", 6 "hello dog". The reference
    # keeps "dog hello", "dog world", "the dog", "world dog" and the safe rows: of the relevant features it holds
    # dog, hello, world and on / mat (from "cat on the mat"), 5 in all at delta 0; the seed has dog, on, mat
    # ("the cat sat on the mat"), so FAC 3/5 and the missing features are hello and world.
    assert (result.n_holdout, result.n_reference, result.n_missing) == (4, 10, 2)
    rows = {s.name: s.rows for s in result.sets}
    assert rows == {"seed": (), "seed + 1 covering missing": (6,), "seed + 1 covering none": (4,),
                    "seed + 1 from missing categories": (2,), "seed + 1 from present categories": (4,),
                    "seed + 2 covering missing": (6, 4), "seed + 2 covering none": (4, 2),
                    "seed + 2 from missing categories": (2, 3), "seed + 2 from present categories": (4,)}
    # Only "hello dog" covers a missing feature (hello): 4/5 on the relevant features, 7/8 on all (the seed lacks
    # hello and world of the reference's 8 features); at delta 2 only features 2..7 (g = 1 + f/2 > 2) count:
    # relevant dog is out, so 2/4 -> 3/4, all 3/5 -> 4/5.
    covering = {(p.threshold, p.scope): (p.covered, p.anchor_features) for p in result.sets[1].fac}
    plain = {(p.threshold, p.scope): (p.covered, p.anchor_features) for p in result.sets[0].fac}
    assert covering == {(0.0, "relevant"): (4, 5), (0.0, "all"): (7, 8), (2.0, "relevant"): (3, 4),
                        (2.0, "all"): (4, 5)}
    assert plain == {(0.0, "relevant"): (3, 5), (0.0, "all"): (6, 8), (2.0, "relevant"): (2, 4),
                     (2.0, "all"): (3, 5)}
    assert [s.fac[0].fac for s in result.sets] == [0.6, 0.8, 0.6, 0.6, 0.6, 0.8, 0.6, 0.6, 0.6]
    assert [s.missing_covered for s in result.sets] == [0, 1, 0, 0, 0, 1, 0, 0, 0]
    # The word model's SAE codes separate the test classes whatever the training set: AUPRC 1 everywhere, so
    # no correlation is defined and the verdict says the calibration cannot tell.
    assert all(s.auprc.values == (1.0, 1.0, 1.0) for s in result.sets)
    assert all(c.pearson is None for c in result.correlations) and "cannot tell" in result.verdict()
    path = save_calibration(tmp_path, result)
    assert path.name == "calib-seed.json" and calibration_names(tmp_path) == ["calib-seed"]
    assert load_calibration(tmp_path, "calib-seed") == result


def _set(name: str, facs: tuple[float, float], auprc: float) -> CalibrationSet:
    points = (FacPoint(0.0, "all", facs[0], facs[0], facs[0], 0, 10), FacPoint(1.0, "all", facs[1], 1.0, 1.0, 0, 10))
    return CalibrationSet(name, "covers missing", 1, (), 0, points, MetricSummary((auprc,)))


def test_correlations_by_hand() -> None:
    sets = [_set("a", (0.5, 0.9), 0.6), _set("b", (0.6, 0.8), 0.7), _set("c", (0.8, 0.7), 0.9)]
    found = {(c.threshold, c.variant): c for c in correlations(sets)}
    # delta 0: FAC 0.5, 0.6, 0.8 vs AUPRC 0.6, 0.7, 0.9: exactly linear (AUPRC = FAC + 0.1).
    assert found[(0.0, "fac")].pearson == pytest.approx(1.0) and found[(0.0, "fac")].spearman == pytest.approx(1.0)
    # delta 1: 0.9, 0.8, 0.7 against rising AUPRC: r = -0.982 (the deviations 0.1, 0, -0.1 against -0.133,
    # -0.033, 0.167), ranks exactly reversed.
    # Sxy = -0.03, Sxx = 0.02, Syy = 0.14 / 3.
    assert found[(1.0, "fac")].pearson == pytest.approx(-0.03 / (0.02 * 0.14 / 3) ** 0.5, rel=1e-9)
    assert found[(1.0, "fac")].spearman == pytest.approx(-1.0)
    assert found[(1.0, "fac_freq")].pearson is None  # constant
    result = CalibrationResult("x", CalibrationConfig(), "a", "s", "t", "m", "e", 1, 1, 1, tuple(sets),
                               correlations(sets), 0.0, "now")
    assert result.best == found[(0.0, "fac")]
    assert result.verdict().startswith("With the default choice (delta 0, all features) FAC tracks AUPRC")


def test_bad_settings_are_refused() -> None:
    for kwargs, message in [({"sizes": ()}, "at least one size"), ({"holdout": 1.0}, "held-out share"),
                            ({"thresholds": (float("nan"),)}, "finite numbers >= 0"),
                            ({"seeds": ()}, "at least one seed")]:
        with pytest.raises(ValueError, match=message):
            CalibrationConfig(**kwargs)  # type: ignore[arg-type]
