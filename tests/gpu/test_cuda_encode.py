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
