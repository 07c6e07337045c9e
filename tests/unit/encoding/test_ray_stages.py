"""The Ray Data stages called in-process (no Ray needed): shard rows, tokenising, the model actor."""

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from fac_engine.data.schemas import DatasetItem, Message
from fac_engine.encoding.encode import EncodeConfig, encode_dataset, encode_sample, new_manifest, sample_columns
from fac_engine.encoding.ray_stages import (
    ShardEncoder,
    actor_device,
    from_ipc,
    input_row,
    tokenize_shards,
)
from fac_engine.errors import FacError
from fac_engine.models.loader import LoadedModel, load_model
from fac_engine.models.spec import ModelSpec
from fac_engine.sae.load import load_sae
from fac_engine.sae.model import SparseAutoencoder
from fac_engine.workspace.datasets import Workspace, shard_path
from tests.unit.encode_fixtures import build_word_model, build_word_sae, items

CHAT = DatasetItem(text="user: hello world", messages=(Message("system", "you are a model"),
                                                        Message("user", "hello world")), label="a")


@pytest.fixture
def spec(tmp_path: Path) -> ModelSpec:
    return ModelSpec(str(build_word_model(tmp_path / "word-model")), device="cpu", dtype="float32")


@pytest.fixture
def word_lm(spec: ModelSpec) -> LoadedModel:
    return load_model(spec)


@pytest.fixture
def word_sae(tmp_path: Path) -> SparseAutoencoder:
    return load_sae(build_word_sae(tmp_path / "word-sae"))


def test_tokenised_rows_are_what_encode_sample_gives(word_lm: LoadedModel) -> None:
    texts, meta = items(["the cat sat", "hello"])
    samples = [*texts, CHAT]
    cfg = EncodeConfig(name="d", max_length=6)
    row = input_row(3, 12, samples, sample_columns(samples, meta.reindex(range(3))))
    out = tokenize_shards(row, word_lm.tokenizer, cfg)
    assert out.column_names == ["shard", "first", "meta", "tokens"]
    assert out.column("shard").to_pylist() == [3] and out.column("first").to_pylist() == [12]
    tokens = from_ipc(out.column("tokens")[0].as_py()).to_pydict()
    expected = [encode_sample(word_lm.tokenizer, s, cfg) for s in samples]
    assert tokens == {"ids": [e.ids for e in expected], "content_start": [e.content_start for e in expected],
                      "truncated": [e.truncated for e in expected],
                      "content_mask": [list(e.content()) for e in expected]}
    assert tokens["truncated"] == [False, False, True]  # the chat sample is cut at 6 tokens
    assert from_ipc(out.column("meta")[0].as_py()).column("text").to_pylist() == ["the cat sat", "hello",
                                                                                 "user: hello world"]


def test_model_actor_writes_the_single_process_shard(tmp_path: Path, spec: ModelSpec, word_lm: LoadedModel,
                                                     word_sae: SparseAutoencoder, one_torch_thread: None) -> None:
    its, meta = items(["the cat sat", "hello world", "the dog", "cat cat on the mat", "red"])
    cfg = EncodeConfig(name="d", shard_samples=3)
    base = new_manifest("d", word_lm, word_sae, "sae", Path(__file__), "o", len(its), cfg, "text", None)
    single, actor = Workspace(tmp_path / "single"), Workspace(tmp_path / "actor")
    encode_dataset(single, its, meta, word_lm, word_sae, cfg, base=base)
    actor.folder("d").mkdir(parents=True)
    (actor.folder("d") / "manifest.json").write_text("{}")  # what the actor checks: the driver's folder is visible
    encoder = ShardEncoder(spec, word_sae, str(actor.folder("d")), word_lm.identity, None, 1, 0)
    row = tokenize_shards(input_row(1, 3, its[3:], sample_columns(its, meta).slice(3)), word_lm.tokenizer, cfg)
    receipt = encoder(row).to_pylist()
    assert [(r["shard"], r["samples"], r["tokens"], r["gpus"]) for r in receipt] == [(1, 2, 8 + 4, 0)]
    for kind in ("tokens", "samples"):
        assert pq.read_table(shard_path(actor.folder("d"), kind, 1)).equals(
            pq.read_table(shard_path(single.folder("d"), kind, 1))), kind
    pooled = single.open("d").pooled()  # the single-process shards are merged once complete
    assert pq.read_table(shard_path(actor.folder("d"), "pooled", 1)).equals(pooled.slice(pooled.column("sample")
                                                                                        .index(3).as_py()))


def test_model_actor_reports_setup_errors_from_its_first_batch(tmp_path: Path, spec: ModelSpec,
                                                               word_lm: LoadedModel, word_sae: SparseAutoencoder,
                                                               one_torch_thread: None) -> None:
    row = tokenize_shards(input_row(0, 0, [CHAT], sample_columns([CHAT], items(["x"])[1])), word_lm.tokenizer,
                          EncodeConfig(name="d"))
    unseen = ShardEncoder(spec, word_sae, str(tmp_path / "elsewhere"), word_lm.identity, None, 1, 0)
    with pytest.raises(FacError, match=r"elsewhere is not visible on .*; put the workspace on storage every node"):
        unseen(row)
    (tmp_path / "ws").mkdir()
    (tmp_path / "ws" / "manifest.json").write_text("{}")
    other = ShardEncoder(spec, word_sae, str(tmp_path / "ws"), "other@0123", None, 1, 0)
    with pytest.raises(FacError, match=r"the driver's is other@0123; install the same model files on every node"):
        other(row)


def test_actor_device_is_the_gpu_ray_gave_it() -> None:
    assert actor_device("cuda:3", 1.0) == "cuda" and actor_device("auto", 1.0) == "auto"
    assert actor_device("cpu", 1.0) == "cpu" and actor_device("cuda:1", 0.0) == "cuda:1"
