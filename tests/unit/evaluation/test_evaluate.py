"""Evaluation with per-category scores, DES and the real headroom arm on the word-detector model
(tests/unit/encode_fixtures.py): feature f fires on WORDS[f] = the cat dog sat on mat hello world.

The seed's toxic rows say "dog" where its safe rows say "cat" (mirrored, so with every row trained on,
standardised dog and cat columns are +-1 and the probe's intercept is 0 by symmetry). The test's "greeting"
positives hold neither word, only "hello" or "world", which the seed never saw: they score exactly
sigmoid(0) = 0.5, below the decision threshold 0.6, so the seed catches every "dog" positive and no
"greeting" one, while both still rank above every "cat" negative (AUPRC 1). The anchor's rows "hello",
"world" and "hello world" are what the headroom arm can add.
"""

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from fac_engine.encoding.encode import EncodeConfig, encode_dataset, new_manifest
from fac_engine.errors import FacError
from fac_engine.evaluation.categories import CategoryCount
from fac_engine.evaluation.evaluate import evaluate_sets
from fac_engine.evaluation.headroom import HeadroomSpec
from fac_engine.evaluation.probe import TrainingSet
from fac_engine.evaluation.results import EvalConfig, EvalResult, Headroom, load_evaluation, save_evaluation
from fac_engine.models.loader import load_model
from fac_engine.models.spec import ModelSpec
from fac_engine.sae.load import load_sae
from fac_engine.workspace.datasets import Workspace
from tests.unit.encode_fixtures import build_word_model, build_word_sae, items

SEED_TOXIC = ["dog", "the dog", "dog sat", "dog on the mat"]
DATASETS: dict[str, tuple[list[str], list[Any], list[str] | None]] = {
    "seed": (SEED_TOXIC + [t.replace("dog", "cat") for t in SEED_TOXIC], ["toxic"] * 4 + ["safe"] * 4, None),
    # "the dog" is in the seed (never a headroom candidate); "mat" has no label (never one either).
    "anchor": (["hello", "world", "hello world", "the cat sat", "dog on", "the dog", "mat"],
               ["toxic", "toxic", "toxic", "safe", "toxic", "toxic", None], None),
    "test": (["the dog sat", "dog on the", "hello on", "world sat", "the cat", "cat on"], ["toxic"] * 4 + ["safe"] * 2,
             ["dog", "dog", "greeting", "greeting", "pet", "pet"]),
    "leaky-test": (["Hello World!", "the cat"], ["toxic", "safe"], None),  # "hello world" once normalised
}
CFG = EvalConfig(features="sae", seeds=(0, 1, 2), subsample=1.0, threshold=0.6)
SEED = [TrainingSet("seed", ("seed",))]


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    lm = load_model(ModelSpec(str(build_word_model(tmp_path_factory.mktemp("wm"))), device="cpu", dtype="float32"))
    sae = load_sae(build_word_sae(tmp_path_factory.mktemp("sae")))
    workspace = Workspace(tmp_path_factory.mktemp("ws"))
    for name, (texts, labels, category) in DATASETS.items():
        its, meta = items(texts, labels)
        if category is not None:
            meta = pd.DataFrame({"category": category})
        cfg = EncodeConfig(name=name, shard_samples=4)
        base = new_manifest(name, lm, sae, "word-sae", Path(__file__), name, len(its), cfg, "text", "label")
        encode_dataset(workspace, its, meta, lm, sae, cfg, base=base)
    return workspace


@pytest.fixture(scope="module")
def result(ws: Workspace) -> EvalResult:
    return evaluate_sets(ws, "anchor", "test", SEED, CFG, name="x", headroom=HeadroomSpec(2))


def test_per_category_scores_show_what_the_seed_misses(result: EvalResult) -> None:
    assert result.categories == (CategoryCount("dog", 2), CategoryCount("greeting", 2))  # "pet" has no positives
    seed, real = result.sets
    assert seed.category_metric("dog", "recall").values == (1.0, 1.0, 1.0)
    assert seed.category_metric("greeting", "recall").values == (0.0, 0.0, 0.0)  # 0.5 < 0.6
    assert seed.category_metric("greeting", "auprc").values == (1.0, 1.0, 1.0)  # still above every negative
    assert seed.metric("f1").mean == pytest.approx(2 / 3)  # TP 2 (dog), FN 2 (greeting), FP 0
    # The real rows "hello world" and "hello" teach the probe the greeting words.
    assert real.category_metric("greeting", "recall").values == (1.0, 1.0, 1.0)
    assert real.metric("f1").mean == 1.0


