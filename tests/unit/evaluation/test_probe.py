"""Downstream evaluation on the word-detector model (tests/unit/encode_fixtures.py): exact metrics,
features, FAC of a union, the hidden-state cache and the saved JSON.

Feature f fires on WORDS[f] = the cat dog sat on mat hello world with 1 + f/2; at layer 0 a
token's residual is the one-hot e_id. "toxic" texts below hold "dog" (feature 2) where the "safe"
ones hold "cat" (feature 1), so both feature kinds separate the classes perfectly.
"""

import dataclasses
import math
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fac_engine.encoding.encode import EncodeConfig, encode_dataset, new_manifest
from fac_engine.errors import FacError
from fac_engine.evaluation.evaluate import evaluate_sets
from fac_engine.evaluation.hidden_states import cached_hidden_states, hidden_cache_path, mean_hidden_states
from fac_engine.evaluation.probe import (
    Labelled,
    TrainingSet,
    binary_labels,
    binary_metrics,
    make_probe,
    sae_features,
    stratified_subsample,
    train_and_score,
)
from fac_engine.evaluation.results import (
    EvalConfig,
    EvalResult,
    evaluation_names,
    load_evaluation,
    pearson,
    save_evaluation,
)
from fac_engine.models.loader import LoadedModel, load_model
from fac_engine.models.spec import ModelSpec
from fac_engine.sae.load import load_sae
from fac_engine.workspace.datasets import Workspace
from tests.unit.encode_fixtures import FIRST_ID, build_word_model, build_word_sae, items

TOXIC = ["the dog", "dog sat", "dog on the mat", "the dog sat on the mat", "hello dog", "dog world"]
SAFE = [t.replace("dog", "cat") for t in TOXIC]
"""The same sentences with dog (toxic) or cat (safe): only features 1 and 2 tell them apart."""
DATASETS: dict[str, tuple[list[str], list[Any]]] = {
    "anchor": (["the cat sat", "hello world", "the dog"], ["safe", "safe", "toxic"]),
    "train": (TOXIC + SAFE, ["toxic"] * 6 + ["safe"] * 6),
    "extra": (["hello dog", "world", "on"], ["toxic", "safe", None]),
    "test": (["dog", "the dog sat", "world dog", "cat", "the cat sat", "world cat"], ["toxic"] * 3 + ["safe"] * 3),
    "one-class": (["dog", "the dog"], ["toxic", "toxic"]),
    "cache": (["the dog", "red"], ["toxic", "safe"]),
}
IM_END = 3


@pytest.fixture(scope="module")
def word_lm(tmp_path_factory: pytest.TempPathFactory) -> LoadedModel:
    folder = build_word_model(tmp_path_factory.mktemp("word-model"))
    return load_model(ModelSpec(str(folder), device="cpu", dtype="float32"))


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory, word_lm: LoadedModel) -> Workspace:
    sae = load_sae(build_word_sae(tmp_path_factory.mktemp("word-sae")))
    workspace = Workspace(tmp_path_factory.mktemp("ws"))
    for name, (texts, labels) in DATASETS.items():
        its, meta = items(texts, labels)  # type: ignore[arg-type]
        cfg = EncodeConfig(name=name, shard_samples=4)
        base = new_manifest(name, word_lm, sae, "word-sae", Path(__file__), name, len(its), cfg, "text", "label")
        encode_dataset(workspace, its, meta, word_lm, sae, cfg, base=base)
    return workspace


def test_metrics_on_hand_computed_scores() -> None:
    y = np.array([True, False, True, False])
    scores = np.array([0.9, 0.8, 0.4, 0.1])
    m = binary_metrics(y, scores, 0.5)
    # AP: ranks 1 (pos, P 1) and 3 (pos, P 2/3), each adding recall 1/2. AUC: 3 of 4 pos-neg pairs
    # ordered right. F1 at 0.5: predicted {0.9, 0.8}: TP 1, FP 1, FN 1.
    assert m.auprc == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)
    assert m.roc_auc == pytest.approx(0.75)
    assert m.f1 == pytest.approx(0.5)
    assert binary_metrics(y, np.array([0.9, 0.1, 0.8, 0.2]), 0.5) == (1.0, 1.0, 1.0)


def test_binary_labels_drop_missing() -> None:
    keep, y = binary_labels(["toxic", None, "safe", "", math.nan, "toxic", 1], "toxic")
    assert keep.tolist() == [0, 2, 5, 6] and y.tolist() == [True, False, True, False]
    keep, y = binary_labels([1, 0, 1], "1")  # non-string labels compare as text
    assert y.tolist() == [True, False, True]


