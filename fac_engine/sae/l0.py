"""An SAE's L0 (features above zero per token), measured on a few hundred tokens of built-in text.

What `fac info --sae` reports, so a user sees before encoding how many features per token the
store will hold, and what a `max_active` cap in the SAE's config would cut.
"""

from typing import NamedTuple

import torch

from fac_engine.models.harvest import harvest_activations
from fac_engine.models.loader import LoadedModel
from fac_engine.sae.model import SparseAutoencoder

L0_TOKENS = 512
"""At most this many content tokens are measured (the built-in texts hold a few hundred)."""

PROBE_TEXTS = (
    "The committee met on Tuesday to review the budget for next year and agreed to delay the vote.",
    "Can you write a short Python function that returns the largest prime factor of a number?",
    "She poured the tea, looked out at the rain over the harbour, and decided to stay one more night.",
    "Photosynthesis turns light, water and carbon dioxide into glucose and oxygen inside chloroplasts.",
    "I can't log in to my account since the update; the app says my password is wrong but it isn't.",
    "Mix two cups of flour with a teaspoon of salt, add warm water slowly and knead for ten minutes.",
    "The defendant argued that the contract was void because it had never been signed by both parties.",
    "Stocks fell sharply on Friday after the central bank signalled that interest rates would stay high.",
    "What is the difference between a virus and a bacterium, and why do antibiotics only work on one?",
    "Our hiking group left at dawn, crossed two ridges and reached the lake just before the storm.",
    "Translate into French: the museum opens at nine, but the garden is closed on Mondays.",
    "He missed the last train home, so he walked along the river and watched the city lights.",
    "List three ways to reduce the memory use of a neural network during training on one GPU.",
    "The old lighthouse keeper wrote in his journal every evening, noting ships, weather and birds.",
    "Dear customer, your order has shipped and should arrive within three to five business days.",
    "Explain why the sky looks blue during the day but red and orange around sunrise and sunset.",
)
"""Varied English (instructions, dialogue, prose, news, science) so the count is not one register's."""


class L0Measure(NamedTuple):
    """Active features per token of an SAE on the probe tokens."""

    tokens: int
    """Tokens measured."""
    mean: float
    """Mean features above zero per token (every one, whatever the SAE's cap)."""
    median: float
    """Median of the same."""
    max: int
    """The most features above zero on one token."""
    cap_dropped_share: float
    """Share of the active features the SAE's `max_active` cap would leave out (0 without a cap)."""


@torch.no_grad()
def measure_l0(lm: LoadedModel, sae: SparseAutoencoder, max_tokens: int = L0_TOKENS) -> L0Measure:
    """L0 of `sae` at its hook layer of `lm` on the built-in texts' content tokens (chat-wrapped)."""
    acts_ND = harvest_activations(lm, PROBE_TEXTS, layer=sae.cfg.hook_layer, max_tokens=max_tokens)
    uncapped = sae.with_config(max_active=None) if sae.cfg.max_active is not None else sae
    codes = uncapped.encode_sparse(acts_ND.to(device=sae.device, dtype=torch.float32))
    active_N = (codes.values > 0).sum(dim=1)
    cap = sae.cfg.max_active
    total = int(active_N.sum())
    dropped = int((active_N - cap).clamp_min(0).sum()) if cap is not None else 0
    return L0Measure(int(active_N.numel()), float(active_N.float().mean()), float(active_N.float().median()),
                     int(active_N.max()), dropped / total if total else 0.0)
