"""How much one encode step takes on its device: tokens per forward pass and SAE rows per chunk.

On CPU the measured constants stay (models/harvest.py: larger batches are no faster there). On
CUDA both are sized from the memory free when encoding starts (torch.cuda.mem_get_info), from an
estimate of what one token costs: the forward pass up to the hooked layer and the SAE's dense
[rows, d_sae] pre-activations, so an 8B model on a large GPU runs batches far above the fixed
default while a small card does not run out of memory.
"""

from typing import NamedTuple

import torch

from fac_engine.models.harvest import default_token_budget
from fac_engine.models.loader import LoadedModel
from fac_engine.sae.model import DEFAULT_CHUNK_ROWS, SparseAutoencoder

MEMORY_SHARE = 0.5
"""Share of the free GPU memory one encode step may use (the allocator, fragmentation and the
dataset code need the rest)."""
SAE_SHARE = 0.25
"""Of that share, what the SAE's dense pre-activations of one chunk may take."""
MIN_TOKENS, MAX_TOKENS = 2048, 262144
"""Limits of a memory-sized token budget (past 256k tokens a batch only adds latency)."""
MIN_ROWS, MAX_ROWS = 256, 32768
"""Limits of a memory-sized SAE chunk."""
SAE_BYTES_PER_LATENT = 14
"""One row of a chunk per latent: the bf16 pre-activation, its fp32 copy, the fp32 margin, a mask byte."""


class EncodeBudget(NamedTuple):
    """How much one step takes."""

    tokens: int
    """Padded tokens per forward pass."""
    sae_rows: int
    """Rows the SAE encodes at once (the height of its dense pre-activation)."""


def lm_bytes_per_token(lm: LoadedModel) -> int:
    """Peak activation bytes of one token in a forward pass (no grad, no KV cache, SDPA attention):
    the residual, attention projections and the MLP's intermediate of one block, plus the captured residual."""
    config = lm.model.config
    intermediate = int(getattr(config, "intermediate_size", 4 * lm.hidden_size))
    width = lm.dtype.itemsize if isinstance(lm.dtype, torch.dtype) else 2
    return width * (6 * lm.hidden_size + 3 * intermediate) + 4 * lm.hidden_size


def encode_budget(lm: LoadedModel, sae: SparseAutoencoder, free_bytes: int | None = None,
                  token_budget: int | None = None) -> EncodeBudget:
    """The budget on `lm.device`; `free_bytes` defaults to what CUDA reports free now (CPU: fixed constants);
    `token_budget` (the user's --token-budget) replaces the sized token count when given."""
    budget = _sized(lm, sae, free_bytes)
    return budget if token_budget is None else budget._replace(tokens=token_budget)


def _sized(lm: LoadedModel, sae: SparseAutoencoder, free_bytes: int | None) -> EncodeBudget:
    if lm.device.type != "cuda" and free_bytes is None:
        return EncodeBudget(default_token_budget(lm.device), DEFAULT_CHUNK_ROWS)
    if free_bytes is None:
        free_bytes, _ = torch.cuda.mem_get_info(lm.device)
    usable = free_bytes * MEMORY_SHARE
    rows = int(usable * SAE_SHARE) // (sae.cfg.d_sae * SAE_BYTES_PER_LATENT)
    tokens = int(usable * (1 - SAE_SHARE)) // lm_bytes_per_token(lm)
    return EncodeBudget(min(max(tokens, MIN_TOKENS), MAX_TOKENS), min(max(rows, MIN_ROWS), MAX_ROWS))
