"""Encoding into the workspace: exact codes by hand, resumption, refusals."""

from pathlib import Path

import pyarrow.parquet as pq
import pytest
import torch

from fac_engine.encoding.encode import EncodeConfig, encode_dataset, encode_sample, new_manifest
from fac_engine.errors import FacError
from fac_engine.models.loader import LoadedModel, load_model
from fac_engine.models.spec import ModelSpec
from fac_engine.sae.config import SaeConfig
from fac_engine.sae.load import load_sae
from fac_engine.sae.model import SparseAutoencoder
from fac_engine.workspace.datasets import Workspace, shard_path
from tests.conftest import TINY_HIDDEN
from tests.unit.encode_fixtures import FIRST_ID, activation, build_word_model, build_word_sae, items

TEXTS = ["the cat sat", "hello world", "the dog", "cat cat on the mat", "red", "the", "world hello dog"]


@pytest.fixture
def word_lm(tmp_path: Path) -> LoadedModel:
    return load_model(ModelSpec(str(build_word_model(tmp_path / "word-model")), device="cpu", dtype="float32"))


@pytest.fixture
def word_sae(tmp_path: Path) -> SparseAutoencoder:
    return load_sae(build_word_sae(tmp_path / "word-sae"))


def _encode(ws: Workspace, lm: LoadedModel, sae: SparseAutoencoder, texts: list[str], cfg: EncodeConfig,
            progress=None):  # type: ignore[no-untyped-def]
    its, meta = items(texts)
    base = new_manifest(cfg.name, lm, sae, "word-sae", Path(__file__), "opts", len(its), cfg, "text", None)
    return encode_dataset(ws, its, meta, lm, sae, cfg, base=base, progress=progress)


def test_codes_are_the_hand_computed_ones(tmp_path: Path, word_lm: LoadedModel, word_sae: SparseAutoencoder) -> None:
    ws = Workspace(tmp_path / "ws")
    summary = _encode(ws, word_lm, word_sae, TEXTS, EncodeConfig(name="d", shard_samples=3))
    data = ws.open("d")
    assert summary.manifest.status == "complete" and data.manifest.n_samples == 7 and data.manifest.n_shards == 3
    samples = data.samples(["sample", "text", "n_tokens", "content_start"]).to_pydict()
    assert samples["sample"] == list(range(7)) and samples["text"] == TEXTS
    # Template: "<|im_start|> user" + words + "<|im_end|>": t0 = 2, n_tokens = 2 + words + 1.
    assert samples["content_start"] == [2] * 7
    assert samples["n_tokens"] == [len(t.split()) + 3 for t in TEXTS]
    pooled = data.pooled().to_pydict()
    rows = list(zip(pooled["sample"], pooled["feature"], pooled["value"], pooled["position"], pooled["active_tokens"],
                    strict=True))
    # Sample 3, "cat cat on the mat": cat (f1) twice, first at position 2; on (f4); the (f0); mat (f5).
    assert [r for r in rows if r[0] == 3] == [(3, 0, 1.0, 5, 1), (3, 1, 1.5, 2, 2), (3, 4, 3.0, 4, 1),
                                             (3, 5, 3.5, 6, 1)]
    assert [r for r in rows if r[0] == 4] == []  # "red" has no feature
    tokens = data.sample_tokens([3])[3].to_pydict()
    assert tokens["token_id"][2:7] == [FIRST_ID + 1, FIRST_ID + 1, FIRST_ID + 4, FIRST_ID + 0, FIRST_ID + 5]
    assert tokens["features"][2:7] == [[1], [1], [4], [0], [5]]
    assert tokens["values"][2:7] == [[1.5], [1.5], [3.0], [1.0], [3.5]]
    assert tokens["features"][:2] == [[], []]  # template tokens carry no feature here
    assert data.vocab()[FIRST_ID] == "the"