def test_headroom_rows_and_coverage(result: EvalResult) -> None:
    seed, real = result.sets
    assert real.name == "seed + headroom (real)" and real.datasets == ("seed",) and seed.headroom is None
    # Missing: hello (6) and world (7). "hello world" covers both; then the ties on one feature go to the
    # earlier row, "hello".
    assert real.headroom == Headroom(base="seed", rows=(2, 0), requested=2, n_missing=2, covered=2)
    # The anchor activates all 8 features ("mat" counts for FAC though it has no label); the seed 6.
    assert (seed.coverage.fac, real.coverage.fac) == (0.75, 1.0)
    assert (real.n_train, real.n_positive) == (10, 6)
    assert real.diversity.n_texts == 10


def test_des_is_auprc_over_log10_n(result: EvalResult) -> None:
    seed, real = result.sets
    assert seed.auprc.values == (1.0, 1.0, 1.0)
    assert seed.des.values == (pytest.approx(1 / math.log10(8)),) * 3
    assert real.des.mean == 1.0  # n = 10
    data = seed.to_json_dict()
    assert data["des"] == {"mean": pytest.approx(1 / math.log10(8)), "std": 0.0, "values": list(seed.des.values)}


def test_json_round_trip(result: EvalResult, tmp_path: Path) -> None:
    data = result.to_json_dict()
    assert data["format_version"] == 2
    assert data["categories"] == [{"name": "dog", "n_positive": 2}, {"name": "greeting", "n_positive": 2}]
    assert data["sets"][0]["categories"]["greeting"]["recall"] == {"mean": 0.0, "std": 0.0, "values": [0.0] * 3}
    assert data["sets"][1]["headroom"] == {"base": "seed", "rows": [2, 0], "requested": 2, "n_missing": 2,
                                           "covered": 2}
    assert data["sets"][0]["runs"][0]["categories"] == [{"category": "dog", "recall": 1.0, "auprc": 1.0},
                                                         {"category": "greeting", "recall": 0.0, "auprc": 1.0}]
    save_evaluation(tmp_path, result)
    assert load_evaluation(tmp_path, "x") == result


def test_version_1_files_still_load(result: EvalResult, tmp_path: Path) -> None:
    data = json.loads(json.dumps(result.to_json_dict()))
    data["format_version"] = 1
    del data["categories"]
    for s in data["sets"]:
        for key in ("des", "headroom", "categories"):
            del s[key]
        for run in s["runs"]:
            del run["categories"]
    del data["config"]["category"]
    old = EvalResult.from_json_dict(data)
    assert old.categories == () and old.sets[1].headroom is None and old.sets[0].runs[0].categories == ()
    assert old.config.category == "category" and old.sets[0].des == result.sets[0].des


def test_without_a_category_column_there_are_no_category_scores(ws: Workspace) -> None:
    plain = evaluate_sets(ws, "anchor", "leaky-test", SEED, CFG, name="x")
    assert plain.categories == () and plain.sets[0].runs[0].categories == ()
    assert plain.to_json_dict()["sets"][0]["categories"] == {}
    other = evaluate_sets(ws, "anchor", "test", SEED, EvalConfig(features="sae", seeds=(0,), category="kind"),
                          name="x")
    assert other.categories == ()


def test_headroom_refusals(ws: Workspace) -> None:
    with pytest.raises(FacError, match=r"1 of the 2 anchor rows picked for the headroom arm are also in the test "
                                       r"set \(first: 'hello world'\)"):
        evaluate_sets(ws, "anchor", "leaky-test", SEED, CFG, name="x", headroom=HeadroomSpec(2))
    with pytest.raises(FacError, match="--headroom-base 'nope' is not a training set"):
        evaluate_sets(ws, "anchor", "test", SEED, CFG, name="x", headroom=HeadroomSpec(1, "nope"))
    clash = [*SEED, TrainingSet("seed + headroom (real)", ("seed",))]
    with pytest.raises(FacError, match="already called 'seed \\+ headroom \\(real\\)'"):
        evaluate_sets(ws, "anchor", "test", clash, CFG, name="x", headroom=HeadroomSpec(1))


def test_headroom_on_a_named_base_with_more_rows_than_held_out(ws: Workspace) -> None:
    sets = [TrainingSet("first", ("seed",)), TrainingSet("second", ("seed",))]
    out = evaluate_sets(ws, "anchor", "test", sets, CFG, name="x", headroom=HeadroomSpec(9, "second"))
    real = out.sets[-1]
    assert real.name == "second + headroom (real)"
    # Candidates: the 5 labelled rows not in the seed ("the dog" is; "mat" has no label).
    assert real.headroom == Headroom(base="second", rows=(2, 0, 1, 3, 4), requested=9, n_missing=2, covered=2)