def test_stratified_subsample() -> None:
    y = np.array([True] * 10 + [False] * 10)
    rows = stratified_subsample(y, 0.9, seed=0)
    assert rows.size == 18 and int(y[rows].sum()) == 9 and rows.tolist() == sorted(rows.tolist())
    assert rows.tolist() != stratified_subsample(y, 0.9, seed=1).tolist()
    assert stratified_subsample(y, 0.9, seed=0).tolist() == rows.tolist()
    assert stratified_subsample(y, 1.0, seed=3).tolist() == list(range(20))


def test_each_seed_varies_the_subsample_and_the_probe_random_state() -> None:
    rng = np.random.default_rng(0)
    y = np.arange(40) % 2 == 0
    train = Labelled((rng.normal(size=(40, 3)) + 0.5 * y[:, None]).astype(np.float32), y, 0)
    test = Labelled((rng.normal(size=(20, 3)) + 0.5 * (np.arange(20) % 2 == 0)[:, None]).astype(np.float32),
                    np.arange(20) % 2 == 0, 0)  # classes that overlap: which rows a probe sees matters
    cfg = EvalConfig(features="sae", seeds=(0, 1, 2))
    assert [make_probe(cfg, s)[-1].random_state for s in cfg.seeds] == [0, 1, 2]
    runs = [train_and_score(train, test, cfg, s) for s in cfg.seeds]
    assert [r.n_train for r in runs] == [36, 36, 36] and len({r.auprc for r in runs}) == 3
    # Every row trained on: the regularised logistic regression has one optimum, so the random state alone
    # changes nothing (lbfgs ignores it) and every seed fits the same probe.
    whole = EvalConfig(features="sae", seeds=(0, 1, 2), subsample=1.0)
    assert len({train_and_score(train, test, whole, s).auprc for s in whole.seeds}) == 1


def test_sae_features_are_the_pooled_codes(ws: Workspace) -> None:
    X = sae_features(ws.open("test"))
    assert X.shape == (6, 8) and X.dtype == np.float32
    expected = np.zeros((6, 8), np.float32)
    for row, words in enumerate([["dog"], ["the", "dog", "sat"], ["world", "dog"], ["cat"], ["the", "cat", "sat"],
                                 ["world", "cat"]]):
        for w in words:
            f = ["the", "cat", "dog", "sat", "on", "mat", "hello", "world"].index(w)
            expected[row, f] = 1 + f / 2
    np.testing.assert_array_equal(X, expected)


def test_mean_hidden_states_by_hand(ws: Workspace, word_lm: LoadedModel) -> None:
    # "the dog" in the template: <|im_start|> user the dog <|im_end|>; the content tokens are "the" and "dog"
    # (the closing <|im_end|> is a template suffix), so the mean is over e_the and e_dog.
    X = mean_hidden_states(word_lm, ws.open("cache"), 0, token_budget=4)
    expected = np.zeros(word_lm.hidden_size, np.float32)
    expected[[FIRST_ID, FIRST_ID + 2]] = 1 / 2
    np.testing.assert_allclose(X[0], expected, atol=1e-6)
    assert X.shape == (2, word_lm.hidden_size) and X[1, IM_END] == 0.0  # "red": its <|im_end|> is not pooled
    assert X[1].max() == pytest.approx(1.0)  # the one content token, "red"


def test_hidden_cache_reused_and_model_checked(ws: Workspace, word_lm: LoadedModel) -> None:
    data = ws.open("cache")
    path = hidden_cache_path(data, data.manifest.model, 0)
    path.unlink(missing_ok=True)
    other = dataclasses.replace(word_lm, identity="other@000000000000")
    with pytest.raises(FacError, match="was encoded with"):
        cached_hidden_states(data, lambda: other)
    progress: list[tuple[int, int]] = []
    first = cached_hidden_states(data, lambda: word_lm, progress=lambda d, t: progress.append((d, t)))
    assert path.is_file() and progress[-1] == (2, 2)

    def no_model() -> LoadedModel:
        raise AssertionError("the cache should have been used")

    np.testing.assert_array_equal(cached_hidden_states(data, no_model), first)