def test_feature_tables_by_hand(tmp_path: Path, word_lm: LoadedModel, word_sae: SparseAutoencoder) -> None:
    ws = Workspace(tmp_path / "ws")
    _encode(ws, word_lm, word_sae, TEXTS, EncodeConfig(name="d", shard_samples=4, top_n=2))
    stats = ws.open("d").feature_table("stats").to_pydict()
    # the: samples 0, 2, 3, 5; cat: 0, 3; dog: 2, 6; sat: 0; on: 3; mat: 3; hello: 1, 6; world: 1, 6.
    assert stats["feature"] == [0, 1, 2, 3, 4, 5, 6, 7]
    assert stats["n_active"] == [4, 2, 2, 1, 1, 1, 2, 2]
    assert stats["max"] == [activation(f) for f in range(8)]
    examples = ws.open("d").feature_table("examples", 0).to_pydict()
    assert examples["sample"][:2] == [0, 2] and examples["kind"][:2] == ["top", "top"]


def test_resume_after_interrupt_equals_uninterrupted(tmp_path: Path, word_lm: LoadedModel,
                                                     word_sae: SparseAutoencoder) -> None:
    cfg = EncodeConfig(name="d", shard_samples=2)
    whole = Workspace(tmp_path / "whole")
    _encode(whole, word_lm, word_sae, TEXTS, cfg)

    def stop_after_two_shards(_tokens: int, samples: int) -> None:
        if samples >= 5:  # progress comes per batch: this is inside the third shard
            raise KeyboardInterrupt

    parts = Workspace(tmp_path / "parts")
    with pytest.raises(KeyboardInterrupt):
        _encode(parts, word_lm, word_sae, TEXTS, cfg, progress=stop_after_two_shards)
    with pytest.raises(FacError, match="not completely encoded"):
        parts.open("d")
    summary = _encode(parts, word_lm, word_sae, TEXTS, cfg)
    assert summary.resumed_shards == 2
    assert whole.open("d").pooled().equals(parts.open("d").pooled())
    for kind in ("tokens", "samples"):
        for shard in range(4):
            a = pq.read_table(shard_path(whole.folder("d"), kind, shard))
            b = pq.read_table(shard_path(parts.folder("d"), kind, shard))
            assert a.equals(b), (kind, shard)
    for kind in ("stats", "examples"):
        assert whole.open("d").feature_table(kind).equals(parts.open("d").feature_table(kind))  # type: ignore[arg-type]


def test_rerun_is_a_no_op_and_other_inputs_are_refused(tmp_path: Path, word_lm: LoadedModel,
                                                       word_sae: SparseAutoencoder) -> None:
    ws = Workspace(tmp_path / "ws")
    _encode(ws, word_lm, word_sae, TEXTS, EncodeConfig(name="d"))
    again = _encode(ws, word_lm, word_sae, TEXTS, EncodeConfig(name="d"))
    assert again.tokens_encoded == 0
    with pytest.raises(FacError, match="already exists"):
        _encode(ws, word_lm, word_sae, TEXTS[:3], EncodeConfig(name="d"))
    replaced = _encode(ws, word_lm, word_sae, TEXTS[:3], EncodeConfig(name="d", overwrite=True))
    assert replaced.manifest.n_samples == 3 and ws.open("d").manifest.n_samples == 3


def test_empty_dataset_and_bad_name(tmp_path: Path, word_lm: LoadedModel, word_sae: SparseAutoencoder) -> None:
    ws = Workspace(tmp_path / "ws")
    with pytest.raises(FacError, match="no samples"):
        _encode(ws, word_lm, word_sae, [], EncodeConfig(name="d"))
    with pytest.raises(FacError, match="Invalid dataset name"):
        ws.folder("../escape")
    with pytest.raises(FacError, match="No encoded dataset 'nope'"):
        ws.open("nope")


# An SAE whose L0 is far above 64: every active feature of the dense reference reaches the store.

WIDE_TEXTS = ["the cat sat on the mat", "hello world", "the dog sat", "world hello dog cat"]


