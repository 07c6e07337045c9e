"""Which features fire on one text: per-token sparse codes and the pooled top features (one feature's activation
on each token comes from fac_engine/encoding/activations.py, shared with the scorer and the explorer)."""

from typing import NamedTuple

import torch

from fac_engine.encoding.pooling import PooledCodes, pool_max
from fac_engine.models.loader import LoadedModel
from fac_engine.models.template import encode_text
from fac_engine.sae.model import SparseAutoencoder, SparseCodes

PROBE_MAX_LENGTH = 1024


class TextFeatures(NamedTuple):
    """A text as tokens with each token's sparse SAE code."""

    tokens: list[str]
    """Decoded tokens (template included)."""
    codes: SparseCodes
    """[T, W] per-token codes."""
    content_start: int
    """t0: first content token."""
    pooled: PooledCodes
    """Features max-pooled over content tokens, strongest first."""


def probe_text(lm: LoadedModel, sae: SparseAutoencoder, text: str, *, chat: bool = True) -> TextFeatures:
    """Encode one text through the LM and the SAE at the SAE's hook layer."""
    encoded = encode_text(lm.tokenizer, text, chat=chat, max_length=PROBE_MAX_LENGTH)
    ids = torch.tensor([encoded.ids], device=lm.device)
    acts = lm.residuals(ids, torch.ones_like(ids), sae.cfg.hook_layer)[0]
    codes = sae.encode_sparse(acts.to(sae.device))
    codes = SparseCodes(codes.values.float().cpu(), codes.indices.cpu())
    tokens = [str(lm.tokenizer.decode([i])) for i in encoded.ids]
    pooled = pool_max(codes.values, codes.indices, encoded.content_start, encoded.content())
    return TextFeatures(tokens, codes, encoded.content_start, pooled)
