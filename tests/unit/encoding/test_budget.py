"""Encode budgets: the CPU constants unchanged; from free memory on CUDA (checked here with a given amount)."""

from pathlib import Path

import torch

from fac_engine.encoding.budget import MAX_TOKENS, MIN_ROWS, MIN_TOKENS, EncodeBudget, encode_budget, lm_bytes_per_token
from fac_engine.models.harvest import CPU_TOKEN_BUDGET
from fac_engine.models.loader import load_model
from fac_engine.models.spec import ModelSpec
from fac_engine.sae.model import DEFAULT_CHUNK_ROWS
from tests.unit.sae.test_l0 import wide_relu_sae


def test_budget_on_cpu_is_the_measured_constant(tiny_model_dir: Path) -> None:
    lm = load_model(ModelSpec(str(tiny_model_dir), device="cpu", dtype="float32"))
    assert encode_budget(lm, wide_relu_sae()) == EncodeBudget(CPU_TOKEN_BUDGET, DEFAULT_CHUNK_ROWS)


def test_budget_from_free_memory(tiny_model_dir: Path) -> None:
    lm = load_model(ModelSpec(str(tiny_model_dir), device="cpu", dtype="float32"))
    # hidden 64, intermediate 128, fp32: 4 * (6 * 64 + 3 * 128) + 4 * 64 bytes per token.
    assert lm.dtype == torch.float32 and lm_bytes_per_token(lm) == 3328
    sae = wide_relu_sae()  # 512 latents: 14 bytes each per chunk row
    # 100 MB free: half usable, a quarter of that for the SAE chunk, the rest for tokens.
    assert encode_budget(lm, sae, free_bytes=100_000_000) == EncodeBudget(37_500_000 // 3328, 12_500_000 // (512 * 14))
    assert encode_budget(lm, sae, free_bytes=10**12) == EncodeBudget(MAX_TOKENS, 32768)
    assert encode_budget(lm, sae, free_bytes=1_000_000) == EncodeBudget(MIN_TOKENS, MIN_ROWS)