def _wide_sae(activation: str, max_active: int | None = None) -> SparseAutoencoder:
    """A relu / jumprelu SAE on layer 1 of the tiny model with about half of its 512 latents active per token."""
    g = torch.Generator().manual_seed(3)
    d_sae = 512
    cfg = SaeConfig(d_in=TINY_HIDDEN, d_sae=d_sae, activation=activation, hook_layer=1,  # type: ignore[arg-type]
                    apply_b_dec_to_input=False, max_active=max_active)
    tensors = {"W_enc": torch.randn(TINY_HIDDEN, d_sae, generator=g), "b_enc": torch.full((d_sae,), 0.2),
               "W_dec": torch.randn(d_sae, TINY_HIDDEN, generator=g), "b_dec": torch.zeros(TINY_HIDDEN),
               "threshold": torch.rand(d_sae, generator=g)}
    return SparseAutoencoder.from_tensors(cfg, tensors)


def _dense_reference(lm: LoadedModel, sae: SparseAutoencoder, texts: list[str]) -> list[torch.Tensor]:
    """Dense codes [T, d_sae] of each text, one text per forward pass, as `fac encode` tokenises it."""
    out = []
    for item in items(texts)[0]:
        ids = torch.tensor([encode_sample(lm.tokenizer, item, EncodeConfig(name="x")).ids])
        with torch.no_grad():
            out.append(sae.encode(lm.residuals(ids, torch.ones_like(ids), sae.cfg.hook_layer)[0]))
    return out


@pytest.mark.parametrize("activation", ["relu", "jumprelu"])
def test_every_active_feature_of_a_wide_sae_is_stored(tmp_path: Path, tiny_model_dir: Path, activation: str) -> None:
    lm = load_model(ModelSpec(str(tiny_model_dir), device="cpu", dtype="float32"))
    sae = _wide_sae(activation)
    dense = _dense_reference(lm, sae, WIDE_TEXTS)
    active = [int(x) for d in dense for x in (d > 0).sum(1)]
    assert min(active) > 64 and max(active) < 512  # L0 well above the old cap of 64, and not trivially everything

    ws = Workspace(tmp_path / "ws")
    summary = _encode(ws, lm, sae, WIDE_TEXTS, EncodeConfig(name="d", shard_samples=3, token_budget=16))

    assert summary.dropped_activations == 0 and ws.manifest("d").dropped_activations == 0  # type: ignore[union-attr]
    tokens = ws.open("d").sample_tokens(list(range(len(WIDE_TEXTS))))
    for sample, codes in enumerate(dense):
        stored = tokens[sample].to_pydict()
        for t in range(codes.shape[0]):
            expected = {int(f): float(codes[t, f]) for f in torch.nonzero(codes[t] > 0).flatten()}
            got = dict(zip(stored["features"][t], stored["values"][t], strict=True))
            assert set(got) == set(expected), (sample, t)
            assert [got[f] for f in expected] == pytest.approx(list(expected.values()), rel=1e-3)  # float16 store


def test_a_cap_counts_exactly_what_it_drops(tmp_path: Path, tiny_model_dir: Path) -> None:
    lm = load_model(ModelSpec(str(tiny_model_dir), device="cpu", dtype="float32"))
    sae = _wide_sae("relu", max_active=40)
    dense = _dense_reference(lm, sae, WIDE_TEXTS)
    true_drop = sum(int((d > 0).sum(1).sub(40).clamp_min(0).sum()) for d in dense)

    ws = Workspace(tmp_path / "ws")
    summary = _encode(ws, lm, sae, WIDE_TEXTS, EncodeConfig(name="d", shard_samples=3))

    assert true_drop > 0 and summary.dropped_activations == true_drop
    manifest = ws.manifest("d")
    assert manifest is not None and manifest.dropped_activations == true_drop and manifest.extra["sae_max_active"] == 40
    per_sample = ws.open("d").samples(["dropped_activations"]).column("dropped_activations").to_pylist()
    assert per_sample == [int((d > 0).sum(1).sub(40).clamp_min(0).sum()) for d in dense]
    stored = ws.open("d").sample_tokens([0])[0].to_pydict()
    top = dense[0][0].topk(40)
    assert stored["features"][0] == top.indices.tolist()  # the strongest 40 are the ones kept
