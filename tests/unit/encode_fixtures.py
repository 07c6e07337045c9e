"""A word-detector LM + SAE whose codes are known by hand, for encode / store / coverage tests.

The tiny Llama's embedding of token id i is the unit vector e_i, so at layer 0 (the
embeddings) a token's residual is e_id. The relu SAE's feature f reads coordinate 12 + f with
weight 1 + f/2: it fires exactly on the word WORDS[f] with activation 1 + f/2.
"""

from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import torch
from transformers import PreTrainedTokenizerFast

from fac_engine.data.schemas import DatasetItem
from fac_engine.sae.config import SaeConfig
from fac_engine.sae.formats.fac import save_sae
from fac_engine.sae.model import SparseAutoencoder
from tests.conftest import TINY_HIDDEN, build_tiny_model, build_tiny_tokenizer

WORDS = ["the", "cat", "dog", "sat", "on", "mat", "hello", "world"]
"""Feature f detects WORDS[f] (token id 12 + f in the tiny tokenizer)."""
FIRST_ID = 12


def activation(feature: int) -> float:
    """What feature f reports on its word."""
    return 1.0 + feature / 2


def build_word_model(folder: Path, tokenizer: PreTrainedTokenizerFast | None = None,
                     hidden_size: int = TINY_HIDDEN) -> Path:
    """Save the tiny Llama with one-hot embeddings (and its tokenizer, the tiny one unless given) into `folder`."""
    tokenizer = tokenizer or build_tiny_tokenizer()
    model = build_tiny_model(len(tokenizer), hidden_size=hidden_size)
    with torch.no_grad():
        weight = model.model.embed_tokens.weight
        weight.zero_()
        weight[: len(tokenizer), : len(tokenizer)] = torch.eye(len(tokenizer))
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def build_word_sae(folder: Path) -> Path:
    """Save the word-detector relu SAE (layer 0, 8 features) into `folder`."""
    return build_detector_sae(folder, TINY_HIDDEN, [[FIRST_ID + f] for f in range(len(WORDS))],
                              [activation(f) for f in range(len(WORDS))])


def build_detector_sae(folder: Path, d_in: int, tokens: Sequence[Sequence[int]], values: Sequence[float],
                       W_dec: torch.Tensor | None = None) -> Path:
    """Save a layer-0 relu SAE over one-hot embeddings whose feature f fires with values[f] on the token ids
    tokens[f]; its decoder rows are W_dec (default: the encoder's transpose)."""
    d_sae = len(tokens)
    cfg = SaeConfig(d_in=d_in, d_sae=d_sae, activation="relu", hook_layer=0, apply_b_dec_to_input=False)
    W_enc = torch.zeros(d_in, d_sae)
    for f, ids in enumerate(tokens):
        W_enc[list(ids), f] = values[f]
    tensors = {
        "W_enc": W_enc,
        "b_enc": torch.zeros(d_sae),
        "W_dec": W_enc.t().clone() if W_dec is None else W_dec,
        "b_dec": torch.zeros(d_in),
    }
    save_sae(SparseAutoencoder.from_tensors(cfg, tensors), folder)
    return folder


def items(texts: list[str], labels: list[str] | None = None) -> tuple[list[DatasetItem], pd.DataFrame]:
    """Plain-text dataset items and their metadata frame."""
    out = [DatasetItem(text=t, label=None if labels is None else labels[i]) for i, t in enumerate(texts)]
    return out, pd.DataFrame({"row": range(len(texts))})