@pytest.mark.parametrize("features", ["sae", "hidden"])
def test_separable_sets_score_one(ws: Workspace, word_lm: LoadedModel, features: str) -> None:
    cfg = EvalConfig(features=features, seeds=(0, 1, 2))  # type: ignore[arg-type]
    sets = [TrainingSet("train", ("train",)), TrainingSet("train + extra", ("train", "extra"))]
    result = evaluate_sets(ws, "anchor", "test", sets, cfg, name="toy", load_model=lambda: word_lm)
    assert (result.n_test, result.n_test_positive) == (6, 3)
    for s in result.sets:
        assert [r.seed for r in s.runs] == [0, 1, 2]
        assert s.auprc.mean == 1.0 and s.auprc.std == 0.0
        assert s.metric("roc_auc").mean == 1.0 and s.metric("f1").mean == 1.0
    train, both = result.sets
    assert (train.n_train, train.n_positive, train.dropped_unlabelled) == (12, 6, 0)
    assert (both.n_train, both.n_positive, both.dropped_unlabelled) == (14, 7, 1)  # "on" has no label
    assert [r.n_train for r in train.runs] == [10, 10, 10]  # stratified 90 %: 5 + 5 (floor/ceil per class)


def test_fac_of_a_union(ws: Workspace) -> None:
    # anchor words: the cat sat hello world dog -> features {0, 1, 2, 3, 6, 7}; "extra" (hello dog
    # world on) -> {2, 4, 6, 7}: 3 of 6; "cache" (the dog, red) -> {0, 2}: 2 of 6; the union 4 of 6.
    cfg = EvalConfig(features="sae", seeds=(0,))
    sets = [TrainingSet("extra", ("extra",)), TrainingSet("cache", ("cache",)),
            TrainingSet("extra + cache", ("extra", "cache"))]
    result = evaluate_sets(ws, "anchor", "test", sets, cfg, name="x")
    assert [s.coverage.fac for s in result.sets] == [pytest.approx(3 / 6), pytest.approx(2 / 6), pytest.approx(4 / 6)]
    union = result.sets[2].coverage
    assert (union.seed_samples, union.seed_features, union.missing) == (5, 5, [1, 3])
    relevant = EvalConfig(features="sae", seeds=(0,), relevant=frozenset({1, 2, 5}))
    cov = evaluate_sets(ws, "anchor", "test", sets[2:], relevant, name="x").sets[0].coverage
    assert (cov.fac, cov.anchor_features, cov.covered) == (0.5, 2, 1)  # anchor {1, 2}; the union lacks cat
    assert result.sets[2].diversity.n_texts == 5  # every text, labelled or not
    assert result.sets[2].diversity.mean_cosine_distance is None  # no embeddings unless asked


def test_diversity_with_embeddings(ws: Workspace) -> None:
    def orthogonal(texts: Sequence[str]) -> np.ndarray:
        return np.eye(len(texts))

    cfg = EvalConfig(features="sae", seeds=(0,))
    result = evaluate_sets(ws, "anchor", "test", [TrainingSet("c", ("cache",))], cfg, name="x", embed=orthogonal)
    diversity = result.sets[0].diversity
    assert diversity.mean_cosine_distance == 1.0 and diversity.distinct_1 == 1.0  # the dog | red


def test_refusals(ws: Workspace) -> None:
    cfg = EvalConfig(features="sae", seeds=(0,))
    train = TrainingSet("train", ("train",))
    with pytest.raises(FacError, match="test set 'one-class' has only rows"):
        evaluate_sets(ws, "anchor", "one-class", [train], cfg, name="x")
    with pytest.raises(FacError, match="no rows labelled 'spam'"):
        evaluate_sets(ws, "anchor", "test", [train], dataclasses.replace(cfg, positive="spam"), name="x")
    with pytest.raises(FacError, match="differ"):
        evaluate_sets(ws, "anchor", "test", [train, train], cfg, name="x")
    with pytest.raises(FacError, match="No encoded dataset 'nope'"):
        evaluate_sets(ws, "anchor", "test", [TrainingSet("n", ("nope",))], cfg, name="x")
    with pytest.raises(FacError, match="Invalid dataset name"):
        evaluate_sets(ws, "anchor", "test", [train], cfg, name="../x")
    with pytest.raises(FacError, match="training set 'one' has only rows"):  # before any hidden state is computed
        evaluate_sets(ws, "anchor", "test", [TrainingSet("one", ("one-class",))], EvalConfig(seeds=(0,)), name="x")
    for name in ("test", "train"):
        shutil.rmtree(ws.open(name).folder / "hidden", ignore_errors=True)
    with pytest.raises(FacError, match="need the model"):
        evaluate_sets(ws, "anchor", "test", [train], EvalConfig(seeds=(0,)), name="x")


