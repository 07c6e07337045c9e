"""On a CUDA machine: encoding on the GPU (bf16 model, SAE on the device) gives the CPU's features.

Skipped without a GPU; the CPU path is covered by tests/unit/test_encode.py.
"""

from pathlib import Path

import pytest
import torch

from fac_engine.encoding.encode import EncodeConfig, encode_dataset, new_manifest
from fac_engine.models.loader import load_model
from fac_engine.models.spec import ModelSpec
from fac_engine.sae.load import load_sae
from fac_engine.workspace.datasets import Workspace
from tests.unit.encode_fixtures import build_word_model, build_word_sae, items

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")]
TEXTS = ["the cat sat", "hello world", "the dog", "cat cat on the mat"]


def _pooled(tmp_path: Path, device: str, dtype: str) -> list[tuple[int, int, float]]:
    lm = load_model(ModelSpec(str(build_word_model(tmp_path / f"m-{device}")), device=device, dtype=dtype))
    sae = load_sae(build_word_sae(tmp_path / f"s-{device}"), device=lm.device)
    its, meta = items(TEXTS)
    cfg = EncodeConfig(name="d")
    ws = Workspace(tmp_path / f"ws-{device}")
    base = new_manifest("d", lm, sae, "s", Path(__file__), "o", len(its), cfg, "text", None)
    encode_dataset(ws, its, meta, lm, sae, cfg, base=base)
    table = ws.open("d").pooled(["sample", "feature", "value"]).to_pydict()
    return list(zip(table["sample"], table["feature"], table["value"], strict=True))


def test_cuda_bf16_encode_matches_cpu(tmp_path: Path) -> None:
    cpu = _pooled(tmp_path, "cpu", "float32")
    gpu = _pooled(tmp_path, "cuda", "bfloat16")
    assert [(s, f) for s, f, _ in gpu] == [(s, f) for s, f, _ in cpu]
    assert [v for *_, v in gpu] == pytest.approx([v for *_, v in cpu], rel=1e-2)


def test_cuda_fast_path_equals_the_plain_path(tmp_path: Path) -> None:
    """bf16 selection with fp32 values and overlapped host copies return the plain fp32 path's codes."""
    from fac_engine.encoding.sparse_batches import sparse_codes_by_batch

    lm = load_model(ModelSpec(str(build_word_model(tmp_path / "m")), device="cuda", dtype="bfloat16"))
    sae = load_sae(build_word_sae(tmp_path / "s"), device=lm.device)
    ids = [lm.tokenizer(t)["input_ids"] for t in TEXTS * 8]
    plain = [r for rows in sparse_codes_by_batch(lm, sae, ids, 16, fast=False) for r in rows]
    fast = [r for rows in sparse_codes_by_batch(lm, sae, ids, 16, fast=True) for r in rows]
    assert [r.row for r in fast] == [r.row for r in plain]
    for a, b in zip(fast, plain, strict=True):
        assert a.counts.tolist() == b.counts.tolist() and a.indices.tolist() == b.indices.tolist()
        assert a.values.tolist() == pytest.approx(b.values.tolist(), rel=1e-5, abs=1e-6)