@pytest.mark.parametrize("kwargs", [
    {"features": "logits"}, {"seeds": ()}, {"seeds": (1, 1)}, {"positive": ""}, {"threshold": 1.0},
    {"C": 0.0}, {"max_iter": 0}, {"subsample": 0.0}, {"subsample": 1.5}, {"fac_threshold": -1.0},
    {"relevant": frozenset({-1})},
])
def test_config_refuses(kwargs: dict) -> None:  # type: ignore[type-arg]
    with pytest.raises(ValueError):
        EvalConfig(**kwargs)


def test_pearson() -> None:
    assert pearson([1, 2, 3], [2, 4, 6]) == pytest.approx(1.0)
    assert pearson([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert pearson([1, 2], [1, 2]) is None and pearson([1, 1, 1], [1, 2, 3]) is None


def test_save_and_load(ws: Workspace, tmp_path: Path) -> None:
    cfg = EvalConfig(features="sae", seeds=(0, 1), relevant=frozenset({0, 2}), subsample=1.0)
    sets = [TrainingSet("train", ("train",)), TrainingSet("train + extra", ("train", "extra")),
            TrainingSet("extra + test", ("extra", "test"))]
    result = evaluate_sets(ws, "anchor", "test", sets, cfg, name="saved")
    assert result.correlation("fac") is None  # every set scores AUPRC 1.0: r is undefined
    path = save_evaluation(tmp_path, result)
    assert path == tmp_path / ".evaluations" / "saved.json" and evaluation_names(tmp_path) == ["saved"]
    loaded = load_evaluation(tmp_path, "saved")
    assert loaded == result and loaded.config.relevant == frozenset({0, 2})
    assert loaded.to_json_dict() == result.to_json_dict()
    data = result.to_json_dict()
    assert data["sets"][0]["auprc"] == {"mean": 1.0, "std": 0.0, "values": [1.0, 1.0]}
    assert data["pearson"] == {"fac": None, "distinct_1": None, "distinct_2": None, "entropy_2": None}
    with pytest.raises(FacError, match="No saved evaluation 'other'"):
        load_evaluation(tmp_path, "other")
    path.write_text("{}", encoding="utf-8")
    with pytest.raises(FacError, match="not a readable evaluation"):
        load_evaluation(tmp_path, "saved")


def test_pearson_across_sets() -> None:
    base = EvalResult.from_json_dict  # built by hand through the JSON form, no probe needed
    set_json = {"name": "s", "datasets": ["d"], "n_train": 1, "n_positive": 1, "dropped_unlabelled": 0,
                "coverage": {"fac": 0.0, "fac_freq": 0.0, "fac_magnitude": 0.0, "anchor_features": 1,
                             "seed_features": 1, "covered": 0, "missing": [], "threshold": 0.0,
                             "relevant_features": None, "seed_samples": 1, "anchor_samples": 1},
                "diversity": {"n_texts": 1, "n_tokens": 1, "distinct_1": 1.0, "distinct_2": 0.0, "entropy_1": 0.0,
                              "entropy_2": 0.0, "mean_cosine_distance": None},
                "runs": [{"seed": 0, "n_train": 1, "auprc": 0.0, "roc_auc": 0.5, "f1": 0.0}]}
    sets = []
    for i, (fac, auprc) in enumerate([(0.5, 0.4), (0.7, 0.5), (0.9, 0.9)]):
        s = json_copy(set_json)
        s["name"], s["coverage"]["fac"], s["runs"][0]["auprc"] = f"s{i}", fac, auprc
        sets.append(s)
    result = base({"format": "fac-studio-evaluation", "name": "r", "config": EvalConfig().to_json_dict(),
                   "anchor": "a", "test": "t", "n_test": 2, "n_test_positive": 1, "model": "m", "sae": "s",
                   "layer": 0, "sets": sets, "seconds": 0.0, "created": "now"})
    assert result.pearson_fac_auprc == pytest.approx(float(np.corrcoef([0.5, 0.7, 0.9], [0.4, 0.5, 0.9])[0, 1]))


def json_copy(data: dict) -> dict:  # type: ignore[type-arg]
    import json

    return json.loads(json.dumps(data))  # type: ignore[no-any-return]
